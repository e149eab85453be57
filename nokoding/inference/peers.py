"""The peers the benchmark measures the engine against: what a user would otherwise write.

* :func:`run_sorted` — what ``sentence-transformers``' ``SentenceTransformer.encode`` does:
  the whole input sorted by length (characters, longest first; :func:`length_order`),
  consecutive batches of :data:`PEER_BATCH` of that order (:func:`peer_batches`), each
  tokenised with padding to its longest text and truncation at the tokenizer's
  ``model_max_length`` (512), a plain forward of the model (masked mean pooling) under
  ``torch.no_grad()``, outputs copied to the host per batch and put back in input order.
* :class:`OrtPeer` — the same loop through ONNX Runtime: the same model exported as it is
  (``torch.onnx.export``, opset 17, dynamic batch and sequence axes; no transformer
  fusion pass) and run by a plain ``onnxruntime.InferenceSession`` on the CPU with the
  same thread count (its default graph optimisations on).

``encode`` sorts *all* the texts it is given before it batches them, so a benchmark that
hands the peers small slices of its input in turn must cut those slices from the
length-sorted whole input (:func:`benchmark_rounds`); slices of the unsorted input would
leave each batch of 32 padded to the longest text of a random few dozen. The benchmark
sorts by token count rather than characters (the sort is not timed): that is at least as
tight as ``encode``'s character sort with any tokenizer, and the benchmark's small
tokenizer makes characters a poor guide to tokens (tokens per character vary by ±23 %
between its generated texts), which would otherwise handicap the peers.

The pipeline-style baseline (input order, no sorting) stays in
:func:`nokoding.inference.bench.run_baseline`. All return
:class:`nokoding.inference.bench.ModeStats`; FLOPs count real (unpadded, truncated) tokens.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["PEER_BATCH", "OrtPeer", "benchmark_rounds", "length_order", "peer_batches", "run_sorted", "torch_forward"]

#: Batch size of the peers (sentence-transformers' default).
PEER_BATCH = 32

Forward = Callable[[torch.Tensor, torch.Tensor], tuple[np.ndarray, np.ndarray]]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def length_order(texts: Sequence[str], lengths: Sequence[int] | None = None) -> list[int]:
    """Indices of ``texts``, longest first (ties keep input order).

    Args:
        texts: the texts.
        lengths: one length per text; ``None`` = characters, ``encode``'s own sort key.
    """
    key = [len(t) for t in texts] if lengths is None else list(lengths)
    if len(key) != len(texts):
        raise ValueError(f"{len(key)} lengths for {len(texts)} texts")
    return sorted(range(len(texts)), key=lambda i: -key[i])


def peer_batches(order: Sequence[int], batch_size: int = PEER_BATCH) -> list[list[int]]:
    """The sorted peers' batches: consecutive runs of ``batch_size`` of ``order``."""
    return [list(order[b : b + batch_size]) for b in range(0, len(order), batch_size)]


def benchmark_rounds(
    texts: Sequence[str], slice_size: int, lengths: Sequence[int] | None = None
) -> tuple[list[list[int]], list[list[int]]]:
    """Cut a benchmark input into rounds that keep every mode's whole-input batching.

    Args:
        texts: the whole benchmark input.
        slice_size: segments per round, a multiple of :data:`PEER_BATCH`.
        lengths: the sort key of :func:`length_order` (``None``: characters).

    Returns:
        ``(input_rounds, sorted_rounds)``: index lists into ``texts``. ``input_rounds`` are
        consecutive slices in input order (the pipeline-style baseline's fixed batches of 32
        of the whole input, a round at a time); ``sorted_rounds`` are consecutive slices of
        :func:`length_order` of the *whole* input, so the batches of 32 that the sorted peers
        form within a round are exactly the batches ``encode`` forms over the whole input.
        Each list holds every index exactly once; round ``r`` of both has the same size.

    Raises:
        ValueError: if ``slice_size`` is not a positive multiple of :data:`PEER_BATCH`.
    """
    if slice_size < 1 or slice_size % PEER_BATCH:
        raise ValueError(f"slice_size must be a positive multiple of {PEER_BATCH}, got {slice_size}")
    order = length_order(texts, lengths)
    cuts = range(0, len(texts), slice_size)
    return [list(range(i, min(i + slice_size, len(texts)))) for i in cuts], [order[i : i + slice_size] for i in cuts]


def torch_forward(model: torch.nn.Module, device: torch.device) -> Forward:
    """The plain forward of ``model`` on ``device``: code and sentiment logits as numpy arrays."""

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device))
        return out.code_logits.float().cpu().numpy(), out.sentiment_logits.float().cpu().numpy()

    return forward


def run_sorted(model: Any, texts: list[str], forward: Forward, flop_terms: tuple[int, int, int],
               sync: Callable[[], None] = lambda: None, *, presorted: bool = False) -> Any:
    """Length-sorted batches of :data:`PEER_BATCH` through ``forward`` (module docstring).

    Args:
        model: the benchmark model (its ``tokenizer`` and ``text_prefix`` are used).
        texts: the segments.
        forward: :func:`torch_forward` or :meth:`OrtPeer.forward`.
        flop_terms: ``(N, L, H)`` of :meth:`BenchModel.flop_terms`.
        sync: waits for the device (CUDA) before the clock is read.
        presorted: ``texts`` are already in the order to batch (a slice of a whole input's
            :func:`length_order`); otherwise they are sorted here by characters.

    Returns:
        ModeStats with time, CPU time, tokens and FLOPs.
    """
    from nokoding.inference.bench import ModeStats

    tok, prefix = model.tokenizer, model.text_prefix
    n_param, n_layer, hidden = flop_terms
    limit = int(tok.model_max_length)
    st = ModeStats()
    sync()
    start, cpu_start = time.perf_counter(), time.process_time()
    codes: list[np.ndarray | None] = [None] * len(texts)
    with torch.no_grad():
        order = range(len(texts)) if presorted else length_order(texts)
        for idx in peer_batches(order):
            enc = tok([prefix + texts[i] for i in idx], padding=True, truncation=True, max_length=limit,
                      return_tensors="pt")
            code, senti = forward(enc["input_ids"], enc["attention_mask"])
            probs, _ = _sigmoid(code), _softmax(senti)
            for k, i in enumerate(idx):
                codes[i] = probs[k]
            lens = enc["attention_mask"].sum(1).numpy().astype(np.float64)
            st.real_tokens += int(lens.sum())
            st.padded_tokens += int(enc["input_ids"].numel())
            st.truncated_segments += int((lens >= limit).sum())
            st.flops += float((2 * n_param * lens + 4 * n_layer * hidden * lens**2).sum())
    sync()
    st.seconds, st.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    st.segments = st.windows = len(texts)
    assert all(c is not None for c in codes)
    return st


class OrtPeer:
    """The model exported as it is and run by a plain ONNX Runtime session (module docstring).

    Args:
        model: the benchmark model (fp32, CPU).
        threads: ONNX Runtime's intra-op threads (the engine's torch threads).
    """

    def __init__(self, model: torch.nn.Module, threads: int) -> None:
        import onnxruntime as ort

        from nokoding.inference.onnx_runtime import OPSET, OUTPUT_NAMES, _example_batch, _Outputs

        ids, mask = _example_batch(model)
        axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
        with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
            path = Path(tmp) / "model.onnx"
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(_Outputs(model).eval(), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                                  output_names=list(OUTPUT_NAMES), dynamic_axes=axes, opset_version=OPSET, dynamo=False)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """One batch: code and sentiment logits."""
        code, senti, _emb = self.session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        return code, senti
