"""The offset invariants, on every fixture and under property-based tests (hypothesis).

For every document and every segment: ``document.text[s.start:s.end] == s.text``;
segments do not overlap; every non-whitespace character of the selected turns lies in
some segment; no segment starts or ends with whitespace or exceeds its limits.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nokoding.document import Document, Segment
from nokoding.ingest import TranscriptError, from_text, normalize_text, read, single_turn_document
from nokoding.segmentation import ROLES, segment

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "transcripts"
GOOD = (
    sorted(
        p for p in FIXTURES.iterdir()
        if p.is_file() and not p.name.startswith(("empty", "blank", "malformed", "no_header"))
    )
    + sorted(p for p in (FIXTURES / "gallery").iterdir() if p.suffix not in (".py", ".json"))
    + sorted((ROOT / "corpora" / "examples").glob("intervju_*"))
)


def check_document(doc: Document) -> None:
    """Turns are ordered, disjoint, trimmed and inside the text; cues inside their turn."""
    previous_end = 0
    for t in doc.turns:
        assert previous_end <= t.start < t.end <= len(doc.text)
        words = doc.text[t.start : t.end]
        assert words == words.strip() and words
        for c in t.cues:
            assert t.start <= c.start < c.end <= t.end
        previous_end = t.end


def check_segments(
    doc: Document, segs: list[Segment], roles=("informant",), max_sentences=None, max_tokens=None
) -> None:
    """All the segment invariants (see the module docstring)."""
    assert [s.index for s in segs] == list(range(len(segs)))
    for s in segs:
        assert doc.text[s.start : s.end] == s.text
        assert s.text and s.text == s.text.strip()
        assert s.document_id == doc.id
        turn = doc.turns[s.turn_index]
        assert turn.start <= s.start and s.end <= turn.end
        assert (s.speaker, s.role) == (turn.speaker, turn.role) and s.role in roles
        if max_tokens is not None:
            assert len(s.text.split()) <= max_tokens
    for a, b in zip(segs, segs[1:]):
        assert a.end <= b.start
    covered = bytearray(len(doc.text))
    for s in segs:
        covered[s.start : s.end] = b"\x01" * (s.end - s.start)
    for t in doc.turns:
        if t.role in roles:
            missing = [i for i in range(t.start, t.end) if not doc.text[i].isspace() and not covered[i]]
            assert not missing, f"uncovered characters in turn {t}: {missing[:5]}"
        else:
            assert not any(covered[t.start : t.end])


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
@pytest.mark.parametrize(("max_sentences", "max_tokens"), [(5, 100), (1, 100), (2, 7), (1, 1)])
def test_every_fixture_keeps_the_invariants(path, max_sentences, max_tokens):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = read(path)
    check_document(doc)
    for roles in (("informant",), ROLES):
        segs = segment(doc, roles=roles, max_sentences=max_sentences, max_tokens=max_tokens)
        assert segs
        check_segments(doc, segs, roles, max_sentences, max_tokens)


# --- property-based: generated transcripts ------------------------------------------------

WORDS = st.sampled_from(
    [
        "mål", "måltall", "tid", "brukerne", "NAV", "Ja.", "nei?", "leder!", "f.eks.", "bl.a.",
        "osv.", "dvs.", "ca.", "17.", "januar", "..", "...", "–", "Kari:", "a\u030ar", "o\u0308",
        "\u200b", "\u00a0", "\t", "(ler)", "\"sitat\"", "3.", "Informant", "12:30", "[00:00:01]",
        "&amp;", "<b>", "x" * 30,
    ]
)  # fmt: skip
LABELS = st.sampled_from(
    ["I: ", "Informant: ", "Kari: ", "Per: ", "Intervjuer: ", "Leder 2: ", "[00:00:12] I: ",
     "00:12:31 Per: ", "(00:01:02) Informant: ", "", "", "[00:03:00] "]
)  # fmt: skip
SEPARATORS = st.sampled_from([" ", "  ", "\n", " \r\n", "\r"])
BREAKS = st.sampled_from(["\n", "\n\n", "\r\n", "\r\n\r\n", "\n \n", "\n\n\n"])


@st.composite
def body(draw, min_size=1, max_size=25):
    words = draw(st.lists(WORDS, min_size=min_size, max_size=max_size))
    out = ""
    for w in words:
        out += w + draw(SEPARATORS)
    return out


@st.composite
def txt_transcript(draw):
    turns = draw(st.lists(st.tuples(LABELS, body()), min_size=1, max_size=8))
    text = "".join(label + words + draw(BREAKS) for label, words in turns)
    return ("\ufeff" if draw(st.booleans()) else "") + text


@st.composite
def vtt_transcript(draw):
    lines = ["\ufeffWEBVTT" if draw(st.booleans()) else "WEBVTT", ""]
    if draw(st.booleans()):
        lines += ["NOTE laget for test", ""]
    for n in range(draw(st.integers(1, 8))):
        start = draw(st.integers(0, 5000))
        end = start + draw(st.integers(0, 3000))
        who = draw(st.sampled_from(["Kari Nordmann", "Ola", "Informant", None]))
        text = draw(body(max_size=10)).replace("-->", "").strip().replace("\n\n", "\n") or "ja"
        text = "\n".join(line for line in text.split("\n") if line.strip()) or "ja"
        if who:
            text = f"<v {who}>{text}</v>"
        lines += [f"cue-{n}", f"{_vtt_time(start)} --> {_vtt_time(end)}", text, ""]
    return "\n".join(lines)


def _vtt_time(ms: int) -> str:
    return f"00:{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


LIMITS = st.tuples(st.integers(1, 6), st.integers(1, 40))
ROLE_SETS = st.sampled_from([("informant",), ROLES, ("interviewer", "unknown")])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(txt_transcript(), LIMITS, ROLE_SETS)
def test_generated_text_transcripts(text, limits, roles):
    try:
        doc = from_text(text, id="gen")
    except TranscriptError as exc:  # only labels, timestamps and whitespace
        assert "no speech" in str(exc) or "empty" in str(exc)
        return
    check_document(doc)
    segs = segment(doc, roles=roles, max_sentences=limits[0], max_tokens=limits[1])
    check_segments(doc, segs, roles, *limits)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vtt_transcript(), LIMITS, ROLE_SETS)
def test_generated_webvtt_transcripts(text, limits, roles):
    try:
        doc = from_text(text, format="vtt", id="gen")
    except TranscriptError as exc:
        assert "no cue has any text" in str(exc) or "ends before" in str(exc)
        return
    check_document(doc)
    segs = segment(doc, roles=roles, max_sentences=limits[0], max_tokens=limits[1])
    check_segments(doc, segs, roles, *limits)
    for s in segs:  # a window's times are those of the cues it overlaps
        turn = doc.turns[s.turn_index]
        hit = [c for c in turn.cues if c.start < s.end and c.end > s.start]
        assert hit and s.start_time == min(c.start_time for c in hit)
        assert s.end_time == max(c.end_time for c in hit)


@settings(max_examples=150, deadline=None)
@given(st.text(), LIMITS)
def test_any_string_as_one_turn_segments_exactly(text, limits):
    segs = segment(single_turn_document(text), max_sentences=limits[0], max_tokens=limits[1])
    norm = normalize_text(text)
    covered = set()
    for s in segs:
        assert norm[s.start : s.end] == s.text and s.text == s.text.strip() and s.text
        assert len(s.text.split()) <= limits[1]
        covered.update(range(s.start, s.end))
    assert all(a.end <= b.start for a, b in zip(segs, segs[1:]))
    assert {i for i, c in enumerate(norm) if not c.isspace()} <= covered
