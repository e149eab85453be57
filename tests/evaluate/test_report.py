"""The report writer on a tiny synthetic corpus: files written, Markdown numbers equal the JSON."""

from __future__ import annotations

import json
import math
import re

import pytest
from typer.testing import CliRunner

from nokoding.evaluate import evaluate_corpus
from nokoding.evaluate.report import TABLE_METRICS, fmt_mean_std

from .conftest import HashEmbedder

METHODS = ["majority", "tfidf-lr", "embed-lr", "embed-lr+desc", "zero-shot", "prototype", "prototype+desc"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    from .conftest import make_records, write_corpus

    root = tmp_path_factory.mktemp("eval")
    corpus = write_corpus(root / "tiny", make_records())
    out = root / "results"
    report = evaluate_corpus(corpus, strategies=METHODS, folds=3, repeats=2, strategy_repeats={"tfidf-lr": 1},
                             out_dir=out, embedder=HashEmbedder(), command="nokoding evaluate --corpus tiny")
    return report, out


def _tables(md: str) -> dict[str, list[list[str]]]:
    """Markdown tables under each '### ' heading, as rows of cells (header row first)."""
    tables: dict[str, list[list[str]]] = {}
    heading = None
    for line in md.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        elif line.startswith("|") and heading and not line.startswith("|---"):
            tables.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return tables


def test_files_are_written(written):
    report, out = written
    names = sorted(p.name for p in out.iterdir())
    assert names == ["tiny.json", "tiny.md", "tiny_confusion_category.png", "tiny_coverage.png",
                     "tiny_reliability.png"]
    for png in ("tiny_confusion_category.png", "tiny_coverage.png", "tiny_reliability.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "tiny.json").read_text(encoding="utf-8"))
    assert on_disk["methods"].keys() == report["methods"].keys()
    assert "tiny_reliability.png" in (out / "tiny.md").read_text(encoding="utf-8")


def test_markdown_numbers_equal_json(written):
    _, out = written
    data = json.loads((out / "tiny.json").read_text(encoding="utf-8"))
    tables = _tables((out / "tiny.md").read_text(encoding="utf-8"))
    titles = {"category": "Main category", "code": "Code (category, subcategory)", "sentiment": "Sentiment"}
    for task, title in titles.items():
        header, *rows = tables[title]
        assert [r[0] for r in rows] == METHODS
        for row in rows:
            m = data["methods"][row[0]]
            assert row[1] == str(m["repeats"])
            for metric, cell in zip(TABLE_METRICS[task], row[2:]):
                entry = m["metrics"][task][metric] if m["metrics"][task] else None
                assert cell == fmt_mean_std(entry)
                if entry is not None:  # the printed mean is the JSON mean rounded
                    assert float(cell.split(" ± ")[0]) == pytest.approx(entry["mean"], abs=5e-4)


def test_json_has_no_nan_and_declares_repeats_per_method(written):
    report, out = written
    text = (out / "tiny.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert report["methods"]["tfidf-lr"]["repeats"] == 1
    assert report["methods"]["majority"]["repeats"] == 2
    std = report["methods"]["tfidf-lr"]["metrics"]["code"]["accuracy"]["std"]
    assert std is None  # one repeat: no spread claimed
    for name, m in report["methods"].items():
        for task, metrics in m["metrics"].items():
            for metric, entry in (metrics or {}).items():
                assert all(math.isfinite(v) for v in entry["values"]), (name, task, metric)


def test_zero_shot_has_no_sentiment_and_report_says_na(written):
    report, out = written
    assert report["methods"]["zero-shot"]["metrics"]["sentiment"] is None
    row = next(r for r in _tables((out / "tiny.md").read_text(encoding="utf-8"))["Sentiment"] if r[0] == "zero-shot")
    assert set(row[2:]) == {"n/a"}


def test_per_code_table_and_descriptions_comparison(written):
    report, out = written
    md = (out / "tiny.md").read_text(encoding="utf-8")
    best = report["best_method"]
    kappas = {n: m["metrics"]["category"]["cohen_kappa"]["mean"] for n, m in report["methods"].items()}
    assert kappas[best] == max(kappas.values())
    rows = report["methods"][best]["per_label"]["code"]
    assert [r["label"] for r in rows] == ["mal.maling", "mal.tid", "led.tillit", "led.styring"]
    assert sum(r["support"] for r in rows) == 4 * 6 + 4  # two quotes count under both codes
    assert f"Per-code results ({best}" in md
    pairs = {(d["without"], d["with"]) for d in report["descriptions"]}
    assert pairs == {("embed-lr", "embed-lr+desc"), ("prototype", "prototype+desc")}
    assert "With vs without code descriptions" in md


def test_majority_baseline_shows_no_agreement_beyond_chance(written):
    report, _ = written
    m = report["methods"]["majority"]["metrics"]
    # a fold-constant prediction (the majority may change between folds): kappa at or below 0
    assert m["code"]["cohen_kappa"]["mean"] <= 1e-9
    assert m["category"]["cohen_kappa"]["mean"] <= 1e-9
    assert not report["methods"]["majority"]["notes"]  # kappa stays defined: the coder varies


def test_tfidf_beats_majority_on_separable_codes(written):
    report, _ = written
    acc = {n: m["metrics"]["code"]["accuracy"]["mean"] for n, m in report["methods"].items()}
    assert acc["tfidf-lr"] > acc["majority"] + 0.3


def test_cli_writes_report(tmp_path):
    from nokoding.cli import app

    from .conftest import make_records, write_corpus

    corpus = write_corpus(tmp_path / "tiny", make_records(per_code=4))
    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["evaluate", "--corpus", str(corpus), "--strategy", "majority",
                                      "--strategy", "tfidf-lr", "--folds", "2", "--repeats", "2",
                                      "--strategy-repeats", "tfidf-lr=1", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "tiny.json").read_text(encoding="utf-8"))
    assert list(data["methods"]) == ["majority", "tfidf-lr"]
    assert data["protocol"]["folds"] == 2 and data["methods"]["tfidf-lr"]["repeats"] == 1
    assert re.search(r"tfidf-lr\s+repeats=1", result.output)


def test_cli_rejects_unknown_strategy(tmp_path):
    from nokoding.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--strategy", "nonsense", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown strategy 'nonsense'" in result.output


def test_report_without_matplotlib_skips_figures_and_says_so(tmp_path, monkeypatch):
    import sys

    from .conftest import make_records, write_corpus

    corpus = write_corpus(tmp_path / "tiny", make_records(per_code=3))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    report = evaluate_corpus(corpus, strategies=["majority"], folds=2, repeats=1, out_dir=tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tiny.json", "tiny.md"]
    assert "matplotlib is not installed" in (tmp_path / "out" / "tiny.md").read_text(encoding="utf-8")
    assert "confusion" not in report["files"]
