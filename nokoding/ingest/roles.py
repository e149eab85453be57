"""Who is the interviewer: roles for speaker turns.

Only informant turns are coded by default, so every turn gets a role
(:data:`nokoding.document.Role`). The rules, in order:

1. **Given**: ``interviewer="Kari Nordmann"`` (a speaker label, or several) makes those
   speakers interviewers and every other labelled speaker an informant. Labels are compared
   case-insensitively, ignoring surrounding spaces.
2. **By label**: a label whose key (:func:`nokoding.ingest.labels.label_key`, e.g.
   "Informant 3" → "informant") is in ``interviewer_labels`` (default
   :data:`DEFAULT_INTERVIEWER_LABELS`: "I", "Int", "Intervjuer", "Interviewer", ...) is an
   interviewer; one in ``informant_labels`` (default :data:`DEFAULT_INFORMANT_LABELS`:
   "Informant", "Inf", "Leder", "Medarbeider", "Respondent", ...) is an informant.
3. **By questions**: when no interviewer was found by 1–2, the remaining speakers (names,
   e.g. Teams voice tags) are compared by the number of their turns that contain a question
   mark; the one with most is the interviewer (ties: the one who spoke first), provided
   they asked at least one question and at least two speakers are labelled. A note saying so is added to ``Document.warnings``.
   All other speakers are informants. When two or more speakers are labelled and none of
   them is found to be the interviewer (no question marks, e.g. "Fortell om ..."), every
   speaker is an informant and a note says so and what to pass.

Turns without a speaker (unlabelled text before the first label, cues without a voice)
are informants when the document has no speaker labels at all (a plain text to code as a
whole), otherwise ``"unknown"`` (typically a header such as "Intervju 3, 12. mars").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nokoding.document import Role
from nokoding.ingest.labels import label_key

__all__ = [
    "DEFAULT_INFORMANT_LABELS",
    "DEFAULT_INTERVIEWER_LABELS",
    "RoleRules",
    "assign_roles",
]

#: Label keys that mark the interviewer (bokmål, nynorsk, English).
DEFAULT_INTERVIEWER_LABELS: tuple[str, ...] = (
    "i", "int", "intervjuer", "intervjuar", "interviewer", "moderator", "forsker", "spm",
    "spørsmål",
)  # fmt: skip

#: Label keys that mark an informant (interviewee).
DEFAULT_INFORMANT_LABELS: tuple[str, ...] = (
    "informant", "inf", "respondent", "resp", "deltaker", "deltakar", "ip",
    "leder", "leiar", "medarbeider", "medarbeidar", "ansatt", "tilsett", "svar",
    "io", "intervjuobjekt",
)  # fmt: skip


def _keys(labels: str | Iterable[str] | None) -> frozenset[str]:
    if labels is None:
        return frozenset()
    if isinstance(labels, str):
        labels = [labels]
    return frozenset(label_key(label) for label in labels if label.strip())


@dataclass(frozen=True)
class RoleRules:
    """How roles are decided (see the module docstring).

    Attributes:
        interviewer: speaker label(s) that are the interviewer in this document, or ``None``.
        interviewer_labels, informant_labels: label keys (lower case, no number).
    """

    interviewer: str | tuple[str, ...] | None = None
    interviewer_labels: tuple[str, ...] = DEFAULT_INTERVIEWER_LABELS
    informant_labels: tuple[str, ...] = DEFAULT_INFORMANT_LABELS

    @classmethod
    def make(
        cls,
        interviewer: str | Iterable[str] | None = None,
        interviewer_labels: Iterable[str] | None = None,
        informant_labels: Iterable[str] | None = None,
    ) -> RoleRules:
        """Build rules from user arguments (``None`` keeps a default)."""
        if interviewer is not None and not isinstance(interviewer, str):
            interviewer = tuple(interviewer)
        return cls(
            interviewer=interviewer,
            interviewer_labels=tuple(sorted(_keys(interviewer_labels)))
            if interviewer_labels is not None
            else DEFAULT_INTERVIEWER_LABELS,
            informant_labels=tuple(sorted(_keys(informant_labels)))
            if informant_labels is not None
            else DEFAULT_INFORMANT_LABELS,
        )

    @property
    def role_words(self) -> tuple[str, ...]:
        """All label keys that are always speaker labels in text (the given ``interviewer``
        labels too, so that ``interviewer="kari"`` also makes "kari:" lines labels)."""
        return tuple(sorted(set(self.interviewer_labels) | set(self.informant_labels) | _keys(self.interviewer)))


def assign_roles(
    speakers: Sequence[str], texts: Sequence[str], rules: RoleRules
) -> tuple[list[Role], str | None]:
    """Give each turn a role.

    Args:
        speakers: the speaker label of each turn ("" when none).
        texts: the words of each turn (for the question rule).
        rules: see :class:`RoleRules`.

    Returns:
        ``(roles, note)``: one role per turn, and a note when the question rule decided
        or when a given ``interviewer`` matches no speaker.
    """
    assert len(speakers) == len(texts)
    named = [s for s in speakers if s.strip()]
    by_speaker: dict[str, Role] = {}
    note: str | None = None
    wanted = _keys(rules.interviewer)
    interviewer_keys = set(rules.interviewer_labels)
    informant_keys = set(rules.informant_labels)
    for s in dict.fromkeys(named):
        full = " ".join(s.split()).lower()
        key = label_key(s)
        if wanted:
            by_speaker[s] = "interviewer" if (full in wanted or key in wanted) else "informant"
        elif key in interviewer_keys:
            by_speaker[s] = "interviewer"
        elif key in informant_keys:
            by_speaker[s] = "informant"
    if wanted and "interviewer" not in by_speaker.values():
        note = (
            f"interviewer={sorted(wanted)} matches no speaker label "
            f"({', '.join(sorted(set(named))) or 'none'}); every labelled speaker is an informant"
        )
    if not wanted and "interviewer" not in by_speaker.values() and len(set(named)) >= 2:
        rest = [s for s in dict.fromkeys(named) if s not in by_speaker]
        questions = Counter(s for s, t in zip(speakers, texts) if s in rest and "?" in t)
        if questions:
            top = max(rest, key=lambda s: (questions[s], -rest.index(s)))
            by_speaker[top] = "interviewer"
            n_turns = sum(1 for s in speakers if s == top)
            note = (
                f"interviewer inferred from questions: {top!r} asked questions in "
                f"{questions[top]} of {n_turns} turns (override with interviewer=... or the CLI's --interviewer)"
            )
        else:
            shown = ", ".join(repr(s) for s in rest[:5]) + (" ..." if len(rest) > 5 else "")
            note = (
                f"no interviewer could be identified among the speakers {shown} (no interviewer label, "
                "no questions): every speaker is coded as an informant; pass the interviewer's label "
                "with --interviewer NAME (interviewer= in Python)"
            )
    roles: list[Role] = []
    for s in speakers:
        if not s.strip():
            roles.append("unknown" if named else "informant")
        else:
            roles.append(by_speaker.get(s, "informant"))
    return roles, note
