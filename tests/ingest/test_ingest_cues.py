"""WebVTT (Teams, Zoom) and SubRip transcripts."""

from __future__ import annotations

import pytest

from nokoding.ingest import TranscriptError, from_text, read


def test_teams_vtt_voice_tags_bom_notes_and_merging(fixtures):
    assert (fixtures / "teams_leder.vtt").read_bytes().startswith(b"\xef\xbb\xbf")
    doc = read(fixtures / "teams_leder.vtt")
    assert doc.format == "vtt" and doc.text.startswith("[00:00:02] Ingrid Berg: Velkommen.")
    assert "NOTE" not in doc.text and "::cue" not in doc.text and "Eksportert" not in doc.text
    speakers = [t.speaker for t in doc.turns]
    assert speakers == ["Ingrid Berg", "Tor Eriksen"] * 4
    # line breaks inside a cue are layout; &amp; is decoded
    assert doc.turn_text(doc.turns[0]) == "Velkommen. Kan du si litt om hvordan kontoret ditt jobber med mål?"
    # cues 12-0 and 12-1 of the same speaker merge into one turn, each keeping its times
    merged = doc.turns[1]
    assert [c.id for c in merged.cues] == [
        "3c5b1a2e-9d4f-4a1b-8f0e-1a2b3c4d5e6f/12-0",
        "3c5b1a2e-9d4f-4a1b-8f0e-1a2b3c4d5e6f/12-1",
    ]
    assert doc.text[merged.cues[1].start : merged.cues[1].end] == (
        "Det ene handler om tid med brukerne & det andre om kompetanse."
    )
    assert (merged.start_time, merged.end_time) == (7.02, 17.45)
    assert all(merged.start <= c.start < c.end <= merged.end for c in merged.cues)


def test_overlapping_cues_lose_no_words_and_keep_time_order(fixtures):
    doc = read(fixtures / "teams_leder.vtt")
    # "Mhm." (16.8–18.1) overlaps the end of one cue and the start of the next
    texts = [doc.turn_text(t) for t in doc.turns]
    assert texts[2] == "Mhm." and doc.turns[2].start_time == 16.8
    assert texts[3].startswith("For meg som leder")
    starts = [t.start_time for t in doc.turns]
    assert starts == sorted(starts)


def test_two_voices_in_one_cue_become_two_turns(fixtures):
    doc = read(fixtures / "teams_leder.vtt")
    question = doc.turns[4]
    answer = doc.turns[5]
    assert (question.speaker, doc.turn_text(question)) == ("Ingrid Berg", "Hva skjer når dere ikke når måltallene?")
    assert answer.speaker == "Tor Eriksen" and doc.turn_text(answer).startswith("Da tar vi en prat i teamet.")
    assert answer.cues[0].id == question.cues[0].id  # the same cue, split by voice


def test_teams_roles_by_questions_and_override(fixtures):
    doc = read(fixtures / "teams_leder.vtt")
    assert {t.speaker: t.role for t in doc.turns} == {"Ingrid Berg": "interviewer", "Tor Eriksen": "informant"}
    doc = read(fixtures / "teams_leder.vtt", interviewer=["Tor Eriksen"])
    assert {t.speaker: t.role for t in doc.turns} == {"Ingrid Berg": "informant", "Tor Eriksen": "interviewer"}


def test_zoom_vtt_names_in_the_text_and_crlf(fixtures):
    assert b"\r\n" in (fixtures / "zoom_medarbeider.vtt").read_bytes()
    doc = read(fixtures / "zoom_medarbeider.vtt")
    assert [(t.speaker, t.role) for t in doc.turns] == [
        ("Intervjuer", "interviewer"),
        ("Siri Haugen", "informant"),
    ] * 2
    assert doc.turn_text(doc.turns[1]) == (
        "Travel. Jeg har mange brukere og lite tid til hver. "
        "Vi skal nå måltall for aktivitetsplaner, så det blir mye registrering."
    )
    assert [c.id for c in doc.turns[1].cues] == ["2", "3"]


def test_srt_with_tags_labels_bom_and_crlf(fixtures):
    doc = read(fixtures / "intervju.srt")
    assert doc.format == "srt"
    assert [(t.speaker, t.role) for t in doc.turns] == [("Intervjuer", "interviewer"), ("Medarbeider", "informant")] * 2
    assert doc.turn_text(doc.turns[1]) == (
        "Det er større enn før. Vi kan prioritere litt selv. "
        "Men når måltallene henger etter, forsvinner det fort."
    )
    assert doc.turn_text(doc.turns[3]) == "Da er det lederen som bestemmer hva vi skal prioritere."
    assert (doc.turns[1].start_time, doc.turns[1].end_time) == (4.5, 13.0)
    assert "<i>" not in doc.text and "{\\an8}" not in doc.text


def test_malformed_vtt_names_line_and_cue(fixtures):
    with pytest.raises(TranscriptError) as info:
        read(fixtures / "malformed.vtt")
    err = info.value
    assert (err.line, err.cue) == (8, "2")
    assert "malformed.vtt" in str(err) and "line 8" in str(err)


def test_vtt_without_header_and_malformed_srt(fixtures):
    with pytest.raises(TranscriptError, match=r"no_header\.vtt, line 1: .*WEBVTT"):
        read(fixtures / "no_header.vtt")
    with pytest.raises(TranscriptError, match=r"malformed\.srt, line 5"):
        read(fixtures / "malformed.srt")


def test_vtt_cue_ending_before_it_starts():
    text = "WEBVTT\n\nc1\n00:00:05.000 --> 00:00:01.000\n<v A>Hei.</v>\n"
    with pytest.raises(TranscriptError) as info:
        from_text(text, format="vtt")
    assert info.value.cue == "c1"


def test_vtt_without_any_text():
    with pytest.raises(TranscriptError, match="no cue has any text"):
        from_text("WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\n<v A></v>\n", format="vtt")


def test_cue_without_speaker_is_informant_when_no_cue_has_one():
    doc = from_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBare tekst.\n", format="vtt")
    assert [(t.speaker, t.role, doc.turn_text(t)) for t in doc.turns] == [("", "informant", "Bare tekst.")]
    assert doc.text == "[00:00:01] Bare tekst.\n"
