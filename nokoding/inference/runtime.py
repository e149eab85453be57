"""Device, dtype, CPU threads and int8 quantisation for inference.

Runtimes:

* ``"fp32"`` — float32 weights and activations (CPU default).
* ``"bf16"`` — a bfloat16 copy of the model (GPU default); logits and embeddings are
  returned as float32. Works on CPU too, but is only fast on CPUs with AMX/AVX512-BF16.
* ``"int8"`` — CPU only (``device="auto"`` then means the CPU): the encoder's linear layers
  smoothed (SmoothQuant, calibrated on the model's own training segments — at most 128 — or,
  without them, its codebook's code descriptions) and dynamically quantised to int8 — see
  :mod:`nokoding.inference.int8`. Activations get one quantisation scale per token, so an
  int8 result does not depend on which other segments share its batch.
* ``"onnx"`` — CPU only: the model exported to ONNX and run in float32 by ONNX Runtime with
  fused attention/GELU/LayerNorm kernels (needs the ``[onnx]`` extra) — see
  :mod:`nokoding.inference.onnx_runtime`. Same outputs as fp32 up to float rounding.
* ``"auto"`` — ``"bf16"`` on a GPU; on the CPU ``"bf16"`` only with bf16 matrix
  instructions (AMX/AVX-512-BF16) and a measured agreement with fp32 of at least 99 % for
  this model, else ``"fp32"`` (:mod:`nokoding.inference.auto`).

Fork safety: after ``os.fork`` (``multiprocessing``'s default start method on Linux) a child
process cannot use the OpenMP thread pool that its parent's torch calls started — its
first parallel operator waits forever for threads that were not copied. Importing this
module registers :func:`_after_fork_in_child`, which drops torch to one thread in the
child (a pool of N workers then uses N cores; a later ``torch.set_num_threads`` in the
child is the caller's own choice) and forgets prepared ONNX Runtime sessions, whose thread
pools are lost the same way (the child prepares its own); it also sets
``TOKENIZERS_PARALLELISM=false`` around the fork unless the user set it, so the Rust
tokenizer runs single-threaded in the child without its fork warning.

Prepared models (copies converted to a device/dtype, int8 copies, ONNX sessions) are cached per source
model and invalidated when any parameter of the source is modified in place (e.g. by a
further training step) — the source model itself is never modified. In such copies LoRA
adapters (peft) are merged into their base layers. A model already on the right device
and dtype is run as is (no copy); call ``CodingModel.merge_adapters()`` first to fold its
LoRA adapters for a few per cent more speed.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import weakref
from typing import Any, Literal

import torch

from nokoding.inference.int8 import calibration_texts, int8_layer_names, quantize_int8

__all__ = [
    "CPU_RUNTIMES",
    "RUNTIMES",
    "Device",
    "Runtime",
    "available_cpus",
    "check_runtime",
    "configure_threads",
    "default_max_batch_tokens",
    "default_runtime",
    "hf_encoder",
    "int8_layer_names",
    "prepare_model",
    "resolve_device",
]

Device = Literal["auto", "cpu", "cuda"]
Runtime = Literal["fp32", "int8", "bf16", "onnx", "auto"]
#: The inference runtimes (see the module docstring).
RUNTIMES: tuple[str, ...] = ("fp32", "int8", "bf16", "onnx", "auto")
#: Runtimes that run on the CPU only (``device="auto"`` gives them the CPU).
CPU_RUNTIMES: tuple[str, ...] = ("int8", "onnx")

_THREADS_CONFIGURED = False
_CACHE: weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple, tuple[tuple, torch.nn.Module]]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_LOCK = threading.Lock()
_TOKENIZERS_ENV = "TOKENIZERS_PARALLELISM"
_SET_FOR_FORK = False


def _before_fork() -> None:
    global _SET_FOR_FORK
    _SET_FOR_FORK = _TOKENIZERS_ENV not in os.environ
    if _SET_FOR_FORK:  # read by the Rust tokenizer's own at-fork handler in the child
        os.environ[_TOKENIZERS_ENV] = "false"


def _after_fork_in_parent() -> None:
    if _SET_FOR_FORK:
        os.environ.pop(_TOKENIZERS_ENV, None)


def _after_fork_in_child() -> None:
    """One torch thread and no inherited ONNX sessions in a forked child (module docstring)."""
    global _CACHE_LOCK, _THREADS_CONFIGURED
    _CACHE_LOCK = threading.Lock()  # another parent thread may have held it at the fork
    torch.set_num_threads(1)
    _THREADS_CONFIGURED = True  # the engine's default does not raise it again
    for entries in list(_CACHE.values()):
        for key in [k for k in entries if k[1] == "onnx"]:
            del entries[key]


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )


def resolve_device(device: str = "auto", runtime: str | None = None) -> torch.device:
    """Turn ``"auto"``/``"cpu"``/``"cuda"``/``"cuda:N"`` into a ``torch.device``.

    ``"auto"`` picks CUDA when ``torch.cuda.is_available()``, else the CPU — except for
    the CPU-only runtimes (:data:`CPU_RUNTIMES`: ``"int8"``, ``"onnx"``), which always get
    the CPU.

    Raises:
        ValueError: for an unknown device name, or ``"cuda"`` when no GPU is usable.
    """
    if device == "auto":
        use_gpu = torch.cuda.is_available() and runtime not in CPU_RUNTIMES
        return torch.device("cuda" if use_gpu else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if isinstance(device, str) and device.split(":")[0] == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' was requested but torch sees no CUDA GPU")
        return torch.device(device)
    raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'")


def default_runtime(device: torch.device) -> str:
    """The runtime used when none is given: ``"bf16"`` on a GPU, ``"fp32"`` on the CPU."""
    return "bf16" if device.type == "cuda" else "fp32"


def available_cpus() -> int:
    """CPU cores this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    try:  # cgroup v2 quota, e.g. "200000 100000" = 2 CPUs
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op CPU threads once per process, unless the user already chose.

    Args:
        threads: explicit thread count (always applied). ``None``: on the first call only,
            use :func:`available_cpus` unless ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` or
            ``NOKODING_NUM_THREADS`` is set in the environment (``NOKODING_NUM_THREADS`` is
            applied; the others are left to torch). Later calls leave any value that the
            user set with ``torch.set_num_threads`` alone.

    Returns:
        The number of threads torch now uses.
    """
    global _THREADS_CONFIGURED
    if threads is not None:
        torch.set_num_threads(int(threads))
    elif not _THREADS_CONFIGURED:
        env = os.environ.get("NOKODING_NUM_THREADS")
        if env:
            torch.set_num_threads(int(env))
        elif not (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
            torch.set_num_threads(available_cpus())
    _THREADS_CONFIGURED = True
    return torch.get_num_threads()


def hf_encoder(model: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    """``(name, module)`` of the first Hugging Face ``PreTrainedModel`` inside ``model`` (the
    encoder/backbone; ``""`` when ``model`` is one itself), or ``None``."""
    from transformers import PreTrainedModel

    for name, module in model.named_modules():
        if isinstance(module, PreTrainedModel):
            return name, module
    return None


def _encoder_shape(model: torch.nn.Module) -> tuple[int, int, int]:
    """(hidden size, FFN size, attention heads) from the encoder's HF config, else BERT-base."""
    found = hf_encoder(model)
    cfg = getattr(found[1], "config", None) if found else None
    if cfg is not None and hasattr(cfg, "hidden_size"):
        return (
            int(cfg.hidden_size),
            int(getattr(cfg, "intermediate_size", 4 * cfg.hidden_size)),
            int(getattr(cfg, "num_attention_heads", 12)),
        )
    return 768, 3072, 12


def default_max_batch_tokens(model: torch.nn.Module, device: torch.device, runtime: str, max_length: int) -> int:
    """Padded tokens per batch when the caller gives no budget.

    CPU: 1,024 tokens, or one full window if that is longer — batches whose activations stay
    in the CPU caches: on 2 AVX2 cores the engine ran about 8 % faster than with 4,096-token
    batches, in fp32 and int8 alike (me5-small shape, 128 interview-like segments, alternating
    runs). GPU: sized to
    the free memory of the card, from an estimate of the live activation bytes per token
    in one encoder layer (``hidden×8 + FFN×2`` values plus ``heads×max_length`` attention
    scores, at the runtime's element size), using a quarter of the free memory, capped at
    65,536 tokens (throughput of BERT-sized encoders saturates well before that) and never
    below one full window.
    """
    if device.type != "cuda":
        return max(1024, max_length)
    hidden, ffn, heads = _encoder_shape(model)
    elem = 2 if runtime == "bf16" else 4
    per_token = elem * (8 * hidden + 2 * ffn + heads * max_length)
    free, _total = torch.cuda.mem_get_info(device)
    return int(max(max_length, min(65536, (free // 4) // per_token)))


def _fingerprint(model: torch.nn.Module) -> tuple:
    return tuple((id(p), p._version) for p in model.parameters())


def _params_match(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> bool:
    for p in model.parameters():
        if p.device.type != device.type or p.dtype != dtype:
            return False
        if device.index is not None and p.device.index != device.index:
            return False
    return True


def _fold_lora(model: torch.nn.Module) -> torch.nn.Module:
    """Merge LoRA adapters (peft) into their base layers and drop the adapter modules, in place.

    Only ever applied to a private copy. Outputs are unchanged up to float rounding; the
    plain ``nn.Linear`` layers left behind are faster and can be int8-quantised (peft's
    LoRA layer reads ``base_layer.weight.dtype``, which a quantised layer lacks).
    """
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        return model
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            if not module.merged:
                module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    return model


def _copy_memo(model: torch.nn.Module, share_embeddings: bool) -> dict[int, Any]:
    """A ``copy.deepcopy`` memo: what a prepared copy shares with its source instead of copying.

    * The model's plain attributes — everything that is not a submodule, parameter or
      buffer: the tokenizer (the engine builds its own backend copy; a Python-side copy of
      a 250k-piece tokenizer costs about 290 MB), codebook, configuration and evidence store.
      Prepared copies only read them.
    * With ``share_embeddings`` (copies that stay fp32 on the CPU: ``"int8"``, ``"onnx"``, and
      ``"fp32"`` with oneDNN kernels), the embedding tables, which those runtimes only read
      (96 M of me5-small's 118 M parameters) — only when the source already is fp32 on the
      CPU, since converting a shared tensor would convert the source too.
    """
    memo: dict[int, Any] = {}
    for name, value in vars(model).items():
        if not name.startswith("_") and not isinstance(value, (torch.nn.Module, torch.Tensor)):
            memo[id(value)] = value
    if share_embeddings and _params_match(model, torch.device("cpu"), torch.float32):
        for m in model.modules():
            if isinstance(m, torch.nn.Embedding):
                memo.update({id(p): p for p in m.parameters(recurse=False)})
    return memo


def check_runtime(runtime: str, device: torch.device | str) -> None:
    """Refuse a runtime outside :data:`RUNTIMES`, a CPU-only runtime on a GPU, or ``"onnx"``
    without its packages.

    ``device`` may also be the device option as given (``"auto"``, ``"cpu"``, ``"cuda[:N]"``):
    then only its kind counts, so the check needs no GPU to be present (up-front checks of
    ``suggest_codes`` and ``nokoding tag``).

    Raises:
        ValueError: naming the runtime and what to use instead.
        ModuleNotFoundError: ``"onnx"`` without the ``[onnx]`` extra (names the install command).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    kind = ("cuda" if device.startswith("cuda") else "cpu") if isinstance(device, str) else device.type
    if runtime in CPU_RUNTIMES and kind != "cpu":
        raise ValueError(f"runtime {runtime} is CPU-only; use device cpu (or auto), or runtime bf16 on a GPU")
    if runtime == "onnx":
        from nokoding.inference.onnx_runtime import check_onnx_available

        check_onnx_available()


def prepare_model(
    model: torch.nn.Module, device: torch.device, runtime: str, *, compile: bool = False
) -> torch.nn.Module:
    """Return a module ready to run on ``device`` in ``runtime`` (cached, eval mode).

    The source ``model`` is used as is when it already has the right device and dtype
    (bf16, fp32 on a GPU); otherwise a converted copy is made and cached. ``"int8"`` always
    builds a quantised copy, ``"fp32"`` on the CPU a copy with oneDNN linear layers
    (:mod:`nokoding.inference.onednn`; not with ``compile`` or ``NOKODING_FP32_KERNELS=aten``). The cache entry is dropped when the source's parameters change.

    Args:
        model: the source model (never modified, except that the caller switches it to
            eval mode while predicting when it is used as is).
        device: from :func:`resolve_device`.
        runtime: one of :data:`RUNTIMES`.
        compile: wrap the prepared module in ``torch.compile(dynamic=True)`` (not for
            ``"onnx"``, which is not a torch graph).

    Raises:
        ValueError: for an unknown runtime, a CPU-only runtime on a GPU, or ``compile`` with
            ``"onnx"``.
        ModuleNotFoundError: ``"onnx"`` without the ``[onnx]`` extra.
    """
    check_runtime(runtime, device)
    if runtime == "auto":
        from nokoding.inference.auto import auto_runtime

        runtime = auto_runtime(model, device)
    if compile and runtime == "onnx":
        raise ValueError("compile=True does not apply to runtime onnx (ONNX Runtime runs its own fused graph)")
    dtype = torch.bfloat16 if runtime == "bf16" else torch.float32
    from nokoding.inference.onednn import onednn_available, to_onednn

    onednn = runtime == "fp32" and device.type == "cpu" and not compile and onednn_available()
    converted = runtime in CPU_RUNTIMES or onednn  # always a new object, never the source itself
    if not converted and not compile and _params_match(model, device, dtype):
        return model
    key = (str(device), runtime, compile)
    fp = _fingerprint(model)
    with _CACHE_LOCK:
        hit = _CACHE.get(model, {}).get(key)
        if hit is not None and hit[0] == fp:
            return hit[1]
    if _params_match(model, device, dtype) and not converted:
        prepared = model
    elif runtime == "onnx":
        from nokoding.inference.onnx_runtime import onnx_module

        prepared = onnx_module(model, torch.get_num_threads(), memo=_copy_memo(model, True))
    else:
        prepared = _fold_lora(copy.deepcopy(model, _copy_memo(model, converted)))
        if runtime == "int8":
            prepared = quantize_int8(prepared.to(device="cpu", dtype=torch.float32).eval(), calibration_texts(model))
        elif onednn:
            prepared = to_onednn(prepared.to(device="cpu", dtype=torch.float32))
        else:
            prepared = prepared.to(device=device, dtype=dtype)
    if prepared is not model:  # the caller switches the source itself to eval and back
        prepared.eval()
    if compile:
        prepared = torch.compile(prepared, dynamic=True)
    if prepared is model or getattr(prepared, "_orig_mod", None) is model:
        return prepared  # caching it would keep the source alive through its own cache entry
    with _CACHE_LOCK:
        _CACHE.setdefault(model, {})[key] = (fp, prepared)
    return prepared
