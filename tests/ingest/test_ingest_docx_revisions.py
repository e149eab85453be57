"""Word tracked changes and transcript tables (docx built with python-docx and raw XML)."""

from __future__ import annotations

import pytest

from nokoding.ingest import read

docx = pytest.importorskip("docx")
make = pytest.importorskip("tests.fixtures.transcripts.gallery.make_docx")


def _turns(doc):
    return [(t.speaker, t.role, doc.turn_text(t)) for t in doc.turns]


def test_tracked_changes_are_read_as_the_final_version_with_a_warning(tmp_path):
    path = tmp_path / "endringer.docx"
    make.tracked_changes(path)
    doc = read(path)
    assert _turns(doc) == [
        ("I", "interviewer", "Hvordan bruker dere egentlig måltallene?"),  # inserted word
        ("Informant", "informant", "Vi ser på dem hver uke i teamet."),  # deletion out, insertion in
        ("I", "interviewer", "Hvem bestemmer hva som telles?"),  # a whole inserted paragraph
        ("Informant", "informant", "Det gjør direktoratet. Vi har lite å si."),  # moved here
        ("Informant", "informant", "Men vi kan velge hvordan vi jobber."),  # moved away from here
        ("I", "interviewer", "Og hvordan merker brukerne det?"),  # deleted paragraph mark joins
        ("Informant", "informant", "De merker at vi har mindre tid."),
    ]
    (note,) = doc.warnings
    assert "unaccepted tracked changes (4 insertions, 2 deletions, 1 move)" in note and "final view" in note


def test_a_document_without_revisions_has_no_warning(tmp_path):
    path = tmp_path / "tabell.docx"
    make.timed_table(path)
    assert read(path).warnings == ()


def test_table_speaker_from_its_cell_and_the_turn_ends_at_the_table(tmp_path):
    path = tmp_path / "tabell.docx"
    make.speaker_table(path)
    doc = read(path)
    turns = _turns(doc)
    # "Avdelingsleder" occurs in one row only and is still the speaker of that row
    assert ("Avdelingsleder", "informant", "Nei, det ser man ikke i tallene.") in turns
    # the paragraph after the table is not the last row's speaker's
    assert turns[-1] == ("", "unknown", "Opptaket ble avsluttet etter 40 minutter.")
    assert turns[1] == ("", "unknown", "Taler | Tekst")  # the header row is kept as text


def test_time_speaker_text_table_then_a_paragraph(tmp_path):
    path = tmp_path / "tid.docx"
    make.timed_table(path)
    doc = read(path)
    assert [(t.speaker, t.start_time) for t in doc.turns] == [
        ("I", 4.0), ("Informant", 9.0), ("I", 15.0), ("Informant", 18.0), ("", None)]
    assert doc.turns[-1].role == "unknown"


def test_teams_docx_three_paragraph_layout(tmp_path):
    path = tmp_path / "teams.docx"
    make.teams(path)
    doc = read(path)
    assert [(s, r) for s, r, _ in _turns(doc)] == [("Kari Nordmann", "interviewer"), ("Ola Hansen", "informant")] * 2
    assert [(t.start_time, t.end_time) for t in doc.turns][:2] == [(0.0, 5.12), (5.12, 12.4)]
    assert all(":" not in doc.turn_text(t) and "Nordmann" not in doc.turn_text(t) for t in doc.turns)
