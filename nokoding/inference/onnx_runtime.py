"""The ``"onnx"`` CPU runtime: the model exported to ONNX and run by ONNX Runtime (fp32).

Needs the ``[onnx]`` extra (``pip install 'nokoding[onnx]'``: ``onnxruntime`` and ``onnx``).

Steps (once per model and process; the source model is never modified):

1. a private fp32 CPU copy of the model, LoRA adapters merged, its Hugging Face encoder
   switched to eager attention (the explicit softmax(QKᵀ/√d + mask)·V graph, which the
   fusion step recognises; SDPA exports as a pattern it does not), and a word-embedding
   table longer than :data:`LARGE_TABLE_ROWS` cut to its first rows;
2. exported with ``torch.onnx.export`` (TorchScript tracer, opset 17) with dynamic batch
   and sequence axes — traced on a padded batch of two texts from the model's tokenizer, so
   the attention-mask path is part of the graph;
3. rewritten by ONNX Runtime's transformer optimizer
   (``onnxruntime.transformers.optimizer.optimize_model``, ``model_type="bert"``) into
   fused operators: one ``Attention`` per layer (Q/K/V projections, masking, softmax and
   context in one kernel), ``BiasGelu``, ``SkipLayerNormalization``,
   ``EmbedLayerNormalization`` — a warning says so when it fuses no attention;
4. loaded into an ``onnxruntime.InferenceSession`` on the CPU with torch's thread count;
   the full word-embedding table is handed to the session as the source model's own
   tensor (no copy).

Nothing is quantised: outputs equal the torch fp32 model's up to float rounding (the
engine's 1e-5 reference test runs for this runtime too). Start-up and memory with the
shipped model: README, "Speed". Models over 2 GB without their word embeddings
(protobuf's limit) are not supported. torch marks the TorchScript-based exporter
deprecated (its notice is silenced here, as are the tracer's notes on Python-side shape
checks); it is what ONNX Runtime's BERT fusions are written against.

ONNX Runtime's own dynamic int8 quantisation was tried on the fused graph and kept fewer top
codes than the ``"int8"`` runtime (README, "Speed"); it is not offered.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import logging
import os
import tempfile
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["OnnxModule", "OnnxOutput", "check_onnx_available", "export_onnx", "fuse", "onnx_available", "onnx_module"]

#: Output names of the exported graph, in order; the engine reads these fields.
OUTPUT_NAMES = ("code_logits", "sentiment_logits", "embeddings")
#: ONNX opset of the export.
OPSET = 17


#: The packages of the ``[onnx]`` extra.
PACKAGES = ("onnxruntime", "onnx")


def onnx_available() -> bool:
    """Whether the ``[onnx]`` extra is installed (without importing it)."""
    return all(importlib.util.find_spec(package) is not None for package in PACKAGES)


def check_onnx_available() -> None:
    """Raise when the ``[onnx]`` extra is not installed.

    Raises:
        ModuleNotFoundError: naming the missing package and the install command.
    """
    for package in PACKAGES:
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(
                f"runtime onnx needs the package {package!r}: pip install 'nokoding[onnx]'", name=package
            )


@dataclass
class OnnxOutput:
    """One forward pass of :class:`OnnxModule` over ``B`` windows (``float32`` tensors).

    Attributes:
        code_logits: ``[B, n_codes]``. sentiment_logits: ``[B, n_sentiments]``.
        embeddings: ``[B, H]``.
    """

    code_logits: torch.Tensor
    sentiment_logits: torch.Tensor
    embeddings: torch.Tensor


class _Outputs(torch.nn.Module):
    """The model with its output object flattened into a tuple, for the exporter."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return tuple(getattr(out, name) for name in OUTPUT_NAMES)


