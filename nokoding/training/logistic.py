"""Logistic-regression heads on frozen embeddings, with a temperature fitted out of sample.

:func:`fit_logistic_heads` is the head stage ``head_fit="logistic"`` of
:func:`nokoding.training.train`, and the estimator of the same recipe in ``nokoding evaluate``
(which embeds every text once per run and calls this function per fold), so the evaluated
recipe and the trained model are one piece of code.

Code head: multinomial logistic regression over the codes and, when some examples have no
code, one more class "no code" (learnt from them; the model abstains where it wins). A quote
filed under several codes becomes one row per code, its weight shared between them. The code
logits are stored relative to the "no code" logit, so ``softmax([logits, 0])`` gives the
probabilities (:meth:`nokoding.model.CodingModel.code_probabilities`).

Sentiment head: multinomial logistic regression over the sentiment labels of the examples that
have one (none: no sentiment head, the model predicts no sentiment).

Calibration (Guo et al., 2017, "On Calibration of Modern Neural Networks"): each head's logits
are divided by a temperature ``T`` that minimises the negative log-likelihood of *out-of-sample*
predictions: the training examples are split into ``calibration_folds`` folds, each fold is
predicted by a regression fitted on the others, and ``T`` is fitted on those predictions —
only on the examples marked ``calibrate`` when there are enough of them (e.g. real quotes, not
written examples, so that the probabilities are calibrated on the data the model will read).
Everything happens inside the training data it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["LinearMap", "LogisticHeads", "fit_logistic_heads", "fit_temperature_nll"]

Array = NDArray[np.float64]


@dataclass
class LinearMap:
    """``logits = (x − center) @ weight.T + bias`` (the form of :class:`nokoding.model.heads.LinearHead`)."""

    weight: Array
    bias: Array
    center: Array

    def logits(self, X: Array) -> Array:
        return (np.asarray(X, dtype=np.float64) - self.center) @ self.weight.T + self.bias


@dataclass
class LogisticHeads:
    """Fitted heads (temperatures already folded into the weights).

    Attributes:
        code: code logits ``[N, C]`` (relative to "no code" when ``no_code_class``).
        no_code_class: whether "no code" is an outcome (logit 0).
        sentiment: sentiment logits ``[N, S]``, or ``None`` when no example had a sentiment.
        code_temperature, sentiment_temperature: the fitted temperatures (1.0: not calibrated).
        ece_before, ece_after: top-label ECE of the out-of-sample code predictions of the
            calibration examples before and after the temperature (diagnostics).
    """

    code: LinearMap
    no_code_class: bool
    sentiment: LinearMap | None
    code_temperature: float = 1.0
    sentiment_temperature: float = 1.0
    diagnostics: dict[str, float] = field(default_factory=dict)

    def code_proba(self, X: Array) -> tuple[Array, Array | None]:
        """``(code probabilities [N, C], P(no code) [N] or None)``."""
        z = self.code.logits(X)
        if self.no_code_class:
            p = _softmax(np.concatenate([z, np.zeros((len(z), 1))], axis=1))
            return p[:, :-1], p[:, -1]
        return _softmax(z), None

    def sentiment_proba(self, X: Array) -> Array | None:
        return None if self.sentiment is None else _softmax(self.sentiment.logits(X))


def _softmax(z: Array) -> Array:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature_nll(logits: Array, targets: Sequence[Sequence[int]], weights: Array | None = None) -> float:
    """Temperature ``T`` in [0.05, 20] minimising the weighted NLL of ``softmax(logits / T)``.

    ``targets[i]`` lists the acceptable classes of row ``i`` (their probabilities are summed).
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    mask = np.zeros_like(z, dtype=bool)
    for i, t in enumerate(targets):
        mask[i, list(t)] = True
    w = np.ones(len(z)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not len(z) or not mask.any():
        return 1.0

    def nll(log_t: float) -> float:
        p = _softmax(z / np.exp(log_t))
        return float(-(w * np.log(np.clip((p * mask).sum(axis=1), 1e-12, None))).sum() / w.sum())

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def _fit_lr(X: Array, y: NDArray[np.int64], w: Array, n_classes: int, C: float, seed: int) -> tuple[Array, Array]:
    """Standardised multinomial logistic regression → ``(weight [K, H], bias [K])`` on raw ``X - mean``.

    Classes absent from ``y`` get a very low bias (never predicted).
    """
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    std = X.std(axis=0) + 1e-6
    present = np.unique(y)
    W = np.zeros((n_classes, X.shape[1]))
    b = np.full(n_classes, -30.0)
    if len(present) == 1:
        b[present[0]] = 0.0
        return W, b
    clf = LogisticRegression(C=C, max_iter=500, random_state=seed)
    clf.fit((X - mean) / std, y, sample_weight=w)
    coef, inter = clf.coef_, clf.intercept_
    if len(present) == 2:  # binary: one row for the second class
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        inter = np.array([-inter[0] / 2, inter[0] / 2])
    W[present] = coef / std
    b[present] = inter - (coef / std) @ mean
    return W, b


def _rows(labels: Sequence[Sequence[int]], weights: Array) -> tuple[NDArray[np.int64], NDArray[np.int64], Array]:
    """Expand examples with several classes into one row per class (weight shared)."""
    idx, ys, ws = [], [], []
    for i, labs in enumerate(labels):
        for lab in labs:
            idx.append(i)
            ys.append(lab)
            ws.append(weights[i] / len(labs))
    return np.asarray(idx, dtype=np.int64), np.asarray(ys, dtype=np.int64), np.asarray(ws, dtype=np.float64)


def _balanced(y: NDArray[np.int64], w: Array) -> Array:
    """Multiply row weights so that every class has the same total weight (mean row weight kept)."""
    totals = np.bincount(y, weights=w)
    present = totals > 0
    factor = np.zeros_like(totals)
    factor[present] = w.sum() / (present.sum() * totals[present])
    return w * factor[y]


def _fit_head(
    X: Array, labels: Sequence[Sequence[int]], weights: Array, n_classes: int, *, C: float, seed: int,
    balanced: bool, calibrate: Array | None, folds: int,
) -> tuple[Array, Array, float, dict[str, float]]:
    """One head: weights/bias of the full fit, the out-of-sample temperature and diagnostics."""
    idx, y, w = _rows(labels, weights)
    if balanced:
        w = _balanced(y, w)
    W, b = _fit_lr(X[idx], y, w, n_classes, C, seed)
    T, diag = 1.0, {}
    examples = np.asarray([i for i, labs in enumerate(labels) if labs], dtype=np.int64)
    if calibrate is not None and folds >= 2 and len(examples) >= 2 * folds:
        rng = np.random.default_rng(seed)
        fold_of = np.empty(len(labels), dtype=np.int64)
        fold_of[examples] = rng.permutation(len(examples)) % folds
        oof = np.zeros((len(labels), n_classes))
        for f in range(folds):
            keep = fold_of[idx] != f
            Wf, bf = _fit_lr(X[idx[keep]], y[keep], w[keep], n_classes, C, seed)
            test = examples[fold_of[examples] == f]
            oof[test] = X[test] @ Wf.T + bf
        use = examples[calibrate[examples]]
        if len(use) < 2 * folds:  # too few marked examples: calibrate on all
            use = examples
        targets = [list(labels[i]) for i in use]
        T = fit_temperature_nll(oof[use], targets)
        diag = {"ece_before": _ece(oof[use], targets, 1.0), "ece_after": _ece(oof[use], targets, T),
                "n_calibration": float(len(use))}
    return W / T, b / T, T, diag


def _ece(logits: Array, targets: Sequence[Sequence[int]], T: float, bins: int = 15) -> float:
    p = _softmax(logits / T)
    pred = p.argmax(axis=1)
    conf = p[np.arange(len(p)), pred]
    correct = np.array([pred[i] in targets[i] for i in range(len(p))], dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    return float(sum(abs(conf[which == k].mean() - correct[which == k].mean()) * (which == k).mean()
                     for k in range(bins) if (which == k).any()))


def fit_logistic_heads(
    X: Array,
    code_labels: Sequence[Sequence[int]],
    sentiment_labels: Sequence[int | None],
    n_codes: int,
    n_sentiments: int,
    *,
    weights: Sequence[float] | None = None,
    calibrate: Sequence[bool] | None = None,
    C: float = 1.0,
    balanced: bool = True,
    calibration_folds: int = 5,
    seed: int = 0,
) -> LogisticHeads:
    """Fit the code and sentiment heads on embeddings ``X`` ``[N, H]``.

    Args:
        X: pooled embeddings of the training examples.
        code_labels: per example, its code indices (empty: "no code").
        sentiment_labels: per example, its sentiment index or ``None``.
        n_codes, n_sentiments: label counts (codebook order).
        weights: per-example weights (e.g. a lower weight for written examples); default 1.
        calibrate: per example, whether its out-of-sample prediction may fit the temperature
            (default all); where fewer than ``2 × calibration_folds`` are marked, all are used.
        C: inverse L2 regularisation of the logistic regressions (on standardised embeddings).
        balanced: weight classes to equal total weight (codes, "no code", sentiment labels).
        calibration_folds: folds of the out-of-sample temperature fit (0 or 1: no calibration).
        seed: solver and fold seed.

    Returns:
        :class:`LogisticHeads` whose probabilities are temperature-scaled.
    """
    from threadpoolctl import threadpool_limits

    # one BLAS thread: these small problems run ~10× slower when threads contend for the cores
    with threadpool_limits(1):
        return _fit_heads(X, code_labels, sentiment_labels, n_codes, n_sentiments, weights=weights,
                          calibrate=calibrate, C=C, balanced=balanced, calibration_folds=calibration_folds, seed=seed)


def _fit_heads(
    X: Array, code_labels: Sequence[Sequence[int]], sentiment_labels: Sequence[int | None], n_codes: int,
    n_sentiments: int, *, weights: Sequence[float] | None, calibrate: Sequence[bool] | None, C: float,
    balanced: bool, calibration_folds: int, seed: int,
) -> LogisticHeads:
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    cal = np.ones(n, dtype=bool) if calibrate is None else np.asarray(calibrate, dtype=bool)
    no_code = any(len(c) == 0 for c in code_labels)
    labels = [list(c) if len(c) else [n_codes] for c in code_labels]
    k = n_codes + int(no_code)
    W, b, T, diag = _fit_head(X, labels, w, k, C=C, seed=seed, balanced=balanced, calibrate=cal,
                              folds=calibration_folds)
    if no_code:  # logits relative to "no code"
        W, b = W[:-1] - W[-1], b[:-1] - b[-1]
    code = LinearMap(W, b, np.zeros(X.shape[1]))
    sentiment, Ts = None, 1.0
    rows = [i for i, s in enumerate(sentiment_labels) if s is not None]
    if rows:
        sent_labels = [[int(sentiment_labels[i])] for i in rows]  # type: ignore[arg-type]
        Ws, bs, Ts, sdiag = _fit_head(X[rows], sent_labels, w[rows], n_sentiments,
                                      C=C, seed=seed, balanced=balanced, calibrate=cal[rows],
                                      folds=calibration_folds)
        sentiment = LinearMap(Ws, bs, np.zeros(X.shape[1]))
        diag.update({f"sentiment_{key}": v for key, v in sdiag.items()})
    return LogisticHeads(code, no_code, sentiment, T, Ts, diag)
