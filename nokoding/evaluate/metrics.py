"""Agreement and accuracy metrics between a model's coding and a human coder's.

Every function takes plain integer label arrays (index into the codebook's label order, see
:class:`nokoding.codebook.Codebook`) or probability matrices, and returns plain floats.

Undefined quantities are never returned as a silent NaN. Where a statistic is undefined
(Cohen's kappa or Krippendorff's alpha when the expected/chance agreement is 1, i.e. both
coders used one single code for every unit), the function returns a :class:`Score` whose
``value`` is the documented convention **0.0** ("no agreement beyond chance can be shown")
and whose ``note`` says why; the cross-validation collects and counts these notes and the
report prints them.

Sources: Cohen (1960), *Educational and Psychological Measurement* 20(1) (kappa);
Krippendorff (2011), "Computing Krippendorff's alpha-reliability" (nominal alpha, pairable
values, missing data); Guo et al. (2017), "On calibration of modern neural networks", ICML
(expected calibration error with equal-width confidence bins, top-label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ECE_BINS",
    "MISSING",
    "Score",
    "accuracy",
    "cohen_kappa",
    "expected_calibration_error",
    "krippendorff_alpha_nominal",
    "macro_f1",
    "per_label_prf",
    "reliability_bins",
    "resolve_gold",
    "top_k_accuracy",
]

#: Number of equal-width confidence bins for the expected calibration error (Guo et al. 2017).
ECE_BINS = 15
#: Label value meaning "this coder gave no label for this unit" (e.g. sentiment not annotated).
MISSING = -1


@dataclass(frozen=True)
class Score:
    """A metric value, with a note when the value is a convention for an undefined statistic.

    Attributes:
        value: the number reported (never NaN).
        note: ``None`` when the statistic is defined; otherwise a short reason, e.g.
            ``"kappa undefined: chance agreement is 1 (a single code used); reported as 0"``.
    """

    value: float
    note: str | None = None

    @property
    def defined(self) -> bool:
        """Whether the statistic was defined on its data (``note is None``)."""
        return self.note is None


def _labels(a: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(a, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"label arrays must be 1-D, got shape {arr.shape}")
    return arr


def _paired(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    a, b = _labels(y_true), _labels(y_pred)
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in length: {a.shape[0]} vs {b.shape[0]}")
    keep = (a != MISSING) & (b != MISSING)
    return a[keep], b[keep]


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of units where the two labels agree (units with a :data:`MISSING` label skipped).

    Returns 0.0 for an empty input. Raises ``ValueError`` if the arrays differ in length.
    """
    a, b = _paired(y_true, y_pred)
    return float(np.mean(a == b)) if a.size else 0.0


