"""Outputs of a tagging run: the combined CSV, JSON Lines and REFI-QDA files, each read back and checked.

Every coded segment of every tagged document must appear exactly once in the CSV and JSON Lines
files, and every accepted coding exactly once at its segment's positions in the REFI-QDA
project; each file's result is an :class:`~nokoding.tagging.summary.OutputCheck`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from nokoding.codebook import Codebook
from nokoding.export.tagged import TaggedDocument, accepted_codes
from nokoding.tagging.options import FORMATS
from nokoding.tagging.summary import OutputCheck, TagSummary


def _write_outputs(
    summary: TagSummary,
    results: list[TaggedDocument],
    out: Path,
    formats: Sequence[str],
    codebook: Codebook | None,
    *,
    model: str,
    top_k: int,
    threshold: float | None,
    created: datetime | None,
) -> None:
    from nokoding.export.qdpx import read_qdpx, write_qdpx
    from nokoding.export.tabular import read_csv, read_jsonl, write_csv, write_jsonl

    if codebook is not None and top_k > len(codebook):
        summary.warnings.append(f"top_k {top_k} is more than the codebook's {len(codebook)} codes; "
                                f"the outputs list {len(codebook)}")
        top_k = len(codebook)
    for fmt, name in FORMATS.items():
        if fmt not in formats and (out / name).exists():
            summary.warnings.append(f"{out / name} is from an earlier run and was not updated "
                                    f"(this run wrote {', '.join(formats)})")
    expected_rows = Counter((r.document.id, s.index, s.text) for r in results for s in r.segments)
    for fmt in formats:
        path = out / FORMATS[fmt]
        if fmt == "csv":
            write_csv(path, results, top_k=top_k)
            found = Counter((row["document"], int(row["segment"]), row["text"]) for row in read_csv(path))
            summary.checks.append(_compare(fmt, path, expected_rows, found))
        elif fmt == "jsonl":
            write_jsonl(path, results, top_k=top_k)
            found = Counter((rec["document"], int(rec["segment"]), rec["text"]) for rec in read_jsonl(path))
            summary.checks.append(_compare(fmt, path, expected_rows, found))
        else:
            assert codebook is not None
            write_qdpx(path, results, codebook, top_k=top_k, threshold=threshold, model=model, created=created)
            expected = Counter(
                (r.document.id, s.start, s.end, c.code_id, s.text)
                for r in results
                for s, g in r
                for c in accepted_codes(g, top_k=top_k, threshold=threshold)
            )
            project = read_qdpx(path, like=codebook)
            found = Counter((c.source_name, c.start, c.end, c.code_id, c.text) for c in project.codings)
            summary.codings = sum(expected.values())
            summary.checks.append(_compare(fmt, path, expected, found))
        summary.outputs[fmt] = path


def _compare(fmt: str, path: Path, expected: Counter[Any], found: Counter[Any]) -> OutputCheck:
    missing = sum((expected - found).values())
    unexpected = sum(n for k, n in found.items() if k not in expected)
    duplicated = sum(max(0, n - expected[k]) for k, n in found.items() if k in expected)
    return OutputCheck(fmt, path, sum(expected.values()), sum(found.values()), missing, duplicated, unexpected)
