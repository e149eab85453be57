"""Segments: turns, sentence windows, limits, times, context and roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from nokoding import segment
from nokoding.ingest import from_text, read, single_turn_document
from nokoding.segmentation import DEFAULT_MAX_SENTENCES, DEFAULT_MAX_TOKENS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"

DIALOGUE = (
    "I: Hva tenker du om måltallene?\n\n"
    "Informant: De gir retning. De tar tid. De skaper press. De er synlige. De er enkle. De er mange.\n\n"
    "I: Og ledelsen?\n\n"
    "Informant: God.\n"
)


def test_a_short_turn_is_one_segment_with_its_question_as_context():
    doc = from_text(DIALOGUE, id="d")
    segs = segment(doc)
    assert [s.text for s in segs][-1] == "God."
    assert segs[-1].context == "Og ledelsen?"
    assert segs[0].context == "Hva tenker du om måltallene?"
    assert [s.index for s in segs] == list(range(len(segs)))
    assert {s.role for s in segs} == {"informant"} and {s.speaker for s in segs} == {"Informant"}
    assert segs[-1].uid == f"d#{len(segs) - 1}" and segs[-1].turn_index == 3


def test_long_turns_are_split_into_even_sentence_windows():
    segs = segment(from_text(DIALOGUE), max_sentences=4)
    first_turn = [s for s in segs if s.turn_index == 1]
    # six sentences, at most four per window: two windows of three, not four + two
    assert [s.text for s in first_turn] == [
        "De gir retning. De tar tid. De skaper press.",
        "De er synlige. De er enkle. De er mange.",
    ]
    assert [s.meta for s in first_turn] == [{"window": 0, "windows": 2}, {"window": 1, "windows": 2}]


def test_token_limit_and_a_sentence_longer_than_the_limit():
    long_sentence = " ".join(f"ord{i}" for i in range(25)) + "."
    doc = from_text(f"Informant: Kort setning her. {long_sentence} Slutt.\n")
    segs = segment(doc, max_tokens=10)
    assert all(len(s.text.split()) <= 10 for s in segs)
    # the 25-token sentence is cut at whitespace into near-equal pieces (9, 8, 8), and
    # "Slutt." joins the last piece: 4 windows is the fewest possible
    assert [len(s.text.split()) for s in segs] == [3, 9, 8, 9]
    assert segs[1].text.startswith("ord0 ") and segs[3].text.endswith("ord24. Slutt.")
    assert " ".join(s.text for s in segs) == doc.turn_text(doc.turns[0])


def test_defaults_cover_a_thesis_sized_quote_in_one_segment():
    assert (DEFAULT_MAX_SENTENCES, DEFAULT_MAX_TOKENS) == (5, 100)
    answer = " ".join(["Vi måler mye, men ikke det som betyr noe for brukerne."] * 5)  # 55 words, 5 sentences
    segs = segment(from_text(f"I: Hva tenker du?\nInformant: {answer}\n"))
    assert len(segs) == 1 and segs[0].text == answer


def test_roles_select_turns():
    doc = from_text(DIALOGUE)
    assert {s.role for s in segment(doc, roles=("interviewer",))} == {"interviewer"}
    every = segment(doc, roles=("interviewer", "informant", "unknown"), max_sentences=10)
    assert [s.speaker for s in every] == ["I", "Informant", "I", "Informant"]
    assert every[0].context is None  # interviewer segments carry no context
    with pytest.raises(ValueError, match="role"):
        segment(doc, roles=("coder",))
    with pytest.raises(ValueError, match="max_sentences"):
        segment(doc, max_sentences=0)


def test_window_times_come_from_the_cues_they_overlap():
    doc = read(FIXTURES / "zoom_medarbeider.vtt")
    segs = segment(doc, max_sentences=1)
    times = {s.text: (s.start_time, s.end_time) for s in segs}
    assert times["Travel."] == (4.5, 9.0)
    assert times["Vi skal nå måltall for aktivitetsplaner, så det blir mye registrering."] == (9.0, 14.5)
    whole = segment(doc)
    assert (whole[0].start_time, whole[0].end_time) == (4.5, 14.5)


def test_text_turn_times_are_the_turns():
    segs = segment(read(FIXTURES / "medarbeider_bokmal.txt"), max_sentences=1)
    first = [s for s in segs if s.turn_index == 2]
    assert len(first) == 2 and {s.start_time for s in first} == {18.0}


def test_an_unlabelled_string_is_one_informant_turn():
    segs = segment("  Målene kommer ovenfra.\u00a0Vi får lite å si.  ", max_sentences=1)
    assert [s.text for s in segs] == ["Målene kommer ovenfra.", "Vi får lite å si."]
    assert {(s.document_id, s.role, s.speaker, s.context) for s in segs} == {("", "informant", "", None)}
    assert segment("") == [] and segment(" \n\t ") == [] and segment("\u200b\ufeff") == []


def test_a_string_is_read_like_a_txt_transcript():
    text = "I: Hvordan følges målene opp?\nIP: Gjennom rapporter. Hver måned.\n"
    segs = segment(text)
    assert [(s.speaker, s.role, s.text, s.context) for s in segs] == [
        ("IP", "informant", "Gjennom rapporter. Hver måned.", "Hvordan følges målene opp?")]
    assert segs == segment(from_text(text, format="txt"))
    # the whole string as one turn, labels and all, stays reachable
    whole = segment(single_turn_document("I: Hei."))
    assert [(s.text, s.role) for s in whole] == [("I: Hei.", "informant")]


def test_twenty_thousand_word_single_turn():
    words = ("Vi", "måler", "tid", "med", "brukerne", "og", "f.eks.", "kompetanse", "i", "NAV")
    body = " ".join(
        words[i % len(words)] + ("." if i % 17 == 16 else "") for i in range(20_000)
    )
    doc = from_text("Informant: " + body + "\n")
    assert len(doc.turns) == 1 and len(doc.turn_text(doc.turns[0]).split()) == 20_000
    segs = segment(doc)
    assert sum(len(s.text.split()) for s in segs) == 20_000
    assert all(len(s.text.split()) <= DEFAULT_MAX_TOKENS for s in segs)
    assert all(doc.text[s.start : s.end] == s.text for s in segs)
    assert all(a.end < b.start for a, b in zip(segs, segs[1:]))


def test_public_functions_stay_callable_after_their_packages_are_imported():
    """`nokoding.segment`, `.train` and `.tag` are functions, whatever was imported before."""
    import subprocess
    import sys

    code = (
        "import nokoding.segmentation.segmenter, nokoding.training.trainer, nokoding.tagging; "
        "import nokoding; from nokoding import segment; "
        "assert callable(nokoding.train) and callable(nokoding.tag); "
        "print(len(segment('Ja. Nei.', max_sentences=1)), len(nokoding.segment('Ja. Nei.', max_sentences=1)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 2"
