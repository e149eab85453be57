"""Checks of the written training corpus ``corpora/thesis_mrs_written``.

Every label must be traceable to the committed brief, the corpus must be exactly what its
build script makes of the parts, no statement may be close to a thesis quote, and the
datasheet's figures must be the ones the scripts measure.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WRITTEN = REPO / "corpora" / "thesis_mrs_written"
THESIS = REPO / "corpora" / "thesis_mrs"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"written_{name}", WRITTEN / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def build():
    return _module("build")


@pytest.fixture(scope="module")
def segments() -> list[dict]:
    return _jsonl(WRITTEN / "segments.jsonl")


@pytest.fixture(scope="module")
def code_ids() -> list[str]:
    book = yaml.safe_load((THESIS / "codebook.yaml").read_text(encoding="utf-8"))
    return [sub["id"] for cat in book["categories"] for sub in cat["subcategories"]]


def test_segments_are_what_build_makes_of_the_parts(build, segments):
    from nokoding.codebook import Codebook

    records = build.read_parts(Codebook.from_yaml(THESIS / "codebook.yaml"))
    by_id = {r["id"]: r for r in records}
    assert len(by_id) == len(records)
    for seg in segments:
        part = by_id[seg["id"]]  # every kept statement comes from a part, unchanged
        assert {k: seg[k] for k in part} == part
    kept = {s["id"] for s in segments}
    assert [r["id"] for r in records if r["id"] in kept] == [s["id"] for s in segments]


def test_no_statement_reaches_the_similarity_threshold(build, segments):
    quotes = [q["text"] for q in _jsonl(THESIS / "segments.jsonl")]
    sim = build.similarity([s["text"] for s in segments], quotes)
    assert sim.max() < build.THRESHOLD
    stored = [s["max_quote_similarity"] for s in segments]
    assert max(abs(a - b) for a, b in zip(stored, sim.max(axis=1), strict=True)) < 1e-3


def test_dropped_statements_are_listed_with_their_similarity(build, segments):
    from nokoding.codebook import Codebook

    records = build.read_parts(Codebook.from_yaml(THESIS / "codebook.yaml"))
    dropped = {r["id"] for r in records} - {s["id"] for s in segments}
    report = (WRITTEN / "SIMILARITY.md").read_text(encoding="utf-8")
    for rid in dropped:
        assert re.search(rf"^\| {re.escape(rid)} \| 0\.\d{{3}} \|", report, re.M), rid
    assert f"Kept {len(segments)}, dropped {len(dropped)}." in report


def test_the_brief_is_met(segments, code_ids):
    per_code = collections.Counter(s["code_id"] for s in segments)
    assert all(per_code[c] >= 40 for c in code_ids), {c: per_code[c] for c in code_ids if per_code[c] < 40}
    assert per_code[None] >= 150
    for code in [*code_ids, None]:
        rows = [s for s in segments if s["code_id"] == code]
        assert sum(s["language"] == "nn" for s in rows) / len(rows) >= 0.15, code
        assert sum(s["sector"] == "nav" for s in rows) / len(rows) <= 0.5, code
    assert all(s["sentiment"] == "neutral" for s in segments if s["code_id"] is None)
    words = [len(s["text"].split()) for s in segments]
    assert min(words) >= 5 and max(words) <= 120
    pairs = collections.defaultdict(list)
    for s in segments:
        if s["pair"]:
            pairs[s["pair"]].append(s)
    assert len(pairs) >= 100
    assert all(len({m["sentiment"] for m in members}) > 1 for members in pairs.values() if len(members) == 2)


def test_every_record_says_it_is_written_and_fills_its_code_from_the_codebook(segments):
    book = yaml.safe_load((THESIS / "codebook.yaml").read_text(encoding="utf-8"))
    names = {sub["id"]: (cat["name"], sub["name"]) for cat in book["categories"] for sub in cat["subcategories"]}
    for s in segments:
        assert s["source"] == "written" and s["part"] in {"w1", "w2", "w3"}
        assert (s["category"], s["subcategory"]) == (names[s["code_id"]] if s["code_id"] else (None, None))


def test_datasheet_reports_the_measured_audit(tmp_path, capsys):
    audit = _module("audit")
    assert audit.main(tmp_path / "AUDIT.md") == 0
    assert (tmp_path / "AUDIT.md").read_text(encoding="utf-8") == (WRITTEN / "audit" / "AUDIT.md").read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    datasheet = (WRITTEN / "DATASHEET.md").read_text(encoding="utf-8")
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "κ" not in line and "---" not in line]
    assert len(rows) == 3
    for row in rows:
        assert row in datasheet, row
    assert "written examples, not\ninformants' words" in datasheet or "written examples, not informants' words" in datasheet
