"""Plain-text transcripts: speaker labels, timestamps, paragraphs and roles."""

from __future__ import annotations

import pytest

from nokoding.ingest import TranscriptError, from_text, read


def _turns(doc):
    return [(t.speaker, t.role, doc.turn_text(t)) for t in doc.turns]


def test_bokmal_labels_timestamps_and_paragraphs(fixtures):
    doc = read(fixtures / "medarbeider_bokmal.txt")
    assert doc.id == "medarbeider_bokmal" and doc.format == "txt"
    assert doc.source == fixtures / "medarbeider_bokmal.txt"
    turns = _turns(doc)
    # the header before the first label has no speaker and is not coded
    assert turns[0][0] == "" and turns[0][1] == "unknown" and turns[0][2].startswith("Intervju 4")
    assert [s for s, _, _ in turns[1:]] == ["I", "Informant"] * 2 + ["Informant"] + ["I", "Informant"] * 2
    assert {r for s, r, _ in turns if s == "I"} == {"interviewer"}
    assert {r for s, r, _ in turns if s == "Informant"} == {"informant"}
    # label and timestamp are outside the turn; the words start right after them
    assert turns[1][2] == "Kan du starte med å fortelle litt om hva du jobber med?"
    assert doc.turns[1].start_time == 12.0 and doc.turns[2].start_time == 18.0
    # an unlabelled paragraph after an answer is a turn of its own, by the same speaker
    assert turns[5] == (
        "Informant",
        "informant",
        "Det som ikke telles, er jo samtalene. Den gode samtalen med brukeren blir ikke registrert noe sted.",
    )
    assert doc.turns[5].start_time is None
    # a hard-wrapped line continues the turn
    assert turns[7][2].endswith("feil prioritering.\nSamtidig forstår jeg at lederne må levere på tallene oppover.")


def test_nynorsk_labels(fixtures):
    doc = read(fixtures / "leiar_nynorsk.txt")
    assert [(s, r) for s, r, _ in _turns(doc)] == [("Intervjuar", "interviewer"), ("Leiar", "informant")] * 3
    assert doc.turn_text(doc.turns[1]).startswith("Eg er avdelingsleiar")


def test_first_names_and_bare_timestamps_use_the_question_rule(fixtures):
    doc = read(fixtures / "namn_utan_roller.txt")
    roles = {s: r for s, r, _ in _turns(doc)}
    assert roles == {"Kari": "interviewer", "Per": "informant"}
    assert any("Kari" in w and "questions" in w for w in doc.warnings)
    assert [t.start_time for t in doc.turns][:3] == [3.0, 8.0, 15.0]
    # "Svakheten:" opens a line once only: it is speech, not a new speaker
    fourth = doc.turn_text(doc.turns[3])
    assert fourth == "At folk kommer i jobb og blir der.\nSvakheten: det måles bare om de kommer i jobb, ikke om de blir værende."


def test_interviewer_override_beats_the_question_rule(fixtures):
    doc = read(fixtures / "namn_utan_roller.txt", interviewer="per")
    roles = {t.speaker: t.role for t in doc.turns}
    assert roles == {"Kari": "informant", "Per": "interviewer"}
    assert not any("questions" in w for w in doc.warnings)
    doc = read(fixtures / "namn_utan_roller.txt", interviewer="Ingrid")
    assert {t.role for t in doc.turns} == {"informant"}
    assert any("matches no speaker" in w and "Kari, Per" in w for w in doc.warnings)


def test_configurable_labels():
    text = "Forsker: Hva er viktig?\n\nSaksbehandler: Tid.\n\nForsker: Og?\n\nSaksbehandler: Tillit.\n"
    doc = from_text(text, interviewer_labels=["forsker"], informant_labels=["saksbehandler"])
    assert [t.role for t in doc.turns] == ["interviewer", "informant"] * 2
    # with the defaults, "Forsker" is still an interviewer label and the other is a name
    doc = from_text(text)
    assert [t.role for t in doc.turns] == ["interviewer", "informant"] * 2


@pytest.mark.parametrize(
    ("line", "speaker", "time", "words"),
    [
        ("I: Hva tenker du?", "I", None, "Hva tenker du?"),
        ("Intervjuer: Hva tenker du?", "Intervjuer", None, "Hva tenker du?"),
        ("Informant 3: Ja, altså.", "Informant 3", None, "Ja, altså."),
        ("Leder: Vi har mål.", "Leder", None, "Vi har mål."),
        ("Medarbeider: Vi har mål.", "Medarbeider", None, "Vi har mål."),
        ("[00:12:31] I: Hva tenker du?", "I", 751.0, "Hva tenker du?"),
        ("00:12:31 Informant: Ja.", "Informant", 751.0, "Ja."),
        ("(01:02:03) Leder: Ja.", "Leder", 3723.0, "Ja."),
        ("Informant [00:00:09]: Ja.", "Informant", 9.0, "Ja."),
        ("I: [00:00:09] Hva da?", "I", 9.0, "Hva da?"),
        ("#00:00:09-4# Int.: Hva da?", "Int.", 9.0, "Hva da?"),
    ],
)
def test_label_and_timestamp_forms(line, speaker, time, words):
    doc = from_text(line + "\n")
    (turn,) = doc.turns
    assert (turn.speaker, turn.start_time, doc.turn_text(turn)) == (speaker, time, words)


def test_trailing_f4_timestamp_is_not_speech_and_sets_end_time():
    doc = from_text("I: Hva skjer? #00:00:05-2#\nInformant: Mye. #00:00:12-7#\n")
    assert [doc.turn_text(t) for t in doc.turns] == ["Hva skjer?", "Mye."]
    assert [t.end_time for t in doc.turns] == [5.0, 12.0]


def test_timestamp_only_line_times_the_next_turn_and_empty_lines_are_skipped():
    doc = from_text("\n\n[00:01:00]\n\n\nI: Hei?\n\n\n\n   \nInformant: Hei.\n\n")
    assert [(t.speaker, t.start_time, doc.turn_text(t)) for t in doc.turns] == [
        ("I", 60.0, "Hei?"),
        ("Informant", None, "Hei."),
    ]


def test_label_on_its_own_line_then_text():
    doc = from_text("Intervjuer:\nHva er målstyring for deg?\nInformant:\nTall.\n")
    assert [(t.speaker, doc.turn_text(t)) for t in doc.turns] == [
        ("Intervjuer", "Hva er målstyring for deg?"),
        ("Informant", "Tall."),
    ]


def test_text_without_labels_is_informant_speech():
    doc = from_text("Målstyring gir retning.\n\nMen det tar tid fra brukerne.\n")
    assert [(t.speaker, t.role) for t in doc.turns] == [("", "informant"), ("", "informant")]


def test_one_speaker_asking_questions_is_not_made_the_interviewer():
    doc = from_text("Kari: Hvorfor måler vi dette? Jeg vet ikke.\n\nKari: Hva er poenget?\n")
    assert {t.role for t in doc.turns} == {"informant"}


def test_only_labels_and_timestamps_is_an_error():
    with pytest.raises(TranscriptError, match="no speech"):
        from_text("I:\n[00:00:01]\nInformant:\n")