def top_k_accuracy(gold_sets: Sequence[Sequence[int]], probs: ArrayLike, k: int = 3) -> float:
    """Share of units where at least one gold label is among the ``k`` highest-scored labels.

    Args:
        gold_sets: per unit, the label indices the human coder gave (a quote filed under two
            codes has two); an empty set counts as a miss.
        probs: scores, shape ``(n_units, n_labels)``; ties are broken by label order.
        k: how many top labels count (clipped to ``n_labels``).

    Raises:
        ValueError: if the number of rows differs from ``len(gold_sets)``.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != len(gold_sets):
        raise ValueError(f"probs must have shape ({len(gold_sets)}, n_labels), got {p.shape}")
    if p.shape[0] == 0:
        return 0.0
    k = min(k, p.shape[1])
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    hits = [bool(set(top[i].tolist()) & set(g)) for i, g in enumerate(gold_sets)]
    return float(np.mean(hits))


def resolve_gold(gold_sets: Sequence[Sequence[int]], y_pred: ArrayLike) -> NDArray[np.int64]:
    """One gold label per unit for single-label metrics, given possibly several gold labels.

    A unit (quote) the human coder filed under several codes has several gold labels. The
    resolved gold is the predicted label when it is one of them (the prediction agrees with
    one of the coder's choices), else the first gold label (the coder's first-listed code).
    Units without gold labels resolve to :data:`MISSING`.

    Returns:
        int array of shape ``(n_units,)``.
    """
    pred = _labels(y_pred)
    if pred.shape[0] != len(gold_sets):
        raise ValueError(f"{len(gold_sets)} gold sets but {pred.shape[0]} predictions")
    out = np.empty(len(gold_sets), dtype=np.int64)
    for i, gold in enumerate(gold_sets):
        gold = list(gold)
        out[i] = MISSING if not gold else (pred[i] if pred[i] in gold else gold[0])
    return out


def cohen_kappa(y_true: ArrayLike, y_pred: ArrayLike) -> Score:
    """Cohen's kappa between two coders' nominal labels (units with a missing label skipped).

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed agreement and ``p_e`` the
    agreement expected from the two coders' own label frequencies (Cohen 1960); computed with
    :func:`sklearn.metrics.cohen_kappa_score`.

    Degenerate cases (returned with a ``note``, value 0.0): no paired units; ``p_e = 1``
    (both coders used the same single label for every unit — agreement is total but not
    distinguishable from chance). A model that always predicts one code while the coder
    varies is *not* degenerate: ``p_o = p_e`` and kappa is exactly 0.
    """
    from sklearn.metrics import cohen_kappa_score

    a, b = _paired(y_true, y_pred)
    if a.size == 0:
        return Score(0.0, "kappa undefined: no units with both labels; reported as 0")
    if np.unique(np.concatenate([a, b])).size == 1:
        return Score(0.0, "kappa undefined: chance agreement is 1 (a single label used); reported as 0")
    return Score(float(cohen_kappa_score(a, b)))


def krippendorff_alpha_nominal(y_true: ArrayLike, y_pred: ArrayLike) -> Score:
    """Krippendorff's alpha (nominal) for two coders, missing labels allowed.

    Labels equal to :data:`MISSING` are missing data: a unit with fewer than two labels is
    not pairable and does not count (Krippendorff 2011). Computed with the ``krippendorff``
    package (reliability data of shape ``(2 coders, n_units)``).

    Degenerate cases (value 0.0 with a ``note``): fewer than one pairable unit, or a single
    value in the pairable data (expected disagreement 0).

    Raises:
        ValueError: if the arrays differ in length.
    """
    import krippendorff

    a, b = _labels(y_true), _labels(y_pred)
    if a.shape != b.shape:
        raise ValueError(f"label arrays differ in length: {a.shape[0]} vs {b.shape[0]}")
    pairable = (a != MISSING) & (b != MISSING)
    if not pairable.any():
        return Score(0.0, "alpha undefined: no unit coded by both; reported as 0")
    if np.unique(np.concatenate([a[pairable], b[pairable]])).size == 1:
        return Score(0.0, "alpha undefined: a single value in the pairable data; reported as 0")
    data = np.vstack([a, b]).astype(np.float64)
    data[data == MISSING] = np.nan
    return Score(float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")))


def _bin_index(confidence: NDArray[np.float64], n_bins: int) -> NDArray[np.int64]:
    # Bin b holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 goes into bin 0.
    idx = np.ceil(confidence * n_bins).astype(np.int64) - 1
    return np.clip(idx, 0, n_bins - 1)


def reliability_bins(
    confidence: ArrayLike, correct: ArrayLike, n_bins: int = ECE_BINS
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Mean confidence, accuracy and count per equal-width confidence bin.

    Args:
        confidence: top-label probability per unit, in [0, 1], shape ``(n,)``.
        correct: 1/True where the top label was right, shape ``(n,)``.
        n_bins: number of bins over [0, 1]; bin ``b`` is ``(b/n_bins, (b+1)/n_bins]``.

    Returns:
        ``(mean_confidence, accuracy, count)``, each of shape ``(n_bins,)``; empty bins have
        count 0 and mean confidence/accuracy 0.

    Raises:
        ValueError: on mismatched shapes or confidences outside [0, 1].
    """
    conf = np.asarray(confidence, dtype=np.float64)
    corr = np.asarray(correct, dtype=np.float64)
    if conf.shape != corr.shape or conf.ndim != 1:
        raise ValueError(f"confidence {conf.shape} and correct {corr.shape} must be equal 1-D shapes")
    if conf.size and (conf.min() < -1e-9 or conf.max() > 1 + 1e-9):
        raise ValueError("confidences must lie in [0, 1]")
    idx = _bin_index(np.clip(conf, 0.0, 1.0), n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_corr = np.bincount(idx, weights=corr, minlength=n_bins)
    safe = np.maximum(count, 1)
    return sum_conf / safe, sum_corr / safe, count


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """Top-label expected calibration error (Guo et al. 2017), 0–1, lower is better.

    ``ECE = sum_b (n_b / n) * |accuracy_b - mean_confidence_b|`` over ``n_bins`` equal-width
    bins of the top-label probability. Returns 0.0 for an empty input.
    """
    mean_conf, acc, count = reliability_bins(confidence, correct, n_bins)
    n = count.sum()
    if n == 0:
        return 0.0
    return float(np.sum(count / n * np.abs(acc - mean_conf)))


def per_label_prf(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Precision, recall, F1 and support per label, in the order of ``labels``.

    Units with a missing label are skipped. A label never predicted has precision 0 and a
    label never in the gold has recall 0 (scikit-learn's ``zero_division=0``); callers that
    average should choose their label set (see :func:`macro_f1`).

    Returns:
        four arrays of shape ``(len(labels),)``.
    """
    from sklearn.metrics import precision_recall_fscore_support

    a, b = _paired(y_true, y_pred)
    labels = list(labels)
    if not labels:
        empty = np.zeros(0)
        return empty, empty, empty, np.zeros(0, dtype=np.int64)
    if a.size == 0:
        z = np.zeros(len(labels))
        return z, z.copy(), z.copy(), np.zeros(len(labels), dtype=np.int64)
    p, r, f, s = precision_recall_fscore_support(a, b, labels=labels, zero_division=0)
    return p.astype(float), r.astype(float), f.astype(float), s.astype(np.int64)


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean F1 over the labels that occur in the gold (units with missing labels skipped).

    Averaging over the gold's labels keeps the label set identical for every model evaluated
    on the same units; a prediction of a label absent from the gold still lowers the recall
    of the label it displaced. Returns 0.0 when no unit has a gold label.
    """
    a, b = _paired(y_true, y_pred)
    labels = sorted(set(a.tolist()))
    if not labels:
        return 0.0
    _, _, f, _ = per_label_prf(a, b, labels)
    return float(np.mean(f))
