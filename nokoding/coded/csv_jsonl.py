"""Coded segments from a CSV or JSON Lines file: ``text, code[, sentiment][, document]``.

**CSV** (``.csv``, ``.tsv``): the first row is a header. The delimiter (``,``, ``;`` or tab)
is detected with :class:`csv.Sniffer` (Excel in Norwegian settings writes ``;``); a header
that the sniffer gets wrong falls back to counting delimiters in the header line.
**JSON Lines** (``.jsonl``, ``.ndjson``): one object per line; a ``.json`` file may also
hold one array of such objects. In JSON the code may be a list (one segment, several codes).

Columns / keys (case-insensitive; Norwegian names accepted):

=============  ===========================================  =========
field          accepted names                               required
=============  ===========================================  =========
text           text, tekst, segment, quote, sitat, content  yes
code           code, kode, code_id, codes, tag              yes
sentiment      sentiment, holdning                          no
document       document, dokument, source, kilde, file      no
coder          coder, user, bruker, koder_navn              no
id             id, segment_id                               no
=============  ===========================================  =========

Taguette's highlights export (``id, document, tag, content``; one row per highlight and tag,
tag paths such as ``"Politikk > Tid"`` from
:func:`nokoding.export.taguette.write_taguette_codebook`) is read as it is; a highlight with
no tag is an ``uncoded-segment`` warning.

A code is an id, a subcategory name or a path (``"Styring/Tid"``, ``"Styring > Tid"``), see
:class:`nokoding.coded.hierarchy.CodeResolver`. Without a codebook one is inferred from the
codes used (:func:`nokoding.coded.hierarchy.codebook_from_paths`). Sentiment labels match
the codebook's case-insensitively; the Norwegian ``negativ, nøytral, positiv, blandet`` are
accepted for the default labels. An empty sentiment cell means "no sentiment" (the record
trains only the code head).

Rows with the same document and the same text share a ``group``: one segment filed under
several codes (the trainer keeps a group on one side of a train/test split).

**Encoding**: UTF-8 with or without BOM, UTF-16 with BOM; a file that is not valid UTF-8 is
read as Windows-1252 (what Excel on Windows saves as "CSV") with an ``encoding`` warning.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nokoding.codebook import DEFAULT_SENTIMENT_LABELS, Codebook, CodebookError
from nokoding.coded.base import CodedData, CodedDataError, Finding, make_record, nfc
from nokoding.coded.hierarchy import (
    CodeResolver,
    UnknownCodeError,
    codebook_from_paths,
    split_code_path,
)
from nokoding.export._refi import slugify

__all__ = ["CSV_SUFFIXES", "JSONL_SUFFIXES", "decode_text", "read_csv", "read_jsonl"]

CSV_SUFFIXES = (".csv", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")

_ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("text", "tekst", "segment", "quote", "sitat", "content"),
    "code": ("code", "kode", "code_id", "codes", "tag"),
    "sentiment": ("sentiment", "holdning"),
    "document": ("document", "dokument", "source", "kilde", "file"),
    "coder": ("coder", "user", "bruker", "koder_navn"),
    "id": ("id", "segment_id"),
}

#: Norwegian sentiment words → nokoding's default labels.
_SENTIMENT_SYNONYMS = {"negativ": "negative", "nøytral": "neutral", "noytral": "neutral",
                       "positiv": "positive", "blandet": "mixed", "blanda": "mixed"}


@dataclass
class _Row:
    """One input segment before its codes are resolved."""

    origin: str
    text: str
    codes: list[str]
    sentiment: str | None = None
    document: str | None = None
    coder: str | None = None
    rid: str | None = None


def decode_text(data: bytes, *, origin: str) -> tuple[str, list[Finding]]:
    """Decode a text file's bytes: UTF-8 (BOM optional), UTF-16 with BOM, else Windows-1252.

    Returns the text (BOM removed, newlines as written) and a list with an ``encoding``
    warning when the Windows-1252 fallback was used.

    Raises:
        CodedDataError: if the bytes are neither UTF-8 nor Windows-1252 (names ``origin``).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as err:
            raise CodedDataError(f"{origin}: invalid UTF-16 at byte {err.start}") from None
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as err:
        bad = err.start
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as err:
        raise CodedDataError(
            f"{origin}: the file is neither UTF-8 (invalid byte at {bad}) nor Windows-1252 "
            f"(invalid byte at {err.start}); save it as UTF-8") from None
    message = (f"the file is not UTF-8 (invalid byte at offset {bad}); it was read as Windows-1252 "
               "(cp1252). Check that æ, ø and å look right, and save the file as UTF-8 to be sure")
    warnings.warn(f"{origin}: {message}", UserWarning, stacklevel=3)
    return text, [Finding("warning", "encoding", message, origin)]


