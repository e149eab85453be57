"""What every exporter consumes: a document with its coded segments and the model's suggestions.

:class:`TaggedDocument` pairs segment ``i`` with suggestion ``i`` and checks the offset
invariant once (``document.text[start:end] == segment.text``), so CSV, JSON Lines and
REFI-QDA output can trust the positions they write. :func:`accepted_codes` is the one rule
for which suggested codes become codings; :func:`short_quote` and :func:`evidence_note` are
the one way every exporter shows the hand-coded quotes a suggestion rests on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nokoding.document import Document, Segment
from nokoding.suggestions import CodeScore, Evidence, Suggestion

__all__ = ["QUOTE_CHARS", "TaggedDocument", "accepted_codes", "evidence_note", "short_quote"]

#: Evidence quotes are shortened to at most this many characters in the outputs.
QUOTE_CHARS = 160


def short_quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` on one line (runs of whitespace become one space), cut at a word boundary
    to at most ``limit`` characters with ``…`` at the end when it was longer."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: max(limit - 1, 1)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.;:") + "…"


def evidence_note(evidence: Evidence, label: str | None = None, *, limit: int = QUOTE_CHARS) -> str:
    """One evidence quote for people to read: ``«quote» (code, similarity 0.83)``.

    ``label`` names the code (default: its id); ``limit`` as in :func:`short_quote`.
    """
    quote = short_quote(evidence.text, limit)
    return f"«{quote}» ({label or evidence.code_id}, similarity {evidence.similarity:.2f})"


def accepted_codes(suggestion: Suggestion, *, top_k: int, threshold: float | None = None) -> tuple[CodeScore, ...]:
    """The codes that become codings: the first ``top_k`` of ``suggestion.codes`` (already
    ranked, highest probability first) whose probability is ≥ ``threshold`` (all of them when
    ``threshold`` is ``None``)."""
    codes = suggestion.codes[: max(top_k, 0)]
    if threshold is None:
        return tuple(codes)
    return tuple(c for c in codes if c.probability >= threshold)


@dataclass(frozen=True)
class TaggedDocument:
    """A document, the segments to be coded and one :class:`Suggestion` per segment.

    Attributes:
        document: the normalised document (all offsets point into ``document.text``).
        segments: the coded segments, in reading order; shape ``(n,)``.
        suggestions: ``suggestions[i]`` is the model's suggestion for ``segments[i]``; shape ``(n,)``.

    Raises:
        ValueError: if the lengths differ, a segment belongs to another document, its
            offsets do not reproduce its text, or a suggestion names another segment
            (the message names the document and the segment).
    """

    document: Document
    segments: tuple[Segment, ...]
    suggestions: tuple[Suggestion, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))
        object.__setattr__(self, "suggestions", tuple(self.suggestions))
        doc = self.document
        if len(self.segments) != len(self.suggestions):
            raise ValueError(
                f"document {doc.id!r}: {len(self.segments)} segments but {len(self.suggestions)} suggestions"
            )
        for seg, sug in zip(self.segments, self.suggestions):
            if seg.document_id != doc.id:
                raise ValueError(f"document {doc.id!r}: segment {seg.uid!r} belongs to another document")
            if not (0 <= seg.start <= seg.end <= len(doc.text)) or doc.text[seg.start : seg.end] != seg.text:
                raise ValueError(
                    f"document {doc.id!r}: segment {seg.index} offsets [{seg.start}, {seg.end}) do not "
                    "reproduce the segment text"
                )
            if sug.segment is not None and sug.segment.uid != seg.uid:
                raise ValueError(
                    f"document {doc.id!r}: suggestion for {sug.segment.uid!r} is paired with segment {seg.uid!r}"
                )

    def __iter__(self) -> Iterator[tuple[Segment, Suggestion]]:
        """Iterate over ``(segment, suggestion)`` pairs."""
        return iter(zip(self.segments, self.suggestions))

    def __len__(self) -> int:
        return len(self.segments)

    # ------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping for :meth:`from_dict` (speaker turns, segment ``meta`` and
        suggestion ``extra`` are not kept; restored suggestions carry their segment)."""
        doc = self.document
        return {
            "document": {
                "id": doc.id,
                "text": doc.text,
                "source": str(doc.source) if doc.source is not None else None,
                "format": doc.format,
                "warnings": list(doc.warnings),
            },
            "segments": [{k: v for k, v in asdict(s).items() if k != "meta"} for s in self.segments],
            "suggestions": [_suggestion_dict(s) for s in self.suggestions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaggedDocument:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: if the mapping is malformed.
        """
        d = data["document"]
        document = Document(
            id=d["id"],
            text=d["text"],
            source=Path(d["source"]) if d.get("source") else None,
            format=d.get("format", "text"),
            warnings=tuple(d.get("warnings") or ()),
        )
        segments = tuple(Segment(**s) for s in data["segments"])
        suggestions = tuple(
            Suggestion(
                text=s["text"],
                codes=tuple(CodeScore(**c) for c in s["codes"]),
                categories=dict(s["categories"]),
                sentiment=s["sentiment"],
                sentiment_probabilities=dict(s["sentiment_probabilities"]),
                evidence=tuple(Evidence(**e) for e in s.get("evidence") or ()),
                segment=seg,
                n_windows=int(s.get("n_windows", 1)),
            )
            for s, seg in zip(data["suggestions"], segments)
        )
        return cls(document, segments, suggestions)


def _suggestion_dict(s: Suggestion) -> dict[str, Any]:
    out = s.to_dict()
    out.pop("segment", None)
    return out

