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
* A line holding only a label, without a colon ("Intervjuer", "INTERVJUER 00:01:02",
  "Kari Nordmann   0:03" as Otter and Teams write it), starts a turn of that speaker whose
  words are on the next line(s); for a name, see :func:`_labels_alone`.
* A cue timing line on its own (``0:0:0.0 --> 0:0:5.120``, Teams .docx) sets the time of
  the next turn, like a timestamp line.
* A timestamp at the end of a line (``[00:12:31]``, f4's ``#00:12:31-4#``) is not speech:
  it is left out of the turn and sets the turn's end time.

``Document.text`` is the whole normalised file, so offsets are positions in the file as
the user sees it (after :mod:`~nokoding.ingest.normalize`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nokoding.document import Document
from nokoding.ingest.build import RawTurn, finish_document
from nokoding.ingest.labels import (
    CUE_TIMING_LINE,
    MIN_NAME_LABELS,
    LabelMatcher,
    LinePrefix,
    matcher_for,
    parse_time,
    trailing_stamp_start,
)
from nokoding.ingest.layout import unrecognised_label_notes
from nokoding.ingest.roles import RoleRules

__all__ = ["TextStructure", "parse_text"]


@dataclass(frozen=True)
class TextStructure:
    """What a structured source (a Word table) already knows about its rendered text.

    Attributes:
        labels: line start offset → the prefix of that line (speaker from a table cell,
            trusted without the recurrence test).
        resets: line start offsets where the speaker of unlabelled paragraphs is forgotten
            (the first paragraph after a table).
    """

    labels: dict[int, LinePrefix] = field(default_factory=dict)
    resets: frozenset[int] = frozenset()


def parse_text(
    text: str,
    *,
    doc_id: str,
    source: Path | None = None,
    fmt: str = "txt",
    rules: RoleRules | None = None,
    notes: tuple[str, ...] = (),
    structure: TextStructure | None = None,
) -> Document:
    """Parse normalised labelled text into a :class:`Document`.

    Args:
        text: text already passed through :func:`~nokoding.ingest.normalize.normalize_text`.
        doc_id: the document id.
        source: the file, for messages and ``Document.source``.
        fmt: the value for ``Document.format``.
        rules: role rules (default :class:`RoleRules`).
        notes: notes to carry into ``Document.warnings``.
        structure: speakers and turn ends known from the source's structure (.docx tables).

    Raises:
        TranscriptError: the text has no speech.
    """
    rules = rules or RoleRules()
    matcher = matcher_for(rules.role_words)
    lines = text.split("\n")
    counts = Counter(matcher.candidate_name(line) for line in lines)
    names = frozenset(n for n, c in counts.items() if n is not None and c >= MIN_NAME_LABELS)
    alone = _labels_alone(lines, matcher, names)
    forced = dict(structure.labels) if structure is not None else {}
    resets = set(structure.resets) if structure is not None else set()

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
        nonlocal pending_end
        end_time, pending_end = pending_end, None
        return RawTurn(speaker=speaker, start=-1, end=-1, start_time=time, end_time=end_time)

    pending_end: float | None = None
    pos = 0
    for number, line in enumerate(lines):
        line_start = pos
        pos += len(line) + 1
        if line_start in resets:
            close()
            last_speaker = ""
        if not line.strip():
            close()
            continue
        timing = CUE_TIMING_LINE.match(line)
        if timing is not None and line_start not in forced:
            close()
            pending_time, pending_end = parse_time(timing.group(1)), parse_time(timing.group(2))
            continue
        if number in alone and line_start not in forced:
            close()
            last_speaker = alone[number].label or ""
            if alone[number].time is not None:
                pending_time = alone[number].time
            continue
        prefix = forced.get(line_start) or matcher.match(line, names)
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
    document = finish_document(
        doc_id=doc_id, text=text, turns=turns, source=source, fmt=fmt, rules=rules, notes=notes
    )
    found = unrecognised_label_notes(text, document.turns, str(source) if source is not None else "<text>")
    return dataclasses.replace(document, warnings=document.warnings + tuple(found)) if found else document


def _labels_alone(lines: list[str], matcher: LabelMatcher, names: frozenset[str]) -> dict[int, LinePrefix]:
    """Lines that hold only a speaker label (no colon), by line index.

    A role word alone always counts. A name alone counts when it is followed by words (the
    next non-blank line is not itself a label) and either follows a cue timing line (Teams)
    or stands alone on at least :data:`MIN_NAME_LABELS` lines while another label does too
    (so a repeated "Mhm" line of one speaker is never taken for a name).
    """
    found: dict[int, tuple[LinePrefix, str | None]] = {}
    for i, line in enumerate(lines):
        if line.strip():
            hit = matcher.alone(line)
            if hit is not None:
                found[i] = hit
    if not found:
        return {}
    counts = Counter(name for _, name in found.values() if name is not None)
    recurring = {n for n, c in counts.items() if c >= MIN_NAME_LABELS} | (set(counts) & names)
    labels_seen = {p.label for p, name in found.values() if name is None or name in recurring}
    out: dict[int, LinePrefix] = {}
    for i, (prefix, name) in found.items():
        nxt = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
        if nxt is None or nxt in found or CUE_TIMING_LINE.match(lines[nxt]):
            continue
        if matcher.match(lines[nxt], names).label is not None:
            continue
        if name is not None:
            prev = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
            after_timing = prev is not None and CUE_TIMING_LINE.match(lines[prev]) is not None
            if not after_timing and not (name in recurring and len(labels_seen) >= 2):
                continue
        out[i] = prefix
    return out
