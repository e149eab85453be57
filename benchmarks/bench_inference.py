"""Inference benchmark: nokoding's batch engine (fp32, int8, onnx, bf16) against its peers (pipeline, sorted, ort).

Same as ``nokoding bench``; run from the repository root, e.g.

    python benchmarks/bench_inference.py --quick            # < 2 min smoke run on 2 CPU cores
    python benchmarks/bench_inference.py                    # default CPU run (< 10 min on 2 cores)
    python benchmarks/bench_inference.py --device cuda      # GPU: baseline fp32, engine fp32 and bf16, MFU

Writes benchmarks/results/inference_<device>.json and .md. Method: nokoding/inference/bench.py.
"""

import typer

from nokoding.cli.bench_cmd import bench

if __name__ == "__main__":
    typer.run(bench)
