"""`nokoding bench`: inference throughput of the batch engine against the loops a user would write."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import typer


def bench(
    device: str = typer.Option("auto", help="auto (CUDA if available), cpu or cuda."),
    n_segments: int | None = typer.Option(None, help="Segments every mode runs per pass: the whole input (default 512 CPU / 100000 GPU)."),
    quick: bool = typer.Option(False, "--quick", help="Smoke run: me5-small shape, no pipeline baseline (under 2 minutes on 2 CPU cores)."),
    arch: list[str] | None = typer.Option(None, help="nb-bert-base and/or me5-small (repeatable; default both)."),
    mode: list[str] | None = typer.Option(None, help="Peers baseline, sorted, ort (CPU, [onnx] extra); engine fp32, int8 (CPU), onnx (CPU, [onnx] extra), bf16 (repeatable)."),
    time_budget: float | None = typer.Option(None, help="Seconds per architecture after which no further pass starts (default 200 CPU / 120 GPU)."),
    slice_size: int | None = typer.Option(None, help="Segments per interleaved round, a multiple of 32 (default 128 CPU / 9984 GPU)."),
    compile: bool = typer.Option(False, "--compile", help="Also time the engine under torch.compile."),
    seed: int = typer.Option(0, help="Seed of the generated texts."),
    out_dir: Path = typer.Option(Path("benchmarks/results"), help="Folder for inference_<device>.json/.md."),
) -> None:
    """Measure segments/s and real tokens/s: nokoding's engine against its peers.

    Peers: a pipeline-style loop, sentence-transformers-style length-sorted batches and a
    plain ONNX Runtime session; every mode's ratio is given against the strongest peer of
    the run. Random NB-BERT-base- and multilingual-e5-small-shaped encoders on generated
    Norwegian interview segments; records the CPU's capabilities and load; see
    nokoding.inference.bench for the method.
    """
    from nokoding.inference.bench import run_benchmark

    try:
        run_benchmark(
            device=device, n_segments=n_segments, quick=quick, archs=arch or None, modes=mode or None,
            time_budget=time_budget, slice_size=slice_size, compile=compile, seed=seed, out_dir=out_dir,
            command=_command_line(),
        )
    except (ValueError, ModuleNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from exc


def _command_line() -> str:
    """How this run was started, as a shell line (``nokoding bench ...`` or the script's path)."""
    script = sys.argv[0] if sys.argv[0].endswith(".py") else None
    head = ["python", os.path.relpath(script)] if script else ["nokoding"]
    return shlex.join([*head, *sys.argv[1:]])


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to ``app``."""
    app.command("bench")(bench)
