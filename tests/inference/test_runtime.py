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
