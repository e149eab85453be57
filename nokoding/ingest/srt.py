"""SubRip (.srt) transcripts via the ``srt`` package.

What ``srt`` (3.5) does for us: block splitting, indices, timings (also with a BOM and
CRLF line ends) and a parse error with the character position of the first bad block,
which we turn into a line number. What we do ourselves: removing formatting tags
(``<i>``, ``<font>``, ``{\\an8}``), which ``srt`` keeps in ``Subtitle.content``; voice tags
and "Name: words" speakers as in WebVTT (:mod:`nokoding.ingest.cues`). The document text
is laid out as in :mod:`nokoding.ingest.cues`.
"""

from __future__ import annotations

from pathlib import Path

import srt

from nokoding.document import Document
from nokoding.ingest.cues import (
    CuePiece,
    document_from_cues,
    pieces_by_voice,
    strip_tags,
)
from nokoding.ingest.errors import TranscriptError
from nokoding.ingest.roles import RoleRules

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
        TranscriptError: a malformed block (with its line), bad timings (with the
            subtitle index), or no subtitle with text.
    """
    rules = rules or RoleRules()
    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as exc:
        line = text.count("\n", 0, exc.expected_start) + 1
        raise TranscriptError(source, "malformed SubRip block starting on this line (expected an index, 'start --> end' and text)", line=line) from exc
    except ValueError as exc:  # srt.TimestampParseError and friends
        raise TranscriptError(source, f"malformed SubRip timing ({exc})") from exc
    pieces: list[CuePiece] = []
    for sub in subtitles:
        start, end = sub.start.total_seconds(), sub.end.total_seconds()
        cue_id = str(sub.index) if sub.index is not None else None
        if end < start:
            raise TranscriptError(source, "subtitle ends before it starts", cue=cue_id)
        raw_lines = sub.content.split("\n")
        for voice, words in pieces_by_voice(raw_lines, [strip_tags(x) for x in raw_lines]):
            pieces.append(CuePiece(voice, words, start, end, cue_id))
    return document_from_cues(
        pieces, doc_id=doc_id, source=source, fmt="srt", rules=rules, notes=notes
    )
