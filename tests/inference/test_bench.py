"""The inference benchmark runs end to end (tiny architecture) and its text generator is as documented."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from nokoding.inference import bench


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
        device="cpu", n_segments=48, archs=["tiny"], time_budget=1e9, slice_size=16, out_dir=tmp_path, log=lines.append
    )
    written = json.loads((tmp_path / "inference_cpu.json").read_text(encoding="utf-8"))
    assert written["architectures"].keys() == {"tiny"}
    rows = written["architectures"]["tiny"]["modes"]
    assert list(rows) == ["baseline", "fp32", "int8", "onnx"]  # onnx: the [onnx] extra is in [dev]
    assert {r["segments"] for r in rows.values()} == {48}  # every mode ran the same slices
    assert rows["baseline"]["x_baseline_segments_per_s"] == pytest.approx(1.0)
    long_turns = sum(len(t.split()) >= 300 for t in bench.generate_segments(48))
    if long_turns:  # the engine never truncates, the baseline does
        assert rows["fp32"]["real_tokens"] > rows["baseline"]["real_tokens"]
        assert rows["baseline"]["truncated_segments"] >= 1
    assert rows["fp32"]["padded_tokens"] < rows["baseline"]["padded_tokens"]
    assert rows["fp32"]["flops"] > 0 and "mfu" not in rows["fp32"]
    md = (tmp_path / "inference_cpu.md").read_text(encoding="utf-8")
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
