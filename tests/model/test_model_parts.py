"""Pooling, heads, the forward contract and category scores of CodingModel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nokoding.model import CodingModel, CodingOutput
from nokoding.model.heads import CosineHead, LinearHead, prototypes
from nokoding.model.pooling import pool


def test_masked_mean_ignores_padding() -> None:
    torch.manual_seed(0)
    hidden = torch.randn(1, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    padded = hidden.clone()
    padded[:, 3:] = 1e6  # garbage under the padding must not leak in
    np.testing.assert_allclose(pool(padded, mask).numpy(), hidden[:, :3].mean(dim=1).numpy(), rtol=1e-6)
    assert torch.equal(pool(hidden, torch.zeros(1, 5, dtype=torch.long)), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="pooling"):
        pool(hidden, mask, "max")


@pytest.mark.parametrize("head_cls", [CosineHead, LinearHead])
def test_head_initialised_from_prototypes_ranks_own_class_first(head_cls) -> None:
    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 3
    emb = torch.cat([centres[k] + 0.3 * torch.randn(4, 16) for k in range(3)])
    targets = torch.repeat_interleave(torch.eye(3), 4, dim=0)
    center = emb.mean(dim=0)
    head = head_cls(16, 3)
    head.init_from_prototypes(prototypes(emb, targets, center), center, scale=10.0, typical_norm=float(
        (emb - center).norm(dim=-1).mean()))
    assert torch.equal(head(emb).argmax(dim=-1), targets.argmax(dim=-1))


@pytest.mark.parametrize("kind,strategy", [("wordpiece", "lora"), ("unigram", "full"), ("unigram", "frozen")])
def test_forward_contract(tiny_encoders, codebook, kind, strategy) -> None:
    model = CodingModel.from_backbone(tiny_encoders[kind], codebook, strategy=strategy).eval()
    assert model.codebook is codebook
    assert model.sentiment_labels == codebook.sentiment_labels
    assert model.max_length == 64 and model.text_prefix == ""
    batch = model.tokenize(["Vi blir målt hver måned.", "Tillit."])
    out = model(**batch)
    assert isinstance(out, CodingOutput)
    assert out.code_logits.shape == (2, codebook.n_codes)
    assert out.sentiment_logits.shape == (2, len(codebook.sentiment_labels))
    assert out.embeddings.shape == (2, model.config.hidden_size)
    # the embedding is the masked mean of the last hidden state, before the heads
    hidden = model.encoder(**batch).last_hidden_state
    np.testing.assert_allclose(out.embeddings.detach().numpy(), pool(hidden, batch["attention_mask"]).detach().numpy(),
                               atol=1e-6)


def test_trainable_parameters_follow_strategy(tiny_encoders, codebook) -> None:
    def trainable(strategy: str) -> set[str]:
        m = CodingModel.from_backbone(tiny_encoders["wordpiece"], codebook, strategy=strategy)
        return {n for n, p in m.encoder.named_parameters() if p.requires_grad}

    lora = trainable("lora")
    assert lora and all("lora_" in n for n in lora)
    full = trainable("full")
    assert "embeddings.word_embeddings.weight" not in full
    assert "encoder.layer.0.attention.self.query.weight" in full
    assert trainable("frozen") == set()
    with pytest.raises(ValueError, match="strategy"):
        CodingModel.from_backbone(tiny_encoders["wordpiece"], codebook, strategy="adapters")


def test_category_scores_follow_the_hierarchy(tiny_encoders, codebook) -> None:
    model = CodingModel.from_backbone(tiny_encoders["wordpiece"], codebook, strategy="frozen")
    c2c = np.array(codebook.code_to_category())
    p = np.array([[0.5, 0.2, 0.9, 0.0]])
    cat = model.category_probabilities(p)
    assert cat.shape == (1, len(codebook.categories))
    for k in range(len(codebook.categories)):
        assert cat[0, k] == pytest.approx(1 - np.prod(1 - p[0, c2c == k]))
    from dataclasses import replace

    model.config = replace(model.config, category_aggregation="max")
    expected = [p[0, c2c == k].max() for k in range(len(codebook.categories))]
    assert model.category_probabilities(p)[0].tolist() == expected


def test_codebook_must_match_label_order(tiny_encoders, codebook, small_codebook_dict) -> None:
    from nokoding.codebook import Codebook

    model = CodingModel.from_backbone(tiny_encoders["wordpiece"], codebook, strategy="frozen")
    reordered = dict(small_codebook_dict)
    reordered["categories"] = list(reversed(small_codebook_dict["categories"]))
    with pytest.raises(ValueError, match="label order"):
        CodingModel(model.encoder, model.tokenizer, Codebook.from_dict(reordered), model.config)
