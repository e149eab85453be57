"""Logistic heads: written examples and their weight, the "no code" outcome, calibration, no sentiment."""

from __future__ import annotations

import numpy as np
import pytest

from nokoding import suggest_codes
from nokoding.model import load_model
from nokoding.training import train
from nokoding.training.logistic import fit_logistic_heads, fit_temperature_nll

LOGISTIC = {"strategy": "frozen", "head_fit": "logistic", "progress": False, "calibration_folds": 0}


def _clusters(rng, n_per=30, dim=8, spread=0.3):
    """Three separable clusters: codes 0 and 1, and a cluster of texts without a code."""
    centers = np.eye(dim)[:3] * 3
    X = np.vstack([centers[k] + spread * rng.standard_normal((n_per, dim)) for k in range(3)])
    codes = [[0]] * n_per + [[1]] * n_per + [[]] * n_per
    return X, codes, centers


def test_no_code_examples_teach_the_heads_to_abstain():
    rng = np.random.default_rng(0)
    X, codes, centers = _clusters(rng)
    heads = fit_logistic_heads(X, codes, [None] * len(X), n_codes=2, n_sentiments=4, calibration_folds=0)
    assert heads.no_code_class and heads.sentiment is None
    p, none = heads.code_proba(centers)
    assert none is not None
    np.testing.assert_allclose(p.sum(axis=1) + none, 1.0)
    assert p[0].argmax() == 0 and p[1].argmax() == 1
    assert none[2] > 0.5 > max(none[0], none[1])  # the no-code cluster is left uncoded, the others are not


def test_without_no_code_examples_the_codes_are_one_distribution():
    rng = np.random.default_rng(1)
    X, codes, _ = _clusters(rng)
    keep = [i for i, c in enumerate(codes) if c]
    heads = fit_logistic_heads(X[keep], [codes[i] for i in keep], [0] * len(keep), 2, 4, calibration_folds=0)
    p, none = heads.code_proba(X[keep])
    assert none is None and not heads.no_code_class
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_temperature_softens_overconfident_scores():
    rng = np.random.default_rng(2)
    # logits say class 0 with certainty, but class 0 is right only 60 % of the time
    logits = np.tile([8.0, 0.0], (200, 1))
    targets = [[0] if rng.random() < 0.6 else [1] for _ in range(200)]
    T = fit_temperature_nll(logits, targets)
    p0 = 1 / (1 + np.exp(-8.0 / T))
    assert p0 == pytest.approx(0.6, abs=0.05)


def test_calibration_uses_out_of_sample_predictions_of_marked_examples():
    rng = np.random.default_rng(3)
    X, codes, _ = _clusters(rng, spread=1.5)  # overlapping clusters: in-sample fit is overconfident
    heads = fit_logistic_heads(X, codes, [None] * len(X), 2, 4, C=100.0, calibration_folds=5)
    diag = heads.diagnostics
    assert diag["n_calibration"] == len(X)
    assert diag["ece_after"] <= diag["ece_before"] + 1e-9
    marked = [True] * 20 + [False] * (len(X) - 20)
    heads = fit_logistic_heads(X, codes, [None] * len(X), 2, 4, calibrate=marked, calibration_folds=5)
    assert heads.diagnostics["n_calibration"] == 20


def test_model_without_sentiment_labels_reports_no_sentiment(tmp_path, tiny_encoders, records, codebook):
    unlabelled = [{k: v for k, v in r.items() if k != "sentiment"} for r in records]
    for args in ({"strategy": "frozen", "head_steps": 3, "progress": False}, LOGISTIC):
        model = train(unlabelled, codebook=codebook, backbone=tiny_encoders["unigram"],
                      out_dir=tmp_path / args.get("head_fit", "calibrate"), **args)
        assert model.config.predicts_sentiment is False
        for m in (model, load_model(tmp_path / args.get("head_fit", "calibrate"))):
            out = suggest_codes(["Vi blir målt på antall vedtak.", records[0]["text"]], m, evidence_k=0)
            assert [s.sentiment for s in out] == ["", ""]
            assert all(s.sentiment_probabilities == {} for s in out)
            assert set(out.to_pandas()["sentiment"]) == {""}
    labelled = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], **LOGISTIC)
    assert labelled.config.predicts_sentiment
    assert suggest_codes(records[0]["text"], labelled, evidence_k=0)[0].sentiment in codebook.sentiment_labels


def _written(codebook, n=6):
    texts = ["God morgen, skal vi begynne?", "Takk for kaffen.", "Vent litt, jeg skrur på opptakeren.",
             "Ja, det går fint.", "Hører du meg nå?", "Vi tar en pause."]
    return [{"id": f"w{i}", "text": t, "code_id": None, "sentiment": "neutral"} for i, t in enumerate(texts[:n])] + [
        {"id": "wc", "text": "Tallene styrer alt vi gjør på kontoret.", "code_id": codebook.code_ids[0],
         "sentiment": "negative"}]


def test_written_examples_their_weight_and_no_code_outcome(tmp_path, tiny_encoders, records, codebook):
    written = _written(codebook)
    model = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], written=written,
                  written_weight=0.5, out_dir=tmp_path / "m", **LOGISTIC)
    summary = model.data_summary
    assert summary["written_examples"] == len(written) and summary["written_uncoded_examples"] == 6
    assert model.config.no_code_class and model.config.code_probability == "softmax"
    assert model.config.category_aggregation == "sum"
    # written statements are never evidence: only real quotes are shown to a coder
    assert all(not i.startswith("w") for i in model.evidence.ids)
    out = suggest_codes([r["text"] for r in records], model, evidence_k=0, top_k=None)
    for s in out:
        if s.abstained:
            assert s.codes == () and s.abstain_reason == "no_code" and s.no_code_probability >= 0.5
        else:
            assert s.no_code_probability < 0.5
            assert sum(c.probability for c in s.codes) + s.no_code_probability == pytest.approx(1.0)
    loaded = load_model(tmp_path / "m")
    again = suggest_codes([r["text"] for r in records], loaded, evidence_k=0, top_k=None)
    assert [s.abstained for s in again] == [s.abstained for s in out]
    # the weight is an argument that matters; weight 0 is the same as no written data
    zero = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], written=written,
                 written_weight=0.0, **LOGISTIC)
    none = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], **LOGISTIC)
    assert not zero.config.no_code_class
    np.testing.assert_allclose(zero.code_head.linear.weight.detach().numpy(),
                               none.code_head.linear.weight.detach().numpy(), rtol=1e-6, atol=1e-8)
    assert not np.allclose(model.code_head.linear.weight.detach().numpy()[:, :],
                           none.code_head.linear.weight.detach().numpy())
    with pytest.raises(ValueError, match="written_weight"):
        train(records, codebook=codebook, backbone=tiny_encoders["unigram"], written=written,
              written_weight=-1.0, **LOGISTIC)


def test_threshold_that_leaves_no_code_is_an_abstention(tiny_encoders, records, codebook):
    model = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], **LOGISTIC)
    s = suggest_codes(records[0]["text"], model, threshold=1.0, evidence_k=0)[0]
    assert s.codes == () and s.abstained and s.abstain_reason == "threshold"
    blank = suggest_codes("   ", model)[0]
    assert blank.abstained and blank.abstain_reason == "blank"
