"""Training records from a REFI-QDA project (``.qdpx``) coded by people in a QDA tool.

Reading is done by :func:`nokoding.export.qdpx.read_qdpx` (hardened ZIP/XML parsing, the
project's codebook turned into nokoding's two levels as described in
:mod:`nokoding.coded.hierarchy`). This module decides which codings count and turns each
into a record:

* **Coders.** ``coders`` keeps the codings whose coder (the coding's ``creatingUser``, else
  the selection's) matches one of the given user names or GUIDs (case-insensitive, GUID
  braces ignored). Codings by the user ``nokoding`` are nokoding's own suggestions
  (:func:`nokoding.export.qdpx.write_qdpx` attributes every suggestion to that user and
  starts its description with "nokoding suggestion"): they are skipped unless
  ``include_nokoding=True`` or ``nokoding`` is named in ``coders``. A coding by ``nokoding``
  *without* that description was made by a person working under that name (QualCoder makes
  the first user of an imported project its coder, and older nokoding projects listed only
  ``nokoding``): such codings are reported (``human-codings-as-nokoding``, warning) and
  counted with ``include_unmarked_nokoding=True``.
* **Records.** Every coding of a text selection becomes one record with
  ``text = source text[start:end]`` (NFC-normalised), ``document`` = the source's name,
  ``start``/``end`` = the selection's positions and ``coder`` = the user's name (or GUID).
  All codings of one span of one source share a ``group`` (one passage, several codes), so a
  selection coded with three codes gives three records in one group.
* **Sentiment.** REFI-QDA has no place for it: records have ``sentiment = None`` and train
  the code head only.
* **Codebook.** The project's own codebook, unless ``codebook`` is given: then each coded
  code is looked up there by its (category, subcategory) names (a code of a flat project
  codebook by its name alone), and a code not found is an ``unknown-code`` error.

Findings (not exceptions, so that the validation report lists them all): a coding of a code
that is not in the codebook (``unknown-code``, error), of a category or non-codable code
(``coded-on-category``, warning, left out), of an empty or whitespace-only selection
(``empty-segment``, warning, left out). A selection outside its source text makes
:func:`read_qdpx` stop; it becomes one ``outside-source`` error naming the source and the
positions, with no records.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nokoding.codebook import Category, Code, Codebook, CodebookError
from nokoding.coded.base import CodedData, CodedDataError, Finding, make_record, nfc
from nokoding.coded.hierarchy import FLAT_CATEGORY, CodeResolver, UnknownCodeError
from nokoding.export._refi import norm_guid
from nokoding.export.qdpx import (
    NOKODING_USER,
    SUGGESTION_PREFIX,
    QdpxCoding,
    QdpxError,
    read_qdpx,
    user_guid,
)
from nokoding.export.safe import UnsafeInputError, XmlFormatError

__all__ = ["read_coded_qdpx"]


def _coder_label(c: QdpxCoding) -> str | None:
    return c.user_name or c.user


def _is_nokoding(c: QdpxCoding) -> bool:
    return (c.user_name or "").strip().casefold() == NOKODING_USER or norm_guid(c.user) == norm_guid(user_guid())


def _is_suggestion(c: QdpxCoding) -> bool:
    """Whether the coding carries the description nokoding writes on its suggestions."""
    return c.description.startswith(SUGGESTION_PREFIX)


def _matches(c: QdpxCoding, wanted: set[str]) -> bool:
    return bool(
        (c.user_name and c.user_name.strip().casefold() in wanted) or (c.user and norm_guid(c.user) in wanted)
    )


def read_coded_qdpx(
    path: str | os.PathLike[str],
    *,
    codebook: Codebook | None = None,
    coders: Iterable[str] | None = None,
    include_nokoding: bool = False,
    include_unmarked_nokoding: bool = False,
) -> CodedData:
    """Read the human codings of a REFI-QDA project as training records.

    Args:
        path: the ``.qdpx`` file.
        codebook: a codebook to map the project's codes onto (``None``: the project's own).
        coders: user names or GUIDs whose codings count (``None``: every coder except
            ``nokoding``).
        include_nokoding: also count codings by the ``nokoding`` user (its suggestions).
        include_unmarked_nokoding: count the codings by the ``nokoding`` user that do not carry
            nokoding's suggestion description (a person made them under that name).

    Returns:
        :class:`CodedData` (``format="qdpx"``); see the module docstring for the records.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        CodedDataError: if the file is not a readable, safe REFI-QDA project, the project
            has no codebook and none is given, or ``coders`` names nobody in the project
            (the message lists the coders it has).
    """
    path = Path(path)
    origin = str(path)
    findings: list[Finding] = []
    try:
        project = read_qdpx(path)
    except QdpxError as err:
        message = str(err)
        if "outside the source text" not in message:
            raise CodedDataError(str(err)) from None
        findings.append(Finding(
            "error", "outside-source",
            f"{message}. The positions do not fit the text: the project was probably exported after "
            "the source was edited, or with another line-ending/encoding; re-export it from the QDA tool",
            origin))
        return CodedData(codebook=codebook or _placeholder(path), records=[], source=path,
                         findings=findings, codebook_inferred=False, format="qdpx")
    except (UnsafeInputError, XmlFormatError, CodebookError) as err:
        raise CodedDataError(str(err)) from None
    except zipfile.BadZipFile as err:
        raise CodedDataError(f"{origin}: not a .qdpx project (not a ZIP archive: {err})") from None

    target = codebook or project.codebook
    if target is None:
        raise CodedDataError(f"{origin}: the project has no codebook; pass one (a .qdc or .yaml file)")

    codings = list(project.codings)
    notes: list[str] = []
    wanted = {norm_guid(c) if _looks_like_guid(c) else nfc(c).strip().casefold() for c in coders or ()}
    if wanted:
        known = sorted({_coder_label(c) or "(no coder)" for c in codings})
        kept = [c for c in codings if _matches(c, wanted)]
        if not kept:
            raise CodedDataError(
                f"{origin}: no coding by {', '.join(sorted(coders or ()))}; the project's coders are "
                f"{', '.join(known) or 'none'}")
        if len(kept) < len(codings):
            notes.append(f"{len(codings) - len(kept)} coding(s) by other coders were not counted")
        codings = kept
    if not include_nokoding and NOKODING_USER not in wanted:
        suggestions = [c for c in codings if _is_nokoding(c) and _is_suggestion(c)]
        unmarked = [c for c in codings if _is_nokoding(c) and not _is_suggestion(c)]
        if suggestions:
            notes.append(f"{len(suggestions)} coding(s) by the user 'nokoding' (its own suggestions) were "
                         "skipped; pass include_nokoding=True / --include-nokoding to count them")
        if unmarked and not include_unmarked_nokoding:
            findings.append(Finding(
                "warning", "human-codings-as-nokoding",
                f"{len(unmarked)} coding(s) by the user 'nokoding' do not carry nokoding's suggestion "
                "description, so a person probably made them under that name (QualCoder codes as the first "
                "user of an imported project). They were not counted: pass --include-unmarked-nokoding "
                "(include_unmarked_nokoding=True) to count them, or give them your own coder name in the "
                "QDA tool", origin))
        skip = {id(c) for c in suggestions} | (set() if include_unmarked_nokoding else {id(c) for c in unmarked})
        codings = [c for c in codings if id(c) not in skip]

    resolver = CodeResolver(target) if codebook is not None else None
    records: list[dict[str, Any]] = []
    taken: set[str] = set()
    for c in codings:
        where = f"{path.name}: source {c.source_name!r} [{c.start}:{c.end}] selection {c.selection}"
        if not c.text.strip():
            findings.append(Finding("warning", "empty-segment",
                                    f"the selection [{c.start}:{c.end}] in source {c.source_name!r} holds no "
                                    "text; it was left out (delete the empty coding in the QDA tool)", where))
            continue
        code = _map_code(c, project.codebook, target, resolver, findings, where)
        if code is None:
            continue
        rid = f"{c.selection}:{code.id}"
        n, unique = 2, rid
        while unique in taken:
            unique, n = f"{rid}#{n}", n + 1
        taken.add(unique)
        records.append(make_record(
            rid=unique, text=nfc(c.text), code=code, sentiment=None,
            group=f"{c.source}:{c.start}:{c.end}", document=c.source_name, start=c.start, end=c.end,
            coder=_coder_label(c), origin=where,
        ))
    data = CodedData(codebook=target, records=records, source=path, findings=findings,
                     codebook_inferred=False, format="qdpx")
    data.notes.extend(notes)
    return data


def _looks_like_guid(value: str) -> bool:
    s = norm_guid(value)
    return len(s) == 36 and s.count("-") == 4 and all(ch in "0123456789abcdef-" for ch in s)


def _map_code(
    c: QdpxCoding,
    own: Codebook | None,
    target: Codebook,
    resolver: CodeResolver | None,
    findings: list[Finding],
    where: str,
) -> Code | None:
    if c.code_id is None:
        if c.code_name and c.code_name != c.code:
            findings.append(Finding(
                "warning", "coded-on-category",
                f"coded with {c.code_name!r}, a category or non-codable code, not a code nokoding can learn; "
                "left out. Code the passage with one of its subcodes", where))
        else:
            findings.append(Finding(
                "error", "unknown-code",
                f"the coding refers to code GUID {c.code!r}, which is not in the project's codebook; "
                "repair the project in the QDA tool (or remove the coding)", where))
        return None
    if resolver is None:
        return target.code(c.code_id)
    assert own is not None
    mine = own.code(c.code_id)
    try:
        if mine.category == FLAT_CATEGORY:
            return resolver.resolve(mine.subcategory)
        return resolver.resolve_pair(mine.category, mine.subcategory)
    except UnknownCodeError as err:
        findings.append(Finding("error", "unknown-code",
                                f"the project's code {mine.label!r} is not in the given codebook "
                                f"({err.message}); add it to the codebook or recode", where))
        return None


def _placeholder(path: Path) -> Codebook:
    """A one-code codebook for a project that could not be read (the report still prints)."""
    return Codebook(name="unreadable", categories=(Category("unreadable", "unreadable"),),
                    codes=(Code("unreadable.none", "unreadable", "none", "unreadable"),),
                    source=f"{path.name} could not be read")
