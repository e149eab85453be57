"""Check coded data before training and say what to fix: the validation report.

:func:`validate` combines what the importer found while reading (unknown codes, selections
outside their source text, empty segments, encoding fallbacks …) with checks on the records:

=======================  ========  ==========================================================
rule                     severity  when
=======================  ========  ==========================================================
``too-few-examples``     error     a code of the codebook has 1 segment: it can be neither
                                   learned nor evaluated
``unused-code``          warning   a code has no segment at all (a tag nobody used, such as
                                   Taguette's default tag): it is left out of training
                                   (:attr:`ValidationReport.unused_codes`,
                                   :meth:`CodedData.without_codes`)
``too-few-examples``     warning   a code has at least 2 but fewer than ``min_examples``
``class-imbalance``      warning   largest / smallest code count (codes with ≥ 1 segment)
                                   is above ``max_imbalance``
``duplicate-segment``    warning   the same text is filed under the same code more than once
                                   (in different segments, or twice by one coder)
``empty-segment``        warning   a record's text is empty or only whitespace
``overlapping-codings``  warning   two selections of one coder in one document overlap
``no-records``           error     nothing to train on
``no-sentiment`` /       warning   no / only some records have a sentiment label (the
``partial-sentiment``              sentiment head trains on the labelled ones only)
=======================  ========  ==========================================================

Training is refused when the report has any error (:attr:`ValidationReport.ok` is False).
Two segments per code is the least that lets one example train and one evaluate; five is
the default warning line because the thesis corpus has about five quotes per code and its
results (``shared/NOTES.md``) show how little a model learns from that.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from nokoding.codebook import Codebook
from nokoding.coded.base import CodedData, Finding

__all__ = ["MIN_TRAINABLE", "ValidationReport", "validate"]

#: Fewer segments than this for a code refuses training.
MIN_TRAINABLE = 2


@dataclass
class ValidationReport:
    """The result of :func:`validate`.

    Attributes:
        findings: errors first, then warnings, each in the order found.
        code_counts: segments (records) per code id, for every code of the codebook, in
            codebook order (0 for unused codes).
        n_records: training records (one per segment and code).
        n_segments: distinct segments (record groups).
        n_with_sentiment: records with a sentiment label.
        min_examples: the warning threshold used.
        codebook: the codebook checked against.
        source: the data file, as text.
        notes: information from the importer that is not a problem (coder filters …).
        unused_codes: ids of the codes with no segment, left out of training.
    """

    findings: list[Finding]
    code_counts: dict[str, int]
    n_records: int
    n_segments: int
    n_with_sentiment: int
    min_examples: int
    codebook: Codebook
    source: str = ""
    notes: list[str] = field(default_factory=list)
    unused_codes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when there is no error finding (training may go ahead)."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: ``ok``, counts, per-code counts and the findings."""
        return {
            "source": self.source,
            "codebook": self.codebook.name,
            "ok": self.ok,
            "n_records": self.n_records,
            "n_segments": self.n_segments,
            "n_with_sentiment": self.n_with_sentiment,
            "min_examples": self.min_examples,
            "codes": [
                {"code_id": c.id, "category": c.category, "subcategory": c.subcategory,
                 "segments": self.code_counts.get(c.id, 0)}
                for c in self.codebook
            ],
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
            "unused_codes": list(self.unused_codes),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def _verdict(self) -> str:
        if self.ok:
            return (f"OK: training can go ahead ({len(self.warnings)} warning(s)); "
                    f"{self.n_records} records, {len(self.codebook)} codes")
        return (f"REFUSED: {len(self.errors)} error(s) must be fixed before training "
                f"({len(self.warnings)} warning(s))")

    def to_text(self) -> str:
        """The report as plain text (one finding per line: severity, location, message)."""
        lines = [f"Validation of {self.source or 'coded data'} against codebook {self.codebook.name!r}",
                 f"{self.n_records} records from {self.n_segments} segments; "
                 f"{self.n_with_sentiment} with a sentiment label", ""]
        width = max((len(c.id) for c in self.codebook), default=4)
        lines.append(f"{'code':<{width}}  segments  label")
        for c in self.codebook:
            left_out = "  (no segment: left out)" if c.id in self.unused_codes else ""
            lines.append(f"{c.id:<{width}}  {self.code_counts.get(c.id, 0):>8}  {c.label}{left_out}")
        lines.append("")
        lines.extend(f"note: {n}" for n in self.notes)
        for f in self.findings:
            where = f" [{f.location}]" if f.location else ""
            lines.append(f"{f.severity.upper()}{where} {f.rule}: {f.message}")
        if self.findings or self.notes:
            lines.append("")
        lines.append(self._verdict())
        return "\n".join(lines)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """Rich rendering: a table of codes with counts, a table of findings, the verdict."""
        from rich.table import Table
        from rich.text import Text

        codes = Table(title=f"{self.source or 'coded data'}: {self.n_records} records, "
                            f"{self.n_segments} segments, {self.n_with_sentiment} with sentiment")
        for col in ("code id", "category", "subcategory", "segments"):
            codes.add_column(col, justify="right" if col == "segments" else "left")
        for c in self.codebook:
            n = self.code_counts.get(c.id, 0)
            style = "dim" if c.id in self.unused_codes else (
                "red" if n < MIN_TRAINABLE else ("yellow" if n < self.min_examples else ""))
            codes.add_row(c.id, c.category, c.subcategory, Text(str(n), style=style))
        yield codes
        for n in self.notes:
            yield Text(f"note: {n}", style="dim")
        if self.findings:
            table = Table(title="Findings", show_lines=False)
            table.add_column("severity")
            table.add_column("rule")
            table.add_column("location", overflow="fold")
            table.add_column("message", overflow="fold")
            for f in self.findings:
                table.add_row(Text(f.severity, style="bold red" if f.severity == "error" else "yellow"),
                              f.rule, f.location, f.message)
            yield table
        yield Text(self._verdict(), style="bold green" if self.ok else "bold red")


def _span(rec: dict[str, Any]) -> str:
    doc = rec.get("document")
    where = f"document {doc!r} " if doc else ""
    return f"{where}[{rec['start']}:{rec['end']}]"


def _overlaps(records: list[dict[str, Any]]) -> list[Finding]:
    """Overlapping selections of the same coder in the same document (records with offsets)."""
    units: dict[tuple[str, str, int, int, str], dict[str, Any]] = {}
    for rec in records:
        if rec.get("start") is None or rec.get("end") is None:
            continue
        key = (str(rec.get("document") or ""), str(rec.get("coder") or ""), int(rec["start"]),
               int(rec["end"]), str(rec.get("group")))
        units.setdefault(key, rec)
    by_doc: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (doc, coder, *_), rec in units.items():
        by_doc[(doc, coder)].append(rec)
    out: list[Finding] = []
    for (_doc, coder), recs in by_doc.items():
        recs.sort(key=lambda r: (r["start"], r["end"]))
        active: list[dict[str, Any]] = []
        for rec in recs:
            active = [a for a in active if a["end"] > rec["start"]]
            for a in active:
                who = f"coder {coder!r}" if coder else "the same (unnamed) coder"
                same = a["start"] == rec["start"] and a["end"] == rec["end"]
                out.append(Finding(
                    "warning", "overlapping-codings",
                    f"{'the same span was selected twice' if same else 'two selections overlap'} by {who}: "
                    f"{_span(a)} ({a.get('origin') or a['id']}, code {a['code_id']}) and {_span(rec)} "
                    f"({rec.get('origin') or rec['id']}, code {rec['code_id']}); the shared text becomes two "
                    "training segments — if one passage has both codes, code one selection with both",
                    f"{a.get('origin') or a['id']} / {rec.get('origin') or rec['id']}"))
            active.append(rec)
    return out


def validate(coded: CodedData, *, min_examples: int = 5, max_imbalance: float = 10.0) -> ValidationReport:
    """Check coded data for training and build an actionable report.

    Args:
        coded: from :func:`nokoding.coded.load_coded_data`.
        min_examples: a code with fewer segments than this (but at least 2) is a warning;
            fewer than 2 is always an error.
        max_imbalance: warn when the ratio of the largest to the smallest code count (among
            codes with at least one segment) exceeds this.

    Returns:
        :class:`ValidationReport` (``report.ok`` is False when training must be refused).

    Raises:
        ValueError: if ``min_examples < 1`` or ``max_imbalance < 1``.
    """
    if min_examples < 1:
        raise ValueError(f"min_examples must be at least 1, got {min_examples}")
    if max_imbalance < 1:
        raise ValueError(f"max_imbalance must be at least 1, got {max_imbalance}")
    codebook = coded.codebook
    records = coded.records
    findings: list[Finding] = list(coded.findings)

    usable = []
    for rec in records:
        if not str(rec.get("text") or "").strip():
            findings.append(Finding("warning", "empty-segment",
                                    "the segment's text is empty; it was left out of the counts",
                                    str(rec.get("origin") or rec.get("id"))))
        else:
            usable.append(rec)
    counts = Counter(r["code_id"] for r in usable)
    code_counts = {c.id: counts.get(c.id, 0) for c in codebook}

    if not usable:
        findings.append(Finding("error", "no-records",
                                "there is no coded segment to train on; check the coder filter and the "
                                "findings above", str(coded.source)))
    unused = [c for c in codebook if usable and code_counts[c.id] == 0]
    if unused and len(unused) < len(codebook):
        names = ", ".join(repr(c.label) for c in unused)
        findings.append(Finding(
            "warning", "unused-code",
            f"{len(unused)} code(s) have no coded segment and are left out of training: {names}. "
            "Code segments with them to train them, or delete them from the codebook (a tag nobody "
            "used, such as Taguette's default tag, is harmless)",
            ", ".join(c.id for c in unused)))
    else:
        unused = []
    left_out = {c.id for c in unused}
    for c in codebook if usable else ():
        n = code_counts[c.id]
        if c.id in left_out:
            continue
        if n < MIN_TRAINABLE:
            findings.append(Finding(
                "error", "too-few-examples",
                f"code {c.label!r} has {n} segment(s); at least {MIN_TRAINABLE} are needed to train and "
                "evaluate it. Code more segments with it, merge it into a related code, or remove it "
                "from the codebook", c.id))
        elif n < min_examples:
            findings.append(Finding(
                "warning", "too-few-examples",
                f"code {c.label!r} has only {n} segments (fewer than {min_examples}); the model will learn "
                "it poorly. Code more segments with it or merge it into a related code", c.id))
    present = {k: v for k, v in code_counts.items() if v > 0}
    if len(present) >= 2:
        big = max(present, key=lambda k: present[k])
        small = min(present, key=lambda k: present[k])
        ratio = present[big] / present[small]
        if ratio > max_imbalance:
            findings.append(Finding(
                "warning", "class-imbalance",
                f"the largest code {big!r} has {present[big]} segments and the smallest {small!r} "
                f"{present[small]} (ratio {ratio:.1f}, above {max_imbalance:g}); the model will favour "
                "the large codes. Code more segments of the small codes, or split the large one",
                f"{big} / {small}"))

    seen: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in usable:
        seen[(" ".join(rec["text"].split()), rec["code_id"])].append(rec)
    for (text, code_id), recs in seen.items():
        groups = {str(r.get("group")) for r in recs}
        copies = Counter((str(r.get("group")), str(r.get("coder") or "")) for r in recs)
        # several coders giving one passage the same code is agreement, not a duplicate
        if len(groups) < 2 and max(copies.values()) < 2:
            continue
        where = ", ".join(str(r.get("origin") or r["id"]) for r in recs)
        snippet = text if len(text) <= 60 else text[:57] + "..."
        effect = ("it becomes several training examples and can land on both sides of a train/test split"
                  if len(groups) > 1 else "the copies are merged in training, but check for a copy-paste slip")
        findings.append(Finding(
            "warning", "duplicate-segment",
            f"the same text is coded {code_id!r} {len(recs)} times ({where}): {snippet!r}; {effect} — keep one",
            where))

    findings.extend(_overlaps(usable))

    n_sent = sum(1 for r in usable if r.get("sentiment"))
    if usable and n_sent == 0:
        findings.append(Finding("warning", "no-sentiment",
                                "no segment has a sentiment label: only the code head will be trained",
                                str(coded.source)))
    elif usable and n_sent < len(usable):
        findings.append(Finding("warning", "partial-sentiment",
                                f"{len(usable) - n_sent} of {len(usable)} records have no sentiment label; the "
                                "sentiment head trains on the labelled ones only", str(coded.source)))

    ordered = [f for f in findings if f.severity == "error"] + [f for f in findings if f.severity != "error"]
    return ValidationReport(
        findings=ordered,
        code_counts=code_counts,
        n_records=len(usable),
        n_segments=len({r.get("group") for r in usable}),
        n_with_sentiment=n_sent,
        min_examples=min_examples,
        codebook=codebook,
        source=str(coded.source),
        notes=list(coded.notes),
        unused_codes=[c.id for c in unused],
    )
