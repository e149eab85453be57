"""Degenerate folds and undefined statistics: handled, counted and reported, never a crash or NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nokoding.evaluate import evaluate_corpus
from nokoding.evaluate.baselines import (
    EmbeddingLogRegEstimator,
    PrototypeEstimator,
    TfidfLogRegEstimator,
)
from nokoding.evaluate.cv import run_cv

from .conftest import HashEmbedder, make_records, write_corpus


def _all_finite(obj) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_all_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_all_finite(v) for v in obj)
    return True


@pytest.fixture()
def degenerate_corpus(tmp_path):
    """One code with a single quote (absent from one training fold per repeat) and a single
    sentiment label for every quote (kappa and alpha undefined for sentiment)."""
    records = [r for r in make_records(per_code=4, extra={"led.styring": 1}) if not r["group"].startswith("shared")]
    for r in records:
        r["sentiment"] = "neutral"
    return write_corpus(tmp_path / "degenerate", records)


def test_degenerate_run_completes_with_counted_notes(degenerate_corpus, tmp_path):
    methods = ["majority", "tfidf-lr", "embed-lr", "prototype", "prototype+desc"]
    report = evaluate_corpus(degenerate_corpus, strategies=methods, folds=4, repeats=2,
                             embedder=HashEmbedder(), out_dir=tmp_path / "out")
    assert _all_finite(report)
    proto = report["protocol"]
    assert proto["training_folds_missing_a_code"] == 2  # one fold per repeat
    assert proto["codes_absent_from_training_folds"] == {"led.styring": 2}
    for name in methods:
        notes = report["methods"][name]["notes"]
        sentiment = report["methods"][name]["metrics"]["sentiment"]
        # every method predicts 'neutral' for all: kappa/alpha undefined, reported as 0 and counted
        assert sentiment["cohen_kappa"]["values"] == [0.0, 0.0]
        assert sentiment["accuracy"]["mean"] == pytest.approx(1.0)
        assert any(k.startswith("sentiment: kappa undefined") and v == 2 for k, v in notes.items()), notes
        assert any(k.startswith("sentiment: alpha undefined") and v == 2 for k, v in notes.items()), notes
    md = (tmp_path / "out" / "degenerate.md").read_text(encoding="utf-8")
    assert "2 of 8 training folds lacked at least one code" in md
    assert "kappa undefined: chance agreement is 1" in md and "(in 2 of 2 repeat(s))" in md
    assert "NaN" not in (tmp_path / "out" / "degenerate.json").read_text(encoding="utf-8")


def test_code_absent_from_training_gets_zero_probability_without_description(codebook):
    train = [r for r in make_records(per_code=4) if r["code_id"] != "led.styring"]
    texts = ["vi snakker om styring ovenfra", "tillit og trygg"]
    emb = HashEmbedder()
    for est in (TfidfLogRegEstimator(codebook), EmbeddingLogRegEstimator(codebook, emb),
                PrototypeEstimator(codebook, emb, use_descriptions=False)):
        codes, sentiment = est.fit(train).predict_proba(texts)
        assert codes.shape == (2, 4) and sentiment.shape == (2, 4)
        assert np.all(np.isfinite(codes)) and np.allclose(codes.sum(axis=1), 1.0)
        assert np.all(codes[:, codebook.index("led.styring")] == 0.0), est.name
    # with its description, the prototype method can still suggest the absent code
    codes, _ = PrototypeEstimator(codebook, emb, use_descriptions=True).fit(train).predict_proba(texts)
    assert np.all(codes[:, codebook.index("led.styring")] > 0.0)


def test_single_code_training_fold_is_a_constant_model(codebook):
    train = [r for r in make_records(per_code=3) if r["code_id"] == "mal.tid"]
    codes, sentiment = TfidfLogRegEstimator(codebook).fit(train).predict_proba(["hva som helst"])
    assert codes[0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert np.isclose(sentiment.sum(), 1.0)


def test_units_without_sentiment_are_not_scored_for_sentiment(codebook, records):
    for r in records[:5]:
        r["sentiment"] = None
    result = run_cv(records, codebook, ["majority"], n_folds=3, n_repeats=1)
    sentiment = result.methods["majority"].scores[0]["sentiment"]
    assert sentiment.values["n_units"] == len(result.units) - 5
    assert any("without a gold label" in n for n in sentiment.notes)


def test_json_written_is_strict(degenerate_corpus, tmp_path):
    evaluate_corpus(degenerate_corpus, strategies=["majority"], folds=2, repeats=1, out_dir=tmp_path)
    json.loads((tmp_path / "degenerate.json").read_text(encoding="utf-8"),
               parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
