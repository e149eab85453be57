"""Cue blocks of WebVTT and SubRip files: timings, ids, text lines, tags and voices.

One parser serves both formats, because real files mix their habits and the readers of
the ``webvtt-py`` and ``srt`` packages lose text on them. What is accepted (what media
players accept):

* **Timestamps** ``[h:]m:s[.f]`` with 1–2-digit minutes and seconds, any number of hour
  digits, an optional hours field, and a 1–3-digit fraction after ``.`` or ``,`` read as a
  decimal fraction (``0:1:5,2`` is 65.2 s, ``01:05,200`` is 65.2 s). Minutes or seconds
  of 60 or more are refused with the line, never carried over.
* **Timing lines** ``start --> end`` followed by anything (WebVTT cue settings such as
  ``align:middle``, ``position:50.00%,middle``; SubRip coordinates): the rest is ignored.
* **Blank lines**: a line of spaces or tabs counts as blank.
* **Blocks**: an optional id line (WebVTT cue id, SubRip index), the timing line, then the
  text lines up to the next blank line. WebVTT ``NOTE``, ``STYLE`` and ``REGION`` blocks and
  the header block are skipped.

What is kept with a :class:`Problem` naming the line (never dropped, never merged):

* text without a timing line (a block with no ``-->`` line, e.g. after a stray blank line
  inside a cue): kept as a cue of its own, timed like the cue before it;
* a timing line that follows cue text without a blank line: it starts a new cue, as in
  players; the line before it is the new cue's id when it is a number, else the last text
  line of the cue before.

What is refused (:class:`~nokoding.ingest.errors.TranscriptError` with line and cue): a
timing line whose timestamps cannot be read or have minutes/seconds ≥ 60, a cue that ends
before it starts, a SubRip block whose timing line is malformed (``->``), and a WebVTT file
whose first line is not ``WEBVTT``.

Tags: only real cue tags are removed: ``<i>``, ``<b>``, ``<u>``, ``<s>``, ``<ruby>``,
``<rt>`` (with WebVTT classes such as ``<i.loud>``, never with other words: "a<b og b>c"
is text), ``<lang …>``, ``<font …>``, ``<v …>``, ``<c…>``, ``<br>``, timestamp tags
``<00:01.000>`` and SubRip/ASS override blocks ``{\\an8}``. Any other ``<`` is text
("under <10 % og >50 %" stays as written). The number on the first line of a block
without a timing line is its id, not text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nokoding.ingest.errors import TranscriptError

__all__ = [
    "Problem",
    "RawCue",
    "parse_cue_blocks",
    "parse_timestamp",
    "split_voices",
    "strip_cue_tags",
]

_TIMESTAMP = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
_ARROW = re.compile(r"^\s*(\S+?)\s*-->\s*(\S+)(?:\s.*)?$")
_ALMOST_TIMING = re.compile(r"\d{1,2}:\d{1,2}[^\n]*(?:->|- ?>|—>|–>|=>)[^\n]*\d{1,2}:\d{1,2}")
_CUE_TAG = re.compile(
    r"</?(?:[ibus]|ruby|rt)(?:\.[\w.-]*)?[ \t]*/?>"
    r"|</?(?:lang|font|v|c|span)(?=[\s.>/])[^<>\n]*>"
    r"|<br\s*/?>"
    r"|<\d+(?::\d{1,2}){1,2}(?:[.,]\d{1,3})?>"
    r"|\{\\[^{}\n]*\}",
    re.IGNORECASE,
)
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?(?:[ \t]+([^>\n]*))?>", re.IGNORECASE)
_BLOCK_KEYWORDS = ("NOTE", "STYLE", "REGION")


@dataclass(frozen=True)
class Problem:
    """A place where the file was read with a caveat (kept text, guessed structure)."""

    line: int
    message: str


@dataclass
class RawCue:
    """One cue block as written.

    Attributes:
        cue_id: the WebVTT cue id or SubRip index, ``None`` when the block has none.
        start_time, end_time: seconds (for a block without a timing line: the times of
            the cue before it, or 0).
        lines: the text lines as ``(line number, raw text)``, tags still in.
        line: the block's first line (1-based).
        timed: False for text that had no timing line of its own.
    """

    cue_id: str | None
    start_time: float
    end_time: float
    lines: list[tuple[int, str]] = field(default_factory=list)
    line: int = 0
    timed: bool = True


def parse_timestamp(stamp: str) -> float:
    """Seconds in one cue timestamp (see the module docstring).

    Raises:
        ValueError: not a timestamp, or minutes/seconds ≥ 60 (the message says which).
    """
    m = _TIMESTAMP.match(stamp.strip())
    if m is None:
        raise ValueError(f"'{stamp}' is not a timestamp ([h:]m:s[.fff])")
    hours, minutes, seconds, frac = m.groups()
    if int(minutes) >= 60:
        raise ValueError(f"'{stamp}' has {int(minutes)} minutes (must be below 60)")
    if int(seconds) >= 60:
        raise ValueError(f"'{stamp}' has {int(seconds)} seconds (must be below 60)")
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return value + (int(frac) / 10 ** len(frac) if frac else 0.0)


def strip_cue_tags(text: str) -> str:
    """``text`` without cue tags (only the real ones, see the module docstring)."""
    return _CUE_TAG.sub("", text)


def split_voices(raw: str, *, unescape: bool) -> list[tuple[str | None, str]]:
    """Split a cue's raw text (lines joined by LF) into ``(voice, words)`` pieces.

    A ``<v Name>`` tag starts the voice ``Name`` until the next voice tag (also on a later
    line); text before the first voice tag has voice ``None``. Tags are removed, line
    breaks become spaces, runs of spaces are kept as one; pieces without words are dropped.
    With ``unescape`` (WebVTT) character references such as ``&amp;`` are decoded.
    """
    pieces: list[tuple[str | None, str]] = []
    voice: str | None = None
    pos = 0
    spans = list(_VOICE.finditer(raw)) + [None]
    for m in spans:
        chunk = raw[pos : m.start() if m else len(raw)]
        words = strip_cue_tags(chunk)
        if unescape:
            words = html.unescape(words)
        words = " ".join(words.split())
        if words:
            if pieces and pieces[-1][0] == voice:
                pieces[-1] = (voice, pieces[-1][1] + " " + words)
            else:
                pieces.append((voice, words))
        if m is not None:
            name = " ".join((m.group(1) or "").split())
            voice = name or None
            pos = m.end()
    return pieces


def _timing(line: str) -> tuple[str, str] | None:
    m = _ARROW.match(line)
    return (m.group(1), m.group(2)) if m else None


def _is_blank(line: str) -> bool:
    return not line.strip()


def parse_cue_blocks(
    text: str, *, fmt: str, source: Path | None
) -> tuple[list[RawCue], list[Problem]]:
    """Split normalised WebVTT (``fmt="vtt"``) or SubRip (``"srt"``) text into cues.

    Returns:
        ``(cues, problems)`` in file order.

    Raises:
        TranscriptError: see the module docstring (always with the line).
    """
    lines = text.split("\n")
    n = len(lines)
    i = 0
    if fmt == "vtt":
        if not lines or not re.match(r"WEBVTT(?:[ \t].*)?$", lines[0]):
            raise TranscriptError(source, "not a WebVTT file: the first line must start with 'WEBVTT'", line=1)
        i = 1
        while i < n and not _is_blank(lines[i]) and "-->" not in lines[i]:  # the header block
            i += 1
    cues: list[RawCue] = []
    problems: list[Problem] = []
    position = 0  # 1-based cue count, the id of a WebVTT cue without one

    def previous_times() -> tuple[float, float]:
        return (cues[-1].start_time, cues[-1].end_time) if cues else (0.0, 0.0)

    def timed_cue(cue_id: str | None, timing_no: int, first_no: int) -> RawCue:
        nonlocal position
        position += 1
        start_s, end_s = _timing(lines[timing_no - 1]) or ("", "")
        shown = cue_id if cue_id is not None else (str(position) if fmt == "vtt" else None)
        try:
            start, end = parse_timestamp(start_s), parse_timestamp(end_s)
        except ValueError as exc:
            raise TranscriptError(source, f"malformed cue timing: {exc}", line=timing_no, cue=shown) from exc
        if end < start:
            raise TranscriptError(source, "cue ends before it starts", line=timing_no, cue=shown)
        return RawCue(shown, start, end, [], first_no)

    while i < n:
        if _is_blank(lines[i]):
            i += 1
            continue
        block_start = i
        j = i
        while j < n and not _is_blank(lines[j]):
            j += 1
        block = lines[block_start:j]
        i = j
        first = block[0].strip()
        arrows = [k for k, line in enumerate(block) if "-->" in line]
        if fmt == "vtt" and not arrows and first.split(" ")[0].split("\t")[0] in _BLOCK_KEYWORDS:
            continue  # NOTE, STYLE, REGION
        if arrows and arrows[0] > 1 and _timing(block[arrows[0]]) is not None:
            # text, then a cue without a blank line between them
            split = arrows[0] - 1 if block[arrows[0] - 1].strip().isdigit() else arrows[0]
            _untimed_block(block[:split], block_start, fmt, source, cues, problems, previous_times)
            problems.append(
                Problem(
                    block_start + arrows[0] + 1,
                    "a timing line follows text without a blank line before it; it starts a new cue",
                )
            )
            block_start += split
            block = block[split:]
            first = block[0].strip()
            arrows = [k - split for k in arrows]
        elif not arrows or arrows[0] > 1:
            _untimed_block(block, block_start, fmt, source, cues, problems, previous_times)
            continue
        k0 = arrows[0]
        if fmt == "srt" and k0 == 1 and not first.isdigit():
            # SubRip indices are numbers: the line is text that lost its own timing line
            _untimed_block(block[:1], block_start, fmt, source, cues, problems, previous_times)
            block_start, block, k0 = block_start + 1, block[1:], 0
        cue_id = block[0].strip() if k0 == 1 else None
        cue = timed_cue(cue_id, block_start + k0 + 1, block_start + 1)
        k = k0 + 1
        while k < len(block):
            line = block[k]
            if "-->" in line and _timing(line) is not None:
                # a timing line after cue text without a blank line: a new cue starts here
                new_id: str | None = None
                if cue.lines and cue.lines[-1][1].strip().isdigit():
                    new_id = cue.lines.pop()[1].strip()
                    what = f"line {block_start + k} was read as the id of the new cue"
                else:
                    last = cue.lines[-1][0] if cue.lines else block_start + k0 + 1
                    what = f"line {last} was read as the last line of the cue on line {cue.line}"
                problems.append(
                    Problem(
                        block_start + k + 1,
                        f"a timing line follows cue text without a blank line before it; it starts a "
                        f"new cue and {what}",
                    )
                )
                cues.append(cue)
                cue = timed_cue(new_id, block_start + k + 1, block_start + k + (0 if new_id else 1))
            else:
                cue.lines.append((block_start + k + 1, line))
            k += 1
        cues.append(cue)
    return cues, problems


def _untimed_block(
    block: list[str],
    block_start: int,
    fmt: str,
    source: Path | None,
    cues: list[RawCue],
    problems: list[Problem],
    previous_times: Callable[[], tuple[float, float]],
) -> None:
    """A block without a timing line in its first two lines: refuse or keep with a problem."""
    for k, line in enumerate(block[:2]):
        if _ALMOST_TIMING.search(line) or ("-->" in line and _timing(line) is None):
            cue = block[0].strip() if k == 1 else None
            raise TranscriptError(
                source,
                f"cue has no valid 'start --> end' timing line (line {block_start + k + 1} reads "
                f"{line.strip()!r})",
                line=block_start + 1,
                cue=cue,
            )
    body = list(enumerate(block, start=block_start + 1))
    cue_id = None
    if len(body) > 1 and body[0][1].strip().isdigit():
        cue_id = body[0][1].strip()
        body = body[1:]
    start, end = previous_times()
    problems.append(
        Problem(
            body[0][0],
            f"text without a timing line ({len(body)} line(s): {body[0][1].strip()[:40]!r}); kept "
            + ("after the cue before it, with its times" if cues else "before the first cue, at time 0"),
        )
    )
    cues.append(RawCue(cue_id, start, end, body, block_start + 1, timed=False))
