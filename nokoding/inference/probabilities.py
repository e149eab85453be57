"""Probabilities from a model's logits: the one place where logits become probabilities.

* codes — ``sigmoid(logit)`` per code: the model is multi-label, so a segment's code
  probabilities need not sum to 1;
* sentiment — ``softmax`` over the sentiment labels (single-label); :func:`softmax` also
  serves other score rows (e.g. the baselines' temperature-scaled similarities).

Computed in float64 (``sigmoid`` as ``(1 + tanh(x/2)) / 2``, which cannot overflow; ``softmax``
after subtracting each row's maximum).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nokoding.inference.types import RawPrediction

__all__ = ["code_probabilities", "prediction_probabilities", "sentiment_probabilities", "softmax"]


def code_probabilities(code_logits: ArrayLike) -> NDArray[np.float64]:
    """``sigmoid`` of code logits, any shape (``[C]`` or ``[N, C]``) → float64 of the same shape."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(code_logits, dtype=np.float64)))


def softmax(scores: ArrayLike) -> NDArray[np.float64]:
    """``softmax`` over the last axis (``[K]`` or ``[N, K]``) → float64 rows summing to 1."""
    z = np.asarray(scores, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sentiment_probabilities(sentiment_logits: ArrayLike) -> NDArray[np.float64]:
    """Sentiment probabilities: :func:`softmax` of the logits (``[S]`` or ``[N, S]``)."""
    return softmax(sentiment_logits)


def prediction_probabilities(
    predictions: Sequence[RawPrediction], n_codes: int = 0, n_sentiment: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Stack ``N`` predictions into code probabilities ``[N, C]`` and sentiment ``[N, S]``.

    ``n_codes``/``n_sentiment`` give the column counts of the empty arrays returned for
    ``N = 0``.
    """
    if not predictions:
        return np.zeros((0, n_codes)), np.zeros((0, n_sentiment))
    codes = code_probabilities(np.stack([p.code_logits for p in predictions]))
    sentiment = sentiment_probabilities(np.stack([p.sentiment_logits for p in predictions]))
    return codes, sentiment
