"""nokoding — suggest codebook codes and sentiment for interview transcripts.

Pipeline: ingest (read transcripts) → segment (speaker turns, sentence windows) → encode
(BERT-family backbone) → heads (code + sentiment logits) → suggestions → export
(CSV, JSON Lines, REFI-QDA). Training and evaluation sit beside it.

The public API is imported lazily so that ``import nokoding`` and the CLI start fast and
torch is loaded only when a model is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> "module:attribute"
_LAZY: dict[str, str] = {
    "Codebook": "nokoding.codebook:Codebook",
    "Code": "nokoding.codebook:Code",
    "Category": "nokoding.codebook:Category",
    "CodebookError": "nokoding.codebook:CodebookError",
    "Document": "nokoding.document:Document",
    "SpeakerTurn": "nokoding.document:SpeakerTurn",
    "Segment": "nokoding.document:Segment",
    "Cue": "nokoding.document:Cue",
    "Suggestion": "nokoding.suggestions:Suggestion",
    "CodeScore": "nokoding.suggestions:CodeScore",
    "Evidence": "nokoding.suggestions:Evidence",
    "read": "nokoding.ingest:read",
    "TranscriptError": "nokoding.ingest:TranscriptError",
    "ReadResult": "nokoding.ingest:ReadResult",
    "segment": "nokoding.segmentation:segment",
    "suggest_codes": "nokoding.suggest:suggest_codes",
    "load_model": "nokoding.model:load_model",
    "CodingModel": "nokoding.model:CodingModel",
    "train": "nokoding.training:train",
    "resolve_backbone": "nokoding.backbones:resolve_backbone",
    "tag": "nokoding.tagging:tag",
    "TagSummary": "nokoding.tagging:TagSummary",
    "read_qdpx": "nokoding.export.qdpx:read_qdpx",
    "write_qdpx": "nokoding.export.qdpx:write_qdpx",
    "read_qdc": "nokoding.export.qdc:read_qdc",
    "write_qdc": "nokoding.export.qdc:write_qdc",
    "suggest_next": "nokoding.active:suggest_next",
    "load_coded_data": "nokoding.coded:load_coded_data",
    "validate_coded": "nokoding.coded:validate",
}

__all__ = ["__version__", "corpora", *_LAZY]


def __getattr__(name: str) -> Any:
    if name == "corpora":
        return import_module("nokoding.corpora")
    try:
        target = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'nokoding' has no attribute {name!r}") from None
    module_name, attr = target.split(":")
    value = getattr(import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from nokoding.codebook import Category, Code, Codebook, CodebookError  # noqa: F401
    from nokoding.document import Document, Segment, SpeakerTurn  # noqa: F401
    from nokoding.suggestions import CodeScore, Evidence, Suggestion  # noqa: F401
