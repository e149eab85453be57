"""Evaluation with a written corpus: training data only, three rows, abstain and calibration figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from nokoding.evaluate import evaluate_corpus
from nokoding.evaluate.report import coverage_accuracy

from .conftest import _WORDS, HashEmbedder, make_records, write_corpus

METHODS = ["majority", "logistic+desc", "logistic+desc-uncalibrated"]


def _written_records() -> list[dict]:
    out = []
    for code, words in _WORDS.items():
        for i in range(4):
            out.append({"id": f"w-{code}-{i}", "text": f"Skrevet eksempel: {words[i]} og {words[(i + 2) % 4]}, {i}.",
                        "code_id": code, "sentiment": "negative" if i % 2 else "neutral", "pair": f"p-{code}-{i // 2}"})
    small_talk = ["God morgen, alle sammen", "Takk for kaffen", "Vent litt, opptakeren", "Hører du meg nå",
                  "Vi tar en pause", "Ha en fin helg", "Kan du lukke døra", "Været er fint i dag"]
    out += [{"id": f"w-none-{i}", "text": t, "code_id": None, "sentiment": None} for i, t in enumerate(small_talk)]
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    corpus = write_corpus(root / "tiny", make_records())
    written = root / "tiny_written"
    written.mkdir()
    (written / "corpus.yaml").write_text(yaml.safe_dump({"codebook": "../tiny/codebook.yaml", "kind": "written"}),
                                         encoding="utf-8")
    (written / "segments.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _written_records()), encoding="utf-8")
    out = root / "results"
    report = evaluate_corpus(corpus, strategies=METHODS, folds=3, repeats=2, out_dir=out, embedder=HashEmbedder(),
                             written=written, written_weight=0.5, command="nokoding evaluate --written tiny_written")
    return report, out


def test_three_training_sets_and_real_units_as_the_only_test_data(run):
    report, _ = run
    names = list(report["methods"])
    # a method that cannot learn from written data runs on the real training units only
    assert [n for n in names if n.startswith("majority")] == ["majority · real"]
    for method in ("logistic+desc", "logistic+desc-uncalibrated"):
        assert [f"{method} · {t}" for t in ("real", "real+written", "written")] == [
            n for n in names if n.startswith(method + " ·")]
    n_units = report["corpus"]["n_units"]
    for m in report["methods"].values():
        # every metric is computed over the corpus's units only, never over written statements
        assert m["metrics"]["category"]["n_units"]["mean"] == n_units
    assert report["methods"]["logistic+desc · real+written"]["params"]["written_weight"] == 0.5
    assert "written" in report["protocol"]["written_corpus"]


def test_abstain_figures_count_held_out_no_code_statements(run):
    report, _ = run
    rw = report["methods"]["logistic+desc · real+written"]["abstain"]
    # each of the 8 no-code statements is held out once per repeat
    assert rw["no_code_held_out"] == 8 * 2
    assert rw["real_units"] == report["corpus"]["n_units"] * 2
    assert 0 <= rw["no_code_abstained"] <= rw["no_code_held_out"]
    assert "abstain" not in report["methods"]["logistic+desc · real"]  # no no-code examples: no such outcome


def test_markdown_has_abstain_calibration_coverage_and_sentiment_sections(run):
    report, out = run
    md = (out / "tiny.md").read_text(encoding="utf-8")
    for heading in ("## Abstaining", "## Calibration: ECE before → after", "## Coverage–accuracy",
                    "## Sentiment confusion matrix"):
        assert heading in md
    assert (out / "tiny_coverage.png").stat().st_size > 0
    best = report["best_method"]
    cm = np.asarray(report["methods"][best]["sentiment_confusion"])
    labelled = sum(1 for r in make_records() if r["sentiment"])  # shared quotes are one unit each
    assert cm.sum() == report["methods"][best]["repeats"] * report["corpus"]["n_units_with_sentiment"]
    assert labelled >= report["corpus"]["n_units_with_sentiment"]


def test_coverage_accuracy_takes_the_most_confident_first():
    conf = np.array([0.9, 0.1, 0.8, 0.2])
    correct = np.array([1.0, 0.0, 1.0, 1.0])
    assert coverage_accuracy(conf, correct) == [1.0, 1.0, 1.0, 0.75]
