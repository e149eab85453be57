"""runtime="onnx": ONNX Runtime with fused kernels gives the fp32 reference's numbers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from nokoding.inference import predict, reference_predict
from nokoding.inference.engine import Engine
from nokoding.inference.runtime import prepare_model, resolve_device

from .test_engine import _assert_same, _mixed_texts


def test_onnx_matches_reference_in_input_order(wordpiece_model) -> None:
    texts = _mixed_texts(seed=3)  # empty, 1-token, short and longer-than-window texts, shuffled
    got = list(predict(wordpiece_model, texts, device="cpu", runtime="onnx", max_batch_tokens=256, chunk_size=9))
    assert len(got) == len(texts)
    assert any(g.n_windows > 1 for g in got), "fixture must include texts longer than the window"
    for i, (text, g) in enumerate(zip(texts, got)):
        _assert_same(g, reference_predict(wordpiece_model, text), f"text {i}: {text[:30]!r}")


def test_onnx_graph_is_fused_and_source_untouched(unigram_model) -> None:
    before = {k: v.clone() for k, v in unigram_model.state_dict().items()}
    attn = unigram_model.encoder.config._attn_implementation
    module = prepare_model(unigram_model, torch.device("cpu"), "onnx")
    layers = unigram_model.encoder.config.num_hidden_layers
    assert module.fused_operators.get("Attention") == layers, module.fused_operators
    assert module.fused_operators.get("SkipLayerNormalization", 0) >= layers
    assert prepare_model(unigram_model, torch.device("cpu"), "onnx") is module  # cached
    assert unigram_model.encoder.config._attn_implementation == attn  # export used a private copy
    after = unigram_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():  # a training step on the source invalidates the session
        unigram_model.code_head.bias.add_(0.5)
    try:
        rebuilt = prepare_model(unigram_model, torch.device("cpu"), "onnx")
        assert rebuilt is not module
        ids = torch.tensor([[2, 40, 41, 3]])
        out = rebuilt(input_ids=ids, attention_mask=torch.ones_like(ids))
        want = unigram_model(input_ids=ids, attention_mask=torch.ones_like(ids))
        np.testing.assert_allclose(out.code_logits.numpy(), want.code_logits.detach().numpy(), atol=1e-5)
    finally:
        with torch.no_grad():
            unigram_model.code_head.bias.sub_(0.5)


def test_onnx_is_cpu_only_and_needs_its_extra(wordpiece_model, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("auto", "onnx").type == "cpu"
    with pytest.raises(ValueError, match="compile"):
        prepare_model(wordpiece_model, torch.device("cpu"), "onnx", compile=True)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"nokoding\[onnx\]"):
        Engine(wordpiece_model, device="cpu", runtime="onnx")  # at construction, before any text


def test_a_large_word_embedding_table_is_read_from_the_source_not_copied(tiny_dirs, tiny_model_class,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from nokoding.inference import onnx_runtime

    monkeypatch.setattr(onnx_runtime, "LARGE_TABLE_ROWS", 100)  # the tiny vocabulary has up to 400 pieces
    model = tiny_model_class(tiny_dirs["wordpiece"], seed=5).eval()
    table = model.encoder.embeddings.word_embeddings.weight
    assert table.shape[0] > 100
    module = prepare_model(model, torch.device("cpu"), "onnx")
    (shared, _value), = module._shared.values()
    assert shared.data_ptr() == table.data_ptr()  # the session reads the source's own table
    texts = _mixed_texts(seed=4)
    ids = {i for t in texts for i in model.tokenizer(t)["input_ids"]}
    assert max(ids) >= 100, "fixture must use word pieces beyond the cut table"
    for text, got in zip(texts, predict(model, texts, device="cpu", runtime="onnx", max_batch_tokens=200)):
        _assert_same(got, reference_predict(model, text), repr(text[:30]))


def test_a_model_onnx_runtime_cannot_fuse_still_gives_its_results_and_says_so(wordpiece_model) -> None:
    from .conftest import TinyOutput

    class BagOfWords(torch.nn.Module):  # no Hugging Face encoder: nothing to fuse
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.tokenizer, self.text_prefix, self.max_length = wordpiece_model.tokenizer, "", 64
            self.table = torch.nn.Embedding(len(self.tokenizer), 16)
            self.code_head, self.sentiment_head = torch.nn.Linear(16, 5), torch.nn.Linear(16, 3)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TinyOutput:
            mask = attention_mask.unsqueeze(-1).float()
            emb = (self.table(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return TinyOutput(self.code_head(emb), self.sentiment_head(emb), emb)

    model = BagOfWords().eval()
    texts = ["Vi blir målt på antall vedtak.", "", "ja"]
    with pytest.warns(RuntimeWarning, match="fused no attention"):
        got = list(predict(model, texts, device="cpu", runtime="onnx"))
    for text, g in zip(texts, got):
        _assert_same(g, reference_predict(model, text), repr(text))
