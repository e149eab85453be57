"""suggest_codes: every input segment once, in order; batched equals one at a time; labels and evidence."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from nokoding.codebook import Codebook
from nokoding.document import Document, Segment, SpeakerTurn
from nokoding.inference import reference_predict
from nokoding.suggest import (
    SuggestionList,
    clear_model_cache,
    get_model,
    iter_suggestions,
    suggest_codes,
)
from nokoding.testing import NORWEGIAN_SAMPLE, make_tiny_encoder
from nokoding.training import train

CODEBOOK = {
    "name": "suggest_test",
    "categories": [
        {"id": "styring", "name": "Styring", "subcategories": [
            {"id": "styring.maling", "name": "Måling", "description": "Måltall og rapportering."},
            {"id": "styring.tid", "name": "Tid", "description": "Tid til brukerne."}]},
        {"id": "ledelse", "name": "Ledelse", "subcategories": [
            {"id": "ledelse.tillit", "name": "Tillit", "description": "Tillit mellom leder og ansatt."}]},
    ],
}
LONG = " ".join(NORWEGIAN_SAMPLE)  # far beyond the tiny encoder's 64-token window


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("suggest")
    encoder = make_tiny_encoder(root / "unigram", "unigram", max_position_embeddings=64)
    cb = Codebook.from_dict(CODEBOOK)
    records = [{"id": f"r{i}", "text": t, "code_id": cb.code_ids[i % 3], "sentiment": cb.sentiment_labels[i % 4]}
               for i, t in enumerate(NORWEGIAN_SAMPLE)]
    train(records, codebook=cb, backbone=encoder, strategy="lora", out_dir=root / "models" / "tiny",
          epochs=1, head_steps=20, progress=False)
    return root / "models" / "tiny"


@pytest.fixture
def model(model_dir):
    return get_model(model_dir)


def _code_probs(s) -> dict[str, float]:
    return {c.code_id: c.probability for c in s.codes}


def test_every_input_once_in_order(model):
    texts = ["Vi blir målt hver uke.", "", "   ", LONG, "Tillit.", "\u200b\ufeff\u00ad \u200b"]
    out = suggest_codes(texts, model, device="cpu")
    assert isinstance(out, SuggestionList)
    assert [s.text for s in out] == texts
    assert out[3].n_windows > 1 and out[0].n_windows == 1
    # blank texts (also only invisible characters, as for segment) keep their place but get nothing to code
    assert [(s.codes, s.sentiment, s.categories) for s in out[1:3] + out[5:]] == [((), "", {})] * 3
    assert len(out[0].codes) == 3 and out[0].sentiment in model.sentiment_labels
    assert suggest_codes("Tillit.", model, device="cpu")[0].text == "Tillit."
    assert suggest_codes([], model, device="cpu") == []


def test_batched_equals_one_at_a_time(model):
    texts = [*NORWEGIAN_SAMPLE[:6], "Ja.", LONG]
    batched = suggest_codes(texts, model, top_k=None, device="cpu")
    for text, s in zip(texts, batched, strict=True):
        alone = suggest_codes(text, model, top_k=None, device="cpu")[0]
        ref = reference_predict(model, text)
        expected = 1 / (1 + np.exp(-ref.code_logits.astype(np.float64)))
        got = np.array([_code_probs(s)[c] for c in model.code_ids])
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose([_code_probs(alone)[c] for c in model.code_ids], got, atol=1e-5)
        assert alone.sentiment == s.sentiment
        assert [e.segment_id for e in alone.evidence] == [e.segment_id for e in s.evidence]


def test_codes_categories_sentiment_and_evidence(model):
    (s,) = suggest_codes("Vi blir målt på antall vedtak hver måned.", model, top_k=2, evidence_k=3, device="cpu")
    cb = model.codebook
    assert len(s.codes) == 2 and s.codes[0].probability >= s.codes[1].probability
    top = cb.code(s.codes[0].code_id)
    assert (s.codes[0].category, s.codes[0].subcategory) == (top.category, top.subcategory)
    everything = suggest_codes(s.text, model, top_k=None, device="cpu")[0]
    assert [c.code_id for c in everything.codes[:2]] == [c.code_id for c in s.codes]
    p = _code_probs(everything)
    assert list(s.categories) == list(cb.category_ids)
    # the default aggregation: a category scores as its best code
    assert model.config.category_aggregation == "max"
    assert s.categories["styring"] == pytest.approx(max(p["styring.maling"], p["styring.tid"]))
    assert s.categories["ledelse"] == pytest.approx(p["ledelse.tillit"])
    assert list(s.sentiment_probabilities) == list(cb.sentiment_labels)
    assert sum(s.sentiment_probabilities.values()) == pytest.approx(1.0)
    assert s.sentiment == max(s.sentiment_probabilities, key=s.sentiment_probabilities.get)
    assert len(s.evidence) == 3
    sims = [e.similarity for e in s.evidence]
    assert sims == sorted(sims, reverse=True)
    assert all(e.code_id in cb.code_ids and e.text in NORWEGIAN_SAMPLE for e in s.evidence)
    assert suggest_codes(s.text, model, evidence_k=0, device="cpu")[0].evidence == ()


def test_bad_top_k_and_threshold_are_refused_before_any_work(model):
    for kw in ({"top_k": 0}, {"top_k": -1}, {"threshold": 1.5}, {"threshold": -0.1}):
        with pytest.raises(ValueError, match="top_k|threshold"):
            iter_suggestions(iter(["x"]), model, **kw)  # at the call, not at the first next()


def test_threshold_keeps_only_probable_codes(model):
    everything = suggest_codes("Tillit.", model, top_k=None, device="cpu")[0]
    cut = sorted(c.probability for c in everything.codes)[1]
    kept = suggest_codes("Tillit.", model, top_k=None, threshold=cut, device="cpu")[0]
    assert [c.code_id for c in kept.codes] == [c.code_id for c in everything.codes if c.probability >= cut]
    assert suggest_codes("Tillit.", model, threshold=1.0, device="cpu")[0].codes == ()


def test_segments_and_documents(model):
    text = "I: Hvordan måles dere?\nA: Vi blir målt hver uke. Det tar tid."
    doc = Document(id="int1", text=text, turns=(
        SpeakerTurn("I", "interviewer", 3, 22), SpeakerTurn("A", "informant", 27, len(text))))
    seg = Segment(document_id="int1", index=0, text=text[27:], start=27, end=len(text), role="informant")
    out = suggest_codes([seg, "fri tekst", doc], model, device="cpu")
    assert out[0].segment is seg and out[1].segment is None
    from_doc = [s for s in out[2:]]
    assert from_doc and all(s.segment.document_id == "int1" and s.segment.role == "informant" for s in from_doc)
    assert "".join(s.text for s in from_doc).replace(" ", "") == text[27:].replace(" ", "")
    frame = out.to_pandas()
    assert len(frame) == len(out)
    # the CSV's columns first, same names and order, so frames and `nokoding tag` CSVs combine
    from nokoding.export.tabular import csv_columns

    assert list(frame.columns[: len(csv_columns(3))]) == csv_columns(3)
    assert {"category:styring", "sentiment:negative", "n_windows"} <= set(frame.columns)
    assert frame.loc[0, "start"] == 27 and frame.loc[1, "document"] == "" and frame.loc[0, "role"] == "informant"
    assert frame.loc[0, "code_1"] == out[0].codes[0].code_id and frame.loc[0, "p_1"] == out[0].codes[0].probability


def test_document_without_segmenter_is_a_clear_error(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "nokoding.segmentation", None)  # import fails
    doc = Document(id="int2", text="Hei.", turns=(SpeakerTurn("A", "informant", 0, 4),))
    with pytest.raises(RuntimeError, match="cannot segment document 'int2'"):
        suggest_codes(doc, model, device="cpu")


def test_bad_items_are_named(model):
    with pytest.raises(TypeError, match="position 1 is int"):
        suggest_codes(["ok", 3], model, device="cpu")
    with pytest.raises(TypeError):
        suggest_codes(42, model, device="cpu")


def test_models_are_loaded_once_by_name_or_folder(model_dir, monkeypatch):
    clear_model_cache()
    monkeypatch.setenv("NOKODING_MODELS", str(model_dir.parent))
    by_name = get_model("tiny")
    assert get_model(model_dir) is by_name
    assert suggest_codes("Tillit.", "tiny", device="cpu")[0].codes[0].code_id in by_name.code_ids
    from nokoding.model import ModelLoadError

    with pytest.raises(ModelLoadError, match="no nokoding model 'absent'"):
        suggest_codes("Tillit.", "absent")


@pytest.mark.parametrize("runtime, device, error, match", [
    ("onnx", "cuda", ValueError, "onnx is CPU-only"),
    ("int8", "cuda:0", ValueError, "int8 is CPU-only"),
    ("ONNX", "cpu", ValueError, "unknown runtime"),
])
def test_bad_runtime_is_refused_before_the_model_is_loaded(tmp_path, runtime, device, error, match):
    from nokoding import suggest_codes

    missing = tmp_path / "no-such-model"  # loading it would raise ModelLoadError instead
    with pytest.raises(error, match=match):
        suggest_codes(["Vi blir målt på antall vedtak."], model=missing, runtime=runtime, device=device)
