"""CPU threads and device/runtime choices."""

from __future__ import annotations

import pytest
import torch

from nokoding.inference import runtime


def test_available_cpus_respects_affinity() -> None:
    import os

    assert 1 <= runtime.available_cpus() <= len(os.sched_getaffinity(0))


def test_configure_threads_first_call_uses_env_or_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(runtime, "_THREADS_CONFIGURED", False)
        monkeypatch.setenv("NOKODING_NUM_THREADS", "1")
        assert runtime.configure_threads() == 1
        monkeypatch.setattr(runtime, "_THREADS_CONFIGURED", False)
        monkeypatch.delenv("NOKODING_NUM_THREADS")
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        assert runtime.configure_threads() == runtime.available_cpus()
        torch.set_num_threads(1)  # a later choice by the user is left alone
        assert runtime.configure_threads() == 1
        monkeypatch.setattr(runtime, "_THREADS_CONFIGURED", False)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert runtime.configure_threads() == 1  # user's OMP setting: torch's choice kept
    finally:
        torch.set_num_threads(before)


def test_auto_device_and_default_runtime(wordpiece_model) -> None:
    from nokoding.inference import Engine

    eng = Engine(wordpiece_model)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert eng.device.type == expected
    assert eng.runtime == ("bf16" if expected == "cuda" else "fp32")


def test_bf16_copy_leaves_source_in_fp32(wordpiece_model) -> None:
    import numpy as np

    from nokoding.inference import predict, reference_predict

    [p] = predict(wordpiece_model, ["Vi blir målt på antall vedtak."], device="cpu", runtime="bf16")
    assert next(wordpiece_model.parameters()).dtype == torch.float32
    assert p.code_logits.dtype == np.float32
    ref = reference_predict(wordpiece_model, "Vi blir målt på antall vedtak.")
    np.testing.assert_allclose(p.code_logits, ref.code_logits, atol=0.25)  # bf16 rounding only


def test_fp32_on_cpu_runs_a_onednn_copy_with_the_same_results(wordpiece_model, monkeypatch) -> None:
    import numpy as np

    from nokoding.inference import predict, reference_predict
    from nokoding.inference.onednn import OneDnnLinear, onednn_available

    if not onednn_available():
        pytest.skip("torch built without oneDNN")
    dev = torch.device("cpu")
    fast = runtime.prepare_model(wordpiece_model, dev, "fp32")
    assert fast is not wordpiece_model and runtime.prepare_model(wordpiece_model, dev, "fp32") is fast
    layers = [m for m in fast.modules() if isinstance(m, OneDnnLinear)]
    assert len(layers) == 2 * 6 and sum(m.attr == "gelu" for m in layers) == 2  # GELU fused per layer
    assert all(type(m) is not torch.nn.Linear for m in fast.encoder.modules())
    assert all(type(m) is torch.nn.Linear for m in (wordpiece_model.code_head, fast.code_head))
    assert fast.encoder.embeddings.word_embeddings.weight is wordpiece_model.encoder.embeddings.word_embeddings.weight
    text = "Vi blir målt på antall vedtak, og lederen stoler på oss."
    [p] = predict(wordpiece_model, [text], device="cpu", runtime="fp32")
    ref = reference_predict(wordpiece_model, text)  # the source model, torch's own kernels
    np.testing.assert_allclose(p.embedding, ref.embedding, atol=1e-5)
    monkeypatch.setenv("NOKODING_FP32_KERNELS", "aten")
    assert runtime.prepare_model(wordpiece_model, dev, "fp32") is wordpiece_model
