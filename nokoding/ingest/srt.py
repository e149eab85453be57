"""SubRip (.srt) transcripts.

Blocks, indices, timings and formatting tags (``<i>``, ``<font>``, ``{\\an8}``) are read by
:mod:`nokoding.ingest.subtitles` (what is accepted, kept with a warning, or refused is
listed there); voice tags and "Name: words" speakers as in WebVTT
(:mod:`nokoding.ingest.vtt`, :mod:`nokoding.ingest.cues`). Character references such as
``&amp;`` are left as written. The document text is laid out as in
:mod:`nokoding.ingest.cues`; its offsets point into that text, not into the .srt file.
"""

from __future__ import annotations

from pathlib import Path

from nokoding.document import Document
from nokoding.ingest.cues import document_from_cues
from nokoding.ingest.roles import RoleRules
from nokoding.ingest.vtt import cue_pieces

__all__ = ["parse_srt"]


def parse_srt(
    text: str,
    *,
    doc_id: str,
    source: Path | None = None,
    rules: RoleRules | None = None,
    notes: tuple[str, ...] = (),
) -> Document:
    """Parse normalised SubRip text into a :class:`Document`.

    Raises:
        TranscriptError: a malformed timing line (with its line and index), a subtitle that
            ends before it starts, or no subtitle with text.
    """
    pieces, problems = cue_pieces(text, fmt="srt", source=source)
    return document_from_cues(
        pieces, doc_id=doc_id, source=source, fmt="srt", rules=rules or RoleRules(), notes=notes + problems
    )
