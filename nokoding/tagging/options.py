"""Options of a tagging run: their checks, and the settings recorded for resume and in ``summary.json``.

:func:`check_options` refuses bad options before any work; :func:`run_settings` is what must
match for a finished document to be reused; :func:`summary_settings` adds what the summary shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DEFAULT_ROLES",
    "FORMATS",
    "check_options",
    "check_roles",
    "model_key",
    "resolved_runtime",
    "run_settings",
    "summary_settings",
]

#: Output formats and their file names in ``out_dir``.
FORMATS: dict[str, str] = {"csv": "segments.csv", "jsonl": "segments.jsonl", "qdpx": "project.qdpx"}
#: Roles whose segments are coded, as in :func:`nokoding.segmentation.segment`: interviewer
#: turns only give context, and ``unknown`` turns (text without a speaker in a transcript that
#: has speaker labels) are mostly titles and headers.
DEFAULT_ROLES: tuple[str, ...] = ("informant",)


def check_options(formats: Sequence[str] | str, top_k: int, threshold: float | None, device: str,
                  runtime: str | None = None, roles: Sequence[str] = DEFAULT_ROLES) -> tuple[str, ...]:
    """Validate options for :func:`tag` and the Ray engine; returns the formats, deduplicated.

    Raises:
        ValueError: unknown format, device, runtime or role, no role, ``int8``/``onnx`` with ``cuda``,
            ``top_k`` < 1, threshold outside 0–1.
        ModuleNotFoundError: ``onnx`` without the ``[onnx]`` extra.
    """
    if isinstance(formats, str):
        formats = formats.split(",")
    fmts = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in fmts if f not in FORMATS]
    if not fmts:
        raise ValueError(f"no output format given; choose from {', '.join(FORMATS)}")
    if unknown:
        raise ValueError(f"unknown output format(s) {unknown}; choose from {', '.join(FORMATS)}")
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    check_roles(roles)
    if runtime is not None:  # the device kind is enough here; a missing GPU is found later
        from nokoding.inference.runtime import check_runtime

        check_runtime(runtime, device)
    from nokoding.suggest import check_ranking

    if top_k is None:  # tag writes a fixed number of code columns
        raise ValueError("top_k must be at least 1, got None")
    check_ranking(top_k, threshold)
    return fmts


def check_roles(roles: Sequence[str]) -> None:
    """Refuse an empty role list or a role outside :data:`nokoding.segmentation.segmenter.ROLES`.

    Raises:
        ValueError: naming the unknown roles and the known ones.
    """
    from nokoding.segmentation.segmenter import ROLES

    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise ValueError(f"unknown role(s) {bad or list(roles)}; use informant, unknown or interviewer")


def resolved_runtime(device: str, runtime: str | None) -> tuple[str, str]:
    """``(device type, runtime)`` that a run with these options uses on this machine (e.g.
    ``("cpu", "fp32")`` for ``"auto"`` and ``None`` without a GPU; ``"int8"`` and ``"onnx"``
    always get the CPU). Options that cannot be resolved here (``"cuda"`` without a GPU) come back as given."""
    from nokoding.inference.runtime import default_runtime, resolve_device

    try:
        dev = resolve_device(device, runtime)
    except ValueError:
        return device, runtime or "auto"
    return dev.type, runtime or default_runtime(dev)


def summary_settings(settings: dict[str, Any], model: str | os.PathLike[str], device: str,
                     threshold: float | None, formats: Sequence[str], runtime: str | None = None) -> dict[str, Any]:
    """The run's options as ``summary.json`` records them: the resume ``settings`` (whose
    ``model`` is the fingerprint, kept as ``model_key``) with the model as given, the device
    as given and as used, the runtime used, the threshold and the output formats."""
    used_device, used_runtime = resolved_runtime(device, runtime)
    return {**settings, "model": str(model), "model_key": settings["model"], "device": device,
            "device_used": used_device, "runtime": used_runtime, "threshold": threshold,
            "formats": list(formats)}


def model_key(model: str | os.PathLike[str]) -> str:
    """How a run's settings name a model: ``"sha256:<hex>"`` of its folder's files
    (:func:`nokoding.model.io.model_fingerprint`), or the name as given when no such folder
    exists (a custom suggester; a missing model fails later, when it is loaded)."""
    from nokoding.model.io import ModelLoadError, model_fingerprint

    try:
        return "sha256:" + model_fingerprint(model)
    except ModelLoadError:
        return str(model)


def run_settings(model: str, top_k: int, roles: Sequence[str], runtime: str | None,
                 interviewer: Sequence[str] = (), device: str = "auto",
                 informant: Sequence[str] = ()) -> dict[str, Any]:
    """What must match for a finished document to be reused when a run is resumed.

    ``runtime`` is recorded only when it is not the default for ``device`` on this machine
    (:func:`resolved_runtime`: ``--runtime fp32`` on a CPU and no ``--runtime`` are the same
    run), ``interviewer`` and ``informant`` only when given — so runs made before they
    existed stay resumable.
    """
    settings: dict[str, Any] = {"model": model, "top_k": top_k, "roles": sorted(roles)}
    if runtime is not None and resolved_runtime(device, None) != resolved_runtime(device, runtime):
        settings["runtime"] = runtime
    if interviewer:
        settings["interviewer"] = sorted(interviewer)
    if informant:
        settings["informant"] = sorted(informant)
    return settings
