"""Cutting transcripts into coding segments.

A segment is what a coder codes: a speaker turn, or, when the turn is long, a window of
its consecutive sentences. Windows hold at most ``max_sentences`` sentences and at most
``max_tokens`` whitespace-separated tokens; a single sentence longer than ``max_tokens``
is cut at whitespace into near-equal pieces. Among the cuttings with the fewest windows
the most even one (smallest sum of squared window lengths) is chosen, so a long turn
does not end in a one-word remnant.

Defaults come from the informants' quotes in chapter 5 of the reference thesis, the
segments a human coder actually coded (``corpora/thesis_mrs/segments.jsonl``, 113
quotes). Length in whitespace words: min 3, median 30, 75th percentile 38, 90th 56, 95th
72, max 99 (mean 31.8). Sentences per quote (this module's splitter): median 1, 90th
percentile 3, 95th 4, max 5. Hence

* :data:`DEFAULT_MAX_TOKENS` = 100: every quote the coder took whole (all 113) fits in
  one window, and longer turns are split into pieces of quote size (a 150-word turn →
  two of ~75); 100 words are about 130 encoder pieces, far below a BERT encoder's 512;
* :data:`DEFAULT_MAX_SENTENCES` = 5: the most sentences any quote has (all 113 fit).

Offsets are exact: ``document.text[s.start:s.end] == s.text``; segments never start or
end with whitespace, never overlap, and together cover every non-whitespace character of
the turns they come from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nokoding.document import Document, Role, Segment, SpeakerTurn
from nokoding.segmentation.sentences import sentence_spans

__all__ = ["DEFAULT_MAX_SENTENCES", "DEFAULT_MAX_TOKENS", "ROLES", "segment", "segment_all", "windows"]

#: Longest window in sentences (the longest thesis quote has 5).
DEFAULT_MAX_SENTENCES = 5
#: Longest window in whitespace tokens (thesis quotes run 3–99 words).
DEFAULT_MAX_TOKENS = 100
#: All roles.
ROLES: tuple[Role, ...] = ("interviewer", "informant", "unknown")


def _token_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    i = start
    while i < end:
        while i < end and text[i].isspace():
            i += 1
        if i >= end:
            break
        j = i
        while j < end and not text[j].isspace():
            j += 1
        spans.append((i, j))
        i = j
    return spans


def _units(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int, int]]:
    """Sentences of ``text[start:end]`` as ``(start, end, tokens)``; over-long ones cut at whitespace."""
    units: list[tuple[int, int, int]] = []
    for a, b in sentence_spans(text, start, end):
        tokens = _token_spans(text, a, b)
        n = len(tokens)
        if n <= max_tokens:
            units.append((a, b, n))
            continue
        pieces = -(-n // max_tokens)
        base, extra = divmod(n, pieces)
        k = 0
        for p in range(pieces):
            size = base + (1 if p < extra else 0)
            units.append((tokens[k][0], tokens[k + size - 1][1], size))
            k += size
    return units


def windows(
    text: str, start: int, end: int, *, max_sentences: int, max_tokens: int
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into windows (offsets into ``text``).

    Returns:
        ``(start, end)`` pairs in order; each has at most ``max_sentences`` sentences and
        at most ``max_tokens`` whitespace tokens, no leading/trailing whitespace; together
        they cover every non-whitespace character of the span.
    """
    units = _units(text, start, end, max_tokens)
    n = len(units)
    if n == 0:
        return []
    # best[i] = (windows, sum of squared lengths, previous cut) for units[:i]
    inf = (n + 1, 0, -1)
    best: list[tuple[int, int, int]] = [(0, 0, -1)] + [inf] * n
    for i in range(1, n + 1):
        tokens = 0
        for j in range(i - 1, max(i - 1 - max_sentences, -1), -1):
            tokens += units[j][2]
            if tokens > max_tokens and j < i - 1:
                break
            w, sq, _ = best[j]
            cand = (w + 1, sq + tokens * tokens, j)
            if cand[:2] < best[i][:2]:
                best[i] = cand
    cuts: list[tuple[int, int]] = []
    i = n
    while i > 0:
        j = best[i][2]
        cuts.append((units[j][0], units[i - 1][1]))
        i = j
    cuts.reverse()
    return cuts


