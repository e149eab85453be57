"""The benchmark's sorted peers batch the whole input as sentence-transformers' ``encode`` does."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from nokoding.inference import bench, peers
from nokoding.testing import make_tiny_encoder

TINY = dict(vocab_size=500, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=512, type_vocab_size=2, text_prefix="")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> bench.BenchModel:
    tok = AutoTokenizer.from_pretrained(make_tiny_encoder(Path(tmp_path_factory.mktemp("tok")) / "t", "wordpiece"))
    tok.model_max_length = 512
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(bench.ARCHITECTURES, "tiny", TINY)
        return bench.BenchModel("tiny", tok).eval()


def _shuffled_groups() -> list[str]:
    """128 texts: 32 each of 4, 9, 19 and 39 words of one one-piece word, in shuffled order."""
    texts = [" ".join(["ansatte"] * n) for n in (4, 9, 19, 39) for _ in range(32)]
    random.Random(0).shuffle(texts)
    return texts


def _run(model: bench.BenchModel, texts: list[str], rounds: list[list[int]], presorted: bool) -> bench.ModeStats:
    total = bench.ModeStats()
    for r in rounds:
        total.add(peers.run_sorted(model, [texts[i] for i in r], peers.torch_forward(model, model.encoder.device),
                                   model.flop_terms(), presorted=presorted))
    return total


def test_rounds_of_the_length_sorted_whole_input_pad_nothing_for_equal_length_groups(tiny_model) -> None:
    texts = _shuffled_groups()
    lengths = [len(t.split()) for t in texts]
    by_input, by_length = peers.benchmark_rounds(texts, 64, lengths)
    whole = _run(tiny_model, texts, by_length, presorted=True)
    assert whole.segments == 128 and whole.padded_tokens == whole.real_tokens  # padded/real = 1
    per_round = _run(tiny_model, texts, by_input, presorted=False)  # the old way: sort within each round
    assert per_round.real_tokens == whole.real_tokens
    assert per_round.padded_tokens > 1.3 * whole.real_tokens


def test_rounds_give_the_peer_the_same_batches_as_one_call_on_the_whole_input(tiny_model) -> None:
    texts = bench.generate_segments(96, seed=3)
    _, by_length = peers.benchmark_rounds(texts, 32)  # encode's own key: characters
    one_call = peers.run_sorted(tiny_model, texts, peers.torch_forward(tiny_model, tiny_model.encoder.device),
                                tiny_model.flop_terms())
    in_rounds = _run(tiny_model, texts, by_length, presorted=True)
    assert (in_rounds.padded_tokens, in_rounds.real_tokens) == (one_call.padded_tokens, one_call.real_tokens)


def test_benchmark_rounds_cover_every_segment_once_and_need_whole_peer_batches() -> None:
    texts = bench.generate_segments(100, seed=1)
    by_input, by_length = peers.benchmark_rounds(texts, 64)
    assert [len(r) for r in by_input] == [len(r) for r in by_length] == [64, 36]
    assert sum(by_input, []) == list(range(100))
    flat = sum(by_length, [])
    assert sorted(flat) == list(range(100))
    assert [len(texts[i]) for i in flat] == sorted((len(t) for t in texts), reverse=True)
    with pytest.raises(ValueError, match="multiple of 32"):
        peers.benchmark_rounds(texts, 48)
    with pytest.raises(ValueError, match="3 lengths for 100 texts"):
        peers.length_order(texts, [1, 2, 3])
