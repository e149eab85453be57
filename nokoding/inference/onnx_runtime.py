"""The ``"onnx"`` CPU runtime: the model exported to ONNX and run by ONNX Runtime (fp32).

Needs the ``[onnx]`` extra (``pip install 'nokoding[onnx]'``: ``onnxruntime`` and ``onnx``).

Steps (once per model and process; the source model is never modified):

1. a private fp32 CPU copy of the model, LoRA adapters merged, its Hugging Face encoder
   switched to eager attention (the explicit softmax(QKᵀ/√d + mask)·V graph, which the
   fusion step recognises; SDPA exports as a pattern it does not);
2. exported with ``torch.onnx.export`` (TorchScript tracer, opset 17) with dynamic batch
   and sequence axes — traced on a padded example batch, so the attention-mask path is
   part of the graph;
3. rewritten by ONNX Runtime's transformer optimizer
   (``onnxruntime.transformers.optimizer.optimize_model``, ``model_type="bert"``) into
   fused operators: one ``Attention`` per layer (Q/K/V projections, masking, softmax and
   context in one kernel), ``BiasGelu``, ``SkipLayerNormalization``,
   ``EmbedLayerNormalization``;
4. loaded into an ``onnxruntime.InferenceSession`` on the CPU with torch's thread count.

Nothing is quantised: outputs equal the torch fp32 model's up to float rounding (the
engine's 1e-5 test applies). Measured with the shipped model, 256 interview-like segments,
2 cores: see README, "Speed". Export and fusion take a few seconds to half a minute per
model (me5-small: see README); the ONNX graph holds its own copy of the weights, so the
process holds the model twice (me5-small: about +0.5 GB). Models over 2 GB (protobuf's
limit) are not supported.

ONNX Runtime's own dynamic int8 quantisation was tried on the fused graph and kept fewer top
codes than the ``"int8"`` runtime (README, "What did not help"); it is not offered.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["OnnxModule", "OnnxOutput", "check_onnx_available", "export_onnx", "onnx_module"]

#: Output names of the exported graph, in order; the engine reads these fields.
OUTPUT_NAMES = ("code_logits", "sentiment_logits", "embeddings")
#: ONNX opset of the export.
OPSET = 17


def check_onnx_available() -> None:
    """Raise when the ``[onnx]`` extra is not installed.

    Raises:
        ModuleNotFoundError: naming the missing package and the install command.
    """
    for package in ("onnxruntime", "onnx"):
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


def export_onnx(model: torch.nn.Module) -> bytes:
    """Export ``model`` (an fp32 CPU model, LoRA merged; modified: eager attention) to ONNX.

    Args:
        model: follows :class:`nokoding.inference.types.InferenceModel`; pass a private copy.

    Returns:
        The serialised ``ModelProto`` with inputs ``input_ids``/``attention_mask``
        (``int64[batch, sequence]``) and outputs :data:`OUTPUT_NAMES` (``float32[batch, ·]``).
    """
    from nokoding.inference.runtime import hf_encoder

    found = hf_encoder(model)
    if found is not None and hasattr(found[1], "set_attn_implementation"):
        found[1].set_attn_implementation("eager")
    pad = int(getattr(model.tokenizer, "pad_token_id", None) or 0)
    ids = torch.full((2, 8), pad, dtype=torch.long)
    ids[:, 0] = 1
    ids[0, 1:] = 2 if pad != 2 else 3
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0  # a padded row, so the trace keeps the masking path
    buffer = io.BytesIO()
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes.update({name: {0: "batch"} for name in OUTPUT_NAMES})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
        torch.onnx.export(
            _Outputs(model).eval(),
            (ids, mask),
            buffer,
            input_names=["input_ids", "attention_mask"],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


#: Embedding tables with more rows than this are swapped for their first rows while the
#: graph is fused (the optimizer copies the whole graph several times; me5-small's
#: 250,037 × 384 table made that take 21 s instead of 4 s) and put back afterwards. Must
#: stay above the position-embedding rows of any supported encoder (512 for BERT).
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


def fuse(proto_bytes: bytes, num_heads: int, hidden_size: int) -> bytes:
    """Rewrite an exported BERT-family graph into ONNX Runtime's fused operators (step 3).

    Large embedding tables (:data:`LARGE_TABLE_ROWS`) are cut to their first rows during the
    rewrite and restored in the result. The optimizer works on files in a temporary folder,
    deleted afterwards.

    Returns:
        The serialised, fused ``ModelProto`` (weights inline).

    Raises:
        RuntimeError: if the optimizer dropped or renamed a large embedding table.
    """
    import tempfile
    from pathlib import Path

    import onnx
    from onnx import numpy_helper
    from onnxruntime.transformers import optimizer

    proto = onnx.load_from_string(proto_bytes)
    tables: dict[str, np.ndarray] = {}
    for init in proto.graph.initializer:
        if len(init.dims) == 2 and init.dims[0] > LARGE_TABLE_ROWS:
            full = numpy_helper.to_array(init)
            tables[init.name] = full
            init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(full[:LARGE_TABLE_ROWS]), init.name))
    old_levels = _quiet_optimizer_logs()
    try:
        with tempfile.TemporaryDirectory(prefix="nokoding-onnx-") as tmp:
            source, target = Path(tmp) / "exported.onnx", Path(tmp) / "fused.onnx"
            onnx.save_model(proto, str(source))
            del proto
            fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size)
            fused.save_model_to_file(str(target), use_external_data_format=False)
            result = onnx.load_model(str(target))
    finally:
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)
    for init in result.graph.initializer:
        if init.name in tables:
            init.CopyFrom(numpy_helper.from_array(tables.pop(init.name), init.name))
    if tables:
        raise RuntimeError(f"ONNX fusion lost the embedding table(s) {sorted(tables)}; use runtime fp32")
    return result.SerializeToString()


class OnnxModule(torch.nn.Module):
    """An ONNX Runtime session behind the engine's model call.

    ``module(input_ids=LongTensor[B, T], attention_mask=LongTensor[B, T])`` returns an
    :class:`OnnxOutput`. CPU tensors only. Holds no torch parameters.

    Args:
        model_bytes: a serialised ONNX model from :func:`export_onnx` (and :func:`fuse`).
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(self, model_bytes: bytes, threads: int) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
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

    Args:
        model: the source model (not modified; a private copy is exported).
        threads: ONNX Runtime intra-op threads (the engine passes torch's thread count).
        memo: ``copy.deepcopy`` memo of objects to share rather than copy (the tokenizer).

    Raises:
        ModuleNotFoundError: without the ``[onnx]`` extra.
    """
    check_onnx_available()
    from nokoding.inference.runtime import _encoder_shape, _fold_lora, hf_encoder

    private = _fold_lora(copy.deepcopy(model, memo or {})).to(device="cpu", dtype=torch.float32).eval()
    proto = export_onnx(private)
    fused_ops: dict[str, int] = {}
    if hf_encoder(private) is not None:
        hidden, _ffn, heads = _encoder_shape(private)
        proto = fuse(proto, heads, hidden)
        fused_ops = fused_operator_counts(proto)
    del private
    module = OnnxModule(proto, threads)
    module.fused_operators = fused_ops
    return module


def fused_operator_counts(proto_bytes: bytes) -> dict[str, int]:
    """How many nodes of each ONNX Runtime fused operator type (``com.microsoft`` domain)
    the graph holds, e.g. ``{"Attention": 12, "BiasGelu": 12, ...}``."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load_from_string(proto_bytes).graph.node:
        if node.domain == "com.microsoft":
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
