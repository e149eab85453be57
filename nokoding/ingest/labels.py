"""Speaker labels and timestamps at the start of a transcript line.

Recognised line openings (spaces and tabs around the parts are allowed)::

    I: Hva tenker du om måltallene?
    Informant 3: Ja, altså ...
    [00:12:31] Intervjuer: ...        (00:12:31) Leder: ...        00:12:31 Kari: ...
    Kari [00:12:31]: ...              Medarbeider: [00:12:31] ...  #00:12:31-4# (f4 style)
    [00:12:31] ...                    (a timestamp without a label: the same speaker goes on)
    Intervjuer (KH): ...              **Intervjuer:** ...          **Informant**: ...
    INTERVJUER 00:01:02 ...           Kari Nordmann  0:03          (label and time, no colon)
    [0:00:05.2 - 0:00:11.0] I: ...    P1: ...
    [Kari Nordmann] 10:01:02          (Zoom's saved transcript; alone on its line)
    I<tab>Hvor lenge ...              IP<tab>I seks år.            (a tab instead of the colon)
    INT – Hva legger du i ...         RESP – Det er ...            (a dash after a role word)

A label may also stand alone on its line, without a colon (:meth:`LabelMatcher.alone`;
:mod:`nokoding.ingest.text` decides when such a line counts).

A *label* is either a known role word (:data:`nokoding.ingest.roles.DEFAULT_INTERVIEWER_LABELS`,
:data:`~nokoding.ingest.roles.DEFAULT_INFORMANT_LABELS`, plus any configured ones), in any
case, optionally followed by a number or one capital letter ("Informant 3", "I1",
"Deltaker B"), or a *name*: one to three capitalised words ("Kari", "Kari Nordmann",
"Per H."). It must be followed by a colon and then whitespace or the end of the line, or,
written with a capital letter, by a tab (any label) or a spaced dash (role words only).

Because "Problemet: ..." also looks like a name and a colon, a name counts as a label
only if the same name opens at least :data:`MIN_NAME_LABELS` lines of the file and is
not a common sentence-opening or header word (:data:`NOT_NAMES`). Known role words always
count. Bare timestamps (without brackets) must have hours (``hh:mm:ss``), so "12:30"
inside speech is never taken for a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "MIN_NAME_LABELS",
    "NOT_NAMES",
    "LabelMatcher",
    "CUE_TIMING_LINE",
    "LinePrefix",
    "format_time",
    "label_key",
    "matcher_for",
    "parse_time",
    "trailing_stamp_start",
]

#: A capitalised name followed by a colon is a speaker label only if it opens this many lines.
MIN_NAME_LABELS = 2

#: Capitalised words that open sentences or header lines ("Dato: 12.03.2024") and are
#: therefore never taken for a speaker's name (compared in lower case, first word).
NOT_NAMES = frozenset(
    [
        "det", "den", "dette", "disse", "de", "dei", "jeg", "eg", "vi", "me", "du", "han",
        "hun", "ho", "men", "og", "så", "ja", "nei", "jo", "hva", "kva", "hvordan", "korleis",
        "hvorfor", "kvifor", "når", "kor", "hvor", "altså", "eksempel", "for", "fordi",
        "problemet", "poenget", "spørsmålet", "svaret", "merk", "obs", "tema", "dato", "sted",
        "stad", "tid", "tidspunkt", "varighet", "lengde", "note", "notat", "kommentar",
        "stikkord", "sammendrag", "oppsummering", "intervju", "transkripsjon", "transkribert",
        "fil", "lydfil", "opptak", "prosjekt", "deltakere", "deltakarar", "til", "fra", "frå",
        "om", "kl", "klokka", "https", "http", "www", "mål", "målet", "resultat", "resultatet",
        "les", "se", "sjå", "mhm", "mm", "hm", "hmm", "ok", "okei", "okay", "greit", "akkurat",
        "nettopp", "javel", "jaha", "jepp", "æh", "eh", "ehm", "øh", "takk", "hei", "ha",
        "kapittel", "del", "vedlegg", "side",
    ]
)

_UPPER = "A-ZÆØÅÄÖÜÉÈÁ"
_WORD = rf"[{_UPPER}][^\W\d_]*(?:[-'’][^\W\d_]+)*\.?"
_NUMBER = r"\d{1,3}(?!\d|:\d)"
_NAME = rf"{_WORD}(?:(?<!\.){_NUMBER})?(?:[ \t]+(?:{_WORD}|{_NUMBER})){{0,2}}"
_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_HMS = r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,3})?"
_RANGE = rf"{_TIME}(?:[ \t]*(?:-|–|—|-->)[ \t]*{_TIME})?"
_BRACKETED = rf"\[{_RANGE}\]|\({_RANGE}\)|\#{_TIME}(?:-\d+)?\#"
_STAMP = rf"(?:{_BRACKETED}|{_HMS})"
#: after a label without a colon: a bracketed or h:mm:ss stamp, or m:ss ending the line
_LABEL_STAMP = rf"(?:{_BRACKETED}|{_HMS}|{_TIME}(?=[ \t]*(?:\*\*|__)?[ \t]*$))"
_BOLD = r"(?:\*\*|__)"
_QUALIFIER = r"[ \t]*\([^()\n]{1,40}\)"
#: a cue timing line on its own (Teams .docx and pasted captions): ``0:0:0.0 --> 0:0:5.120``
_CUE_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{1,2}(?:[.,]\d{1,3})?"
CUE_TIMING_LINE = re.compile(rf"^[ \t]*\[?({_CUE_TIME})\]?[ \t]*-->[ \t]*\[?({_CUE_TIME})\]?[ \t]*$")
_TRAILING_STAMP = re.compile(rf"[ \t]*(?:{_BRACKETED})[ \t]*$")
_TIME_IN = re.compile(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?")


def parse_time(stamp: str) -> float | None:
    """Seconds in a timestamp such as ``[00:12:31]``, ``00:12:31.5``, ``(12:31)`` or ``#00:12:31-4#``."""
    m = _TIME_IN.search(stamp)
    if m is None:
        return None
    hours = int(m.group(1) or 0)
    seconds = hours * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    frac = m.group(4)
    return seconds + (int(frac) / 10 ** len(frac) if frac else 0.0)


