"""WebVTT transcripts (Microsoft Teams, Zoom).

Cue blocks, timings, tags and voices are read by :mod:`nokoding.ingest.subtitles` (what
is accepted, kept with a warning, or refused is listed there). On top of that:

* a voice tag on *each* line, or several in one line, splits a cue into several
  speakers' pieces; text after a voice tag continues that voice on the next lines;
* HTML character references (``&amp;``, ``&lt;``, ``&nbsp;``) are decoded;
* "Name: words" cues without a voice tag (Zoom) get their speaker from the prefix
  (:mod:`nokoding.ingest.cues`).

The document text is laid out as in :mod:`nokoding.ingest.cues`; its offsets point into
that text, not into the .vtt file.
"""

from __future__ import annotations

from pathlib import Path

from nokoding.document import Document
from nokoding.ingest.cues import CuePiece, document_from_cues
from nokoding.ingest.roles import RoleRules
from nokoding.ingest.subtitles import parse_cue_blocks, split_voices

__all__ = ["parse_vtt", "cue_pieces"]


def cue_pieces(
    text: str, *, fmt: str, source: Path | None
) -> tuple[list[CuePiece], tuple[str, ...]]:
    """The speaker pieces of every cue of a WebVTT or SubRip text, and the reading notes.

    A block without a timing line that has no voice of its own continues the speaker of the
    piece before it.

    Raises:
        TranscriptError: see :func:`nokoding.ingest.subtitles.parse_cue_blocks`.
    """
    cues, problems = parse_cue_blocks(text, fmt=fmt, source=source)
    pieces: list[CuePiece] = []
    for cue in cues:
        raw = "\n".join(line for _, line in cue.lines)
        for n, (voice, words) in enumerate(split_voices(raw, unescape=fmt == "vtt")):
            if voice is None and not cue.timed and n == 0 and pieces:
                voice = pieces[-1].speaker
            pieces.append(CuePiece(voice, words, cue.start_time, cue.end_time, cue.cue_id, cue.timed, cue.line))
    name = str(source) if source is not None else "<text>"
    notes = tuple(f"{name}, line {p.line}: {p.message}" for p in problems)
    return pieces, notes


def parse_vtt(
    text: str,
    *,
    doc_id: str,
    source: Path | None = None,
    rules: RoleRules | None = None,
    notes: tuple[str, ...] = (),
) -> Document:
    """Parse normalised WebVTT text into a :class:`Document`.

    Raises:
        TranscriptError: no ``WEBVTT`` header (line 1), a malformed timing (with its line
            and cue id), a cue that ends before it starts, or no cue with text.
    """
    pieces, problems = cue_pieces(text, fmt="vtt", source=source)
    return document_from_cues(
        pieces, doc_id=doc_id, source=source, fmt="vtt", rules=rules or RoleRules(), notes=notes + problems
    )
