"""More transcript layouts: tab and dash labels, numbered lines, one-off focus-group names,
Teams transcription notices, paragraphs in Word notes, unnamed cues, lock files and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nokoding import read
from nokoding.cli import app
from nokoding.ingest import TranscriptError, from_text


def _turns(doc):
    return [(t.speaker, t.role, doc.turn_text(t)) for t in doc.turns]


def test_tab_labels_with_given_labels_and_lowercase_dash_is_speech():
    doc = from_text("Kari Hansen\tHvor lenge har du jobbet her?\nOla\tI seks år.\n"
                    "Kari Hansen\tOg før det?\nOla\tI skolen.\n", format="txt")
    assert [(s, r) for s, r, _ in _turns(doc)] == [("Kari Hansen", "interviewer"), ("Ola", "informant")] * 2
    # a role word in prose followed by a dash is not a label when written in lower case
    doc = from_text("I: Hva skjer?\nIP: Vi jobber.\ni – hvert fall på mandager.\n", format="txt")
    assert _turns(doc)[-1] == ("IP", "informant", "Vi jobber.\ni – hvert fall på mandager.")


def test_dash_labels_after_role_words_only():
    doc = from_text("INT – Hva legger du i målstyring?\nRESP – Tall vi skal nå.\n"
                    "Norge – et land med mange mål.\n", format="txt")
    assert _turns(doc) == [("INT", "interviewer", "Hva legger du i målstyring?"),
                           ("RESP", "informant", "Tall vi skal nå.\nNorge – et land med mange mål.")]


def test_numbered_lines_are_read_without_their_numbers():
    doc = from_text("1  I: Hvordan ble målene innført?\n2  IP: Det kom et brev.\n3  Ingen møter.\n"
                    "4  I: Bare et brev?\n", format="txt")
    assert _turns(doc) == [("I", "interviewer", "Hvordan ble målene innført?"),
                           ("IP", "informant", "Det kom et brev."), ("IP", "informant", "Ingen møter."),
                           ("I", "interviewer", "Bare et brev?")]
    assert any("numbered" in w for w in doc.warnings)
    # numbers that open only some lines are speech
    doc = from_text("I: Hvor mange?\nIP: Tre.\n12 av dem er nye.\nI: Og resten?\n", format="txt")
    assert "12 av dem er nye." in doc.turn_text(doc.turns[1])


def test_focus_group_name_that_opens_one_line_is_a_label_with_a_note():
    doc = from_text("Moderator: Hva tenker dere?\nAnne: For mange mål.\nBjørn: Enig. Helt enig.\n"
                    "Cecilie: Uenig.\nModerator: Hvorfor?\nCecilie: Tallene hjelper.\nAnne: Ja.\n", format="txt")
    assert ("Bjørn", "informant", "Enig. Helt enig.") in _turns(doc)
    assert any("line 3 ('Bjørn')" in w for w in doc.warnings)
    # a one-off 'Word: lower-case words' is speech, not a label
    doc = from_text("Kari: Hva er målet?\nPer: Gode tall.\nSvakheten: det måles lite.\nKari: Takk?\nPer: Ja.\n",
                    format="txt")
    assert "Svakheten" not in {t.speaker for t in doc.turns}


def test_no_interviewer_note_names_the_option():
    doc = from_text("Kari Hansen: Fortell om dagen.\nOla Nordmann: Den er lang.\n"
                    "Kari Hansen: Fortell mer.\nOla Nordmann: Møter.\n", format="txt")
    assert {t.role for t in doc.turns} == {"informant"}
    assert any("no interviewer could be identified" in w and "--interviewer NAME" in w for w in doc.warnings)
    given = from_text(doc.text, format="txt", interviewer="Kari Hansen")
    assert not any("no interviewer" in w for w in given.warnings)


def test_unlabelled_questions_in_alternation_line_by_line_are_warned():
    doc = from_text("Hva gjør du?\nJeg er leder.\nHvor lenge?\nI seks år.\nLiker du det?\nJa.\n", format="txt")
    assert any("3 of 6 lines end with a question mark" in w and "lines 1, 3, 5" in w for w in doc.warnings)


def test_teams_transcription_notices_are_not_speech():
    doc = from_text("Kari Hansen started transcription\n\nKari Hansen   0:03\nHva er utfordringen?\n\n"
                    "Ola Nordmann   0:10\nAt vi måler aktivitet.\n\nKari Hansen stopped transcription\n",
                    format="txt")
    assert all("transcription" not in doc.turn_text(t) for t in doc.turns)
    assert any("line 1: 'Kari Hansen started transcription'" in w and "line 9" in w for w in doc.warnings)


def test_word_notes_name_paragraphs_not_lines(tmp_path: Path):
    docx = pytest.importorskip("docx")
    word = docx.Document()
    for text in ["Intervju 3", "I: Hva er målet?", "IP: Gode tall.", "kari 00:01:02 hei", "I: Og så?",
                 "kari 00:01:09 ja"]:
        word.add_paragraph(text)
    path = tmp_path / "notat.docx"
    word.save(path)
    doc = read(path)
    assert any("paragraphs 4, 6" in w for w in doc.warnings), doc.warnings
    assert not any(" line " in w or "lines " in w.split(":")[1] for w in doc.warnings if "paragraph" in w)


def test_zoom_cue_without_a_name_continues_the_speaker_before_with_a_note():
    doc = from_text("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\nIntervjuer: Hvordan?\n\n"
                    "2\n00:00:04.500 --> 00:00:08.000\nPer Lie: Med rapporter.\n\n"
                    "3\n00:00:08.200 --> 00:00:12.000\nOg møter.\n\n"
                    "4\n00:00:12.500 --> 00:00:14.000\nPer Lie: Hver måned.\n")
    assert [(s, r, t) for s, r, t in _turns(doc)] == [
        ("Intervjuer", "interviewer", "Hvordan?"), ("Per Lie", "informant", "Med rapporter. Og møter. Hver måned.")]
    assert any("line 11" in w and "Per Lie" in w for w in doc.warnings)


def test_untimed_webvtt_cue_keeps_its_id_out_of_the_text():
    doc = from_text("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\n<v I>Hva skjer?\n\n"
                    "2\n<v IP>Vi lager en plan.\n")
    assert _turns(doc) == [("I", "interviewer", "Hva skjer?"), ("IP", "informant", "Vi lager en plan.")]


def test_subrip_keeps_angle_brackets_that_are_not_tags():
    doc = from_text("1\n00:00:01,000 --> 00:00:04,000\n<i>Informant:</i> Når a<b og b>c, <b>alltid</b>.\n",
                    format="srt")
    assert doc.turn_text(doc.turns[0]) == "Når a<b og b>c, alltid."


def test_a_word_lock_file_given_by_name_is_refused_clearly(tmp_path: Path):
    lock = tmp_path / "~$ervju.docx"
    lock.write_bytes(b"\x0bKari Hansen" + b"\x00" * 40)
    with pytest.raises(TranscriptError, match="a Word lock file"):
        read(lock)
    result = CliRunner().invoke(app, ["segment", str(lock)])
    assert result.exit_code == 1 and "a Word lock file" in result.output and "Traceback" not in result.output


def test_segment_cli_prints_the_windows_1252_note_once(tmp_path: Path):
    path = tmp_path / "cp1252.txt"
    path.write_bytes("I: Hva koster det?\nIP: 2 millioner € – “for mye”.\n".encode("cp1252"))
    result = CliRunner().invoke(app, ["segment", str(path)])
    assert result.exit_code == 0
    assert result.output.count("not valid UTF-8") == 1 and "TranscriptWarning" not in result.output


def test_speech_about_a_transcription_is_kept():
    doc = from_text("I: Hva skjedde?\nIP: Vi stoppet transkripsjonen.\nI: Hvorfor?\nIP: Ola Hansen\n"
                    "stopped transcription, sa de.\n", format="txt")
    assert doc.turn_text(doc.turns[1]) == "Vi stoppet transkripsjonen."
    assert not any("start/stop" in w for w in doc.warnings)


def test_zoom_name_that_opens_one_cue_is_a_speaker_with_a_note():
    cues = [("Moderator", "Hva tenker dere?"), ("Anne", "For mange mål."), ("Bjørn", "Enig. Helt enig."),
            ("Anne", "Ja."), ("Moderator", "Hvorfor?")]
    text = "WEBVTT\n\n" + "".join(f"{k}\n00:00:0{k}.000 --> 00:00:0{k}.900\n{who}: {words}\n\n"
                                  for k, (who, words) in enumerate(cues, start=1))
    doc = from_text(text)
    assert ("Bjørn", "informant", "Enig. Helt enig.") in _turns(doc)
    assert any("line 11 ('Bjørn')" in w for w in doc.warnings), doc.warnings
