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

__all__ = ["SuggestionList", "clear_model_cache", "get_model", "iter_suggestions", "suggest_codes", "to_suggestion"]

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


class SuggestionList(list[Suggestion]):
    """A list of :class:`~nokoding.suggestions.Suggestion`, one per input segment, in input order."""

    def to_pandas(self) -> pd.DataFrame:
        """One row per suggestion.

        Columns: ``document_id``, ``segment_index``, ``start``, ``end``, ``speaker``, ``role``
        (empty/None for free text), ``text``, ``code_1``…``code_k`` (code ids),
        ``p_code_1``…, ``category_1``… and ``subcategory_1``… of the ranked codes,
        ``category:<id>`` scores, ``sentiment``, ``sentiment:<label>`` probabilities,
        ``evidence_1``… (``"segment id: code id (similarity)"``) and ``n_windows``.
        """
        import pandas as pd

        rows = []
        for s in self:
            seg = s.segment
            row: dict[str, Any] = {
                "document_id": seg.document_id if seg else "",
                "segment_index": seg.index if seg else None,
                "start": seg.start if seg else None,
                "end": seg.end if seg else None,
                "speaker": seg.speaker if seg else "",
                "role": seg.role if seg else "",
                "text": s.text,
            }
            for i, c in enumerate(s.codes, start=1):
                row[f"code_{i}"] = c.code_id
                row[f"p_code_{i}"] = c.probability
                row[f"category_{i}"] = c.category
                row[f"subcategory_{i}"] = c.subcategory
            row.update({f"category:{k}": v for k, v in s.categories.items()})
            row["sentiment"] = s.sentiment
            row.update({f"sentiment:{k}": v for k, v in s.sentiment_probabilities.items()})
            for i, e in enumerate(s.evidence, start=1):
                row[f"evidence_{i}"] = f"{e.segment_id}: {e.code_id} ({e.similarity:.2f})"
            row["n_windows"] = s.n_windows
            rows.append(row)
        return pd.DataFrame(rows)


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
    """
    from nokoding.inference.probabilities import code_probabilities, sentiment_probabilities

    cb = model.codebook
    p = code_probabilities(raw.code_logits)
    order = np.argsort(-p, kind="stable")
    if threshold is not None:
        order = order[p[order] >= threshold]
    if top_k is not None:
        order = order[: max(0, top_k)]
    codes = tuple(
        CodeScore(cb.codes[i].id, cb.codes[i].category, cb.codes[i].subcategory, float(p[i])) for i in order
    )
    cat = model.category_probabilities(p)
    categories = {c.id: float(cat[k]) for k, c in enumerate(cb.categories)}
    ps = sentiment_probabilities(raw.sentiment_logits)
    labels = model.sentiment_labels
    evidence: tuple = ()
    if evidence_k > 0 and model.evidence is not None:
        code_probs = {cb.codes[i].id: float(p[i]) for i in range(len(p))}
        evidence = model.evidence.nearest(raw.embedding, evidence_k, code_probs)
    return Suggestion(
        text=text,
        codes=codes,
        categories=categories,
        sentiment=labels[int(np.argmax(ps))],
        sentiment_probabilities={lab: float(v) for lab, v in zip(labels, ps, strict=True)},
        evidence=evidence,
        segment=segment,
        n_windows=int(raw.n_windows),
    )


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
    """Streaming :func:`suggest_codes`: yields suggestions in input order as batches finish."""
    m = get_model(model)
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
        runtime: ``"fp32"``, ``"bf16"``, ``"int8"`` or ``None`` (device default).
        max_batch_tokens: padded tokens per batch; ``None`` sizes it for the device.

    Returns:
        A :class:`SuggestionList` with exactly one :class:`Suggestion` per input segment, in
        input order (an empty text still gets one).

    Raises:
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
