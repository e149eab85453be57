"""Subtitle timings, tags, cues without a timing line, settings, overlap, Windows-1252."""

from __future__ import annotations

import warnings

import pytest

from nokoding.ingest import TranscriptError, from_text, read
from nokoding.ingest.encoding import decode_bytes
from nokoding.ingest.subtitles import parse_timestamp
from nokoding.segmentation import ROLES, segment


def _turns(doc):
    return [(t.speaker, doc.turn_text(t), t.start_time, t.end_time) for t in doc.turns]


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [("01:05,200", 65.2), ("0:1:5,2", 65.2), ("0:1:5.2", 65.2), ("0:01:05.2", 65.2), ("00:01:05.200", 65.2),
     ("1:05", 65.0), ("0:0:5.120", 5.12), ("10:00:00.05", 36000.05), ("100:00:00.000", 360000.0)],
)
def test_timestamps(stamp, seconds):
    assert parse_timestamp(stamp) == pytest.approx(seconds)


def test_srt_without_hours_and_with_short_fractions():
    doc = from_text("1\n01:05,200 --> 01:07,900\nHei.\n\n2\n0:1:8,2 --> 0:1:9,5\nHallo.\n", format="srt")
    assert [(c.start_time, c.end_time) for t in doc.turns for c in t.cues] == [(65.2, 67.9), (68.2, 69.5)]


def test_webvtt_short_fields_settings_and_a_line_of_spaces_are_accepted():
    text = ("WEBVTT\n\n0:1:5.2 --> 0:1:7.9 align:middle\n<v Kari>Hei?\n   \n\t\n"
            "0:01:08.2 --> 0:01:09.0 position:50.00%,middle line:0\n<v Ola>Hallo.\n")
    doc = from_text(text, format="vtt")
    assert _turns(doc) == [("Kari", "Hei?", 65.2, 67.9), ("Ola", "Hallo.", 68.2, 69.0)]
    assert doc.warnings == ("interviewer inferred from questions: 'Kari' asked questions in 1 of 1 turns "
                            "(override with interviewer=... or the CLI's --interviewer)",)


@pytest.mark.parametrize(
    ("text", "fmt", "line", "cause"),
    [("WEBVTT\n\n1\n00:00:01.000 --> 00:00:75.000\nHei\n", "vtt", 4, "75 seconds"),
     ("1\n00:61:01,000 --> 00:62:02,000\nHei\n", "srt", 2, "61 minutes"),
     ("WEBVTT\n\nx\n00:00:05.000 --> 00:00:01.000\nHei\n", "vtt", 4, "ends before it starts")],
)
def test_impossible_timings_are_refused_with_the_line(text, fmt, line, cause):
    with pytest.raises(TranscriptError) as info:
        from_text(text, format=fmt)
    assert info.value.line == line and cause in str(info.value)


def test_only_real_tags_are_removed():
    srt = "1\n00:00:01,000 --> 00:00:03,000\nunder <10 % og >50 % av sakene, <i>alltid</i> <font color=\"red\">x</font> {\\an8}a<b>b</b>\n"
    doc = from_text(srt, format="srt")
    assert doc.turn_text(doc.turns[0]) == "under <10 % og >50 % av sakene, alltid x ab"
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v.loud Kari>under <10 % og &gt;50 %, <c.yellow>ja</c> <00:00:02.000>nei\n"
    doc = from_text(vtt, format="vtt")
    assert _turns(doc) == [("Kari", "under <10 % og >50 %, ja nei", 1.0, 3.0)]


def test_webvtt_text_without_a_timing_line_is_kept_with_its_voice_and_a_warning():
    text = ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Kari>Hva tenker du om målene?\n\n"
            "<v Ola>At de styrer for mye.\n\n00:00:03.000 --> 00:00:04.000\n<v Kari>Hvorfor?\n")
    doc = from_text(text, format="vtt")
    assert [(s, w) for s, w, _, _ in _turns(doc)] == [
        ("Kari", "Hva tenker du om målene?"), ("Ola", "At de styrer for mye."), ("Kari", "Hvorfor?")]
    assert [t.role for t in doc.turns] == ["interviewer", "informant", "interviewer"]
    assert any("line 6: text without a timing line" in w for w in doc.warnings)


def test_subrip_block_without_a_timing_line_is_not_glued_to_the_cue_before():
    text = "1\n00:00:01,000 --> 00:00:02,000\nOne.\n\n2\nTwo.\n\n3\n00:00:03,000 --> 00:00:04,000\nThree.\n"
    doc = from_text(text, format="srt")
    cues = [doc.text[c.start : c.end] for t in doc.turns for c in t.cues]
    assert cues == ["One.", "Two.", "Three."] and "2 Two" not in doc.text
    assert any("line 6: text without a timing line" in w for w in doc.warnings)


def test_timing_line_right_after_cue_text_starts_a_new_cue_and_the_warning_names_the_lines():
    text = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nFørste.\n00:00:02.000 --> 00:00:03.000\nAndre.\n"
    doc = from_text(text, format="vtt")
    assert [doc.text[c.start : c.end] for t in doc.turns for c in t.cues] == ["Første.", "Andre."]
    (note,) = doc.warnings
    assert "line 6" in note and "line 5 was read as the last line of the cue on line 3" in note
    srt = "1\n00:00:01,000 --> 00:00:02,000\nFørste.\n2\n00:00:02,000 --> 00:00:03,000\nAndre.\n"
    doc = from_text(srt, format="srt")
    assert [(c.id, doc.text[c.start : c.end]) for t in doc.turns for c in t.cues] == [("1", "Første."), ("2", "Andre.")]
    assert any("line 4 was read as the id of the new cue" in w for w in doc.warnings)


def test_overlapping_cues_are_kept_and_flagged():
    text = ("WEBVTT\n\n00:00:01.000 --> 00:00:06.000\n<v Kari>Hvordan var det da dere\n\n"
            "00:00:05.000 --> 00:00:07.000\n<v Ola>Det var tungt.\n\n"
            "00:00:07.500 --> 00:00:09.000\n<v Kari>fikk nye mål?\n\n00:00:09.000 --> 00:00:10.000\n<v Ola>Ja.\n")
    doc = from_text(text, format="vtt")
    segs = segment(doc, roles=ROLES)
    assert [(s.text, s.meta.get("overlap", False)) for s in segs] == [
        ("Hvordan var det da dere", True), ("Det var tungt.", True), ("fikk nye mål?", False), ("Ja.", False)]
    assert any("2 cue(s) overlap" in w for w in doc.warnings)


def test_two_voices_in_one_cue_are_not_overlap(fixtures):
    doc = read(fixtures / "teams_leder.vtt")
    both = [c for t in doc.turns for c in t.cues if c.id.endswith("15-0")]
    assert len(both) == 2 and not any(c.overlap for c in both)


def test_windows_1252_with_an_undefined_byte_keeps_every_defined_character():
    data = "Informant: 10 € – “sitat” … šž æøå".encode("cp1252") + b" \x81 slutt\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text, used, (note,) = decode_bytes(data, "f.txt")
    assert used == "cp1252"
    assert text == "Informant: 10 € – “sitat” … šž æøå \ufffd slutt\n"
    assert "€" in note and "–" in note and "š" in note and "0x81 on line 1" in note and "U+FFFD" in note


def test_a_cue_right_after_the_header_line_is_read():
    doc = from_text("WEBVTT\n00:00:01.000 --> 00:00:02.000\nHei.\n", format="vtt")
    assert [doc.turn_text(t) for t in doc.turns] == ["Hei."]