def _example_batch(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Two real windows from the model's own tokenizer, the shorter one right-padded (so the
    trace keeps the attention-mask path)."""
    tok = model.tokenizer
    prefix = getattr(model, "text_prefix", "")
    rows = [list(tok(prefix + text)["input_ids"]) for text in ("Vi blir målt på antall vedtak hver måned.", "Ja.")]
    width = max(len(r) for r in rows) + 1  # at least one padded position
    pad = int(tok.pad_token_id) if tok.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
    return ids, mask


def export_onnx(model: torch.nn.Module, path: str | os.PathLike[str]) -> None:
    """Export ``model`` (an fp32 CPU model, LoRA merged; modified: eager attention) to ``path``.

    The graph has inputs ``input_ids``/``attention_mask`` (``int64[batch, sequence]``) and
    outputs :data:`OUTPUT_NAMES` (``float32[batch, ·]``); weights are stored inline (models
    up to protobuf's 2 GB).

    Args:
        model: follows :class:`nokoding.inference.types.InferenceModel`; pass a private copy.
        path: the ``.onnx`` file to write.
    """
    from nokoding.inference.runtime import hf_encoder

    found = hf_encoder(model)
    if found is not None and hasattr(found[1], "set_attn_implementation"):
        found[1].set_attn_implementation("eager")
    ids, mask = _example_batch(model)
    if found is not None:
        ids = ids.clamp(max=found[1].get_input_embeddings().num_embeddings - 1)  # a cut table (onnx_module)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes.update({name: {0: "batch"} for name in OUTPUT_NAMES})
    with warnings.catch_warnings(), torch.no_grad():
        # expected, and not about this graph: the tracer's notes on Python-side shape checks
        # (batch and sequence stay dynamic; the engine's reference test checks the result)
        # and torch's notice that its TorchScript-based exporter is deprecated
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*aten::index.*")
        warnings.filterwarnings("ignore", message=r".*TorchScript-based ONNX export.*")
        torch.onnx.export(
            _Outputs(model).eval(),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


#: A word-embedding table with more rows than this is not copied into the ONNX graph: the
#: graph is exported with its first rows only, and the session reads the full table from
#: the source model's own tensor (``SessionOptions.add_initializer``, no copy). Without
#: that, me5-small's 250,037 × 384 table was held several times over while the graph was
#: exported and fused (peak RSS +2.2 GB, fusion 21 s instead of 4 s) and once more by the
#: session. Must stay above the position-embedding rows of any supported encoder (512 for
#: BERT), which the fusion tells apart from the word embeddings by their size.
LARGE_TABLE_ROWS = 8192


def _quiet_optimizer_logs() -> dict[str, int]:
    """Silence the optimizer's per-fusion log lines; returns the old levels."""
    old = {}
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("onnxruntime", "fusion", "onnx_model", "optimizer", "symbolic_shape")):
            log = logging.getLogger(name)
            old[name] = log.level
            log.setLevel(logging.ERROR)
    return old


def fuse(source: str | os.PathLike[str], target: str | os.PathLike[str], num_heads: int, hidden_size: int,
         *, keep: Collection[str] = ()) -> dict[str, int]:
    """Rewrite an exported BERT-family graph into ONNX Runtime's fused operators (step 3).

    Args:
        source: the exported ``.onnx`` file (read). target: the fused ``.onnx`` file (written).
        num_heads, hidden_size: of the encoder.
        keep: initializer names that must survive the rewrite (the cut word-embedding table,
            which the session replaces by name).

    Returns:
        ``{operator type: count}`` of ONNX Runtime's fused operators in the result.

    Raises:
        RuntimeError: an initializer in ``keep`` was renamed or dropped — the session would
            otherwise run on the cut table.
    """
    from onnxruntime.transformers import optimizer

    old_levels = _quiet_optimizer_logs()
    try:
        fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
    finally:
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)
    missing = sorted(set(keep) - {init.name for init in fused.model.graph.initializer})
    if missing:
        raise RuntimeError(f"ONNX fusion lost the embedding table(s) {missing}; use runtime fp32")
    fused.save_model_to_file(str(target), use_external_data_format=False)
    counts = _count_fused(fused.model)
    del fused
    gc.collect()  # the optimizer's graph copies sit in reference cycles
    return counts


