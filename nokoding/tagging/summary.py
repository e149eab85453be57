"""What a tagging run reports: :class:`TagSummary`, its failed inputs and its output checks.

:func:`nokoding.tagging.tag` fills a :class:`TagSummary` while it runs; ``nokoding tag`` prints
:meth:`TagSummary.lines` and writes :meth:`TagSummary.to_dict` to ``summary.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["InputFailure", "OutputCheck", "TagSummary"]


@dataclass(frozen=True)
class InputFailure:
    """An input that could not be tagged: the path as given or found, and why."""

    path: str
    error: str


@dataclass(frozen=True)
class OutputCheck:
    """Read-back check of one output file.

    Attributes:
        format: ``"csv"``, ``"jsonl"`` or ``"qdpx"``.
        path: the file checked.
        expected: rows (CSV, JSON Lines: segments; REFI-QDA: codings) that must be there.
        found: rows found in the file.
        missing: expected rows not found.
        duplicated: rows found more than once (counted once per extra copy).
        unexpected: rows found that were not expected (or whose text/positions differ).
    """

    format: str
    path: Path
    expected: int
    found: int
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0

    @property
    def ok(self) -> bool:
        return self.missing == self.duplicated == self.unexpected == 0 and self.expected == self.found


@dataclass
class TagSummary:
    """What a :func:`tag` run did.

    Attributes:
        inputs: transcript files found (after expanding folders and globs).
        tagged: document ids tagged in this run.
        resumed: document ids taken from a previous run's results.
        redone: ``"<id> (<reason>)"`` for documents an earlier run in the same folder had
            finished but this run tagged again, because the file or a resume setting changed
            (not listed under ``force``).
        failures: inputs that failed (not found, unreadable, suggester error); the others
            were tagged.
        skipped: files found in folders or by patterns that are not transcripts (a .pdf, an
            .xlsx, a Word lock file, a hidden file), each with the reason and what to do.
        segments: coded segments written (each output has this many rows; REFI-QDA has
            one selection per accepted coding instead).
        abstained: of these, segments with no code suggested ("no code suggested": the
            model abstained, no code reached the threshold, or the text is blank); they are
            in every output with an empty code and have no coding in the REFI-QDA project.
        codings: codings written to the REFI-QDA project (0 without ``qdpx``).
        outputs: format → file written.
        checks: read-back checks of the outputs.
        warnings: notes (documents without coded segments, reader warnings).
        seconds: wall-clock time of the run.
        settings: the run's options (model as given and its fingerprint, top_k, roles,
            runtime, device, threshold, formats), as written to ``summary.json``.
        summary_path: where ``summary.json`` was written (``None`` until then; not in it).
    """

    inputs: int = 0
    tagged: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)
    skipped: list[InputFailure] = field(default_factory=list)
    segments: int = 0
    abstained: int = 0
    codings: int = 0
    outputs: dict[str, Path] = field(default_factory=dict)
    checks: list[OutputCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    summary_path: Path | None = None

    @property
    def ok(self) -> bool:
        """No failed input and every output check passed."""
        return not self.failures and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 1 (what ``nokoding tag`` exits with)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "inputs": self.inputs,
            "documents": len(self.tagged) + len(self.resumed),
            "tagged": self.tagged,
            "resumed": self.resumed,
            "redone": self.redone,
            "failures": [dataclasses.asdict(f) for f in self.failures],
            "skipped": [dataclasses.asdict(f) for f in self.skipped],
            "segments": self.segments,
            "abstained": self.abstained,
            "codings": self.codings,
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "checks": [{**dataclasses.asdict(c), "path": str(c.path), "ok": c.ok} for c in self.checks],
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
        }

    def lines(self) -> list[str]:
        """A human-readable report, one line per item."""
        docs = len(self.tagged) + len(self.resumed)
        out = [
            f"documents: {docs} of {self.inputs} input file(s) ({len(self.tagged)} tagged, "
            f"{len(self.resumed)} resumed), {len(self.failures)} failed"
            + (f", {len(self.skipped)} other file(s) skipped" if self.skipped else ""),
        ]
        # what went wrong comes first, before anything that was written or checked
        out += [f"failed: {f.path}: {f.error}" for f in self.failures]
        if self.failures and not docs:
            out.append("nothing was written: every input failed (earlier outputs in the folder are kept)")
        out += [f"skipped: {f.path}: {f.error}" for f in self.skipped]
        out += [
            f"segments: {self.segments} coded segment(s) ({self.abstained} with no code suggested), "
            f"{self.codings} REFI-QDA coding(s)",
            f"time: {self.seconds:.1f} s",
        ]
        if self.redone:
            out.append(f"redone instead of resumed: {'; '.join(self.redone)}")
        for fmt, path in self.outputs.items():
            out.append(f"wrote {fmt}: {path}")
        if self.summary_path is not None:
            out.append(f"wrote summary: {self.summary_path}")
        for c in self.checks:
            state = "ok" if c.ok else "FAILED"
            out.append(
                f"check {c.format}: {state} — {c.found} of {c.expected} expected row(s)"
                + ("" if c.ok else f"; missing {c.missing}, duplicated {c.duplicated}, unexpected {c.unexpected}")
            )
        out += [f"warning: {w}" for w in self.warnings]
        return out