def format_time(seconds: float) -> str:
    """``hh:mm:ss`` for a number of seconds (fractions dropped)."""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def label_key(label: str) -> str:
    """The label reduced for role look-up: lower case, no number/letter suffix, no dot.

    ``"Informant 3"`` → ``"informant"``, ``"I1"`` → ``"i"``, ``"Int."`` → ``"int"``,
    ``"Deltaker B"`` → ``"deltaker"``, ``"Kari Nordmann"`` → ``"kari nordmann"``,
    ``"Intervjuer (KH)"`` → ``"intervjuer"``.
    """
    key = " ".join(label.split()).lower()
    key = re.sub(r"\s*\([^()]*\)$", "", key)
    key = re.sub(r"\s*\d+$", "", key)
    key = re.sub(r"\s+[a-zæøå]$", "", key)
    return key.rstrip(".").strip()


@dataclass(frozen=True)
class LinePrefix:
    """What opens one line.

    Attributes:
        label: the speaker label as written ("Informant 3"), or ``None``.
        label_is_role_word: the label is a known role word (always trusted).
        time: seconds from the first timestamp, or ``None``.
        end: offset in the line where the spoken words begin.
    """

    label: str | None
    label_is_role_word: bool
    time: float | None
    end: int


class LabelMatcher:
    """Finds speaker labels and timestamps at the start of lines (see the module docstring).

    Args:
        role_words: label keys that are always labels (e.g. "i", "intervjuer", "informant").
    """

    def __init__(self, role_words: Iterable[str]) -> None:
        words = sorted({w.strip().lower() for w in role_words if w.strip()}, key=len, reverse=True)
        self.role_words = frozenset(words)
        role = "|".join(re.escape(w) for w in words) or r"(?!x)x"
        role_label = rf"(?i:(?:{role}))\.?(?:[ \t]*{_NUMBER}|[ \t]+[{_UPPER}](?![^\W\d_]))?"
        label = rf"(?P<lab>(?:(?P<role>{role_label})|(?P<name>{_NAME}))(?:{_QUALIFIER})?)"
        self._pattern = re.compile(
            rf"""
            [ \t]*
            (?:(?P<t1>{_STAMP})[ \t]*(?:[-–—][ \t]*)?)?
            (?:
                {_BOLD}?{label}
                (?:
                    [ \t]*(?:(?P<t2>{_BRACKETED})[ \t]*)?
                    {_BOLD}?:{_BOLD}?(?=\s|$)[ \t]*
                    (?:(?P<t3>{_STAMP})(?:[ \t]+|$)(?:[-–—][ \t]*)?)?
                |
                    {_BOLD}?[ \t]+(?:[-–—][ \t]*)?(?P<t4>{_LABEL_STAMP}){_BOLD}?
                    (?:[ \t]*:)?(?:[ \t]+|$)(?:[-–—][ \t]*)?
                |
                    (?P<sep>[ ]*\t[ \t]*|[ \t]+[-–—][ \t]+)(?=\S)
                )
            )?
            """,
            re.VERBOSE,
        )
        self._alone = re.compile(
            rf"""
            [ \t]*(?:(?P<t1>{_STAMP})[ \t]*(?:[-–—][ \t]*)?)?
            (?P<open>\[)?{_BOLD}?{label}{_BOLD}?(?(open)\])
            (?:[ \t]+(?:[-–—][ \t]*)?(?P<t2>{_BRACKETED}|{_HMS}|{_TIME})|[ \t]*(?P<t3>{_BRACKETED}))?
            [ \t]*$
            """,
            re.VERBOSE,
        )

    def match(self, line: str, names: frozenset[str] | None = None) -> LinePrefix:
        """Parse the opening of ``line``.

        Args:
            line: one line, without its LF.
            names: the name labels accepted in this file (see :meth:`candidate_name`);
                ``None`` accepts every name that is not in :data:`NOT_NAMES`.
        """
        m = self._pattern.match(line)
        assert m is not None  # every part is optional
        time_text = m.group("t1") or m.group("t2") or m.group("t3") or m.group("t4")
        role, name = m.group("role"), m.group("name")
        label = " ".join((m.group("lab") or "").split()) or None
        if name is not None and not _acceptable_name(name, names, label) or not _acceptable_separator(m, label):
            # not a label after all: keep only a leading timestamp
            if m.group("t1"):
                t1_end = m.end("t1")
                rest = re.match(r"[ \t]*(?:[-–—][ \t]*)?", line[t1_end:])
                end = t1_end + (rest.end() if rest else 0)
                return LinePrefix(None, False, parse_time(m.group("t1")), end)
            return LinePrefix(None, False, None, 0)
        if label is None and not time_text:
            return LinePrefix(None, False, None, 0)
        if label is None:
            # timestamp only: the words start after it; a bare hh:mm:ss must be followed by space
            end = m.end()
            return LinePrefix(None, False, parse_time(time_text or ""), end)
        return LinePrefix(label, role is not None, parse_time(time_text) if time_text else None, m.end())

    def candidate_name(self, line: str) -> str | None:
        """The name label opening ``line``, if it has the shape of one (before the recurrence test)."""
        m = self._pattern.match(line)
        if m is None or m.group("name") is None:
            return None
        name = m.group("name").strip()
        label = " ".join(m.group("lab").split())
        return label if _acceptable_name(name, None) and _acceptable_separator(m, label) else None

    def alone(self, line: str) -> tuple[LinePrefix, str | None] | None:
        """A label standing alone on ``line`` without a colon ("Intervjuer", "Kari Nordmann",
        "INTERVJUER [00:01:02]"): the words follow on the next line(s).

        Returns:
            ``(prefix, name)`` where ``name`` is the name label that still has to pass the
            recurrence test (``None`` for a role word), or ``None`` when the line is not one.
        """
        m = self._alone.match(line)
        if m is None:
            return None
        name = m.group("name")
        if name is not None and not _acceptable_name(name.strip(), None):
            return None
        stamp = m.group("t1") or m.group("t2") or m.group("t3")
        label = " ".join(m.group("lab").split())
        prefix = LinePrefix(label, name is None, parse_time(stamp) if stamp else None, len(line))
        return prefix, (label if name is not None else None)


def trailing_stamp_start(line: str) -> int:
    """Offset where a trailing timestamp (``[00:12:31]``, ``#00:12:31-4#``) begins, else ``len(line)``."""
    m = _TRAILING_STAMP.search(line)
    return m.start() if m else len(line)


def _acceptable_separator(m: re.Match[str], label: str | None) -> bool:
    """A label without a colon, separated from the words by a tab or a dash ("I<tab>...",
    "INT – ..."), must be capitalised; the dash is taken after role words only."""
    sep = m.group("sep")
    if not sep or not label:
        return True
    return label[0].isupper() and ("\t" in sep or m.group("role") is not None)


def _acceptable_name(name: str, names: frozenset[str] | None, label: str | None = None) -> bool:
    first = name.split()[0].rstrip(".").lower()
    if first in NOT_NAMES:
        return False
    return names is None or (label or name.strip()) in names


@lru_cache(maxsize=32)
def matcher_for(role_words: tuple[str, ...]) -> LabelMatcher:
    """A cached :class:`LabelMatcher` for a tuple of role words."""
    return LabelMatcher(role_words)
