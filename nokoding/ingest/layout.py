"""Layout check and report: which speaker labels were read, and what looks like a label that was not.

A transcript is either read right or the reader says what it could not read. After a text
or Word transcript is parsed, :func:`unrecognised_label_notes` looks inside the *spoken*
text (what became turn words) for signs of speaker labels that the rules of
:mod:`nokoding.ingest.labels` did not take:

* **short lines that recur** on their own ("Kari", "P1 -", "intervjuer") — a label on its
  own line;
* **lines opening with a word and a time** ("kari 00:01:02", "Person 1 - 0:03");
* **lines opening with the same short word and a colon** ("ola: ...", "p2: ...");
* **questions in alternation** in a file without any labels (a question mark at the end
  of every other paragraph, or of every other line when the turns are not separated by
  blank lines: the interviewer's questions are coded as informant speech).

Each finding becomes a note in ``Document.warnings`` naming the lines and what to pass
(``interviewer=`` / ``--interviewer LABEL`` of ``nokoding tag`` and ``nokoding segment``,
which also makes that label a speaker label, and ``informant_labels=`` / ``--informant
LABEL`` of ``nokoding segment`` and ``nokoding tag``). :func:`explain` builds the report that
``nokoding segment --explain FILE`` prints: the labels recognised, the turns of each
speaker, unlabelled text and these notes.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from nokoding.document import Document, SpeakerTurn
from nokoding.ingest.labels import NOT_NAMES

__all__ = ["LayoutReport", "explain", "unrecognised_label_notes"]

#: A recurring short line must occur this often to be reported.
MIN_REPEATS = 3

_SHORT_LINE = re.compile(r"^[ \t]*(\S[^\n]{0,38}?)[ \t]*$")
_WORD_AND_TIME = re.compile(
    r"^[ \t]*([^\W\d_][\w.()-]*(?:[ \t]+(?:[^\W\d_][\w.()-]*|\d{1,3}(?![\d:])))?)"
    r"[ \t]*[-–—]?[ \t]*[\[(]?\d{1,2}:\d{2}(?::\d{2})?"
)
_WORD_COLON = re.compile(r"^[ \t]*([^\W_][\w.()-]*(?:[ \t]+[\w.()-]+){0,1})[ \t]*:(?:[ \t]|$)")
_SENTENCE_END = (".", "!", "?", ",", ";", "…")


@dataclass
class LayoutReport:
    """What reading found in one transcript (see :func:`explain`).

    Attributes:
        document_id, source, format: of the document.
        speakers: speaker label → (role, number of turns), in order of first appearance.
        unlabelled_turns: turns without a speaker.
        unlabelled: the file has no speaker label at all (read as one informant's text).
        notes: the reader's warnings, including :func:`unrecognised_label_notes`.
    """

    document_id: str
    source: str | None
    format: str
    speakers: dict[str, tuple[str, int]] = field(default_factory=dict)
    unlabelled_turns: int = 0
    unlabelled: bool = False
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report as text, one line per item."""
        where = self.source or self.document_id or "<text>"
        turns = sum(n for _, n in self.speakers.values()) + self.unlabelled_turns
        out = [f"{where}: format {self.format}, {turns} turn(s)"]
        if self.unlabelled:
            out.append("  no speaker labels recognised: the whole text is read as one informant's speech")
        for speaker, (role, n) in self.speakers.items():
            out.append(f"  speaker {speaker!r}: {role}, {n} turn(s)")
        if self.unlabelled_turns and not self.unlabelled:
            out.append(f"  text without a speaker label: {self.unlabelled_turns} turn(s), role unknown (not coded by default)")
        out += [f"  warning: {n}" for n in self.notes]
        if not self.notes:
            out.append("  no warnings")
        return out


def explain(document: Document) -> LayoutReport:
    """The layout report of a document read by :func:`nokoding.ingest.read`."""
    speakers: dict[str, tuple[str, int]] = {}
    unlabelled = 0
    for turn in document.turns:
        if not turn.speaker:
            unlabelled += 1
            continue
        role, n = speakers.get(turn.speaker, (turn.role, 0))
        speakers[turn.speaker] = (role, n + 1)
    return LayoutReport(
        document_id=document.id,
        source=str(document.source) if document.source is not None else None,
        format=document.format,
        speakers=speakers,
        unlabelled_turns=unlabelled,
        unlabelled=not speakers,
        notes=document.warnings,
    )


def _line_numbers(text: str, turns: tuple[SpeakerTurn, ...]) -> list[tuple[int, str, bool]]:
    """Every line of spoken text as ``(1-based line number in text, line, alone)``; ``alone``
    is False for a turn's first line when a label or time precedes it on the same line."""
    out = []
    for t in turns:
        first = text.count("\n", 0, t.start) + 1
        head = text[text.rfind("\n", 0, t.start) + 1 : t.start]
        for k, line in enumerate(text[t.start : t.end].split("\n")):
            out.append((first + k, line, k > 0 or not head.strip()))
    return out


def _format_places(numbers: list[int], unit: str = "line") -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return f"{unit}{'s' if len(numbers) > 1 else ''} {shown}" + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def _alternating(ends: list[bool]) -> bool:
    """Questions (True) in alternation with other units, often enough to be an interview."""
    questions = sum(ends)
    alternating = sum(1 for a, b in zip(ends, ends[1:]) if a != b)
    return len(ends) >= 4 and questions >= 2 and questions * 3 >= len(ends) and alternating * 2 >= len(ends) - 1


def unrecognised_label_notes(
    text: str, turns: tuple[SpeakerTurn, ...], where: str, *, paragraphs: Sequence[int] = ()
) -> list[str]:
    """Notes on what looks like speaker labels inside the spoken text (module docstring).

    Args:
        text: the document text; ``turns``: its turns (offsets into ``text``).
        where: the file name for the notes (or ``"<text>"``).
        paragraphs: start offsets of the source's paragraphs (Word); when given, places are
            named "paragraph N" (the paragraph holding the line) instead of "line N".
    """
    unit = "paragraph" if paragraphs else "line"

    def _places(numbers: list[int]) -> str:
        if paragraphs:
            starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
            numbers = list(dict.fromkeys(bisect_right(paragraphs, starts[n - 1]) for n in numbers))
        return _format_places(numbers, unit)

    lines = _line_numbers(text, turns)
    advice = ("if it is a speaker label, pass it with --interviewer LABEL when it is the interviewer's, "
              "or for an informant with --informant LABEL (nokoding segment and nokoding tag; informant_labels= in Python)")
    notes: list[str] = []
    short: dict[str, list[int]] = defaultdict(list)
    timed: dict[str, list[int]] = defaultdict(list)
    colon: dict[str, list[int]] = defaultdict(list)
    for number, line, alone in lines:
        stripped = line.strip()
        m = _SHORT_LINE.match(line)
        if m and alone and len(stripped.split()) <= 4 and not stripped.endswith(_SENTENCE_END):
            first = stripped.split()[0].strip("*_").rstrip(".:").lower()
            if first not in NOT_NAMES and not stripped[0].isdigit() and stripped[0] not in "([{<#-–—":
                short[stripped.strip("*_").rstrip(":").strip()].append(number)
        m = _WORD_AND_TIME.match(line)
        if m:
            timed[m.group(1).lower()].append(number)
        m = _WORD_COLON.match(line)
        if m and m.group(1).split()[0].lower() not in NOT_NAMES:
            colon[m.group(1).lower()].append(number)
    for label, numbers in short.items():
        if len(numbers) >= MIN_REPEATS:
            notes.append(f"{where}: {_places(numbers)}: {label!r} stands alone on {len(numbers)} {unit}s that "
                         f"were read as speech; {advice}")
    for label, numbers in timed.items():
        if len(numbers) >= 2:
            notes.append(f"{where}: {_places(numbers)}: {unit}s open with {label!r} and a time but were read as "
                         f"speech; {advice}")
    for label, numbers in colon.items():
        if len(numbers) >= 2:
            notes.append(f"{where}: {_places(numbers)}: {unit}s open with '{label}:' but were read as speech; {advice}")
    if not any(t.speaker for t in turns):
        # paragraphs first, then lines (one turn per line without a blank line between them)
        paragraph_ends = [(text.count("\n", 0, t.start) + 1, text[t.start : t.end].rstrip().endswith("?"))
                          for t in turns]
        line_ends = [(n, line.rstrip().endswith("?")) for n, line, _ in lines if line.strip()]
        for kind, units in (("paragraphs", paragraph_ends), ("lines", line_ends)):
            ends = [q for _, q in units]
            if _alternating(ends):
                numbers = [n for n, q in units if q]
                notes.append(
                    f"{where}: no speaker labels were found, but {sum(ends)} of {len(ends)} {kind} end with "
                    f"a question mark, in alternation ({_places(numbers)}): the interviewer's questions are "
                    "read as informant speech. Label the turns (e.g. 'I:' and 'Informant:') or pass "
                    "--interviewer/--informant with the labels used"
                )
                break
    return notes
