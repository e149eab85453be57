"""runtime="auto": bf16 on the CPU only with bf16 matrix instructions and a measured agreement for this model."""

from __future__ import annotations

import json

import pytest
import torch

from nokoding.inference import Engine, auto, cpu

AVX2 = "avx avx2 fma"
AVX512_BF16 = "avx2 fma avx512f avx512_bf16 avx512_vnni"


def _cpu(monkeypatch: pytest.MonkeyPatch, flags: str) -> None:
    block = f"vendor_id\t: GenuineIntel\nmodel name\t: Test\ncpu MHz\t\t: 2000\nflags\t\t: {flags}\n"
    monkeypatch.setattr(cpu, "cpu_capabilities", lambda: cpu.parse_cpuinfo(block, 2))


def _agreement(tmp_path, monkeypatch, model, values: tuple[float, ...], fingerprint: str | None = None) -> None:
    sets = dict(zip(auto.UNSEEN_SETS, values))
    result = {"model_fingerprint": fingerprint or auto.model_fingerprint(model),
              "thesis_quotes": {"code": {"top_label_agreement": 0.5}},  # training data: not counted
              **{k: {"code": {"top_label_agreement": v}} for k, v in sets.items()}}
    (tmp_path / "bf16_agreement_cpu.json").write_text(json.dumps(result), encoding="utf-8")
    monkeypatch.setenv("NOKODING_AGREEMENT_DIR", str(tmp_path))


def test_auto_stays_fp32_on_a_cpu_without_bf16_instructions(wordpiece_model, tmp_path, monkeypatch) -> None:
    _cpu(monkeypatch, AVX2)
    _agreement(tmp_path, monkeypatch, wordpiece_model, (1.0, 1.0, 1.0))
    assert Engine(wordpiece_model, device="cpu", runtime="auto").runtime == "fp32"


def test_auto_picks_bf16_only_where_this_models_agreement_holds(wordpiece_model, tmp_path, monkeypatch) -> None:
    _cpu(monkeypatch, AVX512_BF16)
    monkeypatch.setenv("NOKODING_AGREEMENT_DIR", str(tmp_path))  # no file yet
    assert auto.auto_runtime(wordpiece_model, torch.device("cpu")) == "fp32"
    _agreement(tmp_path, monkeypatch, wordpiece_model, (1.0, 0.995, 0.99))
    engine = Engine(wordpiece_model, device="cpu", runtime="auto")
    assert engine.runtime == "bf16"
    assert len(list(engine.predict(["Vi blir målt.", ""]))) == 2
    _agreement(tmp_path, monkeypatch, wordpiece_model, (1.0, 0.97, 1.0))  # one unseen set below 99 %
    assert auto.auto_runtime(wordpiece_model, torch.device("cpu")) == "fp32"
    _agreement(tmp_path, monkeypatch, wordpiece_model, (1.0, 1.0, 1.0), fingerprint="another-model")
    assert auto.auto_runtime(wordpiece_model, torch.device("cpu")) == "fp32"


def test_fingerprint_changes_with_the_heads(wordpiece_model) -> None:
    import copy

    twin = copy.deepcopy(wordpiece_model)
    assert auto.model_fingerprint(twin) == auto.model_fingerprint(wordpiece_model)
    with torch.no_grad():
        twin.code_head.bias.add_(0.01)
    assert auto.model_fingerprint(twin) != auto.model_fingerprint(wordpiece_model)
