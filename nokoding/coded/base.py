"""Plain data shared by the importers of coded data and the validation report.

A researcher's own coded data becomes a :class:`CodedData`: a :class:`~nokoding.codebook.Codebook`
plus a list of *training records* shaped like the shipped corpus records
(:func:`nokoding.corpora.load_records`) and the :class:`Finding` objects the importer raised
on the way (unknown codes, selections outside their source text, empty segments, files that
were not UTF-8 …). Importers never drop an input segment silently: a segment that cannot
become a record is named in a finding.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from nokoding.codebook import Code, Codebook, CodebookError

__all__ = ["CodedData", "CodedDataError", "Finding", "Severity", "make_record", "nfc"]

#: ``"error"`` refuses training; ``"warning"`` is reported and training goes ahead.
Severity = Literal["error", "warning"]


class CodedDataError(ValueError):
    """A coded-data file cannot be read at all (missing columns, undecodable bytes, not a
    REFI-QDA project …). The message names the file and, where there is one, the line."""


@dataclass(frozen=True)
class Finding:
    """One problem found in coded data.

    Attributes:
        severity: ``"error"`` (training is refused) or ``"warning"``.
        rule: short machine-readable rule name (``"unknown-code"``, ``"too-few-examples"``,
            ``"outside-source"``, ``"empty-segment"``, ``"duplicate-segment"``,
            ``"class-imbalance"``, ``"overlapping-codings"``, ``"encoding"``, …).
        message: what is wrong and what to do about it, in plain words.
        location: where: ``"data.csv:12"``, ``"project.qdpx: source 'Intervju 3' [120:180]"``,
            a code id, or ``""`` for the data set as a whole.
    """

    severity: Severity
    rule: str
    message: str
    location: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "rule": self.rule, "message": self.message,
                "location": self.location}


@dataclass
class CodedData:
    """Coded data a researcher brings: a codebook and training records.

    Attributes:
        codebook: the codebook the records' ``code_id`` values belong to (given, read from
            the project, or inferred from the codes used — see :mod:`nokoding.coded.hierarchy`).
        records: one dict per (segment, code) pair, in input order, with the fields of
            :func:`nokoding.corpora.load_records` — ``id``, ``text``, ``code_id``,
            ``category``, ``subcategory``, ``category_id``, ``sentiment`` (a label of
            ``codebook.sentiment_labels`` or ``None``: such records train only the code head),
            ``group`` (records sharing a group are one segment filed under several codes) —
            plus ``document`` (source/document name or ``None``), ``start``/``end``
            (0-based, end-exclusive character offsets into the source text, or ``None``),
            ``coder`` (coder name or ``None``) and ``origin`` (file and line/selection).
        source: the file the data was read from.
        findings: problems met while reading (see :func:`nokoding.coded.validate`).
        codebook_inferred: ``True`` when the codebook was built from the codes in the data.
        format: ``"qdpx"``, ``"csv"`` or ``"jsonl"``.
        notes: plain information for the report that is not a problem (e.g. how many
            codings a coder filter left out).
    """

    codebook: Codebook
    records: list[dict[str, Any]]
    source: Path
    findings: list[Finding] = field(default_factory=list)
    codebook_inferred: bool = False
    format: str = ""
    notes: list[str] = field(default_factory=list)

    def without_codes(self, code_ids: Iterable[str]) -> CodedData:
        """A copy whose codebook lacks the given codes (and categories left without a code).

        Meant for codes with no record (:attr:`ValidationReport.unused_codes`): records of a
        removed code are dropped too, and named in a note.

        Raises:
            CodebookError: if no code would be left.
        """
        drop = set(code_ids)
        if not drop:
            return self
        cb = self.codebook
        codes = tuple(c for c in cb.codes if c.id not in drop)
        if not codes:
            raise CodebookError(f"codebook {cb.name!r}: leaving out {len(drop)} code(s) leaves no code")
        kept_cats = {c.category_id for c in codes}
        book = replace(cb, categories=tuple(c for c in cb.categories if c.id in kept_cats), codes=codes)
        records = [r for r in self.records if r.get("code_id") not in drop]
        notes = list(self.notes)
        notes.append(f"left out of the codebook: {', '.join(sorted(drop))} (no coded segment)")
        if len(records) < len(self.records):
            notes.append(f"{len(self.records) - len(records)} record(s) of the left-out codes were dropped")
        return replace(self, codebook=book, records=records, notes=notes)


def nfc(text: str) -> str:
    """Unicode NFC form: macOS and some QDA tools write æøå decomposed (NFD)."""
    return unicodedata.normalize("NFC", text)


def make_record(
    *,
    rid: str,
    text: str,
    code: Code,
    sentiment: str | None,
    group: str,
    document: str | None = None,
    start: int | None = None,
    end: int | None = None,
    coder: str | None = None,
    origin: str = "",
) -> dict[str, Any]:
    """A training record in the shape of :func:`nokoding.corpora.load_records` (see
    :class:`CodedData` for the fields)."""
    return {
        "id": rid,
        "text": text,
        "code_id": code.id,
        "category": code.category,
        "subcategory": code.subcategory,
        "category_id": code.category_id,
        "sentiment": sentiment,
        "group": group,
        "document": document,
        "start": start,
        "end": end,
        "coder": coder,
        "origin": origin,
    }