def _columns(header: Sequence[str], origin: str) -> dict[str, int]:
    """Map field name → column index from a header row."""
    found: dict[str, int] = {}
    norm = [nfc(h).strip().casefold() for h in header]
    for fieldname, names in _ALIASES.items():
        for i, h in enumerate(norm):
            if h in names:
                found.setdefault(fieldname, i)
                break
    missing = [f for f in ("text", "code") if f not in found]
    if missing:
        raise CodedDataError(
            f"{origin}:1: the header has no {' and no '.join(repr(m) for m in missing)} column "
            f"(found: {', '.join(repr(h) for h in header) or 'nothing'}); the first row must name "
            "the columns, e.g. 'text;code;sentiment;document'")
    return found


def _sniff(text: str) -> csv.Dialect | type[csv.Dialect]:
    sample = text[:65536]
    first = sample.splitlines()[0] if sample else ""
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        header = next(csv.reader([first], dialect))
        if {nfc(h).strip().casefold() for h in header} & set(_ALIASES["text"]):
            return dialect
    except (csv.Error, StopIteration):
        pass
    delimiter = max(",;\t", key=first.count)

    class _Fallback(csv.excel):
        pass

    _Fallback.delimiter = delimiter
    return _Fallback


def _cell(row: Sequence[str], cols: dict[str, int], name: str) -> str | None:
    i = cols.get(name)
    if i is None or i >= len(row):
        return None
    value = nfc(row[i]).strip()
    return value or None


def _csv_rows(text: str, origin: str) -> list[_Row]:
    dialect = _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[_Row] = []
    try:
        header = next(reader, None)
        if header is None:
            raise CodedDataError(f"{origin}: the file is empty")
        cols = _columns(header, origin)
        line = reader.line_num + 1
        for row in reader:
            start_line, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            code = _cell(row, cols, "code")
            rows.append(_Row(
                origin=f"{origin}:{start_line}",
                text=(nfc(row[cols["text"]]) if cols["text"] < len(row) else "").strip(),
                codes=[code] if code else [],
                sentiment=_cell(row, cols, "sentiment"),
                document=_cell(row, cols, "document"),
                coder=_cell(row, cols, "coder"),
                rid=_cell(row, cols, "id"),
            ))
    except csv.Error as err:
        raise CodedDataError(f"{origin}:{reader.line_num}: unreadable CSV ({err})") from None
    return rows


def _json_rows(text: str, origin: str, findings: list[Finding]) -> list[_Row]:
    items: list[tuple[str, Any]] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise CodedDataError(f"{origin}:{err.lineno}: invalid JSON ({err.msg})") from None
        items = [(f"{origin}:[{i}]", obj) for i, obj in enumerate(data)]
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((f"{origin}:{lineno}", json.loads(line)))
            except json.JSONDecodeError as err:
                findings.append(Finding("error", "invalid-line", f"not a JSON object ({err.msg}); fix or "
                                        "delete the line", f"{origin}:{lineno}"))
    rows: list[_Row] = []
    for where, obj in items:
        if not isinstance(obj, dict):
            findings.append(Finding("error", "invalid-line", "expected a JSON object with 'text' and "
                                    "'code'", where))
            continue
        lower = {nfc(str(k)).strip().casefold(): v for k, v in obj.items()}

        def get(name: str, _lower: dict[str, Any] = lower) -> Any:
            return next((_lower[a] for a in _ALIASES[name] if a in _lower and _lower[a] not in (None, "")), None)

        if get("text") is None and not any(a in lower for a in _ALIASES["text"]):
            findings.append(Finding("error", "missing-field", "the object has no 'text'", where))
            continue
        raw_codes = get("code")
        codes = raw_codes if isinstance(raw_codes, list) else ([raw_codes] if raw_codes is not None else [])

        def opt(name: str, _get: Any = get) -> str | None:
            value = _get(name)
            return None if value is None else (nfc(str(value)).strip() or None)

        rows.append(_Row(
            origin=where,
            text=nfc(str(get("text") or "")).strip(),
            codes=[nfc(str(c)).strip() for c in codes if str(c).strip()],
            sentiment=opt("sentiment"),
            document=opt("document"),
            coder=opt("coder"),
            rid=opt("id"),
        ))
    return rows


def _sentiment_map(labels: Sequence[str]) -> dict[str, str]:
    out = {lab.casefold(): lab for lab in labels}
    for word, lab in _SENTIMENT_SYNONYMS.items():
        if lab in labels:
            out.setdefault(word, lab)
    return out


