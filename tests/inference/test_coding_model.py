"""The engine with the real ``nokoding.model.CodingModel`` (tiny random backbones)."""

from __future__ import annotations

import numpy as np
import pytest

from nokoding.inference import InferenceModel, predict, reference_predict
from nokoding.testing import NORWEGIAN_SAMPLE, make_tiny_encoder

coding_model = pytest.importorskip("nokoding.model.coding_model")


@pytest.fixture
def codebook(small_codebook_dict):
    from nokoding.codebook import Codebook

    return Codebook.from_dict(small_codebook_dict)


@pytest.mark.parametrize("kind,strategy", [("wordpiece", "lora"), ("unigram", "full")])
def test_coding_model_engine_matches_reference(tmp_path, codebook, kind: str, strategy: str) -> None:
    encoder = make_tiny_encoder(tmp_path / kind, kind, max_position_embeddings=64)
    model = coding_model.CodingModel.from_backbone(str(encoder), codebook, strategy=strategy).eval()
    assert isinstance(model, InferenceModel)
    texts = ["", " ", "ja", *NORWEGIAN_SAMPLE[:6], " ".join(NORWEGIAN_SAMPLE) * 2]
    got = list(predict(model, texts, device="cpu", max_batch_tokens=128, chunk_size=4))
    assert got[-1].n_windows > 1
    for t, g in zip(texts, got):
        ref = reference_predict(model, t)
        assert (g.n_windows, g.n_tokens) == (ref.n_windows, ref.n_tokens)
        assert g.code_logits.shape == (len(model.code_ids),)
        assert g.sentiment_logits.shape == (len(model.sentiment_labels),)
        np.testing.assert_allclose(g.code_logits, ref.code_logits, atol=1e-5)
        np.testing.assert_allclose(g.sentiment_logits, ref.sentiment_logits, atol=1e-5)
        np.testing.assert_allclose(g.embedding, ref.embedding, atol=1e-5)
    int8 = list(predict(model, texts, device="cpu", runtime="int8"))
    assert [p.n_windows for p in int8] == [p.n_windows for p in got]
    assert all(np.isfinite(p.code_logits).all() for p in int8)
