"""Active learning: `suggest_next` and `nokoding next` pick uncertain, varied, uncoded segments."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from nokoding.active import (
    NEXT_CSV_COLUMNS,
    farthest_first,
    suggest_next,
    uncertainty_scores,
    write_next_csv,
)
from nokoding.cli import app as cli_app
from nokoding.codebook import Codebook
from nokoding.ingest import from_text, read
from nokoding.segmentation import segment
from nokoding.testing import make_tiny_encoder

CODEBOOK = {
    "name": "liten_studie",
    "categories": [
        {"id": "styring", "name": "Styring", "subcategories": [
            {"id": "styring.maling", "name": "Måling", "description": "Måltall og rapportering."},
            {"id": "styring.tid", "name": "Tid", "description": "Tid til brukerne."}]},
        {"id": "ledelse", "name": "Ledelse", "subcategories": [
            {"id": "ledelse.tillit", "name": "Tillit", "description": "Tillit mellom leder og ansatt."},
            {"id": "ledelse.tid", "name": "Tid", "description": "Lederens tid til de ansatte."}]},
    ],
}
# Coded training quotes (written for these tests), one code each; sentiment labelled.
TRAINING = [
    ("Vi måles på antall vedtak hver eneste uke.", "styring.maling", "negative"),
    ("Rapporteringen av måltallene tar mye av dagen.", "styring.maling", "negative"),
    ("Tallene sier lite om kvaliteten i arbeidet.", "styring.maling", "negative"),
    ("Jeg rekker ikke å snakke ordentlig med brukerne.", "styring.tid", "negative"),
    ("Samtalene blir korte fordi kalenderen er full.", "styring.tid", "negative"),
    ("Det er alltid for lite tid til oppfølging.", "styring.tid", "mixed"),
    ("Lederen stoler på at jeg gjør jobben min.", "ledelse.tillit", "positive"),
    ("Vi får handlingsrom til å prioritere selv.", "ledelse.tillit", "positive"),
    ("Sjefen har tillit til våre faglige vurderinger.", "ledelse.tillit", "positive"),
    ("Sjefen har alltid tid til en prat på kontoret.", "ledelse.tid", "positive"),
    ("Lederen er sjelden tilgjengelig fordi hun sitter i møter.", "ledelse.tid", "neutral"),
    ("Vi må vente lenge på svar fra lederen.", "ledelse.tid", "negative"),
]
#: Uncoded answers (none of them is a training quote).
UNCODED = [
    "Kontoret har fått nye mål for antall avklaringer i år.",
    "Brukerne merker at vi har dårlig tid om morgenen.",
    "Jeg savner at lederen spør hvordan det går med oss.",
    "Vi kan selv bestemme hvordan vi legger opp samtalene.",
    "Politikerne vedtar budsjettet uten å kjenne hverdagen vår.",
    "Det er lett å få hjelp av kollegene når det butter.",
    "Regelverket for stønadene endres nesten hvert år.",
    "Jeg har tatt videreutdanning i veiledning ved siden av jobben.",
]


def transcript(answers: list[str]) -> str:
    turns = []
    for i, answer in enumerate(answers):
        turns += [f"Intervjuer: Spørsmål nummer {i + 1}?", f"Informant: {answer}"]
    return "\n\n".join(turns) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two tiny models on the 4-code test codebook: one trained with sentiment labels, one without."""
    from nokoding.training import train

    root = tmp_path_factory.mktemp("active")
    codebook = Codebook.from_dict(CODEBOOK)
    encoder = make_tiny_encoder(root / "encoder", max_position_embeddings=64)
    records = [{"id": f"r{i}", "text": t, "code_id": c, "sentiment": s} for i, (t, c, s) in enumerate(TRAINING)]
    with_sentiment = train(records, codebook=codebook, backbone=str(encoder), strategy="lora", epochs=1,
                           progress=False, out_dir=root / "model")
    plain = [{k: v for k, v in r.items() if k != "sentiment"} for r in records]
    without = train(plain, codebook=codebook, backbone=str(encoder), strategy="frozen", progress=False)
    return {"root": root, "codebook": codebook, "model": with_sentiment, "model_dir": root / "model",
            "no_sentiment": without}


