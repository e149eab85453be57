"""The coding model: encoder + masked mean pooling + code head + sentiment head.

Public API: :class:`CodingModel`, :class:`CodingOutput`, :func:`load_model`
(:mod:`nokoding.model.io` has saving, loading and :func:`~nokoding.model.io.update_metrics`).
"""

from __future__ import annotations

from nokoding.model.coding_model import CodingModel, CodingOutput
from nokoding.model.config import LoraSettings, ModelConfig
from nokoding.model.evidence import EvidenceStore
from nokoding.model.io import (
    ModelLoadError,
    find_model,
    load_model,
    save_pretrained,
    update_metrics,
)

__all__ = [
    "CodingModel",
    "CodingOutput",
    "EvidenceStore",
    "LoraSettings",
    "ModelConfig",
    "ModelLoadError",
    "find_model",
    "load_model",
    "save_pretrained",
    "update_metrics",
]
