"""Timed captions (WebVTT, SubRip) to a document: speakers, merging, and the text layout.

The document text built from cues is one paragraph per speaker turn, separated by a
blank line::

    [00:00:04] Kari Nordmann: Velkommen. Kan du fortelle litt om jobben din?

    [00:00:09] Ola Hansen: Ja, jeg er veileder ved et NAV-kontor ...

The ``[hh:mm:ss]`` start time and the ``Speaker:`` label sit outside the turn's span;
the turn's span covers the words only. Cues are taken in order of start time (file order
for ties, so overlapping cues keep every word); consecutive cues of the same speaker are
joined with one space into one turn, and each keeps its own span and times in
``SpeakerTurn.cues``. Line breaks inside a cue are layout and become spaces. The text
reads well when exported to a QDA program, and every offset in it is exact.

Speakers come from voice tags (``<v Kari Nordmann>``), one per line when a cue holds
several; when a cue has no voice tag, a leading "Name: " (as Zoom writes it) is taken as
the speaker under the same rules as in text transcripts (:mod:`nokoding.ingest.labels`).
In a file whose cues name their speakers, a cue without one goes on with the speaker of
the cue before it (a turn split over several cues), with a note naming its line; one
before any named cue keeps no speaker (role unknown), with a note too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nokoding.document import Cue, Document
from nokoding.ingest.build import RawTurn, finish_document
from nokoding.ingest.errors import TranscriptError
from nokoding.ingest.labels import MIN_NAME_LABELS, format_time, label_key, matcher_for
from nokoding.ingest.normalize import normalize_text
from nokoding.ingest.roles import RoleRules

__all__ = ["CuePiece", "document_from_cues", "mark_overlaps"]

@dataclass
class CuePiece:
    """The words of one speaker in one cue.

    ``speaker`` is ``None`` when the cue gives none; ``timed`` is False for text that had no
    timing line of its own (it carries the times of the cue before it); ``line`` is the
    cue's first line in the file (1-based, 0 when unknown).
    """

    speaker: str | None
    text: str
    start_time: float
    end_time: float
    cue_id: str | None
    timed: bool = True
    line: int = 0


def document_from_cues(
    pieces: list[CuePiece],
    *,
    doc_id: str,
    source: Path | None,
    fmt: str,
    rules: RoleRules,
    notes: tuple[str, ...] = (),
) -> Document:
    """Merge cue pieces into turns and lay the text out (see the module docstring).

    Raises:
        TranscriptError: no cue has any words.
    """
    pieces = [p for p in pieces if p.text.strip()]
    if not pieces:
        raise TranscriptError(source, "no cue has any text")
    for p in pieces:
        p.text = " ".join(normalize_text(p.text).split())
    where = str(source) if source is not None else "<text>"
    notes = notes + _speakers_from_prefixes(pieces, rules, where)
    pieces = [p for p in pieces if p.text]
    if not pieces:
        raise TranscriptError(source, "no cue has any text")
    notes = notes + _continue_unnamed(pieces, where)
    overlaps = mark_overlaps(pieces)
    if any(overlaps):
        notes = notes + (
            f"{sum(overlaps)} cue(s) overlap in time with another speaker's (people talking at "
            "once); all their words are kept, in order of start time, and their segments are "
            "marked 'overlap'",
        )
    order = sorted(range(len(pieces)), key=lambda i: (pieces[i].start_time, i))
    groups: list[list[tuple[CuePiece, bool]]] = []
    for i in order:
        p = pieces[i]
        if groups and groups[-1][-1][0].speaker == p.speaker:
            groups[-1].append((p, overlaps[i]))
        else:
            groups.append([(p, overlaps[i])])

    parts: list[str] = []
    length = 0
    turns: list[RawTurn] = []
    for g, group in enumerate(groups):
        head = ("\n\n" if g else "") + f"[{format_time(group[0][0].start_time)}] "
        if group[0][0].speaker:
            head += f"{group[0][0].speaker}: "
        parts.append(head)
        length += len(head)
        cues: list[Cue] = []
        for k, (p, overlap) in enumerate(group):
            if k:
                parts.append(" ")
                length += 1
            cues.append(Cue(length, length + len(p.text), p.start_time, p.end_time, p.cue_id, overlap))
            parts.append(p.text)
            length += len(p.text)
        turns.append(
            RawTurn(
                speaker=group[0][0].speaker or "",
                start=cues[0].start,
                end=cues[-1].end,
                start_time=min(c.start_time for c in cues),
                end_time=max(c.end_time for c in cues),
                cues=cues,
            )
        )
    parts.append("\n")
    text = "".join(parts)
    return finish_document(
        doc_id=doc_id, text=text, turns=turns, source=source, fmt=fmt, rules=rules, notes=notes
    )


def mark_overlaps(pieces: list[CuePiece]) -> list[bool]:
    """For each piece: does its time overlap a piece of another speaker (two people at once)?

    Overlap is strict (one ending exactly when the next starts is not overlap); pieces
    without a speaker overlap any piece with one, but not each other; the voices of one
    cue do not overlap each other.
    """
    flags = [False] * len(pieces)
    order = sorted((i for i, p in enumerate(pieces) if p.timed), key=lambda i: pieces[i].start_time)
    for a_pos, a in enumerate(order):
        pa = pieces[a]
        for b in order[a_pos + 1 :]:
            pb = pieces[b]
            if pb.start_time >= pa.end_time:
                break
            same_cue = pa.cue_id == pb.cue_id and (pa.start_time, pa.end_time) == (pb.start_time, pb.end_time)
            if same_cue:
                continue  # two voices written in one cue: one after the other, not at once
            if pb.speaker != pa.speaker and (pa.speaker or pb.speaker) and pb.end_time > pb.start_time:
                if pa.end_time > pa.start_time:
                    flags[a] = flags[b] = True
    return flags


def _continue_unnamed(pieces: list[CuePiece], where: str) -> tuple[str, ...]:
    """Give a cue without a speaker, in a file whose other cues name theirs, the speaker of
    the cue before it (a turn split over several cues); say so, with the lines.

    A cue without a speaker before any named cue keeps none (role unknown) and is named in
    a note too.
    """
    if not any(p.speaker for p in pieces):
        return ()
    continued: list[CuePiece] = []
    orphans: list[CuePiece] = []
    previous: str | None = None
    for p in pieces:
        if p.speaker is None:
            if previous is not None:
                p.speaker = previous
                continued.append(p)
            else:
                orphans.append(p)
        previous = p.speaker
    notes = []

    def places(found: list[CuePiece]) -> str:
        shown = ", ".join(str(p.line) for p in found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        return f"line{'s' if len(found) > 1 else ''} {shown}"

    if continued:
        notes.append(f"{where}, {places(continued)}: cue(s) without a speaker name were read as the words of "
                     f"the speaker of the cue before (first: {continued[0].speaker!r}); check that they are")
    if orphans:
        notes.append(f"{where}, {places(orphans)}: cue(s) before the first named speaker have no speaker; "
                     "their role is unknown and they are not coded by default (--all-speakers shows them)")
    return tuple(notes)


def _speakers_from_prefixes(pieces: list[CuePiece], rules: RoleRules, where: str = "<text>") -> tuple[str, ...]:
    """Take "Name: words" as the speaker for pieces without a voice (in place).

    A name must open :data:`~nokoding.ingest.labels.MIN_NAME_LABELS` cues, except in a file
    where two or more labels already recur: there a capitalised name that opens one cue,
    followed by a capitalised word, is a speaker too, and the returned note names its line.
    """
    matcher = matcher_for(rules.role_words)
    unvoiced = [p for p in pieces if p.speaker is None]
    if not unvoiced:
        return ()
    counts = Counter(matcher.candidate_name(p.text) for p in unvoiced)
    names = frozenset(n for n, c in counts.items() if n is not None and c >= MIN_NAME_LABELS)
    established = {label_key(lab) for p in unvoiced if (lab := matcher.match(p.text, names).label) is not None}
    once: list[CuePiece] = []
    if len(established) >= 2:
        for p in unvoiced:
            name = matcher.candidate_name(p.text)
            if name is not None and counts[name] == 1:
                prefix = matcher.match(p.text, frozenset([name]))
                words = p.text[prefix.end :].lstrip(" \t*_\"'«(")
                if words[:1].isupper():
                    names = names | {name}
                    once.append(p)
    for p in unvoiced:
        prefix = matcher.match(p.text, names)
        if prefix.label is not None:
            p.speaker = prefix.label
            p.text = p.text[prefix.end :].strip()
    if not once:
        return ()
    shown = ", ".join(f"line {p.line} ({p.speaker!r})" for p in once[:5]) + (" and more" if len(once) > 5 else "")
    return (f"{where}, {shown}: a name that opens only one cue was read as a speaker label, because the file "
            "has other speaker labels",)