# ------------------------------------------------------------------------------- scores
def test_uncertainty_orders_confident_below_close_below_uniform():
    logits = np.array([
        [6.0, -6.0, -6.0, -6.0],  # one code clearly
        [2.0, 1.8, -6.0, -6.0],   # two codes close
        [0.0, 0.0, 0.0, 0.0],     # no idea
    ])
    s = uncertainty_scores(logits)
    u = s["uncertainty"]
    assert u[0] < u[1] < u[2]
    assert s["margin"][2] == pytest.approx(0.0) and s["code_entropy"][2] == pytest.approx(1.0)
    assert u[2] == pytest.approx(1.0)
    assert list(s["top"]) == [0, 0, 0] and s["second"][1] == 1
    assert ((0 <= u) & (u <= 1)).all()


def test_sentiment_entropy_counts_with_its_weight():
    logits = np.zeros((2, 3))
    sentiment = np.array([[8.0, -8.0, -8.0, -8.0], [0.0, 0.0, 0.0, 0.0]])
    only = uncertainty_scores(logits, sentiment, weights=(0.0, 0.0, 1.0))
    assert only["uncertainty"][0] < 0.01 and only["uncertainty"][1] == pytest.approx(1.0)
    mixed = uncertainty_scores(logits, sentiment)
    assert mixed["uncertainty"][0] < mixed["uncertainty"][1]
    # without sentiment logits the sentiment weight is dropped, not counted as certainty
    assert uncertainty_scores(logits)["uncertainty"] == pytest.approx([1.0, 1.0])


def test_one_code_codebook_uses_the_decision_line():
    s = uncertainty_scores(np.array([[0.0], [6.0], [-6.0]]), weights=(1.0, 0.0, 0.0))
    assert s["uncertainty"][0] == pytest.approx(1.0)
    assert s["uncertainty"][1] < 0.01 and s["uncertainty"][2] < 0.01


@pytest.mark.parametrize("kwargs", [
    {"code_logits": np.zeros(4)},
    {"code_logits": np.zeros((2, 3)), "sentiment_logits": np.zeros((3, 4))},
    {"code_logits": np.zeros((2, 3)), "weights": (1.0, -1.0, 0.0)},
    {"code_logits": np.zeros((2, 3)), "weights": (0.0, 0.0, 1.0)},  # sentiment weight only, no sentiment
])
def test_uncertainty_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        uncertainty_scores(**kwargs)


# ------------------------------------------------------------------------------- k-center
def _circle(degrees: list[float]) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1)


def test_farthest_first_covers_clusters_before_repeating_one():
    emb = _circle([0, 2, 4, 90, 92, 180, 178])
    cluster = [0, 0, 0, 1, 1, 2, 2]
    picked, at_pick = farthest_first(emb, 3)
    assert picked[0] == 0 and at_pick[0] is None
    assert {cluster[i] for i in picked} == {0, 1, 2}
    assert at_pick[1] == pytest.approx(2.0, abs=0.01)  # the opposite side of the circle comes next


def test_farthest_first_starts_away_from_the_coded_centres():
    emb = _circle([0, 2, 90, 180])
    picked, at_pick = farthest_first(emb, 2, centres=_circle([1]))
    assert picked == [3, 2]
    assert at_pick[0] == pytest.approx(2.0, abs=0.01)


def test_farthest_first_weights_and_ties():
    emb = _circle([0, 0, 90, 180])
    # weight 0: only picked once nothing with a positive gain is left
    picked, _ = farthest_first(emb, 3, weights=np.array([1.0, 1.0, 1.0, 0.0]))
    assert picked[0] == 0 and 3 not in picked[:2]
    # without centres the heaviest row starts; identical rows: the earlier one wins
    picked, _ = farthest_first(emb, 1, weights=np.array([0.2, 0.9, 0.9, 0.1]))
    assert picked == [1]
    assert farthest_first(emb, 10)[0][:4] and len(farthest_first(emb, 10)[0]) == 4
    with pytest.raises(ValueError):
        farthest_first(emb, 2, weights=np.array([1.0, -1.0, 1.0, 1.0]))


