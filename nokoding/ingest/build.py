"""From parsed turns to a :class:`~nokoding.document.Document` (shared by all readers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nokoding.document import Cue, Document, SpeakerTurn
from nokoding.ingest.errors import TranscriptError
from nokoding.ingest.roles import RoleRules, assign_roles

__all__ = ["RawTurn", "finish_document"]


@dataclass
class RawTurn:
    """A speaker turn before its role is known (offsets into the normalised text)."""

    speaker: str
    start: int
    end: int
    start_time: float | None = None
    end_time: float | None = None
    cues: list[Cue] = field(default_factory=list)


def finish_document(
    *,
    doc_id: str,
    text: str,
    turns: list[RawTurn],
    source: Path | None,
    fmt: str,
    rules: RoleRules,
    notes: tuple[str, ...] = (),
) -> Document:
    """Assign roles and freeze the turns into a :class:`Document`.

    Raises:
        TranscriptError: there is no speech at all (only whitespace, labels, timestamps).
    """
    turns = [t for t in turns if text[t.start : t.end].strip()]
    if not turns:
        raise TranscriptError(source, "no speech found (the file has only whitespace, labels or timestamps)")
    for t in turns:  # offsets must be exact and trimmed: check here, once, for every reader
        assert 0 <= t.start < t.end <= len(text), (t, len(text))
        assert not text[t.start].isspace() and not text[t.end - 1].isspace(), t
    roles, note = assign_roles(
        [t.speaker for t in turns], [text[t.start : t.end] for t in turns], rules
    )
    frozen = tuple(
        SpeakerTurn(
            speaker=t.speaker,
            role=role,
            start=t.start,
            end=t.end,
            start_time=t.start_time,
            end_time=t.end_time,
            cues=tuple(t.cues),
        )
        for t, role in zip(turns, roles)
    )
    return Document(
        id=doc_id,
        text=text,
        turns=frozen,
        source=source,
        format=fmt,
        warnings=notes + ((note,) if note else ()),
    )
