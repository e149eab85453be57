"""Speaker-label layouts researchers really have, and what happens when a layout is not recognised."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nokoding.cli import app
from nokoding.document import Document
from nokoding.ingest import from_text, read
from nokoding.ingest.layout import explain
from nokoding.segmentation import segment


def _turns(doc):
    return [(t.speaker, t.role, doc.turn_text(t)) for t in doc.turns]


QUESTION, ANSWER = "Hva gjør du?", "Jeg følger opp brukere."


@pytest.mark.parametrize(
    ("text", "interviewer", "informant"),
    [
        (f"Intervjuer (KH): {QUESTION}\n\nInformant (NAV-veileder): {ANSWER}\n",
         "Intervjuer (KH)", "Informant (NAV-veileder)"),
        (f"**Intervjuer:** {QUESTION}\n\n**Informant:** {ANSWER}\n", "Intervjuer", "Informant"),
        (f"**Intervjuer**: {QUESTION}\n\n**Informant**: {ANSWER}\n", "Intervjuer", "Informant"),
        (f"INTERVJUER 00:01:02 {QUESTION}\nINFORMANT 00:01:09 {ANSWER}\n", "INTERVJUER", "INFORMANT"),
        (f"Intervjuer\n{QUESTION}\n\nInformant\n{ANSWER}\n", "Intervjuer", "Informant"),
        (f"Intervjuer\n\n{QUESTION}\n\nInformant\n\n{ANSWER}\n", "Intervjuer", "Informant"),
        (f"0:0:0.0 --> 0:0:5.120\nKari Nordmann\n{QUESTION}\n\n0:0:5.120 --> 0:0:9.0\nOla Hansen\n{ANSWER}\n",
         "Kari Nordmann", "Ola Hansen"),
        # the layouts that worked before keep working
        (f"Spørsmål: {QUESTION}\nSvar: {ANSWER}\n", "Spørsmål", "Svar"),
        (f"Forsker: {QUESTION}\n\nDeltaker 3: {ANSWER}\n", "Forsker", "Deltaker 3"),
        (f"I: {QUESTION}\nIO: {ANSWER}\n", "I", "IO"),
    ],
)
def test_layouts_that_were_read_as_one_speaker(text, interviewer, informant):
    doc = from_text(text)
    assert _turns(doc) == [(interviewer, "interviewer", QUESTION), (informant, "informant", ANSWER)]
    assert [s.text for s in segment(doc)] == [ANSWER]  # only the answer is coded
    assert [s.context for s in segment(doc)] == [QUESTION]


def test_label_and_time_keep_the_time_and_names_with_a_time_need_no_colon():
    doc = from_text("INTERVJUER 00:01:02 Hva?\nINFORMANT 00:01:09 Ja.\n")
    assert [t.start_time for t in doc.turns] == [62.0, 69.0]
    doc = from_text("Kari Nordmann  0:03\nHva gjør du?\n\nOla Hansen  0:15\nJobber.\n\n"
                    "Kari Nordmann  0:40\nHvorfor?\n\nOla Hansen  0:45\nFordi.\n")
    assert [(t.speaker, t.start_time) for t in doc.turns] == [
        ("Kari Nordmann", 3.0), ("Ola Hansen", 15.0), ("Kari Nordmann", 40.0), ("Ola Hansen", 45.0)]
    assert [t.role for t in doc.turns] == ["interviewer", "informant"] * 2


def test_teams_cue_lines_give_start_and_end_times():
    doc = from_text("0:0:0.0 --> 0:0:5.120\nKari Nordmann\nHva gjør du?\n\n"
                    "0:0:5.120 --> 0:0:9.0\nOla Hansen\nJeg jobber.\n")
    assert [(t.start_time, t.end_time) for t in doc.turns] == [(0.0, 5.12), (5.12, 9.0)]
    assert "0:0:0.0" not in " ".join(doc.turn_text(t) for t in doc.turns)


def test_a_repeated_filler_line_is_not_a_speaker():
    doc = from_text("I: Hva tenker du?\nInformant: Det er vanskelig.\nMhm\nDet tar tid.\n\n"
                    "I: Ja?\nInformant: Ja.\nMhm\nSå er det.\n")
    assert {t.speaker for t in doc.turns} == {"I", "Informant"}


def test_interviewer_option_makes_an_unrecognised_label_a_label_and_the_rest_is_warned_about():
    text = "kari: Hva gjør du?\nola: Jeg jobber.\nkari: Hvorfor?\nola: Fordi.\n"
    plain = from_text(text)
    assert {t.speaker for t in plain.turns} == {""}
    assert any("'kari:'" in w and "lines 1, 3" in w and "--interviewer" in w for w in plain.warnings)
    doc = from_text(text, interviewer="kari", informant_labels=["ola"])
    assert _turns(doc) == [("kari", "interviewer", "Hva gjør du?"), ("ola", "informant", "Jeg jobber."),
                           ("kari", "interviewer", "Hvorfor?"), ("ola", "informant", "Fordi.")]
    assert not any("read as speech" in w for w in doc.warnings)


def test_unlabelled_questions_in_alternation_are_warned_about():
    doc = from_text("Hva gjør du?\n\nJeg jobber i NAV.\n\nHvor lenge?\n\nTi år.\n\nLiker du det?\n\nJa.\n")
    assert {t.role for t in doc.turns} == {"informant"}
    assert any("question mark" in w and "lines 1, 5, 9" in w for w in doc.warnings)
    plain = from_text("Jeg har jobbet her lenge.\n\nDet er fint.\n\nMen travelt.\n\nHva skal man si?\n")
    assert not any("question mark" in w for w in plain.warnings)


def test_names_with_a_time_that_are_not_read_are_warned_about():
    doc = from_text("kari 00:01:02\nHva gjør du?\nola 00:01:05\nJeg jobber.\n"
                    "kari 00:01:09\nHvorfor?\nola 00:01:12\nFordi.\n")
    notes = [w for w in doc.warnings if "and a time" in w]
    assert len(notes) == 2 and "'kari'" in notes[0] and "lines 1, 5" in notes[0]


def test_explain_report_and_cli(tmp_path):
    path = tmp_path / "intervju.txt"
    path.write_text("Intervju 3\n\nIntervjuer (KH): Hva gjør du?\n\nInformant (NAV): Jobber.\n\n"
                    "Intervjuer (KH): Hvorfor?\n\nInformant (NAV): Fordi.\n", encoding="utf-8")
    report = explain(read(path))
    assert report.speakers == {"Intervjuer (KH)": ("interviewer", 2), "Informant (NAV)": ("informant", 2)}
    assert report.unlabelled_turns == 1 and not report.unlabelled
    result = CliRunner().invoke(app, ["segment", "--explain", str(path)])
    assert result.exit_code == 0
    assert "speaker 'Intervjuer (KH)': interviewer, 2 turn(s)" in result.stdout
    assert "text without a speaker label: 1 turn(s)" in result.stdout


def test_segment_cli_reports_warnings_and_skipped_files(tmp_path):
    (tmp_path / "a.txt").write_text("kari: Hva?\nola: Ja.\nkari: Og?\nola: Nei.\n", encoding="utf-8")
    (tmp_path / "rapport.pdf").write_bytes(b"%PDF")
    result = CliRunner().invoke(app, ["segment", str(tmp_path)])
    assert "skipped" in result.stderr and "rapport.pdf" in result.stderr and ".docx or .txt" in result.stderr
    assert "warning:" in result.stderr and "'kari:'" in result.stderr


def test_from_text_auto_detects_webvtt_and_subrip():
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Kari>Hva?\n\n00:00:02.000 --> 00:00:03.000\n<v Ola>Ja.\n"
    srt = "1\n00:00:01,000 --> 00:00:02,000\nI: Hva?\n\n2\n00:00:02,000 --> 00:00:03,000\nInformant: Ja.\n"
    for text, fmt in [(vtt, "vtt"), (srt, "srt")]:
        for doc in (from_text(text), Document.from_text(text, format="auto")):
            assert doc.format == fmt
            assert [doc.turn_text(t) for t in doc.turns] == ["Hva?", "Ja."]
            assert "WEBVTT" not in " ".join(doc.turn_text(t) for t in doc.turns)
    assert from_text("I: Hva?\nInformant: Ja.\n").format == "text"


@pytest.mark.parametrize(("first", "second"), [("P1", "P2"), ("Dr. Hansen", "Per H."), ("Speaker 1", "Speaker 2")])
def test_recurring_names_with_numbers_or_initials(first, second):
    doc = from_text(f"{first}: Hva?\n{second}: Ja.\n{first}: Og?\n{second}: Nei.\n")
    assert [(t.speaker, t.role) for t in doc.turns] == [(first, "interviewer"), (second, "informant")] * 2
