"""Suggesters of a tagging run: the callable that gives each segment its code and sentiment suggestion.

:func:`model_suggester` wraps a trained model; any callable of the :data:`Suggester` shape can
replace it (tests, custom models).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nokoding.codebook import Codebook
from nokoding.document import Segment
from nokoding.suggestions import Suggestion

__all__ = ["Suggester", "model_suggester"]

#: A suggester maps a document's segments to one suggestion each (same order).
Suggester = Callable[[Sequence[Segment]], list[Suggestion]]


def model_suggester(model: str, *, top_k: int = 3, device: str = "auto", runtime: str | None = None) -> Suggester:
    """A suggester backed by a trained model: :func:`nokoding.model.load_model` once, then
    :func:`nokoding.suggest.suggest_codes` per document on ``device`` in ``runtime`` (``None``:
    the device's default, fp32 on CPU and bf16 on a GPU). The returned callable has the model's
    ``codebook`` as an attribute.

    Raises:
        nokoding.model.ModelLoadError: if the model cannot be found or loaded.
    """
    from nokoding.model import load_model
    from nokoding.suggest import suggest_codes

    loaded = load_model(model)

    def run(segments: Sequence[Segment]) -> list[Suggestion]:
        return list(suggest_codes(list(segments), model=loaded, top_k=top_k, device=device, runtime=runtime))

    run.codebook = getattr(loaded, "codebook", None)  # type: ignore[attr-defined]
    return run


def _model_codebook(model: str) -> Codebook | None:
    """The codebook stored in a model folder, without loading the model (``None`` if not found)."""
    from nokoding.model.io import find_model

    try:
        path = find_model(model) / "codebook.yaml"
        return Codebook.from_yaml(path) if path.is_file() else None
    except (OSError, ValueError, LookupError):
        return None
