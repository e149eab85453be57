"""Plain data carried through the pipeline: documents, speaker turns and coding segments.

Offsets are 0-based, end-exclusive character positions into :attr:`Document.text`, the
*normalised* text of the transcript (the same convention as REFI-QDA's PlainTextSelection).
For .txt files that is the file as read; for .docx the paragraphs (and table rows as
"[time] Speaker: words"); for .vtt/.srt the text nokoding builds from the cues, one
"[time] Speaker: words" paragraph per turn (:mod:`nokoding.ingest.cues`), not the
subtitle file itself.
Times are seconds from the start of the recording, where the format has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Cue", "Document", "Role", "Segment", "SpeakerTurn"]

#: Who speaks: the interviewer asks, the informant (interviewee) is coded.
Role = Literal["interviewer", "informant", "unknown"]


@dataclass(frozen=True)
class Cue:
    """One timed caption (WebVTT/SubRip cue) inside a speaker turn.

    Attributes:
        start, end: character offsets into the document text (0-based, end-exclusive) of the
            cue's words.
        start_time, end_time: seconds from the start of the recording.
        id: the WebVTT cue identifier (its 1-based position in the file when it has none)
            or the SubRip index; ``None`` when unknown.
        overlap: the cue overlaps in time with a cue of another speaker (two people
            talking at once).
    """

    start: int
    end: int
    start_time: float
    end_time: float
    id: str | None = None
    overlap: bool = False


@dataclass(frozen=True)
class SpeakerTurn:
    """One uninterrupted stretch of speech by one speaker.

    Attributes:
        speaker: the label as written in the transcript ("I", "Informant 3", "Kari"), or "".
        role: interviewer / informant / unknown.
        start, end: character offsets into the document text (0-based, end-exclusive) of the
            spoken words (the speaker label and timestamps are outside this span).
        start_time, end_time: seconds, where the format has them, else ``None``.
        cues: for WebVTT/SubRip, the cues merged into this turn (in order, inside
            ``start``–``end``); empty for other formats.
    """

    speaker: str
    role: Role
    start: int
    end: int
    start_time: float | None = None
    end_time: float | None = None
    cues: tuple[Cue, ...] = ()


@dataclass(frozen=True)
class Document:
    """A transcript read and normalised once.

    Attributes:
        id: stable document id (the file stem, made unique within a run).
        text: the normalised plain text (NFC, LF line ends, no BOM); all offsets point here.
        turns: speaker turns in reading order.
        source: the file the document was read from, or ``None`` for in-memory text.
        format: "txt", "docx", "vtt", "srt" or "text".
        warnings: notes produced while reading (e.g. an encoding fallback).
    """

    id: str
    text: str
    turns: tuple[SpeakerTurn, ...] = ()
    source: Path | None = None
    format: str = "text"
    warnings: tuple[str, ...] = ()

    def turn_text(self, turn: SpeakerTurn) -> str:
        """The words of one turn: ``text[turn.start:turn.end]``."""
        return self.text[turn.start : turn.end]

    @classmethod
    def from_text(cls, text: str, *, format: str = "auto", **kwargs: object) -> Document:
        """Parse an in-memory transcript: :func:`nokoding.ingest.from_text` (``format="auto"``
        detects WebVTT and SubRip; other keywords: ``id``, ``interviewer``, ...)."""
        from nokoding.ingest.reader import from_text

        return from_text(text, format=format, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Segment:
    """A unit a coder would code: a speaker turn or a window of its sentences.

    Invariant: ``document.text[start:end] == text`` for the document with id ``document_id``.

    Attributes:
        document_id: id of the :class:`Document` it comes from ("" for free text).
        index: 0-based position among the document's segments.
        text: the segment's text.
        start, end: character offsets into the document text (0-based, end-exclusive).
        speaker, role: of the turn the segment belongs to.
        start_time, end_time: seconds, where known.
        context: the preceding interviewer question, if any (not part of the coded text).
        turn_index: index of the speaker turn in ``Document.turns``.
    """

    document_id: str
    index: int
    text: str
    start: int
    end: int
    speaker: str = ""
    role: Role = "unknown"
    start_time: float | None = None
    end_time: float | None = None
    context: str | None = None
    turn_index: int | None = None
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def uid(self) -> str:
        """``"<document_id>#<index>"``: unique within a run."""
        return f"{self.document_id}#{self.index}"