# ------------------------------------------------------------------------------- suggest_next
def test_training_segments_are_never_suggested(trained):
    model = trained["model"]
    answers = [TRAINING[0][0], UNCODED[0], TRAINING[6][0], UNCODED[1],
               "Ja. " + TRAINING[3][0],  # a coded quote inside a longer segment
               UNCODED[2]]
    doc = from_text(transcript(answers), id="intervju")
    picks = suggest_next(model, doc, n=10)
    texts = [p.text for p in picks]
    assert sorted(texts) == sorted(UNCODED[:3])
    assert picks.excluded == 3 and picks.candidates == 3
    # exclude= leaves out further coded segments (texts or Segments)
    segs = segment(doc)
    again = suggest_next(model, doc, n=10, exclude=[UNCODED[0], segs[3]])
    assert [p.text for p in again] == [UNCODED[2]]


def test_picks_describe_the_segment_and_the_model_view(trained):
    model, codebook = trained["model"], trained["codebook"]
    doc = from_text(transcript(UNCODED), id="intervju_9")
    picks = suggest_next(model, [doc], n=5)
    assert [p.rank for p in picks] == [1, 2, 3, 4, 5]
    assert len({p.text for p in picks}) == 5
    for p in picks:
        assert p.document_id == "intervju_9" and doc.text[p.start:p.end] == p.text
        assert p.segment is not None and p.segment.index == p.segment_index and p.speaker == "Informant"
        assert p.top_code == codebook.code(p.top_code_id).label
        assert p.top_probability >= p.second_probability and p.top_code_id != p.second_code_id
        assert p.margin == pytest.approx(p.top_probability - p.second_probability)
        assert 0.0 <= p.uncertainty <= 1.0 and p.sentiment in codebook.sentiment_labels
        assert p.sentiment_used and p.distance_to_coded is not None
        assert p.reason and p.top_code in p.reason
    # without diversity: the most uncertain first
    plain = suggest_next(model, [doc], n=5, diversity=False)
    assert [p.uncertainty_rank for p in plain] == [1, 2, 3, 4, 5]
    assert all(a.uncertainty >= b.uncertainty for a, b in zip(plain, plain[1:]))


def test_the_same_input_gives_the_same_list(trained):
    doc = from_text(transcript(UNCODED), id="intervju_9")
    first = suggest_next(trained["model"], doc, n=4)
    second = suggest_next(trained["model"], doc, n=4)
    assert first == second and [p.reason for p in first] == [p.reason for p in second]


def test_near_duplicates_do_not_fill_the_list(trained):
    model = trained["model"]
    # near-copies of the most uncertain answer are all uncertain ...
    top = suggest_next(model, UNCODED, n=1, diversity=False)[0].text
    family = [top] + [top.rstrip(".") + tail for tail in (", altså.", ", egentlig.", ", synes jeg.", ", på en måte.",
                                                         ", i grunnen.")]
    texts = family + [t for t in UNCODED if t != top]
    by_uncertainty = suggest_next(model, texts, n=4, diversity=False)
    assert sum(p.text in family for p in by_uncertainty) >= 2
    # ... but the diverse list takes one of them and then other kinds of passage
    picks = suggest_next(model, texts, n=4, pool_factor=3)
    assert len(picks) == 4
    assert sum(p.text in family for p in picks) == 1
    # free text: no document, position in the input as index
    for p in picks:
        assert p.document_id == "" and p.start is None and texts[p.segment_index] == p.text


def test_blank_and_repeated_texts_are_skipped(trained):
    picks = suggest_next(trained["model"], [UNCODED[0], "   ", UNCODED[0], UNCODED[1]], n=5)
    assert sorted(p.text for p in picks) == sorted(UNCODED[:2])
    assert picks.skipped == 2 and picks.candidates == 2
    # free text: no document or offsets; the index is the position in the input
    assert {(p.document_id, p.start, p.segment_index) for p in picks} == {("", None, 0), ("", None, 3)}
    assert suggest_next(trained["model"], UNCODED, n=0) == []


def test_a_model_without_sentiment_training_does_not_count_sentiment(trained):
    picks = suggest_next(trained["no_sentiment"], UNCODED, n=3)
    assert not picks.sentiment_used
    assert all(p.sentiment == "" and p.sentiment_entropy is None and not p.sentiment_used for p in picks)


def test_bad_arguments(trained):
    with pytest.raises(ValueError):
        suggest_next(trained["model"], UNCODED, n=-1)
    with pytest.raises(ValueError):
        suggest_next(trained["model"], UNCODED, pool_factor=0)
    with pytest.raises(TypeError, match="position 1"):
        suggest_next(trained["model"], [UNCODED[0], 42])


