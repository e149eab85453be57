"""WebVTT transcripts (Microsoft Teams, Zoom) via webvtt-py.

What webvtt-py (0.6) does for us: the ``WEBVTT`` header check, a leading BOM, cue ids,
cue timings and settings, NOTE, STYLE and REGION blocks (skipped), the voice of a cue's
first line (``Caption.voice``) and removal of cue tags (``Caption.text``). We parse in
its strict mode, so a malformed cue block raises instead of being dropped silently.

What we do ourselves, because webvtt-py does not:

* a voice tag on *each* line of a cue (two speakers in one cue): :func:`~nokoding.ingest.cues.pieces_by_voice`
  reads every raw line with webvtt-py's own voice pattern;
* HTML character references (``&amp;``, ``&lt;``, ``&nbsp;``) are decoded (``html.unescape``);
* "Name: words" cues without a voice tag (Zoom) get their speaker from the prefix;
* the line and cue of an error: webvtt-py's message has neither, so we find the first
  cue block with a bad timing line.

The document text is laid out as in :mod:`nokoding.ingest.cues`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from nokoding.document import Document
from nokoding.ingest.cues import CuePiece, document_from_cues, pieces_by_voice
from nokoding.ingest.errors import TranscriptError
from nokoding.ingest.roles import RoleRules

__all__ = ["parse_vtt"]

_TS = r"(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}"
_TIMING = re.compile(rf"^{_TS}[ \t]+-->[ \t]+{_TS}(?:[ \t].*)?$")


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
        TranscriptError: no ``WEBVTT`` header (line 1), a malformed cue (with its line and
            cue id), bad timings (end before start), or no cue with text.
    """
    rules = rules or RoleRules()
    try:
        captions = webvtt.WebVTT.from_string(text, strict=True).captions
    except MalformedFileError as exc:
        raise TranscriptError(source, "not a WebVTT file: the first line must start with 'WEBVTT'", line=1) from exc
    except (MalformedCaptionError, ValueError) as exc:
        line, cue = _locate_bad_cue(text)
        raise TranscriptError(source, f"malformed cue block ({exc})", line=line, cue=cue) from exc
    pieces: list[CuePiece] = []
    for n, caption in enumerate(captions, start=1):
        start = caption.start_time.in_milliseconds() / 1000
        end = caption.end_time.in_milliseconds() / 1000
        cue_id = caption.identifier or str(n)
        if end < start:
            raise TranscriptError(source, "cue ends before it starts", line=_line_of_timing(text, caption.start, caption.end), cue=cue_id)
        for voice, words in pieces_by_voice(caption.lines, caption.text.split("\n")):
            pieces.append(CuePiece(voice, html.unescape(words), start, end, cue_id))
    return document_from_cues(
        pieces, doc_id=doc_id, source=source, fmt="vtt", rules=rules, notes=notes
    )


def _line_of_timing(text: str, start: str, end: str) -> int | None:
    for no, line in enumerate(text.split("\n"), start=1):
        if start in line and end in line and "-->" in line:
            return no
    return None


def _locate_bad_cue(text: str) -> tuple[int | None, str | None]:
    """The line and cue id of the first cue block that webvtt-py's strict parser rejects."""
    lines = text.split("\n")
    block: list[str] = []
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            block = []
            continue
        if "-->" in line:
            cue_id = block[-1].strip() if block and "-->" not in block[-1] else None
            if not _TIMING.match(line.strip()):
                return no, cue_id
            if len(block) > 1 or (block and "-->" in block[0]):
                return no, cue_id  # a timing line with no blank line before its block
        block.append(line)
    return None, None
