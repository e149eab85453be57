"""Batch inference core: run a coding model over many segments fast, on CPU or GPU.

Public API:

* :func:`predict` — stream texts in, get one :class:`RawPrediction` (code logits,
  sentiment logits, embedding, window and token counts) per text out, in input order;
* :func:`reference_predict` — the slow one-text-at-a-time definition it must match;
* :class:`Engine` — the reusable object behind :func:`predict`;
* :class:`InferenceModel` — the structural contract a model must meet.

See :mod:`nokoding.inference.engine` for the design, :mod:`.windows` for long texts,
:mod:`.batching` for token-budget batches and :mod:`.runtime` for devices, dtypes and int8.
"""

from nokoding.inference.engine import Engine, predict, reference_predict
from nokoding.inference.types import CodingOutputLike, InferenceModel, RawPrediction

__all__ = ["CodingOutputLike", "Engine", "InferenceModel", "RawPrediction", "predict", "reference_predict"]
