"""Batch inference engine: tokenise once, window long texts, sort, batch under a token budget.

For each chunk of input texts (a few thousand; memory stays bounded however many texts
stream in) the engine

1. normalises each text to Unicode NFC and prepends ``model.text_prefix``;
2. tokenises the whole chunk in one call of the fast (Rust) tokenizer, without padding,
   truncation or special tokens — on a background thread, overlapping the previous
   chunk's forward passes (the Rust tokenizer releases the GIL);
3. frames every text as one window, or several overlapping windows when it is longer than
   ``model.max_length`` (:mod:`nokoding.inference.windows`) — nothing is truncated;
4. sorts the windows by length and cuts them into batches of at most ``max_batch_tokens``
   padded tokens (:mod:`nokoding.inference.batching`), padding each batch only to its own
   longest window;
5. runs the model under ``torch.inference_mode()`` (SDPA attention, transformers' default
   for BERT), writing outputs back to each window's original row;
6. averages logits and embeddings over each text's windows and yields results in input
   order.

:func:`reference_predict` is the slow, obviously-correct definition the engine must match:
one text at a time, one window at a time, no padding.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import torch

from nokoding.inference.batching import pad_batch, plan_batches
from nokoding.inference.runtime import (
    check_runtime,
    configure_threads,
    default_max_batch_tokens,
    default_runtime,
    prepare_model,
    resolve_device,
)
from nokoding.inference.types import InferenceModel, RawPrediction
from nokoding.inference.windows import WindowFrame, frame_for, make_windows

__all__ = ["Engine", "predict", "reference_predict"]

_FIELDS = ("code_logits", "sentiment_logits", "embeddings")


@dataclass
class _Chunk:
    """One tokenised chunk: windows of all its texts, text→window map, batch plan."""

    windows: list[list[int]]
    counts: np.ndarray  # windows per text, int64[n_texts]
    n_tokens: np.ndarray  # real tokens per text, int64[n_texts]
    batches: list[np.ndarray]


def _check_text(text: Any, position: int) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text at input position {position} is {type(text).__name__}, not str")
    return text


class Engine:
    """Reusable batch-inference engine for one model, device and runtime.

    Args:
        model: a module following :class:`nokoding.inference.types.InferenceModel`
            (e.g. ``nokoding.CodingModel``).
        device: ``"auto"`` (CUDA if available, else CPU; always the CPU for ``"int8"`` and
            ``"onnx"``),
            ``"cpu"`` or ``"cuda"``.
        runtime: ``"fp32"``, ``"bf16"``, ``"int8"`` or ``"onnx"`` (both CPU only; onnx needs
            the ``[onnx]`` extra), or ``"auto"`` (:mod:`nokoding.inference.auto`; the
            attribute ``runtime`` then holds the choice); ``None`` = ``"bf16"`` on a
            GPU, ``"fp32"`` on the CPU. See :mod:`nokoding.inference.runtime`.
        max_batch_tokens: padded tokens per batch (rows × longest row); ``None`` = sized
            for the device (:func:`~nokoding.inference.runtime.default_max_batch_tokens`).
        stride: step in tokens between the starts of consecutive windows of a long text
            (overlap = window body − stride); ``None`` = ¾ of a window
            (:mod:`nokoding.inference.windows`).
        chunk_size: texts tokenised, sorted and batched together (bounds memory);
            ``None`` = 2,048 on CPU, 16,384 on GPU.
        compile: run the model through ``torch.compile(dynamic=True)``.
        threads: CPU threads for torch; ``None`` = all cores this process may use, unless
            set in the environment (:func:`~nokoding.inference.runtime.configure_threads`).

    Raises:
        ValueError: bad device/runtime/stride/budget, or a tokenizer whose special tokens
            cannot be located.
    """

    def __init__(
        self,
        model: InferenceModel,
        *,
        device: str = "auto",
        runtime: str | None = None,
        max_batch_tokens: int | None = None,
        stride: int | None = None,
        chunk_size: int | None = None,
        compile: bool = False,
        threads: int | None = None,
    ) -> None:
        self.model = model
        self.device = resolve_device(device, runtime)
        self.runtime = runtime or default_runtime(self.device)
        check_runtime(self.runtime, self.device)  # at construction, before any text is read
        if self.runtime == "auto":
            from nokoding.inference.auto import auto_runtime

            self.runtime = auto_runtime(model, self.device)  # type: ignore[arg-type]
        if self.device.type == "cpu" or threads is not None:
            configure_threads(threads)
        self.compile = compile
        tok = model.tokenizer
        self.frame: WindowFrame = frame_for(tok, model.text_prefix, int(model.max_length))
        body = self.frame.body_length
        if stride is not None and not 1 <= stride <= body:
            raise ValueError(f"stride must be between 1 and {body} tokens, got {stride}")
        self.stride = stride
        self.pad_id = int(tok.pad_token_id) if tok.pad_token_id is not None else 0
        self.max_batch_tokens = (
            int(max_batch_tokens)
            if max_batch_tokens is not None
            else default_max_batch_tokens(model, self.device, self.runtime, int(model.max_length))  # type: ignore[arg-type]
        )
        if self.max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be ≥ 1, got {max_batch_tokens}")
        self.chunk_size = int(chunk_size or (16384 if self.device.type == "cuda" else 2048))
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is not None:  # own copy: no truncation/padding state shared with callers
            from tokenizers import Tokenizer

            backend = Tokenizer.from_str(backend.to_str())
            backend.no_truncation()
            backend.no_padding()
        self._backend = backend

    # -- stage 1: tokenise and plan (runs on a worker thread) --------------------------
    def _encode(self, texts: list[str]) -> list[list[int]]:
        if self._backend is not None:
            return [e.ids for e in self._backend.encode_batch(texts, add_special_tokens=False)]
        enc = self.model.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
        return [list(ids) for ids in enc["input_ids"]]

    def _prepare_chunk(self, texts: list[str]) -> _Chunk:
        prefix = self.model.text_prefix
        content = self._encode([unicodedata.normalize("NFC", prefix + t) for t in texts])
        windows: list[list[int]] = []
        counts = np.empty(len(texts), dtype=np.int64)
        n_tokens = np.empty(len(texts), dtype=np.int64)
        for i, ids in enumerate(content):
            ws = make_windows(ids, self.frame, self.stride)
            windows.extend(ws)
            counts[i] = len(ws)
            n_tokens[i] = sum(len(w) for w in ws)
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        return _Chunk(windows, counts, n_tokens, plan_batches(lengths, self.max_batch_tokens))

    # -- stage 2: forward passes ---------------------------------------------------------
    def _run_chunk(self, module: torch.nn.Module, chunk: _Chunk) -> list[RawPrediction]:
        dev, cuda = self.device, self.device.type == "cuda"
        n = len(chunk.windows)
        outs: list[torch.Tensor] | None = None
        with torch.inference_mode():
            for idx in chunk.batches:
                ids, mask = pad_batch(chunk.windows, idx, self.pad_id)
                t_ids, t_mask, rows = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(idx)
                if cuda:
                    t_ids = t_ids.pin_memory().to(dev, non_blocking=True)
                    t_mask = t_mask.pin_memory().to(dev, non_blocking=True)
                    rows = rows.pin_memory().to(dev, non_blocking=True)
                out = module(input_ids=t_ids, attention_mask=t_mask)
                vals = [getattr(out, f) for f in _FIELDS]
                if outs is None:
                    outs = [torch.empty((n, v.shape[-1]), dtype=torch.float32, device=v.device) for v in vals]
                for buf, v in zip(outs, vals):
                    buf.index_copy_(0, rows.to(v.device), v.float())
        assert outs is not None
        arrays = [o.cpu().numpy() for o in outs]
        if np.all(chunk.counts == 1):
            pooled = arrays
        else:
            starts = np.concatenate(([0], np.cumsum(chunk.counts)[:-1]))
            pooled = [np.add.reduceat(a, starts, axis=0) / chunk.counts[:, None].astype(np.float32) for a in arrays]
        pooled = [np.ascontiguousarray(p, dtype=np.float32) for p in pooled]
        for p in pooled:
            p.flags.writeable = False
        code, senti, emb = pooled
        return [
            RawPrediction(code[i], senti[i], emb[i], int(chunk.counts[i]), int(chunk.n_tokens[i]))
            for i in range(len(chunk.counts))
        ]

    # -- public ----------------------------------------------------------------------------
    def predict(self, texts: Iterable[str]) -> Iterator[RawPrediction]:
        """Yield one :class:`RawPrediction` per input text, in input order.

        ``texts`` may be any iterable, including a generator; it is consumed lazily, one
        chunk ahead of the results being yielded, so memory does not grow with its length.

        Raises:
            TypeError: if ``texts`` is a single ``str``, or an item is not a ``str`` (names
                its input position).
        """
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be an iterable of str (e.g. a list), not a single string")
        return self._predict(texts)

    def _predict(self, texts: Iterable[str]) -> Iterator[RawPrediction]:
        module = prepare_model(self.model, self.device, self.runtime, compile=self.compile)  # type: ignore[arg-type]
        source: torch.nn.Module = self.model  # type: ignore[assignment]
        restore = getattr(module, "_orig_mod", module) is source and source.training
        if restore:
            source.eval()
        it = iter(texts)
        position = 0

        def take() -> list[str]:
            nonlocal position
            batch = [_check_text(t, position + k) for k, t in enumerate(islice(it, self.chunk_size))]
            position += len(batch)
            return batch

        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nokoding-tokenize") as pool:
                first = take()
                pending: Future[_Chunk] | None = pool.submit(self._prepare_chunk, first) if first else None
                while pending is not None:
                    chunk = pending.result()
                    nxt = take()
                    pending = pool.submit(self._prepare_chunk, nxt) if nxt else None
                    yield from self._run_chunk(module, chunk)
        finally:
            if restore:
                source.train()


def predict(
    model: InferenceModel,
    texts: Iterable[str],
    *,
    device: str = "auto",
    runtime: str | None = None,
    max_batch_tokens: int | None = None,
    stride: int | None = None,
    chunk_size: int | None = None,
    compile: bool = False,
) -> Iterator[RawPrediction]:
    """Run ``model`` over ``texts`` in fast batches; yield one prediction per text, in order.

    Equal (within float rounding; 1e-5 in probability on CPU fp32) to calling
    :func:`reference_predict` on each text. Texts longer than ``model.max_length`` tokens are
    split into overlapping windows whose outputs are averaged (``n_windows`` says how many);
    empty or whitespace-only texts still get a prediction (from the special tokens alone).

    Args:
        model: see :class:`~nokoding.inference.types.InferenceModel` (e.g. ``CodingModel``).
        texts: any iterable of ``str`` (list, generator, file reader); consumed lazily.
        device, runtime, max_batch_tokens, stride, chunk_size, compile: see :class:`Engine`.

    Returns:
        An iterator of :class:`RawPrediction` (``float32`` arrays).

    Raises:
        ValueError: bad options (at the call, before any text is read).
        TypeError: ``texts`` is a single string (at the call), or an item is not a ``str``
            (when it is reached; the message names its position).

    Example:
        >>> for p in predict(model, ["Vi blir målt på antall vedtak."]):  # doctest: +SKIP
        ...     probs = 1 / (1 + np.exp(-p.code_logits))
    """
    engine = Engine(
        model,
        device=device,
        runtime=runtime,
        max_batch_tokens=max_batch_tokens,
        stride=stride,
        chunk_size=chunk_size,
        compile=compile,
    )
    return engine.predict(texts)


def reference_predict(model: InferenceModel, text: str, *, stride: int | None = None) -> RawPrediction:
    """The one-text-at-a-time definition of a prediction (slow; for tests and checks).

    Tokenises ``NFC(model.text_prefix + text)`` with the tokenizer's own special tokens,
    runs it alone (batch of one, no padding) in the model's current device and dtype; when
    it is longer than ``model.max_length`` it is split into windows
    (:func:`nokoding.inference.windows.make_windows`), each run alone, and the outputs are
    averaged.

    Raises:
        TypeError: if ``text`` is not a ``str``.
        ValueError: a bad ``stride``.
    """
    _check_text(text, 0)
    tok, max_length = model.tokenizer, int(model.max_length)
    full = unicodedata.normalize("NFC", model.text_prefix + text)
    framed = list(tok(full, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    if len(framed) <= max_length:
        windows = [framed]
    else:
        frame = frame_for(tok, model.text_prefix, max_length)
        content = list(tok(full, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])
        windows = make_windows(content, frame, stride)
    module: torch.nn.Module = model  # type: ignore[assignment]
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    try:
        per_window: list[list[np.ndarray]] = []
        with torch.no_grad():
            for w in windows:
                ids = torch.tensor([w], dtype=torch.long, device=device)
                out = module(input_ids=ids, attention_mask=torch.ones_like(ids))
                per_window.append([getattr(out, f)[0].float().cpu().numpy() for f in _FIELDS])
    finally:
        module.train(was_training)
    code, senti, emb = (np.mean(np.stack(col), axis=0).astype(np.float32) for col in zip(*per_window))
    return RawPrediction(code, senti, emb, len(windows), sum(len(w) for w in windows))

