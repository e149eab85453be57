"""The inference benchmark runs end to end (tiny architecture) and its text generator is as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from nokoding.inference import bench
from nokoding.inference.cpu import cpu_capabilities


def test_generated_segments_are_deterministic_and_shaped_like_interviews() -> None:
    texts = bench.generate_segments(4000, seed=7)
    assert texts == bench.generate_segments(4000, seed=7)
    assert texts != bench.generate_segments(4000, seed=8)
    words = np.array([len(t.split()) for t in texts])
    long = words >= 300
    assert 0.035 <= long.mean() <= 0.065
    assert words[~long].min() >= 3 and words[~long].max() <= 100
    assert words[long].max() <= 1500
    assert all(t and t[0].isupper() and t.endswith(".") for t in texts[:50])


def test_run_benchmark_end_to_end_on_a_tiny_architecture(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        bench.ARCHITECTURES,
        "tiny",
        dict(vocab_size=500, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=512, type_vocab_size=2, text_prefix="query: "),
    )
    lines: list[str] = []
    result = bench.run_benchmark(
        device="cpu", n_segments=96, archs=["tiny"], time_budget=0, slice_size=32, out_dir=tmp_path, log=lines.append
    )
    written = json.loads((tmp_path / "inference_cpu.json").read_text(encoding="utf-8"))
    assert written["architectures"].keys() == {"tiny"}
    rows = written["architectures"]["tiny"]["modes"]
    expected = ["baseline", "sorted", "ort", "fp32", "int8", "onnx"] + (["bf16"] if cpu_capabilities().bf16_matrix else [])
    assert list(rows) == expected  # onnx, ort: the [onnx] extra is in [dev]
    assert {r["segments"] for r in rows.values()} == {96}  # every mode ran the same slices
    assert rows["baseline"]["x_baseline_segments_per_s"] == pytest.approx(1.0)
    long_turns = sum(len(t.split()) >= 300 for t in bench.generate_segments(96))
    if long_turns:  # the engine never truncates, the baseline does
        assert rows["fp32"]["real_tokens"] > rows["baseline"]["real_tokens"]
        assert rows["baseline"]["truncated_segments"] >= 1
    assert rows["fp32"]["padded_tokens"] < rows["baseline"]["padded_tokens"]
    assert rows["fp32"]["flops"] > 0 and "mfu" not in rows["fp32"]
    best = written["architectures"]["tiny"]["best_peer"]
    assert best in bench.PEERS
    speeds = {m: r["segments_per_s"] for m, r in rows.items() if m in bench.PEERS}
    assert speeds[best] == max(speeds.values())
    assert rows[best]["x_best_peer_segments_per_s"] == pytest.approx(1.0)
    for m, r in rows.items():  # every mode against the strongest peer of this run
        assert r["x_best_peer_segments_per_s"] == pytest.approx(r["segments_per_s"] / speeds[best])
        assert 0 < r["share_of_cpu_peak"] < 10 and r["peak_dtype"] == {"int8": "int8", "bf16": "bf16"}.get(m, "fp32")
    assert rows["sorted"]["padded_tokens"] < rows["baseline"]["padded_tokens"]  # sorting cuts the padding
    assert rows["sorted"]["real_tokens"] == rows["baseline"]["real_tokens"] == rows["ort"]["real_tokens"]
    assert written["machine"]["cpu"]["flags"] == list(cpu_capabilities().flags)
    assert "load_average_1min_end" in written["machine"] and isinstance(written["machine"]["busy"], bool)
    assert any(line.startswith("  tiny pass 1 round 1") and "fp32" in line and "sorted" in line for line in lines)
    assert written["architectures"]["tiny"]["passes"] == 1 and written["architectures"]["tiny"]["rounds"] == 3
    md = (tmp_path / "inference_cpu.md").read_text(encoding="utf-8")
    assert "| sorted (peer) |" in md and "| ort (peer) |" in md and "Best peer" in md
    assert "### tiny" in md and "| int8 |" in md and "| onnx |" in md and "torch" in md
    assert "onnx" in md.split("Warm-up")[1]
    assert result["machine"]["torch_threads"] >= 1
    with pytest.raises(ValueError, match="unknown architecture"):
        bench.run_benchmark(device="cpu", archs=["gpt-9"], out_dir=tmp_path, log=lines.append)


def test_bench_command_is_registered() -> None:
    from nokoding.cli import bench_cmd

    app = typer.Typer()
    bench_cmd.register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer from flattening the app
        pass

    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0 and "--quick" in result.output and "--n-segments" in result.output


def test_quick_run_skips_the_baseline_and_warns_when_the_machine_is_busy(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(
        bench.ARCHITECTURES,
        "me5-small",  # the quick run's architecture, shrunk
        dict(vocab_size=500, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=512, type_vocab_size=2, text_prefix="query: "),
    )
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (7.5, 7.0, 6.0))
    lines: list[str] = []
    result = bench.run_benchmark(device="cpu", quick=True, modes=None, n_segments=16, out_dir=tmp_path, log=lines.append)
    assert list(result["architectures"]) == ["me5-small"]
    modes = result["settings"]["modes"]
    assert "baseline" not in modes and {"sorted", "fp32"} <= set(modes)
    assert result["machine"]["busy"] is True
    assert any("busy" in line for line in lines) and any(line.startswith("WARNING") for line in lines)
    assert all(any(f"warm-up {m}" in line for line in lines) for m in modes)  # progress per mode
    assert (tmp_path / "inference_cpu_quick.md").read_text(encoding="utf-8").count("**The machine was busy**") == 1