class OnnxModule(torch.nn.Module):
    """An ONNX Runtime session behind the engine's model call.

    ``module(input_ids=LongTensor[B, T], attention_mask=LongTensor[B, T])`` returns an
    :class:`OnnxOutput`. CPU tensors only. Holds no torch parameters.

    Args:
        model_path: an ONNX model from :func:`export_onnx` (and :func:`fuse`); read once.
        threads: ONNX Runtime intra-op threads.
        shared: ``{initializer name: contiguous fp32 CPU tensor}`` that replace the graph's
            initializers of those names without a copy (see :data:`LARGE_TABLE_ROWS`).

    Attributes:
        fused_operators: ``{operator type: count}`` of ONNX Runtime's fused operators in the
            graph (``{}`` when it was not fused).
    """

    def __init__(self, model_path: str | os.PathLike[str], threads: int,
                 shared: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        # tensors the session reads in place; kept referenced as long as the session lives
        self._shared = {name: (t, ort.OrtValue.ortvalue_from_numpy(t.detach().numpy()))
                        for name, t in (shared or {}).items()}
        for name, (_t, value) in self._shared.items():
            options.add_initializer(name, value)
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.fused_operators: dict[str, int] = {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> OnnxOutput:
        feed = {
            "input_ids": np.ascontiguousarray(input_ids.cpu().numpy(), dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask.cpu().numpy(), dtype=np.int64),
        }
        code, sentiment, emb = self.session.run(list(OUTPUT_NAMES), feed)
        return OnnxOutput(torch.from_numpy(code), torch.from_numpy(sentiment), torch.from_numpy(emb))


def onnx_module(model: torch.nn.Module, threads: int, *, memo: dict[int, Any] | None = None) -> OnnxModule:
    """Build the ``"onnx"`` runtime's module for ``model`` (module docstring, steps 1–4).

    Files go to a temporary folder that is deleted before this returns.

    Args:
        model: the source model (not modified; a private copy is exported).
        threads: ONNX Runtime intra-op threads (the engine passes torch's thread count).
        memo: ``copy.deepcopy`` memo of objects the private copy may share with ``model``
            (it only reads them).

    Warns:
        RuntimeWarning: when ONNX Runtime's optimizer fused no ``Attention`` operator (an
            encoder type it does not recognise): results are still right, but no faster.

    Raises:
        ModuleNotFoundError: without the ``[onnx]`` extra.
    """
    check_onnx_available()
    from nokoding.inference.runtime import _encoder_shape, _fold_lora, hf_encoder

    private = _fold_lora(copy.deepcopy(model, {} if memo is None else memo)).to(device="cpu", dtype=torch.float32).eval()
    found = hf_encoder(private)
    shape = _encoder_shape(private)
    shared: dict[str, torch.Tensor] = {}
    if found is not None:
        table = found[1].get_input_embeddings()
        if isinstance(table, torch.nn.Embedding) and table.num_embeddings > LARGE_TABLE_ROWS:
            cut = torch.nn.Embedding.from_pretrained(
                table.weight.detach()[:LARGE_TABLE_ROWS].clone(), freeze=True, padding_idx=table.padding_idx
            )
            found[1].set_input_embeddings(cut)
            name = next(n for n, p in _Outputs(private).named_parameters() if p is cut.weight)
            shared[name] = table.weight.detach().contiguous()
            del table, cut
    with tempfile.TemporaryDirectory(prefix="nokoding-onnx-") as tmp:
        exported, fused = Path(tmp) / "exported.onnx", Path(tmp) / "fused.onnx"
        export_onnx(private, exported)
        del private
        gc.collect()
        counts: dict[str, int] = {}
        if found is not None:
            hidden, _ffn, heads = shape
            counts = fuse(exported, fused, heads, hidden, keep=shared)
            exported.unlink()
        module = OnnxModule(fused if found is not None else exported, threads, shared)
    module.fused_operators = counts
    if not counts.get("Attention"):
        warnings.warn(
            "ONNX Runtime fused no attention layers of this encoder; runtime onnx gives fp32's results "
            "but probably no speed-up over runtime fp32",
            RuntimeWarning,
            stacklevel=2,
        )
    return module


def _count_fused(proto: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in proto.graph.node:
        if node.domain == "com.microsoft":
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
