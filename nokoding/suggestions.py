"""What a model suggests for one segment: ranked codes, sentiment and evidence.

These dataclasses are the contract between the model (:mod:`nokoding.suggest`), the
inference engine and the exporters (CSV, JSON Lines, REFI-QDA).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nokoding.document import Segment

__all__ = ["ABSTAIN_REASONS", "CodeScore", "Evidence", "Suggestion"]

#: Why a suggestion has no codes (``Suggestion.abstain_reason``).
ABSTAIN_REASONS = {
    "no_code": "the model finds it more likely than not that no code of the codebook applies",
    "threshold": "no code reached the probability threshold asked for",
    "blank": "the segment has no text",
}


@dataclass(frozen=True)
class CodeScore:
    """One suggested code with its probability (sigmoid of the code logit, 0–1)."""

    code_id: str
    category: str
    subcategory: str
    probability: float


@dataclass(frozen=True)
class Evidence:
    """A hand-coded training segment similar to the suggested one (why the model thinks so).

    ``similarity`` is the cosine similarity of the two pooled encoder embeddings (−1–1).
    """

    segment_id: str
    text: str
    code_id: str
    similarity: float


@dataclass(frozen=True)
class Suggestion:
    """The model's suggestion for one segment.

    Attributes:
        text: the segment text that was scored.
        codes: the top-k codes, highest probability first.
        categories: probability per category id (derived from the code scores through the
            codebook hierarchy), in codebook order.
        sentiment: the most probable sentiment label.
        sentiment_probabilities: softmax probabilities per sentiment label (sum to 1).
        evidence: the most similar hand-coded training segments, most similar first.
        segment: the :class:`Segment` scored, when the input was a segment.
        n_windows: number of model windows the text was split into (1 unless the text was
            longer than the encoder's maximum length; never silently truncated).
        abstained: ``True`` when no code is suggested ("no code suggested"); ``codes`` is
            then empty and ``abstain_reason`` says why (a key of :data:`ABSTAIN_REASONS`).
            ``categories`` still holds the scores, for a coder who wants to look.
        abstain_reason: ``""`` unless ``abstained``.
        no_code_probability: the model's probability that no code applies, for a model
            trained with examples that have no code; ``None`` otherwise.

    A blank text (empty or whitespace only) has no codes, empty ``categories`` and
    ``sentiment_probabilities``, and ``sentiment == ""``. A model trained without sentiment
    labels gives ``sentiment == ""`` and empty ``sentiment_probabilities`` for every segment.
    """

    text: str
    codes: tuple[CodeScore, ...]
    categories: dict[str, float]
    sentiment: str
    sentiment_probabilities: dict[str, float]
    evidence: tuple[Evidence, ...] = ()
    segment: Segment | None = None
    n_windows: int = 1
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    abstained: bool = False
    abstain_reason: str = ""
    no_code_probability: float | None = None

    @property
    def top_code(self) -> CodeScore | None:
        """The highest-ranked code, or ``None`` when no code was returned."""
        return self.codes[0] if self.codes else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready flat-ish mapping (segment fields inlined when present)."""
        out = asdict(self)
        out.pop("segment", None)
        out.pop("extra", None)
        if self.segment is not None:
            seg = asdict(self.segment)
            seg.pop("meta", None)
            out["segment"] = seg
        return out
