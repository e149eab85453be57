"""Checks of the written studies in ``corpora/new_codebooks`` (the new-codebook benchmark's data)."""

from __future__ import annotations

import collections
import importlib.util
import json
from pathlib import Path

import pytest

from nokoding.codebook import Codebook

STUDIES = Path(__file__).resolve().parents[1] / "corpora" / "new_codebooks"
FOLDERS = sorted(p for p in STUDIES.iterdir() if (p / "codebook.yaml").is_file())


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_there_are_at_least_eight_studies():
    assert len(FOLDERS) >= 8


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_study_is_a_usable_benchmark(folder):
    codebook = Codebook.from_yaml(folder / "codebook.yaml")
    assert 4 <= len(codebook.code_ids) <= 8
    assert all(code.description for code in codebook.codes)
    train, test = _jsonl(folder / "train.jsonl"), _jsonl(folder / "test.jsonl")
    ids = [r["id"] for r in train + test]
    assert len(ids) == len(set(ids))
    for split, rows, low, high in (("train", train, 8, 16), ("test", test, 5, 16)):
        per_code = collections.Counter(r["code_id"] for r in rows)
        assert set(per_code) == set(codebook.code_ids), split
        assert all(low <= n <= high for n in per_code.values()), (split, per_code)
        assert all(r["language"] in {"nb", "nn"} and r["register"] in {"spoken", "short", "written"} for r in rows)
    assert not {r["text"] for r in train} & {r["text"] for r in test}
    assert sum(r["language"] == "nn" for r in train + test) / len(train + test) >= 0.2


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_no_test_statement_shares_a_frequent_keyword_with_its_codes_training_statements(folder, capsys):
    spec = importlib.util.spec_from_file_location("new_codebooks_check", STUDIES / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    hits = check.check(folder)
    assert hits == 0, capsys.readouterr().out


def test_datasheet_reports_the_measured_audit(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("new_codebooks_audit", STUDIES / "audit.py")
    audit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audit)
    assert audit.score(tmp_path / "AUDIT.md") == 0
    report = (tmp_path / "AUDIT.md").read_text(encoding="utf-8")
    assert report == (STUDIES / "audit" / "AUDIT.md").read_text(encoding="utf-8")
    datasheet = (STUDIES / "DATASHEET.md").read_text(encoding="utf-8")
    for name in ("all studies", "training statements", "test statements"):
        row = next(line for line in report.splitlines() if line.startswith(f"| {name} |"))
        assert row in datasheet