# ------------------------------------------------------------------------------- CLI


def test_cli_next_lists_and_writes_csv(trained, tmp_path):
    corpus = tmp_path / "intervjuer"
    corpus.mkdir()
    (corpus / "a.txt").write_text(transcript(UNCODED[:4] + [TRAINING[1][0]]), encoding="utf-8")
    (corpus / "b.txt").write_text(transcript(UNCODED[4:]), encoding="utf-8")
    out = tmp_path / "neste.csv"
    args = ["next", "--model", str(trained["model_dir"]), "--corpus", str(corpus), "--n", "3", "--out", str(out),
            "--device", "cpu"]
    res = CliRunner().invoke(cli_app, args)
    assert res.exit_code == 0, res.output
    assert "1 already coded" in res.output and "why:" in res.output
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == NEXT_CSV_COLUMNS and len(rows) == 4
    docs = {p.stem: read(p) for p in corpus.iterdir()}
    for row in map(dict, (zip(rows[0], r) for r in rows[1:])):
        doc = docs[row["document"]]
        assert doc.text[int(row["start"]):int(row["end"])] == row["text"]
        assert segment(doc)[int(row["segment"])].text == row["text"]
        assert row["text"] in UNCODED
    first = out.read_bytes()
    assert CliRunner().invoke(cli_app, args).exit_code == 0
    assert out.read_bytes() == first

    # already coded elsewhere: --exclude a coded-data file
    coded = tmp_path / "coded.csv"
    coded.write_text("text,code\n" + "".join(f"{t},Styring/Tid\n" for t in UNCODED[:2]), encoding="utf-8")
    res = CliRunner().invoke(cli_app, args + ["--exclude", str(coded)])
    assert res.exit_code == 0 and "3 already coded" in res.output


def test_cli_next_errors(trained, tmp_path):
    empty = tmp_path / "tom"
    empty.mkdir()
    res = CliRunner().invoke(cli_app, ["next", "--model", str(trained["model_dir"]), "--corpus", str(empty)])
    assert res.exit_code == 1 and "no transcript could be read" in res.output
    (empty / "a.txt").write_text(transcript(UNCODED[:2]), encoding="utf-8")
    res = CliRunner().invoke(cli_app, ["next", "--model", str(tmp_path / "no-model"), "--corpus", str(empty)])
    assert res.exit_code == 2 and "error:" in res.output


def test_cli_next_candidates_follow_role_and_interviewer(trained, tmp_path):
    # like `nokoding tag`: informant turns by default; a title without a speaker only with
    # --role unknown; --interviewer for labels the reader does not know
    corpus = tmp_path / "intervjuer"
    corpus.mkdir()
    body = "".join(f"Kari: Spørsmål {i}?\n\nOla: {a}\n\n" for i, a in enumerate(UNCODED[:3]))
    (corpus / "a.txt").write_text("Intervju 3, mars 2022\n\n" + body, encoding="utf-8")
    base = ["next", "--model", str(trained["model_dir"]), "--corpus", str(corpus), "--n", "10", "--device", "cpu",
            "--interviewer", "Kari"]
    res = CliRunner().invoke(cli_app, base)
    assert res.exit_code == 0, res.output
    assert "3 segment(s)" in res.output and "Intervju 3" not in res.output and "Spørsmål" not in res.output
    res = CliRunner().invoke(cli_app, base + ["--role", "informant", "--role", "unknown"])
    assert res.exit_code == 0 and "4 segment(s)" in res.output and "Intervju 3, mars 2022" in res.output
    res = CliRunner().invoke(cli_app, base + ["--role", "speaker"])
    assert res.exit_code == 2 and "unknown role(s) ['speaker']" in res.output


def test_write_next_csv_is_atomic_and_complete(trained, tmp_path):
    picks = suggest_next(trained["model"], UNCODED, n=2)
    path = write_next_csv(tmp_path / "sub" / "n.csv", picks, trained["codebook"])
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [p.name for p in path.parent.iterdir()] == ["n.csv"]
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == [p.text for p in picks]
    assert rows[0]["start"] == "" and rows[0]["top_category"] == trained["codebook"].code(picks[0].top_code_id).category
