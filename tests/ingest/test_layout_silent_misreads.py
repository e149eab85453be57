"""Transcript layouts that are read wrong without a warning (each pinned with the right value).

A transcript must be read right, or the reader must say what it could not read and where.
Each case below was once read wrong with ``Document.warnings`` empty; it is now read right or warned about.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document as WordDocument

from nokoding import read, segment


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_focus_group_participant_who_speaks_once(tmp_path: Path) -> None:
    path = _write(tmp_path, "fokusgruppe.txt", (
        "Moderator: Hva tenker dere om resultatmålene?\n"
        "Anne: Jeg synes de er for mange.\n"
        "Bjørn: Enig. Og halvparten sier ingenting om kvaliteten.\n"
        "Cecilie: Jeg er litt uenig.\n"
        "Moderator: Kan dere gi et eksempel?\n"
        "Cecilie: Fristoverholdelse.\n"
        "Anne: Ja, den er god.\n"
    ))
    doc = read(path)
    speakers = {t.speaker for t in doc.turns}
    assert "Bjørn" in speakers or any("Bjørn" in w and "line 3" in w for w in doc.warnings)


def test_no_interviewer_found_is_warned(tmp_path: Path) -> None:
    path = _write(tmp_path, "intervju.txt", (
        "Kari Hansen: Fortell litt om arbeidsdagen din.\n"
        "Ola Nordmann: Den starter med et tavlemøte. Der går vi gjennom tallene.\n"
        "Kari Hansen: Fortell mer om tavlemøtet.\n"
        "Ola Nordmann: Lederen peker på det som er rødt.\n"
        "Kari Hansen: Beskriv en dag der tallene var dårlige.\n"
        "Ola Nordmann: Da blir stemningen trykket.\n"
    ))
    doc = read(path)
    roles = {t.role for t in doc.turns}
    assert "interviewer" in roles or doc.warnings


TAB_LABELS = "I\tHvor lenge har du vært leder?\nIP\tI seks år.\nI\tHva har endret seg mest?\nIP\tRapporteringen.\n"


def test_tab_separated_labels_read_or_warned(tmp_path: Path) -> None:
    doc = read(_write(tmp_path, "tab.txt", TAB_LABELS))
    assert len(doc.turns) > 1 or doc.warnings


def test_tab_separated_labels_with_interviewer_option(tmp_path: Path) -> None:
    doc = read(_write(tmp_path, "tab.txt", TAB_LABELS), interviewer=["I"], informant_labels=["IP"])
    assert [(t.speaker, t.role) for t in doc.turns] == [
        ("I", "interviewer"), ("IP", "informant"), ("I", "interviewer"), ("IP", "informant")]


def test_dash_labels_one_line_per_turn_read_or_warned(tmp_path: Path) -> None:
    doc = read(_write(tmp_path, "dash.txt", (
        "INT – Hva legger du i begrepet målstyring?\n"
        "RESP – Det er når ledelsen setter tall vi skal nå.\n"
        "INT – Er det positivt eller negativt?\n"
        "RESP – Begge deler.\n"
    )))
    assert len(doc.turns) > 1 or doc.warnings


def test_srt_angle_brackets_in_speech_are_kept(tmp_path: Path) -> None:
    doc = read(_write(tmp_path, "vinkel.srt", (
        "1\n00:00:01,000 --> 00:00:04,000\nInformant: Det skjer ofte når a<b og b>c.\n"
    )))
    assert "a<b og b>c" in doc.text


def test_teams_docx_stopped_transcription_is_not_speech(tmp_path: Path) -> None:
    word = WordDocument()
    for who, time, words in [("Kari Hansen", "0:03", "Hva er den største utfordringen?"),
                             ("Ola Nordmann", "0:10", "At vi måler aktivitet og ikke effekt.")]:
        word.add_paragraph(f"{who}   {time}")
        word.add_paragraph(words)
    word.add_paragraph("Kari Hansen stopped transcription")
    path = tmp_path / "teams.docx"
    word.save(path)
    doc = read(path)
    informant_text = " ".join(s.text for s in segment(doc))
    assert "stopped transcription" not in informant_text


def test_zoom_cue_without_name_is_coded_or_warned(tmp_path: Path) -> None:
    doc = read(_write(tmp_path, "zoom.vtt", (
        "WEBVTT\n\n"
        "1\n00:00:01.000 --> 00:00:04.000\nIntervjuer: Hvordan følges målene opp?\n\n"
        "2\n00:00:04.500 --> 00:00:08.000\nPer Lie: Gjennom månedlige rapporter.\n\n"
        "3\n00:00:08.200 --> 00:00:12.000\nOg noen ganger i egne dialogmøter.\n\n"
        "4\n00:00:12.500 --> 00:00:14.000\nIntervjuer: Hvem deltar?\n"
    )))
    coded = " ".join(s.text for s in segment(doc))
    assert "dialogmøter" in coded or doc.warnings


def test_vtt_cue_number_of_untimed_cue_is_not_speech(tmp_path: Path) -> None:
    doc = read(_write(tmp_path, "utid.vtt", (
        "WEBVTT\n\n"
        "1\n00:00:01.000 --> 00:00:04.000\n<v Intervjuer>Hva skjer hvis dere ikke når målet?\n\n"
        "2\n<v Informant>Da må vi lage en tiltaksplan.\n\n"
        "3\n00:00:09.000 --> 00:00:12.000\n<v Intervjuer>Hjelper det?\n"
    )))
    question = next(t for t in doc.turns if t.role == "interviewer")
    assert doc.turn_text(question).rstrip().endswith("målet?")