def _to_coded(
    rows: list[_Row],
    *,
    path: Path,
    fmt: str,
    codebook: Codebook | None,
    coders: Iterable[str] | None,
    findings: list[Finding],
) -> CodedData:
    origin = str(path)
    if coders:
        wanted = {nfc(c).strip().casefold() for c in coders}
        if not any(r.coder for r in rows):
            raise CodedDataError(f"{origin}: a coder filter was given but the file has no 'coder' column")
        rows = [r for r in rows if r.coder and r.coder.casefold() in wanted]
        if not rows:
            raise CodedDataError(f"{origin}: no segment was coded by {', '.join(sorted(coders))}")

    inferred = codebook is None
    if codebook is None:
        used = [split_code_path(c) for r in rows if r.text for c in r.codes]
        labels = list(DEFAULT_SENTIMENT_LABELS)
        known = _sentiment_map(labels)
        extra = []
        for r in rows:
            if r.sentiment and r.sentiment.casefold() not in known and r.sentiment not in extra:
                extra.append(r.sentiment)
        if extra:
            labels += extra
            findings.append(Finding("warning", "sentiment-labels",
                                    f"sentiment labels outside nokoding's default set were added to the "
                                    f"inferred codebook: {', '.join(extra)}", origin))
        try:
            codebook, _ = codebook_from_paths(used, name=slugify(path.stem), origin=origin,
                                              sentiment_labels=labels,
                                              source=f"inferred from the codes in {path.name}")
        except CodebookError:
            raise CodedDataError(f"{origin}: no row has both a text and a code") from None
    resolver = CodeResolver(codebook)
    sentiments = _sentiment_map(codebook.sentiment_labels)

    records: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for r in rows:
        if not r.text:
            findings.append(Finding("warning", "empty-segment",
                                    "the segment has no text; it was left out (delete the row or add the text)",
                                    r.origin))
            continue
        if not r.codes:
            findings.append(Finding("warning", "uncoded-segment",
                                    "the segment has no code; it was left out (add a code or delete the row)",
                                    r.origin))
            continue
        sentiment = None
        if r.sentiment is not None:
            sentiment = sentiments.get(r.sentiment.casefold())
            if sentiment is None:
                findings.append(Finding(
                    "error", "unknown-sentiment",
                    f"sentiment {r.sentiment!r} is not one of {', '.join(codebook.sentiment_labels)}; "
                    "correct it, or leave the cell empty to train the code only", r.origin))
        base_id = r.rid or f"{path.stem}:{r.origin.rsplit(':', 1)[-1]}"
        group = groups.setdefault((r.document or "", r.text), base_id)
        for raw in r.codes:
            try:
                code = resolver.resolve(raw)
            except UnknownCodeError as err:
                findings.append(Finding("error" if err.rule != "coded-on-category" else "warning",
                                        err.rule, err.message + (
                                            "; the segment was left out" if err.rule == "coded-on-category"
                                            else ""), r.origin))
                continue
            rid = base_id if len(r.codes) == 1 else f"{base_id}:{code.id}"
            n, unique = 2, rid
            while unique in taken:
                unique, n = f"{rid}#{n}", n + 1
            taken.add(unique)
            records.append(make_record(rid=unique, text=r.text, code=code, sentiment=sentiment, group=group,
                                       document=r.document, coder=r.coder, origin=r.origin))
    return CodedData(codebook=codebook, records=records, source=path, findings=findings,
                     codebook_inferred=inferred, format=fmt)


def read_csv(
    path: str | os.PathLike[str], *, codebook: Codebook | None = None, coders: Iterable[str] | None = None
) -> CodedData:
    """Read coded segments from a CSV/TSV file (see the module docstring for the columns).

    Args:
        path: the file.
        codebook: the codebook the codes belong to; ``None`` infers one from the codes.
        coders: keep only rows whose ``coder`` cell is one of these names (case-insensitive).

    Returns:
        :class:`CodedData`; rows that cannot become records are named in ``findings``.

    Raises:
        FileNotFoundError: if the file does not exist.
        CodedDataError: for undecodable bytes, a header without text/code columns, broken
            CSV quoting, or a coder filter on a file without coders (names file and line).
    """
    path = Path(path)
    text, findings = decode_text(path.read_bytes(), origin=str(path))
    rows = _csv_rows(text, str(path))
    return _to_coded(rows, path=path, fmt="csv", codebook=codebook, coders=coders, findings=findings)


def read_jsonl(
    path: str | os.PathLike[str], *, codebook: Codebook | None = None, coders: Iterable[str] | None = None
) -> CodedData:
    """Read coded segments from a JSON Lines file (or a ``.json`` array); arguments, return
    value and errors as :func:`read_csv`. Lines that are not JSON objects, or lack ``text``,
    become ``error`` findings naming the line."""
    path = Path(path)
    text, findings = decode_text(path.read_bytes(), origin=str(path))
    rows = _json_rows(text, str(path), findings)
    return _to_coded(rows, path=path, fmt="jsonl", codebook=codebook, coders=coders, findings=findings)
