"""The estimator interface and the protocol's promise that every fitted step sees only its fold."""

from __future__ import annotations

import numpy as np
import pytest

from nokoding.evaluate import strategies as S
from nokoding.evaluate.cv import run_cv
from nokoding.evaluate.splits import build_units

from .conftest import HashEmbedder


@pytest.mark.parametrize("name", S.BASELINES)
def test_every_baseline_follows_the_interface(name, codebook, records):
    ctx = S.EvalContext(codebook, embedder=HashEmbedder())
    est = S.make_estimator(name, ctx)
    assert isinstance(est, S.CodingEstimator)
    assert est.fit(records[:20]) is est
    codes, sentiment = est.predict_proba(["tillit og trygg leder", "vi måler tallene", "tid"])
    assert codes.shape == (3, codebook.n_codes)
    assert np.all(codes >= 0) and np.allclose(codes.sum(axis=1), 1.0)
    if est.has_sentiment:
        assert sentiment.shape == (3, len(codebook.sentiment_labels))
        assert np.allclose(sentiment.sum(axis=1), 1.0)
    else:
        assert sentiment is None
    assert est.uses_descriptions == S.STRATEGIES[name].uses_descriptions


def test_unknown_strategy_names_the_known_ones(codebook):
    with pytest.raises(KeyError, match="majority"):
        S.make_estimator("nope", S.EvalContext(codebook))


def test_category_probs_sum_or_noisy_or(codebook):
    p = np.array([[0.1, 0.2, 0.3, 0.4]])

    class Indep:
        independent_codes = True

    assert S.category_probs(object(), p, codebook).tolist() == [[pytest.approx(0.3), pytest.approx(0.7)]]
    noisy = S.category_probs(Indep(), p, codebook)
    assert noisy[0, 0] == pytest.approx(1 - 0.9 * 0.8)


def test_category_probs_use_a_fine_tuned_models_own_aggregation(codebook):
    # a fine-tuned model scores categories by its configured rule (max by default), not the
    # evaluation's noisy-OR fallback
    class Model:
        def category_probabilities(self, code_probs):
            return np.stack([code_probs[:, :2].max(axis=1), code_probs[:, 2:].max(axis=1)], axis=1)

    p = np.array([[0.1, 0.2, 0.3, 0.4]])
    est = S.FineTunedEstimator(codebook, "unused", "frozen")
    est.model = Model()
    assert S.category_probs(est, p, codebook).tolist() == [[0.2, 0.4]]


def test_tfidf_vocabulary_comes_from_the_training_fold_only(codebook, records):
    est = S.make_estimator("tfidf-lr", S.EvalContext(codebook)).fit(records)
    assert not any("qzx" in g for g in est.vectorizer.vocabulary_)
    est.predict_proba(["qzxqzx aldri sett"])
    assert not any("qzx" in g for g in est.vectorizer.vocabulary_)


class _Spy:
    """Records what each fold's estimator is fitted on and asked about."""

    log: list[tuple[list[str], list[str]]] = []
    name, uses_descriptions, has_sentiment = "spy", False, True

    def __init__(self, codebook):
        self.codebook = codebook

    def fit(self, records):
        self.seen = [r["text"] for r in records]
        return self

    def predict_proba(self, texts):
        _Spy.log.append((self.seen, list(texts)))
        n, c = len(texts), self.codebook.n_codes
        return np.full((n, c), 1.0 / c), np.full((n, 4), 0.25)


def test_cv_fits_each_fold_on_training_units_only(codebook, records, monkeypatch):
    _Spy.log = []
    monkeypatch.setitem(S.STRATEGIES, "spy", S.StrategyInfo("spy", "spy", False, False, lambda ctx: _Spy(ctx.codebook)))
    result = run_cv(records, codebook, ["spy"], n_folds=3, n_repeats=2)
    units = build_units(records, codebook)
    assert len(_Spy.log) == 6
    for (seen, asked), fold in zip(_Spy.log, result.folds):
        assert set(seen).isdisjoint(asked)  # no test quote in training, shared quotes included
        assert asked == [units[u].text for u in fold.test_units]
        expected = [records[i]["text"] for u in fold.train_units for i in units[u].record_indices]
        assert seen == expected
    assert result.methods["spy"].repeats == 2
