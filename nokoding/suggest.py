"""Suggest codebook codes, category scores, sentiment and evidence for segments.

>>> from nokoding import suggest_codes                               # doctest: +SKIP
>>> s = suggest_codes("Vi blir målt på antall vedtak hver måned.")  # doctest: +SKIP
>>> s[0].codes[0].code_id, s[0].sentiment                           # doctest: +SKIP

Scores come from one forward pass per encoder window through :func:`nokoding.inference.predict`
(fast batches, long texts split into overlapping windows and averaged). Per segment:

* code probabilities ``sigmoid(code logit)`` — multi-label, so they need not sum to 1;
* category scores derived through the codebook hierarchy (noisy-OR of the category's codes by
  default, see :meth:`nokoding.model.CodingModel.category_probabilities`);
* sentiment probabilities ``softmax(sentiment logits)``;
* evidence: the most similar hand-coded training segments (cosine of pooled embeddings).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from nokoding.document import Document, Segment
from nokoding.suggestions import CodeScore, Suggestion

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from nokoding.inference import RawPrediction
    from nokoding.model import CodingModel

__all__ = [
    "SuggestionList",
    "check_ranking",
    "clear_model_cache",
    "get_model",
    "iter_suggestions",
    "suggest_codes",
    "to_suggestion",
]

#: A model with a "no code" outcome abstains when its probability reaches this value: it is
#: then at least as likely that no code applies as that any code does.
ABSTAIN_AT = 0.5

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


class SuggestionList(list[Suggestion]):
    """A list of :class:`~nokoding.suggestions.Suggestion`, one per input segment, in input order."""

    def to_pandas(self) -> pd.DataFrame:
        """One row per suggestion, with the CSV's columns first (same names, same order).

        Columns: those of ``nokoding tag``'s ``segments.csv`` for ``k`` code columns, where
        ``k`` is the most codes any suggestion has (:func:`nokoding.export.tabular.csv_columns`:
        ``document``, ``segment``, ``speaker``, ``role``, ``start``, ``end``, ``start_time``,
        ``end_time``, ``text``, ``context``, ``code_i``/``category_i``/``subcategory_i``/``p_i``,
        ``sentiment``, ``p_sentiment``, ``evidence`` = ids of the similar training segments
        joined by ``;``, ``evidence_quotes`` = their shortened text with code and similarity),
        then ``category:<id>`` scores, ``sentiment:<label>`` probabilities and ``n_windows``. Segment fields are empty (``""``/``None``) for free text; numbers stay
        numbers (the CSV writes them as text).
        """
        import pandas as pd

        from nokoding.export.tabular import csv_columns, evidence_quotes

        k = max((len(s.codes) for s in self), default=0)
        rows = []
        for s in self:
            seg = s.segment
            row: dict[str, Any] = {
                "document": seg.document_id if seg else "",
                "segment": seg.index if seg else None,
                "speaker": seg.speaker if seg else "",
                "role": seg.role if seg else "",
                "start": seg.start if seg else None,
                "end": seg.end if seg else None,
                "start_time": seg.start_time if seg else None,
                "end_time": seg.end_time if seg else None,
                "text": s.text,
                "context": (seg.context or "") if seg else "",
            }
            for i in range(k):
                c = s.codes[i] if i < len(s.codes) else None
                row[f"code_{i + 1}"] = c.code_id if c else ""
                row[f"category_{i + 1}"] = c.category if c else ""
                row[f"subcategory_{i + 1}"] = c.subcategory if c else ""
                row[f"p_{i + 1}"] = c.probability if c else None
            row["sentiment"] = s.sentiment
            row["p_sentiment"] = s.sentiment_probabilities.get(s.sentiment)
            row["evidence"] = ";".join(e.segment_id for e in s.evidence)
            row["evidence_quotes"] = evidence_quotes(s)
            row.update({f"category:{key}": v for key, v in s.categories.items()})
            row.update({f"sentiment:{key}": v for key, v in s.sentiment_probabilities.items()})
            row["n_windows"] = s.n_windows
            rows.append(row)
        columns = csv_columns(k) if k else [c for c in csv_columns(1) if not c.endswith("_1")]
        extra = [c for c in (rows[0] if rows else {}) if c not in columns]
        return pd.DataFrame(rows, columns=columns + extra)


def get_model(model: str | os.PathLike[str] | CodingModel = "thesis-mrs") -> CodingModel:
    """A loaded model: ``model`` itself if it is one, else loaded once per folder and cached.

    Raises:
        nokoding.model.ModelLoadError: unknown name, missing files or backbone.
    """
    if hasattr(model, "codebook") and hasattr(model, "tokenizer"):
        return model  # type: ignore[return-value]
    from nokoding.model import find_model, load_model

    key = str(find_model(model).resolve())  # type: ignore[arg-type]
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _CACHE[key] = load_model(key)
    return cached


def clear_model_cache() -> None:
    """Forget the models :func:`get_model` has loaded (frees their memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _segments_of(document: Document) -> list[Segment]:
    try:
        from nokoding.segmentation import segment
    except ImportError as err:
        raise RuntimeError(
            f"cannot segment document {document.id!r}: nokoding.segmentation is not available ({err}); "
            "pass its segments (or texts) instead"
        ) from None
    return list(segment(document))


def input_items(
    inputs: Any, segment_document: Callable[[Document], Iterable[Segment]] | None = None
) -> Iterator[tuple[str, Segment | None]]:
    """``(text, segment or None)`` for every text to score, in input order.

    Args:
        inputs: a text, a :class:`Segment`, a :class:`Document` or an iterable of them.
        segment_document: cuts a document into segments (default
            :func:`nokoding.segmentation.segment` with its default roles).

    Raises:
        TypeError: an input of another type (the message gives its position).
    """
    cut = segment_document or _segments_of
    if isinstance(inputs, (str, Segment, Document)):
        inputs = [inputs]
    if not isinstance(inputs, Iterable):
        raise TypeError(f"expected text, Segment, Document or an iterable of them, got {type(inputs).__name__}")
    for position, item in enumerate(inputs):
        if isinstance(item, str):
            yield item, None
        elif isinstance(item, Segment):
            yield item.text, item
        elif isinstance(item, Document):
            for seg in cut(item):
                yield seg.text, seg
        else:
            raise TypeError(
                f"input at position {position} is {type(item).__name__}; expected str, Segment or Document"
            )


def check_ranking(top_k: int | None, threshold: float | None) -> None:
    """Refuse ``top_k`` < 1 and a ``threshold`` outside 0–1 (``None`` for either: no limit).

    Raises:
        ValueError: naming the option and the value.
    """
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")


def to_suggestion(
    model: CodingModel,
    raw: RawPrediction,
    text: str,
    segment: Segment | None = None,
    *,
    top_k: int | None = 3,
    evidence_k: int = 3,
    threshold: float | None = None,
) -> Suggestion:
    """Turn one :class:`~nokoding.inference.RawPrediction` into a :class:`Suggestion`.

    Args:
        model: the model that produced ``raw`` (labels, hierarchy, evidence store).
        raw: its code logits ``(C,)``, sentiment logits ``(S,)`` and embedding ``(H,)``.
        text, segment: what was scored.
        top_k: how many codes to return, best first (``None``: all).
        evidence_k: how many similar training segments to return (0: none).
        threshold: keep only codes with probability ≥ ``threshold`` (may leave none).

    The suggestion *abstains* (no codes, ``abstained=True``) when the model has a "no code"
    outcome whose probability is at least :data:`ABSTAIN_AT` (reason ``"no_code"``), when
    ``threshold`` leaves no code (``"threshold"``), or for a blank text (``"blank"``).
    A model trained without sentiment labels gives sentiment ``""`` and no probabilities.

    A blank ``text`` (empty, whitespace or invisible characters such as U+200B only, as for
    :func:`nokoding.segment`) gets no codes, no category scores and
    sentiment ``""``: the model's output for it would only reflect the special tokens.
    """
    from nokoding.inference.probabilities import sentiment_probabilities
    from nokoding.ingest.normalize import normalize_text

    if not normalize_text(text).strip():  # nothing to code (blank or only invisible characters)
        return Suggestion(text=text, codes=(), categories={}, sentiment="", sentiment_probabilities={},
                          segment=segment, n_windows=int(raw.n_windows), abstained=True, abstain_reason="blank")
    cb = model.codebook
    p = _code_probabilities(model, raw.code_logits)
    no_code = _no_code_probability(model, raw.code_logits)
    order = np.argsort(-p, kind="stable")
    reason = ""
    if no_code is not None and no_code >= ABSTAIN_AT:
        order, reason = order[:0], "no_code"
    if threshold is not None:
        order = order[p[order] >= threshold]
        reason = reason or ("threshold" if not len(order) else "")
    if top_k is not None:
        order = order[: max(0, top_k)]
    codes = tuple(
        CodeScore(cb.codes[i].id, cb.codes[i].category, cb.codes[i].subcategory, float(p[i])) for i in order
    )
    cat = model.category_probabilities(p)
    categories = {c.id: float(cat[k]) for k, c in enumerate(cb.categories)}
    sentiment, sentiment_probs = "", {}
    if getattr(model.config, "predicts_sentiment", True):
        ps = sentiment_probabilities(raw.sentiment_logits)
        labels = model.sentiment_labels
        sentiment = labels[int(np.argmax(ps))]
        sentiment_probs = {lab: float(v) for lab, v in zip(labels, ps, strict=True)}
    evidence: tuple = ()
    if evidence_k > 0 and model.evidence is not None:
        code_probs = {cb.codes[i].id: float(p[i]) for i in range(len(p))}
        evidence = model.evidence.nearest(raw.embedding, evidence_k, code_probs)
    return Suggestion(
        text=text,
        codes=codes,
        categories=categories,
        sentiment=sentiment,
        sentiment_probabilities=sentiment_probs,
        evidence=evidence,
        segment=segment,
        n_windows=int(raw.n_windows),
        abstained=bool(reason),
        abstain_reason=reason,
        no_code_probability=None if no_code is None else float(no_code),
    )


def _code_probabilities(model: CodingModel, code_logits: np.ndarray) -> np.ndarray:
    """The model's code probabilities (sigmoid or softmax, see ``ModelConfig.code_probability``)."""
    own = getattr(model, "code_probabilities", None)
    if callable(own):
        return np.asarray(own(code_logits), dtype=np.float64)
    from nokoding.inference.probabilities import code_probabilities

    return code_probabilities(code_logits)


def _no_code_probability(model: CodingModel, code_logits: np.ndarray) -> float | None:
    own = getattr(model, "no_code_probability", None)
    value = own(code_logits) if callable(own) else None
    return None if value is None else float(value)


def iter_suggestions(
    texts_or_segments: Any,
    model: str | os.PathLike[str] | CodingModel = "thesis-mrs",
    top_k: int | None = 3,
    *,
    evidence_k: int = 3,
    threshold: float | None = None,
    device: str = "auto",
    runtime: str | None = None,
    max_batch_tokens: int | None = None,
) -> Iterator[Suggestion]:
    """Streaming :func:`suggest_codes`: yields suggestions in input order as batches finish.

    Raises:
        ValueError: ``top_k`` < 1 or ``threshold`` outside 0–1 (at the call, before any input
            is read), and as :func:`suggest_codes`.
    """
    check_ranking(top_k, threshold)
    if runtime is not None:  # before the model is loaded: unknown runtime, int8/onnx on a GPU, missing extra
        from nokoding.inference.runtime import check_runtime, resolve_device

        check_runtime(runtime, device)
        resolve_device(device, runtime)
    m = get_model(model)
    return _suggestions(m, texts_or_segments, top_k=top_k, evidence_k=evidence_k, threshold=threshold,
                        device=device, runtime=runtime, max_batch_tokens=max_batch_tokens)


def _suggestions(m: CodingModel, texts_or_segments: Any, *, top_k: int | None, evidence_k: int,
                 threshold: float | None, device: str, runtime: str | None,
                 max_batch_tokens: int | None) -> Iterator[Suggestion]:
    from nokoding.inference import predict

    pending: deque[tuple[str, Segment | None]] = deque()  # read by the engine, not yet yielded

    def texts() -> Iterator[str]:
        for text, seg in input_items(texts_or_segments):
            pending.append((text, seg))
            yield text

    for raw in predict(m, texts(), device=device, runtime=runtime, max_batch_tokens=max_batch_tokens):
        text, seg = pending.popleft()
        yield to_suggestion(m, raw, text, seg, top_k=top_k, evidence_k=evidence_k, threshold=threshold)


def suggest_codes(
    texts_or_segments: str | Segment | Document | Iterable[str | Segment | Document],
    model: str | os.PathLike[str] | CodingModel = "thesis-mrs",
    top_k: int | None = 3,
    *,
    evidence_k: int = 3,
    threshold: float | None = None,
    device: str = "auto",
    runtime: str | None = None,
    max_batch_tokens: int | None = None,
) -> SuggestionList:
    """Suggest codes, category scores, sentiment and evidence for each segment.

    Args:
        texts_or_segments: a text, a :class:`Segment`, a :class:`Document` (cut into segments
            with :func:`nokoding.segmentation.segment`), or an iterable mixing them.
        model: a loaded :class:`~nokoding.model.CodingModel`, a model folder, or a model name
            (``"thesis-mrs"``: ``$NOKODING_MODELS/<name>`` or ``<repository>/models/<name>``);
            names and folders are loaded once and cached.
        top_k: codes per segment, most probable first (``None``: all codes).
        evidence_k: similar hand-coded training segments per suggestion (0: none).
        threshold: keep only codes with probability ≥ ``threshold`` (at most ``top_k``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        runtime: ``"fp32"``, ``"bf16"``, ``"int8"``, ``"onnx"`` (``[onnx]`` extra) or ``None``
            (device default); see :mod:`nokoding.inference.runtime`.
        max_batch_tokens: padded tokens per batch; ``None`` sizes it for the device.

    Returns:
        A :class:`SuggestionList` with exactly one :class:`Suggestion` per input segment, in
        input order (a blank text still gets one, with no codes and sentiment ``""``).

    Raises:
        ValueError: ``top_k`` < 1, ``threshold`` outside 0–1, an unknown device or runtime, or
            a CPU-only runtime on a GPU (all before the model is loaded).
        ModuleNotFoundError: ``runtime="onnx"`` without the ``[onnx]`` extra.
        TypeError: an input item of another type (the message gives its position).
        nokoding.model.ModelLoadError: the model cannot be found or loaded.
        RuntimeError: a Document was given and :mod:`nokoding.segment` is unavailable.
    """
    return SuggestionList(
        iter_suggestions(
            texts_or_segments, model, top_k, evidence_k=evidence_k, threshold=threshold, device=device,
            runtime=runtime, max_batch_tokens=max_batch_tokens,
        )
    )
