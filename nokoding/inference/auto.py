"""``runtime="auto"``: a faster runtime only where the hardware has it and its agreement was measured.

* On a GPU: ``"bf16"`` (the GPU default).
* On the CPU: ``"bf16"`` only when the CPU has bf16 matrix instructions (AMX-BF16 or
  AVX-512-BF16, :attr:`nokoding.inference.cpu.CpuCapabilities.bf16_matrix`) **and** an
  agreement file measured for this very model says that bf16 keeps the top code of at least
  :data:`MIN_AGREEMENT` of the segments in every unseen text set; otherwise ``"fp32"``.
  Without bf16 instructions (e.g. AVX2-only CPUs) bf16 is emulated and slower than fp32.

The agreement file is ``bf16_agreement_cpu.json``, written by
``python benchmarks/bench_int8_agreement.py --runtime bf16``, looked up in
``$NOKODING_AGREEMENT_DIR`` or else the repository's ``benchmarks/results``; it names the
model by :func:`model_fingerprint`, so a retrained model needs its own measurement. int8 is
never chosen automatically: its agreement on unseen text is below 99 %.

The default (``runtime=None``) stays ``"fp32"`` on the CPU: coding that will be reported
should not depend on which machine produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

__all__ = ["MIN_AGREEMENT", "agreement_file", "auto_runtime", "measured_agreement", "model_fingerprint"]

#: Smallest top-code agreement with fp32, on every unseen text set, for ``"auto"`` to pick bf16.
MIN_AGREEMENT = 0.99
#: Result sets of the agreement file that are not the model's training data.
UNSEEN_SETS = ("example_transcripts", "thesis_chapter2_prose", "thesis_chapter3_prose")


def model_fingerprint(model: torch.nn.Module) -> str:
    """A short hash naming a model's weights: every parameter's name and shape, and the
    values of the parameters outside its encoder (the heads, which training always changes)."""
    from nokoding.inference.runtime import hf_encoder

    found = hf_encoder(model)
    inside = f"{found[0]}." if found is not None and found[0] else None
    digest = hashlib.sha256()
    for name, p in model.named_parameters():
        digest.update(f"{name}{tuple(p.shape)}".encode())
        if inside is not None and not name.startswith(inside):
            digest.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def agreement_file(runtime: str) -> Path:
    """Where the agreement of ``runtime`` with fp32 is read from (module docstring)."""
    folder = os.environ.get("NOKODING_AGREEMENT_DIR")
    base = Path(folder) if folder else Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    return base / f"{runtime}_agreement_cpu.json"


def measured_agreement(model: torch.nn.Module, runtime: str) -> float | None:
    """The lowest top-code agreement with fp32 over the unseen text sets of ``runtime``'s
    agreement file, when that file was measured for ``model``; else ``None``."""
    path = agreement_file(runtime)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if result.get("model_fingerprint") != model_fingerprint(model):
        return None
    values = [result[k]["code"]["top_label_agreement"] for k in UNSEEN_SETS if k in result]
    return min(values) if values else None


def auto_runtime(model: torch.nn.Module, device: torch.device) -> str:
    """The runtime ``"auto"`` means for ``model`` on ``device`` (module docstring)."""
    from nokoding.inference.cpu import cpu_capabilities

    if device.type == "cuda":
        return "bf16"
    if not cpu_capabilities().bf16_matrix:
        return "fp32"
    agreement = measured_agreement(model, "bf16")
    return "bf16" if agreement is not None and agreement >= MIN_AGREEMENT else "fp32"
