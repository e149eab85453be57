"""Plain-text transcripts with speaker labels (and docx text, which is rendered to this form).

Rules (labels and timestamps: :mod:`nokoding.ingest.labels`):

* A line that opens with a speaker label starts a new turn of that speaker; the label and
  any timestamp are outside the turn's span.
* Following lines without a label belong to the same turn (hard-wrapped text).
* A blank line ends a turn. The next paragraph without a label is a new turn, spoken by
  the speaker of the last label (transcribers label only the first paragraph of a long
  answer); before any label it has no speaker.
* A line opening with a timestamp but no label also starts a new turn of the same
  speaker, at that time; a line holding only a timestamp sets the time of the next turn.
* A timestamp at the end of a line (``[00:12:31]``, f4's ``#00:12:31-4#``) is not speech:
  it is left out of the turn and sets the turn's end time.

``Document.text`` is the whole normalised file, so offsets are positions in the file as
the user sees it (after :mod:`~nokoding.ingest.normalize`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from nokoding.document import Document
from nokoding.ingest.build import RawTurn, finish_document
from nokoding.ingest.labels import (
    MIN_NAME_LABELS,
    matcher_for,
    parse_time,
    trailing_stamp_start,
)
from nokoding.ingest.roles import RoleRules

__all__ = ["parse_text"]


def parse_text(
    text: str,
    *,
    doc_id: str,
    source: Path | None = None,
    fmt: str = "txt",
    rules: RoleRules | None = None,
    notes: tuple[str, ...] = (),
) -> Document:
    """Parse normalised labelled text into a :class:`Document`.

    Args:
        text: text already passed through :func:`~nokoding.ingest.normalize.normalize_text`.
        doc_id: the document id.
        source: the file, for messages and ``Document.source``.
        fmt: the value for ``Document.format``.
        rules: role rules (default :class:`RoleRules`).
        notes: notes to carry into ``Document.warnings``.

    Raises:
        TranscriptError: the text has no speech.
    """
    rules = rules or RoleRules()
    matcher = matcher_for(rules.role_words)
    lines = text.split("\n")
    counts = Counter(matcher.candidate_name(line) for line in lines)
    names = frozenset(n for n, c in counts.items() if n is not None and c >= MIN_NAME_LABELS)

    turns: list[RawTurn] = []
    current: RawTurn | None = None
    last_speaker = ""
    pending_time: float | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.end > current.start:
            turns.append(current)
        current = None

    def open_turn(speaker: str, time: float | None) -> RawTurn:
        # start == end == -1 marks "no words yet"
        return RawTurn(speaker=speaker, start=-1, end=-1, start_time=time)

    pos = 0
    for line in lines:
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            close()
            continue
        prefix = matcher.match(line, names)
        if prefix.label is not None:
            close()
            last_speaker = prefix.label
            current = open_turn(prefix.label, prefix.time if prefix.time is not None else pending_time)
            pending_time = None
        elif prefix.time is not None:
            close()
            if not line[prefix.end :].strip():
                pending_time = prefix.time
                continue
            current = open_turn(last_speaker, prefix.time)
            pending_time = None
        elif current is None:
            current = open_turn(last_speaker, pending_time)
            pending_time = None
        content_end = max(trailing_stamp_start(line), prefix.end)
        if content_end < len(line):
            current.end_time = parse_time(line[content_end:])
        words = line[prefix.end : content_end]
        if words.strip():
            lead = len(words) - len(words.lstrip())
            trail = len(words) - len(words.rstrip())
            a = line_start + prefix.end + lead
            b = line_start + content_end - trail
            if current.start < 0:
                current.start = a
            current.end = b
    close()
    return finish_document(
        doc_id=doc_id, text=text, turns=turns, source=source, fmt=fmt, rules=rules, notes=notes
    )
