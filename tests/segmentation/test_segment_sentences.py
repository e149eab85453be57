"""Norwegian sentence splitting: abbreviations, ordinal dates and transcript pauses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nokoding.segmentation import sentence_spans, split_sentences


@pytest.mark.parametrize(
    "text",
    [
        "Vi har f.eks. mange måltall å forholde oss til.",
        "Vi har f.eks. NAV Oslo som et eksempel.",
        "Det gjelder bl.a. sykefravær og oppfølging.",
        "Det er dvs. ikke lett å måle kvalitet.",
        "Det er dvs. Kari som bestemmer.",
        "Vi har ca. 90 brukere hver.",
        "Sak nr. 4 ble behandlet først.",
        "Vi snakket mht. kvalitet i oppfølgingen.",
        "Vi kan evt. ta det på neste teammøte.",
        "Vi fikk sykefravær, tiltak osv. og så videre.",
        "Fra 17. januar hadde vi en ny kampanje.",
        "Vi starter 1. mars med ny plan.",
        "Jeg vet ikke.. det er vanskelig å si.",
        "Jeg vet ikke.. Det er vanskelig å si.",
        "Det handler t.d. om tid med brukarane.",
        "Vi har m.a. fått nye mål frå fylket.",
    ],
)
def test_no_split_after_abbreviations_dates_and_pauses(text):
    assert split_sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Vi har mange mål. De kommer ovenfra.", ["Vi har mange mål.", "De kommer ovenfra."]),
        ("Hva skjer da? Vi tar en prat! Ja.", ["Hva skjer da?", "Vi tar en prat!", "Ja."]),
        ("Det var sykefravær osv. Men det gikk.", ["Det var sykefravær osv.", "Men det gikk."]),
        (
            "Vi har f.eks. mål. Det er bl.a. tid. Og ca. ti saker.",
            ["Vi har f.eks. mål.", "Det er bl.a. tid.", "Og ca. ti saker."],
        ),
        ("Kva meiner du? Eg veit ikkje.", ["Kva meiner du?", "Eg veit ikkje."]),
    ],
)
def test_real_boundaries_are_kept(text, expected):
    assert split_sentences(text) == expected


def test_spans_are_offsets_into_the_whole_text_and_skip_whitespace():
    text = "I: Hei.\nInformant:   Ja. Nei!  \n"
    start, end = text.index("Ja."), len(text)
    assert sentence_spans(text, start, end) == [(start, start + 3), (start + 4, start + 8)]
    assert sentence_spans("   \n  ") == []


_PIECES = st.sampled_from(list("ab æø.?!\n…\"()-1A") + ["f.eks.", " osv.", "..", "17. mai", " Det", "\t"])


@given(st.lists(_PIECES, max_size=60).map("".join))
def test_spans_cover_every_non_whitespace_character(text):
    spans = sentence_spans(text)
    covered = set()
    for a, b in spans:
        assert a < b and not text[a].isspace() and not text[b - 1].isspace()
        covered.update(range(a, b))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert {i for i, c in enumerate(text) if not c.isspace()} <= covered
