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
* A name with a colon must open at least :data:`~nokoding.ingest.labels.MIN_NAME_LABELS`
  lines; in a file that already has two or more speakers whose labels recur, a name that
  opens only one line (a focus-group participant who speaks once) is a label too, with a
  note naming its line.
* Line numbers (``1  I: ...``, ``2  IP: ...``) opening nearly every line, in increasing
  order, are left out of the text, with a note; a numbered line without a label goes on
  with the same speaker in a turn of its own (no number falls inside a turn).
* Teams' lines "Kari Hansen started transcription" / "... stopped transcription" are not
  speech: they are left out of the turns, with a note.

``Document.text`` is the whole normalised file, so offsets are positions in the file as
the user sees it (after :mod:`~nokoding.ingest.normalize`).
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nokoding.document import Document
from nokoding.ingest.build import RawTurn, finish_document
from nokoding.ingest.labels import (
    CUE_TIMING_LINE,
    MIN_NAME_LABELS,
    NOT_NAMES,
    LabelMatcher,
    LinePrefix,
    label_key,
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
        paragraphs: start offsets of the source's paragraphs (Word paragraphs with text and
            table rows, in order); when given, notes name "paragraph N" instead of "line N".
    """

    labels: dict[int, LinePrefix] = field(default_factory=dict)
    resets: frozenset[int] = frozenset()
    paragraphs: tuple[int, ...] = ()


#: Line numbers opening a line: "12  I: ...".
_LINE_NUMBER = re.compile(r"[ \t]*(\d{1,5})(?:[ \t]+|$)")
#: Teams' transcription events, which are not speech.
_TRANSCRIPTION_EVENT = re.compile(
    r"[ \t]*(?P<who>(?:[A-ZÆØÅÄÖÜÉ][^\s:]*[ \t]+){1,4})(?i:started|stopped|startet|stoppet|avsluttet)[ \t]+"
    r"(?i:transcription|transkripsjon(?:en)?|transkriberingen?)[ \t]*\.?[ \t]*"
)


def _transcription_event(line: str) -> bool:
    """A Teams notice "Kari Hansen started transcription" (a name, no label, nothing else)."""
    m = _TRANSCRIPTION_EVENT.fullmatch(line)
    return m is not None and m.group("who").split()[0].lower() not in NOT_NAMES


def _numbered_lines(lines: list[str]) -> list[int]:
    """Per line, where the text begins after a line number, when the file numbers its lines.

    A file numbers its lines when at least three non-blank lines and nine in ten of them open
    with a number followed by whitespace, in increasing order; otherwise every entry is 0.
    """
    hits = [(_LINE_NUMBER.match(line), line) for line in lines]
    filled = [(m, line) for m, line in hits if line.strip()]
    numbered = [int(m.group(1)) for m, _ in filled if m is not None]
    if len(numbered) < 3 or len(numbered) * 10 < len(filled) * 9:
        return [0] * len(lines)
    if any(b <= a for a, b in zip(numbered, numbered[1:])):
        return [0] * len(lines)
    return [m.end() if m is not None else 0 for m, _ in hits]


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
    where = str(source) if source is not None else "<text>"
    paragraphs = structure.paragraphs if structure is not None else ()
    raw_lines = text.split("\n")
    skips = _numbered_lines(raw_lines)
    lines = [line[k:] for line, k in zip(raw_lines, skips)]
    place = _placer(raw_lines, paragraphs)
    added: list[str] = []
    if any(skips):
        added.append(f"{where}: the lines are numbered; the numbers at the start of the lines were left out of the text")
    events = [i for i, line in enumerate(lines) if _transcription_event(line)]
    if events:
        shown = "; ".join(f"{place(i + 1)}: {lines[i].strip()!r}" for i in events[:3])
        added.append(f"{where}: {shown}{' and more' if len(events) > 3 else ''}: a transcription start/stop "
                     "notice, not speech; left out of the turns")
    counts = Counter(matcher.candidate_name(line) for line in lines)
    names = frozenset(n for n, c in counts.items() if n is not None and c >= MIN_NAME_LABELS)
    forced = dict(structure.labels) if structure is not None else {}
    starts = [0]
    for line in raw_lines:
        starts.append(starts[-1] + len(line) + 1)
    from_cells = {i for i, start in enumerate(starts[:-1]) if start in forced}  # speaker from a table cell
    prefixes = [matcher.match(line, names) for line in lines]
    established = {p.label for p in prefixes if p.label is not None}
    if len({label_key(label) for label in established}) >= 2:
        timed = sum(p.time is not None for p in prefixes if p.label is not None) * 2 > sum(
            p.label is not None for p in prefixes
        )
        in_cells = {matcher.candidate_name(lines[i]) for i in from_cells}
        once = [
            n for n, c in counts.items()
            if n is not None and c == 1 and n not in in_cells and _like_a_label_line(lines, n, matcher, timed)
        ]
        if once:
            names = names | frozenset(once)
            at = [i + 1 for i, line in enumerate(lines) if matcher.candidate_name(line) in once]
            shown = ", ".join(f"{place(n)} ({matcher.candidate_name(lines[n - 1])!r})" for n in at[:5])
            added.append(f"{where}: {shown}{' and more' if len(at) > 5 else ''}: a name that opens only one "
                         "line was read as a speaker label, because the file has other speaker labels; if it is "
                         "not a speaker, join the line to the turn before it")
    alone = _labels_alone(lines, matcher, names)
    resets = set(structure.resets) if structure is not None else set()
    skip_events = set(events)

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
        skip = skips[number]
        line_start = pos + skip
        pos += skip + len(line) + 1
        if line_start - skip in resets:
            close()
            last_speaker = ""
        if not line.strip() or number in skip_events:
            close()
            continue
        timing = CUE_TIMING_LINE.match(line)
        if timing is not None and line_start - skip not in forced:
            close()
            pending_time, pending_end = parse_time(timing.group(1)), parse_time(timing.group(2))
            continue
        if number in alone and line_start - skip not in forced:
            close()
            last_speaker = alone[number].label or ""
            if alone[number].time is not None:
                pending_time = alone[number].time
            continue
        prefix = forced.get(line_start - skip) or matcher.match(line, names)
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
        elif current is None or skip:
            # a numbered line goes on in a turn of its own, so that no number is inside a turn
            close()
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
        doc_id=doc_id, text=text, turns=turns, source=source, fmt=fmt, rules=rules, notes=notes + tuple(added)
    )
    found = unrecognised_label_notes(text, document.turns, where, paragraphs=paragraphs)
    return dataclasses.replace(document, warnings=document.warnings + tuple(found)) if found else document


def _like_a_label_line(lines: list[str], name: str, matcher: LabelMatcher, timed: bool) -> bool:
    """The one line opened by ``name`` is shaped like the file's label lines: a timestamp when
    most labels have one (and none otherwise), and words that start with a capital letter
    after the label ("Bjørn: Enig.", not "Svakheten: det måles ...")."""
    for line in lines:
        if matcher.candidate_name(line) == name:
            prefix = matcher.match(line, frozenset([name]))
            words = line[prefix.end :].lstrip(" \t*_\"'«(")
            return (prefix.time is not None) == timed and (not words or words[0].isupper())
    return False


def _placer(lines: list[str], paragraphs: tuple[int, ...]) -> Callable[[int], str]:
    """A function giving "line N" for a 1-based line number, or "paragraph N" of the source."""
    if not paragraphs:
        return lambda n: f"line {n}"
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    return lambda n: f"paragraph {bisect_right(paragraphs, starts[n - 1])}"


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
