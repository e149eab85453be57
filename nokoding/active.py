"""Active learning: which uncoded segments should the researcher code next?

After a model is trained on a researcher's codebook (issue 8), :func:`suggest_next` ranks
the segments of new, uncoded transcripts by how much coding them would teach the model, and
returns a short, varied list — by default 20 — to code by hand before retraining.

Method (pool-based active learning with an uncertainty pre-filter and a core-set step):

1. **Candidates.** Every segment of the given documents (cut as ``nokoding tag`` cuts them:
   informant turns and turns of unknown role, :func:`nokoding.segmentation.segment`), segments or
   free texts. Segments whose text is already in the model's training data — the evidence
   store's texts, plus ``exclude`` — are left out: equal after Unicode NFC and whitespace
   collapsing, or one containing the other when the contained text has at least
   :data:`MIN_OVERLAP_WORDS` words (a coder's selection is often part of a segment or spans
   more than one). Whitespace-only texts and repeated texts (after the first) are left out.
2. **Uncertainty** (Settles 2009, *Active Learning Literature Survey*, §3.1, uncertainty
   sampling). One forward pass per segment (:func:`nokoding.inference.predict`) gives code
   probabilities ``p = sigmoid(code logits)`` ``(C,)`` and sentiment probabilities
   ``softmax(sentiment logits)`` ``(S,)``. Three scores, each in 0–1, 1 = most uncertain:

   * *margin*: ``1 − (p₁ − p₂)`` for the two most probable codes (Scheffer et al. 2001's
     margin sampling) — the model cannot tell which code applies;
   * *code entropy*: Shannon entropy of the normalised code distribution ``q = p / Σp``,
     divided by ``log C`` — the scores are spread over many codes;
   * *sentiment entropy*: entropy of the sentiment distribution divided by ``log S``.

   They are combined as a weighted mean (default weights 0.5, 0.3, 0.2). The sentiment term
   is dropped when the model was trained without any sentiment label (a REFI-QDA project
   carries none; the sentiment head is then untrained and its entropy says nothing).
3. **Diversity** (Sener & Savarese 2018, *Active Learning for Convolutional Neural Networks:
   A Core-Set Approach*, ICLR, greedy k-center). The ``pool_factor × n`` most uncertain
   candidates form the pool (an uncertainty pre-filter as in Zhdanov 2019, *Diverse
   mini-batch Active Learning*). From it, picks are made greedily, farthest-first: each next
   pick is the pool segment with the largest ``uncertainty × d``, where ``d`` is its cosine
   distance (``1 − cosine similarity`` of the pooled encoder embeddings) to the nearest
   *centre*, and the centres are the training segments (evidence store) and the segments
   picked so far. Weighting the core-set distance by uncertainty keeps both signals when the
   pool is the whole (small) corpus — the same idea as BADGE (Ash et al. 2020, *Deep Batch
   Active Learning by Diverse, Uncertain Gradient Lower Bounds*, ICLR), whose embeddings
   grow with uncertainty before a distance-based selection. So the list covers different
   kinds of passage instead of 20 near-copies of one, and avoids what is already coded.
   Ties go to the more uncertain segment. Without an evidence store the first pick is the
   most uncertain segment.

Everything is deterministic: the same model and inputs on the same device give the same list
(stable sorts, ties broken by uncertainty and then input order; no randomness).

Caveats: the model never saw uncoded text in training, so passages no code fits (small talk,
logistics) can look uncertain too — skip them when coding. Margin and code entropy also rise
when two codes both apply (multi-label); the reason text names the two codes so the coder
can judge.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nokoding.atomic import atomic_write_bytes
from nokoding.document import Document, Segment

if TYPE_CHECKING:  # pragma: no cover
    from nokoding.model import CodingModel

__all__ = [
    "CODED_ROLES",
    "DEFAULT_WEIGHTS",
    "MIN_OVERLAP_WORDS",
    "NEXT_CSV_COLUMNS",
    "NextSegment",
    "NextSegments",
    "farthest_first",
    "suggest_next",
    "uncertainty_scores",
    "write_next_csv",
]

#: Speaker roles whose segments are candidates (the same as ``nokoding tag`` codes).
CODED_ROLES: tuple[str, ...] = ("informant",)
#: Default weights of the margin, code-entropy and sentiment-entropy scores.
DEFAULT_WEIGHTS: tuple[float, float, float] = (0.5, 0.3, 0.2)
#: A training text inside a candidate (or the reverse) excludes it only from this many words on.
MIN_OVERLAP_WORDS = 3
#: A margin below this is described as "unsure between" the two codes in the reason text.
CLOSE_MARGIN = 0.25


@dataclass(frozen=True)
class NextSegment:
    """One segment proposed for coding, with the model's current view of it.

    Attributes:
        rank: 1-based position in the list (the order of picking).
        document_id: the document's id ("" for free text).
        segment_index: the segment's index within its document (as in ``nokoding tag``'s
            outputs), or its position in the input for free text.
        start, end: 0-based, end-exclusive character offsets into the document's normalised
            text, or ``None`` for free text.
        text: the segment text.
        speaker: the speaker label ("" if unknown).
        top_code_id, top_code: the model's most probable code (id and "Category /
            Subcategory"), with ``top_probability`` (sigmoid, 0–1).
        second_code_id, second_code, second_probability: the runner-up ("" / 0.0 when the
            codebook has one code).
        sentiment: the most probable sentiment label ("" when the model had no sentiment
            labels to learn from, so its sentiment head is untrained).
        uncertainty: the combined uncertainty score, 0–1 (1 = most uncertain).
        margin: ``top_probability − second_probability`` (small = unsure which code); for a
            one-code codebook ``|2p − 1|`` (distance from the 0.5 decision line).
        code_entropy: normalised entropy of the code distribution, 0–1.
        sentiment_entropy: normalised entropy of the sentiment distribution, 0–1 (``None``
            when the sentiment head is untrained).
        sentiment_used: whether ``sentiment_entropy`` counted in ``uncertainty``.
        uncertainty_rank: 1-based rank by ``uncertainty`` among all candidates.
        distance_to_coded: cosine distance (0–2) to the nearest training segment of the
            evidence store, or ``None`` without one.
        distance_at_pick: cosine distance to the nearest centre (training segments and
            earlier picks) when picked; ``None`` when diversity was off or for a first pick
            made without centres.
        reason: why it was chosen, in plain words.
        segment: the :class:`Segment`, when the input was one.
    """

    rank: int
    document_id: str
    segment_index: int
    start: int | None
    end: int | None
    text: str
    speaker: str
    top_code_id: str
    top_code: str
    top_probability: float
    second_code_id: str
    second_code: str
    second_probability: float
    sentiment: str
    uncertainty: float
    margin: float
    code_entropy: float
    sentiment_entropy: float | None
    sentiment_used: bool
    uncertainty_rank: int
    distance_to_coded: float | None
    distance_at_pick: float | None
    reason: str
    segment: Segment | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every field except ``segment``."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "segment"}


class NextSegments(list[NextSegment]):
    """The picks of :func:`suggest_next`, in picking order, with counts of what was considered.

    Attributes:
        candidates: segments scored (after exclusions).
        excluded: segments left out because they are already coded (training data or ``exclude``).
        skipped: segments left out because they are blank or repeat an earlier text.
        pool: size of the uncertain pool the diverse picks were drawn from.
        sentiment_used: whether sentiment entropy counted in the uncertainty.
    """

    candidates: int = 0
    excluded: int = 0
    skipped: int = 0
    pool: int = 0
    sentiment_used: bool = True


# ----------------------------------------------------------------------------- scores
def _normalised_entropy(prob: np.ndarray) -> np.ndarray:
    """Row-wise Shannon entropy of ``prob`` ``(N, K)`` divided by ``log K`` (0 when K = 1)."""
    k = prob.shape[1]
    if k < 2:
        return np.zeros(prob.shape[0])
    p = np.clip(prob, 1e-12, 1.0)
    return np.asarray(-(prob * np.log(p)).sum(axis=1) / np.log(k), dtype=np.float64)


def _check_weights(weights: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(w) for w in weights)
    if len(values) != 3 or min(values) < 0:
        raise ValueError(f"weights must be three values ≥ 0 (margin, code entropy, sentiment entropy), got {weights}")
    return values  # type: ignore[return-value]


def uncertainty_scores(
    code_logits: np.ndarray,
    sentiment_logits: np.ndarray | None = None,
    *,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
) -> dict[str, np.ndarray]:
    """Uncertainty of a batch of predictions (see the module docstring, step 2).

    Args:
        code_logits: ``float[N, C]`` code logits (sigmoid → probabilities).
        sentiment_logits: ``float[N, S]`` sentiment logits, or ``None`` to leave sentiment out.
        weights: ``(margin, code entropy, sentiment entropy)`` weights, each ≥ 0, not all 0
            among the terms used.

    Returns:
        ``{"uncertainty", "margin", "code_entropy", "sentiment_entropy", "top", "second"}``:
        float arrays ``(N,)`` (``margin`` is ``p₁ − p₂``, the others 0–1; ``sentiment_entropy``
        is zeros without sentiment logits) and int arrays ``(N,)`` of the top and second code
        indices (``second`` = ``top`` when ``C = 1``; the margin is then ``|2p − 1|``).

    Raises:
        ValueError: for a negative weight, all used weights 0, or arrays of the wrong shape.
    """
    logits = np.asarray(code_logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 1:
        raise ValueError(f"code_logits must have shape (N, C) with C ≥ 1, got {logits.shape}")
    w_margin, w_entropy, w_sent = _check_weights(weights)
    from nokoding.inference.probabilities import (
        code_probabilities,
        sentiment_probabilities,
    )

    n, c = logits.shape
    p = code_probabilities(logits)
    order = np.argsort(-p, axis=1, kind="stable")
    top = order[:, 0]
    rows = np.arange(n)
    if c >= 2:
        second = order[:, 1]
        margin = p[rows, top] - p[rows, second]
    else:
        second = top
        margin = np.abs(2.0 * p[:, 0] - 1.0)
    q = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    code_entropy = _normalised_entropy(q)
    if sentiment_logits is not None:
        s = np.asarray(sentiment_logits, dtype=np.float64)
        if s.ndim != 2 or s.shape[0] != n:
            raise ValueError(f"sentiment_logits must have shape (N={n}, S), got {s.shape}")
        sentiment_entropy = _normalised_entropy(sentiment_probabilities(s))
    else:
        sentiment_entropy = np.zeros(n)
        w_sent = 0.0
    total = w_margin + w_entropy + w_sent
    if total <= 0:
        raise ValueError("at least one uncertainty weight must be > 0")
    uncertainty = (w_margin * (1.0 - margin) + w_entropy * code_entropy + w_sent * sentiment_entropy) / total
    return {
        "uncertainty": uncertainty,
        "margin": margin,
        "code_entropy": code_entropy,
        "sentiment_entropy": sentiment_entropy,
        "top": top,
        "second": second,
    }


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def farthest_first(
    embeddings: np.ndarray,
    k: int,
    *,
    centres: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[list[int], list[float | None]]:
    """Greedy k-center (farthest-first traversal) under cosine distance, optionally weighted.

    Each step picks the row with the largest ``weight × d``, ``d`` being its cosine distance
    ``1 − cos`` (0–2) to the nearest centre (the given ``centres`` and the rows picked so far);
    a picked row becomes a centre.

    Args:
        embeddings: ``float[P, H]`` candidate embeddings, most uncertain first (row order
            breaks ties: the earlier row wins).
        k: how many rows to pick (at most ``P``).
        centres: ``float[M, H]`` points already covered (the training segments), or ``None``.
        weights: ``float[P]`` ≥ 0 (the uncertainties), or ``None`` for plain k-center.

    Returns:
        ``(picked row indices in picking order, distance d of each pick to its nearest centre
        when it was picked)`` — ``None`` for a first pick without centres, which is the row
        with the largest weight (row 0 without weights).

    Source: Sener & Savarese (2018), Algorithm 1 (k-Center-Greedy), with the labelled set as
    the initial centres; the uncertainty weighting follows BADGE (Ash et al. 2020).

    Raises:
        ValueError: if ``weights`` has the wrong length or a negative value.
    """
    x = _unit_rows(embeddings)
    p = x.shape[0]
    k = max(0, min(int(k), p))
    w = np.ones(p) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (p,) or (p and w.min() < 0):
        raise ValueError(f"weights must be {p} values ≥ 0")
    if k == 0:
        return [], []
    dist = np.full(p, np.inf)
    if centres is not None and len(centres):
        c = _unit_rows(centres)
        dist = np.maximum((1.0 - x @ c.T).min(axis=1), 0.0)
    picked: list[int] = []
    at_pick: list[float | None] = []
    available = np.ones(p, dtype=bool)
    for _ in range(k):
        if np.isinf(dist[available]).all():  # no centre yet: the heaviest row
            gain = np.where(available, w, -np.inf)
        else:
            gain = np.where(available, w * dist, -np.inf)
        i = int(np.argmax(gain))  # first maximum: the more uncertain row on ties
        picked.append(i)
        at_pick.append(None if np.isinf(dist[i]) else float(dist[i]))
        available[i] = False
        dist = np.minimum(dist, np.maximum(1.0 - x @ x[i], 0.0))
    return picked, at_pick


# ----------------------------------------------------------------------------- inputs
def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _items(inputs: Any) -> Iterator[tuple[str, Segment | None]]:
    """``(text, segment or None)`` for every candidate, in input order (informant turns only)."""
    from nokoding.segmentation import segment
    from nokoding.suggest import input_items

    return input_items(inputs, lambda doc: segment(doc, roles=CODED_ROLES))  # type: ignore[arg-type]


class _Coded:
    """Texts already coded: exact (normalised) match, or containment of ≥ MIN_OVERLAP_WORDS words."""

    def __init__(self, texts: Iterable[str]) -> None:
        norm = {_norm(t) for t in texts}
        norm.discard("")
        self.exact = norm
        self.long = sorted(t for t in norm if len(t.split()) >= MIN_OVERLAP_WORDS)
        self.joined = "\x00".join(sorted(norm))

    def __contains__(self, text: str) -> bool:
        t = _norm(text)
        if t in self.exact:
            return True
        if len(t.split()) >= MIN_OVERLAP_WORDS and t in self.joined:
            return True  # the candidate is part of a coded text
        return any(c in t for c in self.long)  # a coded text is part of the candidate


def _sentiment_trained(model: Any) -> bool:
    summary = getattr(model, "data_summary", None) or {}
    if "sentiment" not in summary:
        return True  # unknown: assume the head was trained
    return bool(summary.get("sentiment"))


def _reason(
    labels: Sequence[str], p1: float, p2: float, code_entropy: float, sent_entropy: float, sentiment: str,
    sentiment_used: bool, u_rank: int, n_candidates: int, d_coded: float | None, d_pick: float | None, first: bool,
    has_centres: bool,
) -> str:
    top, second = labels
    parts = [f"uncertainty rank {u_rank} of {n_candidates}"]
    if second and p1 - p2 < CLOSE_MARGIN:
        parts.append(f"unsure between {top} ({p1:.2f}) and {second} ({p2:.2f}), margin {p1 - p2:.2f}")
    elif second:
        parts.append(f"top code {top} ({p1:.2f}) ahead of {second} ({p2:.2f})")
    else:
        near = ", near the 0.5 decision line" if abs(2 * p1 - 1) < CLOSE_MARGIN else ""
        parts.append(f"{top} at {p1:.2f}{near}")
    if code_entropy >= 0.5:
        parts.append(f"code scores spread over many codes (entropy {code_entropy:.2f})")
    if sentiment_used and sent_entropy >= 0.5:
        parts.append(f"sentiment unclear ({sentiment} most likely, entropy {sent_entropy:.2f})")
    if d_pick is not None:
        near = " and ".join((["the coded segments"] if has_centres else []) + ([] if first else ["the earlier picks"]))
        parts.append(f"unlike {near} (cosine distance {d_pick:.2f} to the nearest)")
    elif d_coded is not None:
        parts.append(f"cosine distance {d_coded:.2f} to the nearest coded segment")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- main
def suggest_next(
    model: CodingModel | str | os.PathLike[str],
    documents_or_segments: Document | Segment | str | Iterable[Document | Segment | str],
    n: int = 20,
    *,
    exclude: Iterable[str | Segment] | None = None,
    pool_factor: int = 5,
    diversity: bool = True,
    weights: Sequence[float] = DEFAULT_WEIGHTS,
    device: str = "auto",
) -> NextSegments:
    """The ``n`` uncoded segments whose coding would teach the model most (module docstring).

    Args:
        model: a loaded :class:`~nokoding.model.CodingModel`, or a model folder or name.
        documents_or_segments: documents (cut into segments as ``nokoding tag`` does: informant
            and unknown-role turns), segments, free texts, or an iterable mixing them.
        n: how many segments to return (fewer when fewer candidates remain).
        exclude: further texts or segments already coded (besides the model's training data).
        pool_factor: the diverse picks come from the ``pool_factor × n`` most uncertain
            candidates (≥ 1; 1 = pure uncertainty ranking).
        diversity: ``False`` returns the ``n`` most uncertain candidates in order.
        weights: ``(margin, code entropy, sentiment entropy)`` weights.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` for the forward passes.

    Returns:
        :class:`NextSegments` (a list of :class:`NextSegment`, in picking order) with counts.

    Raises:
        ValueError: ``n`` < 0, ``pool_factor`` < 1, or bad weights.
        TypeError: an input item of another type (the message gives its position).
        nokoding.model.ModelLoadError: the model cannot be found or loaded.
    """
    if n < 0:
        raise ValueError(f"n must be ≥ 0, got {n}")
    if pool_factor < 1:
        raise ValueError(f"pool_factor must be ≥ 1, got {pool_factor}")
    weights = _check_weights(weights)
    from nokoding.suggest import get_model

    m = get_model(model)
    evidence = getattr(m, "evidence", None)
    coded_texts = list(evidence.texts) if evidence is not None else []
    coded_texts += [e.text if isinstance(e, Segment) else str(e) for e in (exclude or ())]
    coded = _Coded(coded_texts)

    result = NextSegments()
    texts: list[str] = []
    segments: list[Segment | None] = []
    positions: list[int] = []
    seen: set[str] = set()
    for position, (text, seg) in enumerate(_items(documents_or_segments)):
        key = _norm(text)
        if not key or key in seen:
            result.skipped += 1
            continue
        if text in coded:
            result.excluded += 1
            continue
        seen.add(key)
        texts.append(text)
        segments.append(seg)
        positions.append(position)
    result.candidates = len(texts)
    sentiment_trained = _sentiment_trained(m)
    sentiment_used = sentiment_trained and float(weights[2]) > 0
    result.sentiment_used = sentiment_used
    if not texts or n == 0:
        return result

    from nokoding.inference import predict

    preds = list(predict(m, texts, device=device))
    code_logits = np.stack([p.code_logits for p in preds]).astype(np.float64)
    sent_logits = np.stack([p.sentiment_logits for p in preds]).astype(np.float64)
    emb = np.stack([p.embedding for p in preds]).astype(np.float64)
    scores = uncertainty_scores(code_logits, sent_logits if sentiment_used else None, weights=weights)
    if sentiment_trained and not sentiment_used:  # reported, not counted
        z = np.exp(sent_logits - sent_logits.max(axis=1, keepdims=True))
        scores["sentiment_entropy"] = _normalised_entropy(z / z.sum(axis=1, keepdims=True))
    u = scores["uncertainty"]
    by_uncertainty = np.argsort(-u, kind="stable")  # ties: input order
    u_rank = np.empty(len(u), dtype=int)
    u_rank[by_uncertainty] = np.arange(1, len(u) + 1)

    centres = evidence.embeddings.astype(np.float64) if evidence is not None and len(evidence) else None
    d_coded = None
    if centres is not None:
        d_coded = (1.0 - _unit_rows(emb) @ _unit_rows(centres).T).min(axis=1)
    k = min(n, len(texts))
    if diversity:
        pool = by_uncertainty[: min(len(texts), max(k, pool_factor * k))]
        rows, at_pick = farthest_first(emb[pool], k, centres=centres, weights=u[pool])
        chosen = [int(pool[r]) for r in rows]
    else:
        pool = by_uncertainty[:k]
        chosen = [int(i) for i in pool]
        at_pick = [None] * k
    result.pool = len(pool)

    cb = m.codebook
    labels = m.sentiment_labels
    from nokoding.inference.probabilities import code_probabilities

    p = code_probabilities(code_logits)
    for rank, (i, d_pick) in enumerate(zip(chosen, at_pick, strict=True), start=1):
        t, s = int(scores["top"][i]), int(scores["second"][i])
        top_code = cb.codes[t]
        has_second = cb.n_codes > 1
        second_code = cb.codes[s] if has_second else None
        seg = segments[i]
        sentiment = labels[int(np.argmax(sent_logits[i]))] if sentiment_trained else ""
        dc = None if d_coded is None else float(max(d_coded[i], 0.0))
        reason = _reason(
            (top_code.label, second_code.label if second_code else ""), float(p[i, t]),
            float(p[i, s]) if has_second else 0.0, float(scores["code_entropy"][i]),
            float(scores["sentiment_entropy"][i]), sentiment, sentiment_used, int(u_rank[i]), len(texts), dc,
            d_pick, rank == 1, centres is not None,
        )
        result.append(NextSegment(
            rank=rank,
            document_id=seg.document_id if seg is not None else "",
            segment_index=seg.index if seg is not None else positions[i],
            start=seg.start if seg is not None else None,
            end=seg.end if seg is not None else None,
            text=texts[i],
            speaker=seg.speaker if seg is not None else "",
            top_code_id=top_code.id,
            top_code=top_code.label,
            top_probability=float(p[i, t]),
            second_code_id=second_code.id if second_code else "",
            second_code=second_code.label if second_code else "",
            second_probability=float(p[i, s]) if second_code else 0.0,
            sentiment=sentiment,
            uncertainty=float(u[i]),
            margin=float(scores["margin"][i]),
            code_entropy=float(scores["code_entropy"][i]),
            sentiment_entropy=float(scores["sentiment_entropy"][i]) if sentiment_trained else None,
            sentiment_used=sentiment_used,
            uncertainty_rank=int(u_rank[i]),
            distance_to_coded=dc,
            distance_at_pick=d_pick,
            reason=reason,
            segment=seg,
        ))
    return result


# ----------------------------------------------------------------------------- output
#: Columns of :func:`write_next_csv`, in order.
NEXT_CSV_COLUMNS: tuple[str, ...] = (
    "rank", "document", "segment", "start", "end", "speaker", "text", "top_code", "top_category",
    "top_subcategory", "p_top", "second_code", "p_second", "sentiment", "uncertainty", "margin",
    "code_entropy", "sentiment_entropy", "distance_to_coded", "why",
)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def write_next_csv(path: str | os.PathLike[str], picks: Sequence[NextSegment], codebook: Any) -> Path:
    """Write the picks as CSV atomically, in the dialect of ``nokoding tag``'s ``segments.csv``
    (UTF-8 with BOM, comma, minimal quoting, CRLF rows; see :mod:`nokoding.export.tabular`).

    Columns: :data:`NEXT_CSV_COLUMNS` (``segment`` is the segment index within its document,
    as in ``segments.csv``; probabilities and scores with 4 decimals; empty cells for
    unknown values).

    Raises:
        OSError: if the file cannot be written (no partial file is left).
    """
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(NEXT_CSV_COLUMNS)
    for pick in picks:
        code = codebook.code(pick.top_code_id)
        writer.writerow([
            pick.rank, pick.document_id, pick.segment_index, "" if pick.start is None else pick.start,
            "" if pick.end is None else pick.end, pick.speaker, pick.text, pick.top_code_id, code.category,
            code.subcategory, _fmt(pick.top_probability), pick.second_code_id,
            _fmt(pick.second_probability) if pick.second_code_id else "", pick.sentiment, _fmt(pick.uncertainty),
            _fmt(pick.margin), _fmt(pick.code_entropy), _fmt(pick.sentiment_entropy),
            _fmt(pick.distance_to_coded), pick.reason,
        ])
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8-sig"))
