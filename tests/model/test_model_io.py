"""Saving and loading: same outputs, same label names, only what is needed on disk, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from nokoding.inference import reference_predict
from nokoding.model import ModelLoadError, load_model, update_metrics
from nokoding.model.io import ADAPTER_WEIGHTS, ENCODER_WEIGHTS, HEAD_WEIGHTS
from nokoding.testing import NORWEGIAN_SAMPLE
from nokoding.training import train

PROBES = ["Vi blir målt på antall vedtak.", "Lederen gir meg tillit.", "", "ja"]


def _train(encoder: Path, records, codebook, strategy: str, out: Path):
    return train(records, codebook=codebook, backbone=encoder, strategy=strategy, out_dir=out,
                 epochs=1, head_steps=5, batch_size=8, progress=False)


def _outputs(model, texts=PROBES) -> list:
    return [reference_predict(model, t) for t in texts]


@pytest.mark.parametrize("kind,strategy", [("wordpiece", "lora"), ("unigram", "full"), ("unigram", "frozen")])
def test_save_load_restores_outputs_and_label_names(tmp_path, tiny_encoders, records, codebook, kind, strategy):
    model = _train(tiny_encoders[kind], records, codebook, strategy, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for a, b in zip(_outputs(model), _outputs(loaded), strict=True):
        np.testing.assert_array_equal(a.code_logits, b.code_logits)
        np.testing.assert_array_equal(a.sentiment_logits, b.sentiment_logits)
        np.testing.assert_array_equal(a.embedding, b.embedding)
    assert loaded.code_ids == codebook.code_ids
    assert loaded.sentiment_labels == codebook.sentiment_labels
    assert loaded.codebook == codebook
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert config["id2code"] == {str(i): c for i, c in enumerate(codebook.code_ids)}
    assert config["code_names"]["styring.maling"] == "Styring / Måling"
    assert "LABEL_" not in (tmp_path / "m" / "config.json").read_text(encoding="utf-8")
    assert config["backbone_sha256"] == model.config.backbone_sha256
    # evidence and the training record survive the round trip
    assert loaded.evidence.ids == model.evidence.ids
    np.testing.assert_array_equal(loaded.evidence.embeddings, model.evidence.embeddings)
    assert loaded.training_log == json.loads(json.dumps(model.training_log))


def test_lora_saves_only_adapter_and_heads(tmp_path, tiny_encoders, records, codebook):
    from safetensors import safe_open

    model = _train(tiny_encoders["wordpiece"], records, codebook, "lora", tmp_path / "lora")
    _train(tiny_encoders["wordpiece"], records, codebook, "full", tmp_path / "full")
    lora_dir = tmp_path / "lora"
    assert not (lora_dir / ENCODER_WEIGHTS).exists()
    with safe_open(str(lora_dir / ADAPTER_WEIGHTS), "pt") as fh:
        keys = list(fh.keys())
        n_adapter = sum(fh.get_tensor(k).numel() for k in keys)
    assert keys and all("lora_" in k for k in keys)
    # exactly r·(in + out) numbers per adapted linear layer
    r = model.config.lora.r
    linears = [m for n, m in model.encoder.named_modules() if hasattr(m, "lora_A")]
    assert n_adapter == sum(r * (m.in_features + m.out_features) for m in linears)
    with safe_open(str(lora_dir / HEAD_WEIGHTS), "pt") as fh:
        assert {k.split(".")[0] for k in fh.keys()} == {"code_head", "sentiment_head"}
    backbone_bytes = (tiny_encoders["wordpiece"] / "model.safetensors").stat().st_size
    lora_bytes = sum((lora_dir / f).stat().st_size for f in (ADAPTER_WEIGHTS, HEAD_WEIGHTS))
    full_bytes = (tmp_path / "full" / ENCODER_WEIGHTS).stat().st_size
    assert lora_bytes < backbone_bytes / 2 < full_bytes
    # strategy "full" keeps the (frozen) word embeddings out of the file
    with safe_open(str(tmp_path / "full" / ENCODER_WEIGHTS), "pt") as fh:
        assert "embeddings.word_embeddings.weight" not in set(fh.keys())


def test_merged_adapters_give_the_same_outputs(tmp_path, tiny_encoders, records, codebook):
    _train(tiny_encoders["unigram"], records, codebook, "lora", tmp_path / "m")
    plain, merged = load_model(tmp_path / "m"), load_model(tmp_path / "m", merge_adapters=True)
    for a, b in zip(_outputs(plain), _outputs(merged), strict=True):
        np.testing.assert_allclose(a.code_logits, b.code_logits, atol=1e-4)
    merged.save_pretrained(tmp_path / "again")  # still saveable: adapter weights are kept
    for a, b in zip(_outputs(plain), _outputs(load_model(tmp_path / "again")), strict=True):
        np.testing.assert_array_equal(a.code_logits, b.code_logits)


def test_load_by_name_from_models_folder(tmp_path, tiny_encoders, records, codebook, monkeypatch):
    _train(tiny_encoders["wordpiece"], records, codebook, "frozen", tmp_path / "zoo" / "tiny-model")
    monkeypatch.setenv("NOKODING_MODELS", str(tmp_path / "zoo"))
    assert load_model("tiny-model").code_ids == codebook.code_ids
    with pytest.raises(ModelLoadError, match="no nokoding model 'no-such-model'.*zoo"):
        load_model("no-such-model")


def test_missing_files_and_backbone_give_clear_errors(tmp_path, tiny_encoders, records, codebook):
    backbone = tmp_path / "backbone"
    shutil.copytree(tiny_encoders["wordpiece"], backbone)
    _train(backbone, records, codebook, "lora", tmp_path / "m")

    broken = tmp_path / "no-heads"
    shutil.copytree(tmp_path / "m", broken)
    (broken / HEAD_WEIGHTS).unlink()
    with pytest.raises(ModelLoadError, match=r"heads\.safetensors is missing"):
        load_model(broken)
    (broken / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load_model(broken)

    # another encoder's weights are refused (predictions would differ) unless asked
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model(tmp_path / "m", backbone=tiny_encoders["unigram"])

    shutil.rmtree(backbone)
    with pytest.raises(ModelLoadError, match=r"needs backbone 'backbone'.*resolve_backbone"):
        load_model(tmp_path / "m")


def test_save_never_overwrites_foreign_folders(tmp_path, tiny_encoders, records, codebook):
    model = _train(tiny_encoders["wordpiece"], records, codebook, "frozen", None)
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not a nokoding model"):
        model.save_pretrained(foreign)
    assert [p.name for p in foreign.iterdir()] == ["chapter.txt"]
    model.save_pretrained(tmp_path / "m")
    model.save_pretrained(tmp_path / "m")  # replacing a model folder is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "thesis"]  # no temporary folders left


def test_update_metrics_fills_the_model_card(tmp_path, tiny_encoders, records, codebook):
    _train(tiny_encoders["wordpiece"], records, codebook, "frozen", tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "Not evaluated yet" in card and "Styring" in card and "Intended use" in card
    update_metrics(tmp_path / "m", {"category": {"accuracy": 0.8125}, "n_units": 16})
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "| category.accuracy | 0.812 |" in card
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["n_units"] == 16


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n"), "a Hugging Face model card opens with its metadata block"
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


def test_model_card_carries_hugging_face_metadata(tmp_path, tiny_encoders, records, codebook):
    _train(tiny_encoders["wordpiece"], records, codebook, "frozen", tmp_path / "m")
    meta = _front_matter((tmp_path / "m" / "README.md").read_text(encoding="utf-8"))
    assert meta["language"] == ["no", "nb", "nn"] and meta["license"] == "mit"
    assert meta["library_name"] == "nokoding" and "model-index" not in meta  # nothing measured yet
    update_metrics(tmp_path / "m", {"protocol": "5-fold CV", "category": {"accuracy": 0.8125},
                                    "sentiment": {"macro_f1": 0.5}})
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(card)
    results = meta["model-index"][0]["results"][0]["metrics"]
    assert [(m["type"], m["value"]) for m in results] == [("accuracy", 0.8125), ("f1", 0.5)]
    assert "cross-validated" in results[0]["name"]
    assert card.count("# nokoding coding model") == 1


def test_shipped_model_card_names_its_base_model_and_data():
    card = (Path(__file__).resolve().parents[2] / "models" / "thesis-mrs" / "README.md").read_text(encoding="utf-8")
    meta = _front_matter(card)
    assert meta["base_model"] == "intfloat/multilingual-e5-small"
    assert meta["datasets"] == ["thesis_mrs", "thesis_mrs_written"]
    assert {m["name"] for m in meta["model-index"][0]["results"][0]["metrics"]} >= {
        "category accuracy (cross-validated)", "code top-3 accuracy (cross-validated)"}


def test_reloaded_model_keeps_eval_mode_outputs_deterministic(tmp_path, tiny_encoders, records, codebook):
    _train(tiny_encoders["unigram"], records, codebook, "lora", tmp_path / "m")
    model = load_model(tmp_path / "m")
    batch = model.tokenize(list(NORWEGIAN_SAMPLE[:4]))
    with torch.no_grad():
        a, b = model(**batch).code_logits, model(**batch).code_logits
    assert torch.equal(a, b)  # dropout is off after loading


def test_int8_copy_of_a_loaded_lora_model_is_calibrated_on_its_training_segments(tmp_path, tiny_encoders, records, codebook):
    # the int8 runtime smooths each layer with activation peaks from the model's own training
    # segments (nokoding.inference.int8); a loaded model must offer them, and a model without an
    # evidence store falls back to its codebook's codes
    from nokoding.inference.int8 import ScaledInput
    from nokoding.inference.runtime import prepare_model

    _train(tiny_encoders["unigram"], records, codebook, "lora", tmp_path / "m")
    model = load_model(tmp_path / "m")
    assert set(model.calibration_texts()) == {r["text"] for r in records}
    int8 = prepare_model(model, torch.device("cpu"), "int8")
    assert sum(isinstance(m, ScaledInput) for m in int8.modules()) > 0
    assert not any("lora" in n for n, _ in int8.named_modules())
    model.evidence = None
    assert model.calibration_texts()[0].startswith(f"{codebook.codes[0].label}.")
