"""int8 dynamic quantisation (CPU) agrees with fp32 on the top code.

Fixture, stated honestly: a *random* tiny encoder's code head has near-zero margins
between codes, so any perturbation flips its top code. Like a trained model, this
fixture's code head has real structure instead: texts are drawn from four disjoint
vocabularies ("topics"), and the head's rows are the centred mean embeddings of each
topic computed on separate draws (a nearest-prototype classifier). The check is then
agreement with fp32 on held-out texts, not accuracy.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from nokoding.inference import predict
from nokoding.testing import NORWEGIAN_SAMPLE, make_tiny_encoder

K = 4
TOPICS = [sorted(set(" ".join(NORWEGIAN_SAMPLE[k::K]).split())) for k in range(K)]


def _draw(seed: int, n: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(TOPICS[i % K], k=rng.randint(3, 40))) for i in range(n)]
    return texts, np.arange(n) % K


@pytest.fixture(scope="module")
def prototype_model(tmp_path_factory, tiny_model_class):
    path = make_tiny_encoder(
        tmp_path_factory.mktemp("int8") / "enc", "wordpiece", hidden_size=128, intermediate_size=256,
        num_heads=4, num_layers=2, max_position_embeddings=64,
    )
    model = tiny_model_class(path, n_codes=K).eval()
    texts, topic = _draw(10, 120)
    emb = np.stack([p.embedding for p in predict(model, texts, device="cpu")])
    centre = emb.mean(0)
    proto = np.stack([(emb[topic == k] - centre).mean(0) for k in range(K)])
    proto /= np.linalg.norm(proto, axis=1, keepdims=True)
    with torch.no_grad():
        model.code_head.weight.copy_(torch.from_numpy(proto))
        model.code_head.bias.copy_(torch.from_numpy(-proto @ centre))
    calibration = _draw(30, 64)[0]
    model.calibration_texts = lambda: calibration  # like CodingModel's training segments
    return model


def test_int8_agrees_with_fp32_on_top_code(prototype_model) -> None:
    texts, topic = _draw(20, 400)
    fp32 = np.stack([p.code_logits for p in predict(prototype_model, texts, device="cpu", runtime="fp32")])
    int8 = np.stack([p.code_logits for p in predict(prototype_model, texts, device="cpu", runtime="int8")])
    assert (fp32.argmax(1) == topic).mean() >= 0.85, "fixture: the head must carry real structure"
    assert not np.array_equal(fp32, int8), "int8 path must actually differ numerically"
    agreement = (fp32.argmax(1) == int8.argmax(1)).mean()
    assert agreement >= 0.99, f"top-code agreement {agreement:.3f}"


def test_int8_copy_is_cached_and_source_untouched(prototype_model) -> None:
    from nokoding.inference.runtime import prepare_model

    before = {k: v.clone() for k, v in prototype_model.state_dict().items() if torch.is_tensor(v)}
    dev = torch.device("cpu")
    q1 = prepare_model(prototype_model, dev, "int8")
    assert prepare_model(prototype_model, dev, "int8") is q1
    assert q1 is not prototype_model
    from nokoding.inference.int8 import Int8Linear

    assert isinstance(q1.encoder.encoder.layer[0].attention.self.query.linear, Int8Linear)  # smoothed, quantised
    assert isinstance(prototype_model.code_head, torch.nn.Linear)
    after = prototype_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():  # changing the source invalidates the cached copy
        prototype_model.code_head.bias.add_(0.0)
    assert prepare_model(prototype_model, dev, "int8") is not q1


def test_int8_is_cpu_only(prototype_model) -> None:
    from nokoding.inference.runtime import prepare_model

    with pytest.raises(ValueError, match="CPU-only"):
        prepare_model(prototype_model, torch.device("cuda"), "int8")


def test_int8_weights_have_one_scale_per_output_row_in_the_7_bit_range(prototype_model) -> None:
    # per-tensor scales moved the shipped model's top code on half of unseen segments
    # (benchmarks/bench_int8_agreement.py); 7-bit weights let the activations keep 8 bits
    # without overflowing AVX2's 16-bit multiply-add
    from nokoding.inference.int8 import WEIGHT_RANGE, Int8Linear
    from nokoding.inference.runtime import prepare_model

    int8 = prepare_model(prototype_model, torch.device("cpu"), "int8")
    linears = [m for m in int8.modules() if isinstance(m, Int8Linear)]
    assert linears, "no quantised Linear layers found"
    for layer in linears:
        w = layer.weight()
        assert w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
        q = w.int_repr()
        assert WEIGHT_RANGE[0] <= int(q.min()) and int(q.max()) <= WEIGHT_RANGE[1]
        assert int(q.abs().max()) >= 60, "the 7-bit range should be used, not wasted"


def test_int8_quantises_every_encoder_linear_layer_but_not_the_heads(prototype_model) -> None:
    from nokoding.inference.int8 import Int8Linear, ScaledInput
    from nokoding.inference.runtime import prepare_model

    source = {n for n, m in prototype_model.named_modules() if isinstance(m, torch.nn.Linear)}
    int8 = prepare_model(prototype_model, torch.device("cpu"), "int8")
    kept = {n for n, m in int8.named_modules() if type(m) is torch.nn.Linear}
    smoothed = {n for n, m in int8.named_modules() if isinstance(m, ScaledInput)}
    quantised = {n.removesuffix(".linear") for n, m in int8.named_modules() if isinstance(m, Int8Linear)}
    assert kept == {"code_head", "sentiment_head"}
    assert quantised == smoothed == source - kept and len(quantised) == 2 * 6


def test_smoothing_keeps_the_fp32_function(prototype_model) -> None:
    # SmoothQuant moves scale between activations and weights; before rounding to int8 the
    # model must compute the same thing, or the int8 error would not be the only change
    import copy

    from nokoding.inference.int8 import activation_absmax, int8_layer_names, smooth

    texts = _draw(40, 50)[0]
    before = np.stack([p.code_logits for p in predict(prototype_model, texts, device="cpu")])
    twin = copy.deepcopy(prototype_model)
    names = int8_layer_names(twin)
    peaks = activation_absmax(twin, prototype_model.calibration_texts(), names)
    assert set(peaks) == set(names) and all(p.shape == (twin.get_submodule(n).in_features,) for n, p in peaks.items())
    wrapped = smooth(twin, peaks)
    assert len(wrapped) == len(names)
    weights_moved = any(
        not torch.equal(twin.get_submodule(w).weight, prototype_model.get_submodule(w.removesuffix(".linear")).weight)
        for w in wrapped
    )
    assert weights_moved
    after = np.stack([p.code_logits for p in predict(twin, texts, device="cpu")])
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)


def test_smoothing_refuses_alpha_outside_0_1(prototype_model) -> None:
    from nokoding.inference.int8 import smooth

    with pytest.raises(ValueError, match="alpha"):
        smooth(prototype_model, {}, alpha=1.5)


def test_a_model_without_calibration_texts_is_quantised_unsmoothed(tiny_model_class, tmp_path) -> None:
    from nokoding.inference.int8 import Int8Linear, ScaledInput, calibration_texts
    from nokoding.inference.runtime import prepare_model

    path = make_tiny_encoder(tmp_path / "enc", "wordpiece", hidden_size=32, num_layers=1, max_position_embeddings=64)
    model = tiny_model_class(path).eval()
    assert calibration_texts(model) == []
    int8 = prepare_model(model, torch.device("cpu"), "int8")
    assert not any(isinstance(m, ScaledInput) for m in int8.modules())
    assert sum(isinstance(m, Int8Linear) for m in int8.modules()) == 6
    assert len(list(predict(model, ["en tekst", ""], device="cpu", runtime="int8"))) == 2


def test_int8_with_the_default_device_runs_on_the_cpu_even_with_a_gpu(prototype_model, monkeypatch):
    from nokoding.inference.engine import Engine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    engine = Engine(prototype_model, runtime="int8")
    assert engine.device.type == "cpu" and engine.runtime == "int8"
    from nokoding.inference.runtime import resolve_device

    assert resolve_device("auto").type == "cuda"  # without int8, auto still means the GPU


def test_a_linear_head_wider_than_the_encoder_stays_fp32(tiny_model_class, tmp_path) -> None:
    # 40 codes on a 32-wide encoder: the head is not an encoder layer, whatever its width
    from nokoding.inference.int8 import int8_layer_names

    path = make_tiny_encoder(tmp_path / "enc", "wordpiece", hidden_size=32, num_layers=1, max_position_embeddings=64)
    model = tiny_model_class(path, n_codes=40).eval()
    names = int8_layer_names(model)
    assert len(names) == 6 and all(n.startswith("encoder.encoder.layer.0.") for n in names)


def test_int8_copy_shares_the_embedding_tables_and_tokenizer_with_its_source(prototype_model) -> None:
    # int8 leaves the embeddings in fp32: a second copy of them (most of a multilingual
    # encoder's parameters) would only cost memory
    from nokoding.inference.runtime import prepare_model

    int8 = prepare_model(prototype_model, torch.device("cpu"), "int8")
    tables = [n for n, m in prototype_model.named_modules() if isinstance(m, torch.nn.Embedding)]
    assert tables
    for name in tables:
        assert int8.get_submodule(name).weight is prototype_model.get_submodule(name).weight
    assert int8.tokenizer is prototype_model.tokenizer
    assert int8.encoder.embeddings is not prototype_model.encoder.embeddings  # modules are copies


def test_a_token_with_large_inputs_costs_the_other_tokens_no_precision() -> None:
    # the shipped model's FFN output layers see a few tokens (the special tokens) with inputs
    # 5–9× the median token's; with one scale per batch the other tokens lost about three bits
    from nokoding.inference.int8 import Int8Linear, quantize_int8

    torch.manual_seed(0)
    fp32 = torch.nn.Sequential(torch.nn.Linear(64, 768)).eval()
    layer = quantize_int8(copy.deepcopy(fp32))[0]
    assert isinstance(layer, Int8Linear)
    x = torch.randn(2, 40, 64)
    with torch.inference_mode():
        quiet = layer(x)
        x[:, 0] *= 40.0  # one outlier token per window
        loud = layer(x)
    np.testing.assert_array_equal(loud[:, 1:].numpy(), quiet[:, 1:].numpy())
    want = fp32(x).detach()
    rel = (loud - want).abs().amax(-1) / want.abs().amax(-1)
    assert float(rel.max()) < 0.03, "each token keeps 8 bits of its own range"
    assert loud.shape == want.shape and loud.dtype == want.dtype


def test_an_int8_result_does_not_depend_on_its_batch(prototype_model) -> None:
    # one activation scale per batch moved a segment's probabilities by up to 0.086 with its
    # batch companions; scales per token make its output the same alone and in any batch
    texts = _draw(50, 32)[0]
    long = " ".join(_draw(51, 1)[0] * 40)
    n_long = len(prototype_model.tokenizer(long, add_special_tokens=False)["input_ids"])
    assert n_long >= 500
    probe = texts[5]

    def int8(batch: list[str], **kw) -> np.ndarray:
        out = list(predict(prototype_model, batch, device="cpu", runtime="int8", **kw))
        p = out[batch.index(probe)]
        return np.concatenate([_sigmoid(p.code_logits), _softmax(p.sentiment_logits), p.embedding])

    alone = int8([probe])
    for batch in (texts, [long, probe], [long, *texts]):
        for budget in (None, 100_000):  # default batches, and everything in one batch
            np.testing.assert_allclose(int8(batch, max_batch_tokens=budget), alone, atol=1e-5, rtol=0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum()
