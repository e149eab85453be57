"""Batched engine vs. the one-at-a-time reference: same numbers, same order, no truncation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from nokoding.inference import (
    Engine,
    InferenceModel,
    RawPrediction,
    predict,
    reference_predict,
)
from nokoding.testing import NORWEGIAN_SAMPLE


def _mixed_texts(seed: int = 0) -> list[str]:
    """Shuffled mix: empty/whitespace-only, one token, short, medium, longer than the window."""
    rng = random.Random(seed)
    words = " ".join(NORWEGIAN_SAMPLE).split()
    texts = ["", "   ", "\n\t ", "ja", "Æ", "Vi", NORWEGIAN_SAMPLE[0]]
    texts += [" ".join(rng.choices(words, k=rng.randint(2, 40))) for _ in range(30)]
    texts += [" ".join(rng.choices(words, k=rng.randint(60, 400))) for _ in range(8)]
    rng.shuffle(texts)
    return texts


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum()


def _assert_same(got: RawPrediction, want: RawPrediction, where: str) -> None:
    assert got.n_windows == want.n_windows, where
    assert got.n_tokens == want.n_tokens, where
    np.testing.assert_allclose(_sigmoid(got.code_logits), _sigmoid(want.code_logits), atol=1e-5, err_msg=where)
    np.testing.assert_allclose(
        _softmax(got.sentiment_logits), _softmax(want.sentiment_logits), atol=1e-5, err_msg=where
    )
    np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-5, err_msg=where)
    assert list(np.argsort(-got.code_logits)) == list(np.argsort(-want.code_logits)), where


@pytest.mark.parametrize("model_name", ["wordpiece_model", "unigram_model"])
def test_engine_matches_reference_in_input_order(model_name: str, request: pytest.FixtureRequest) -> None:
    model = request.getfixturevalue(model_name)
    assert isinstance(model, InferenceModel)
    texts = _mixed_texts()
    # small budget and chunks: many batches with padding, several chunks, long texts split
    got = list(predict(model, texts, device="cpu", max_batch_tokens=256, chunk_size=7))
    assert len(got) == len(texts)
    for i, (text, g) in enumerate(zip(texts, got)):
        assert g.code_logits.dtype == np.float32 and g.code_logits.shape == (9,)
        assert g.sentiment_logits.shape == (3,) and g.embedding.shape == (32,)
        _assert_same(g, reference_predict(model, text), f"text {i}: {text[:40]!r}")
    windows = [g.n_windows for g in got]
    assert max(windows) > 1, "fixture must contain texts longer than the window"
    # nothing truncated: a long text's tokens are all fed to the encoder, some twice (overlap)
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    content = model.tokenizer(model.text_prefix + texts[longest], add_special_tokens=False)["input_ids"]
    assert got[longest].n_tokens > len(content)


def test_stride_changes_windows_and_still_matches_reference(wordpiece_model: InferenceModel) -> None:
    text = " ".join(NORWEGIAN_SAMPLE) * 2
    [dense] = predict(wordpiece_model, [text], device="cpu", stride=10)
    [sparse] = predict(wordpiece_model, [text], device="cpu", stride=62)
    assert dense.n_windows > sparse.n_windows > 1
    _assert_same(dense, reference_predict(wordpiece_model, text, stride=10), "stride 10")
    with pytest.raises(ValueError, match="stride"):
        predict(wordpiece_model, [text], device="cpu", stride=63)


def test_generator_input_is_consumed_lazily(wordpiece_model: InferenceModel) -> None:
    texts = _mixed_texts(seed=3)
    pulled = 0

    def gen():
        nonlocal pulled
        for t in texts:
            pulled += 1
            yield t

    it = predict(wordpiece_model, gen(), device="cpu", chunk_size=5)
    first = next(it)
    assert pulled <= 10  # at most the current chunk and the one being tokenised ahead
    rest = list(it)
    assert pulled == len(texts) and len(rest) == len(texts) - 1
    from_list = list(predict(wordpiece_model, texts, device="cpu"))
    for g, w in zip([first, *rest], from_list):
        np.testing.assert_allclose(g.code_logits, w.code_logits, atol=1e-5)


def test_results_do_not_depend_on_batch_budget(unigram_model: InferenceModel) -> None:
    texts = _mixed_texts(seed=5)
    a = list(predict(unigram_model, texts, device="cpu", max_batch_tokens=64))
    b = list(predict(unigram_model, texts, device="cpu", max_batch_tokens=100_000))
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.code_logits, y.code_logits, atol=1e-5)


def test_empty_input_and_bad_items(wordpiece_model: InferenceModel) -> None:
    assert list(predict(wordpiece_model, [], device="cpu")) == []
    with pytest.raises(TypeError, match="position 2"):
        list(predict(wordpiece_model, ["a", "b", None, "c"], device="cpu"))  # type: ignore[list-item]


def test_training_mode_model_gives_deterministic_eval_results(tiny_dirs, tiny_model_class) -> None:
    model = tiny_model_class(tiny_dirs["wordpiece"])
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.5
    model.train()
    texts = NORWEGIAN_SAMPLE[:4]
    got = list(predict(model, texts, device="cpu"))
    assert model.training, "the caller's train/eval mode is restored"
    model.eval()
    for t, g in zip(texts, got):
        _assert_same(g, reference_predict(model, t), t)


def test_predictions_are_read_only(wordpiece_model: InferenceModel) -> None:
    [p] = predict(wordpiece_model, ["Vi blir målt."], device="cpu")
    with pytest.raises(ValueError):
        p.code_logits[0] = 0.0


def test_engine_rejects_bad_options(wordpiece_model: InferenceModel) -> None:
    with pytest.raises(ValueError, match="runtime"):
        Engine(wordpiece_model, device="cpu", runtime="fp8")
    with pytest.raises(TypeError, match="single string"):
        predict(wordpiece_model, "Vi blir målt.", device="cpu")
    with pytest.raises(ValueError, match="device"):
        Engine(wordpiece_model, device="tpu")
    with pytest.raises(ValueError, match="max_batch_tokens"):
        Engine(wordpiece_model, device="cpu", max_batch_tokens=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            Engine(wordpiece_model, device="cuda")