def _times(turn: SpeakerTurn, a: int, b: int) -> tuple[float | None, float | None, bool]:
    """Start and end time of ``text[a:b]`` and whether a cue in it overlaps another speaker's."""
    inside = [c for c in turn.cues if c.start < b and c.end > a]
    if inside:
        return (
            min(c.start_time for c in inside),
            max(c.end_time for c in inside),
            any(c.overlap for c in inside),
        )
    return turn.start_time, turn.end_time, False


def segment(
    document: Document | str,
    *,
    roles: Iterable[Role] = ("informant",),
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    context: bool = True,
) -> list[Segment]:
    """Cut a document into coding segments.

    Args:
        document: a :class:`Document`, or a ``str`` read the way a .txt transcript is
            read (:func:`nokoding.ingest.from_text` with ``format="txt"``: speaker labels,
            roles and warnings as for a file; id ``""``; offsets point into the normalised
            text, equal to the input when it was already normalised). To code a whole
            string as one informant turn without looking for labels, pass
            ``nokoding.ingest.single_turn_document(text)``.
        roles: which turns to cut (default informant turns only; all three roles for
            every speaker).
        max_sentences: most sentences per segment (≥ 1).
        max_tokens: most whitespace tokens per segment (≥ 1).
        context: attach the preceding interviewer turn's text as ``Segment.context``
            (for segments of non-interviewer turns).

    Returns:
        Segments in document order, ``index`` 0, 1, ... Each has ``document_id``,
        ``speaker``, ``role``, ``turn_index``, offsets, times (the cues it overlaps, else
        its turn's), ``context``, and ``meta = {"window": k, "windows": n}`` (its position
        among the windows of its turn, plus ``"overlap": True`` when one of its cues
        overlaps in time with another speaker's). Empty list for a blank string (also one
        of only invisible characters).

    Raises:
        ValueError: ``max_sentences`` or ``max_tokens`` below 1, or an unknown role.
        TranscriptError: a string with labels or timestamps but no speech.
    """
    if max_sentences < 1 or max_tokens < 1:
        raise ValueError(f"max_sentences and max_tokens must be ≥ 1, got {max_sentences}, {max_tokens}")
    wanted = set(roles)
    unknown = wanted - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {ROLES}")
    if isinstance(document, str):
        from nokoding.ingest.reader import from_text, single_turn_document

        blank = single_turn_document(document)
        document = from_text(document, format="txt") if blank.turns else blank
    text = document.text
    out: list[Segment] = []
    question: str | None = None
    for t_index, turn in enumerate(document.turns):
        if turn.role == "interviewer":
            question = text[turn.start : turn.end]
        if turn.role not in wanted:
            continue
        cuts = windows(text, turn.start, turn.end, max_sentences=max_sentences, max_tokens=max_tokens)
        for k, (a, b) in enumerate(cuts):
            t0, t1, overlap = _times(turn, a, b)
            out.append(
                Segment(
                    document_id=document.id,
                    index=len(out),
                    text=text[a:b],
                    start=a,
                    end=b,
                    speaker=turn.speaker,
                    role=turn.role,
                    start_time=t0,
                    end_time=t1,
                    context=question if context and turn.role != "interviewer" else None,
                    turn_index=t_index,
                    meta={"window": k, "windows": len(cuts), **({"overlap": True} if overlap else {})},
                )
            )
    return out


def segment_all(documents: Sequence[Document], **kwargs: object) -> list[Segment]:
    """:func:`segment` for several documents, concatenated (indices restart per document)."""
    return [s for d in documents for s in segment(d, **kwargs)]  # type: ignore[arg-type]
