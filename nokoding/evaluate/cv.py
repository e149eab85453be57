"""The evaluation protocol: repeated, stratified, grouped K-fold cross-validation.

For every repeat ``r`` and fold ``f`` (:func:`nokoding.evaluate.splits.grouped_folds`), each
method is built fresh, fitted on the records of the training units and asked for
probabilities for the test units' texts. Every unit is tested exactly once per repeat, so
each repeat yields one out-of-fold prediction per unit; the metrics are computed on those
pooled predictions (one value per repeat) and reported as mean ± standard deviation over
repeats (the spread is due to the split only).

Unit of evaluation: one quote (records sharing ``group``). Single-label metrics compare the
model's top choice with the quote's resolved gold label (:func:`metrics.resolve_gold`: a top
choice that matches any of the coder's codes for the quote is correct); top-3 accuracy counts a
hit when any of them is among the three best-scored codes. ``accuracy_primary`` also reports
accuracy against the first-listed code only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nokoding.codebook import Codebook
from nokoding.evaluate import metrics as M
from nokoding.evaluate.splits import Fold, Unit, build_units, grouped_folds
from nokoding.evaluate.strategies import EvalContext, category_probs, make_estimator
from nokoding.suggest import ABSTAIN_AT

__all__ = ["CVResult", "MethodRun", "TaskScores", "run_cv", "score_units", "summarise"]

TASKS = ("category", "code", "sentiment")
#: Training data of a method's folds when a written corpus is given (see :func:`run_cv`).
TRAINING_SETS = ("real", "real+written", "written")
#: Methods that learn from written records, including segments with no code.
WRITTEN_AWARE = frozenset({"logistic", "logistic+desc", "logistic+desc-uncalibrated", "lora", "lora+desc",
                           "full", "full+desc", "frozen", "frozen+desc"})


@dataclass
class TaskScores:
    """Scores of one task (category, code or sentiment) on one set of predictions.

    Attributes:
        values: metric name → value (``accuracy``, ``macro_f1``, ``cohen_kappa``,
            ``krippendorff_alpha``, ``ece``, ``top3_accuracy`` for codes, ``accuracy_primary``
            for codes and categories, ``n_units``).
        precision, recall, f1: per label in label order, shape ``(n_labels,)``.
        support: per label, units whose gold labels include it, shape ``(n_labels,)``.
        y_true, y_pred: resolved gold and predicted label per scored unit.
        confidence, correct: top-label probability and hit per scored unit (calibration).
        notes: reasons for conventional values of undefined statistics.
    """

    values: dict[str, float]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    support: NDArray[np.int64]
    y_true: NDArray[np.int64]
    y_pred: NDArray[np.int64]
    confidence: NDArray[np.float64]
    correct: NDArray[np.float64]
    notes: list[str] = field(default_factory=list)


def _score_task(gold_sets: Sequence[Sequence[int]], probs: NDArray[np.float64], n_labels: int,
                top_k: int | None) -> TaskScores:
    keep = [i for i, g in enumerate(gold_sets) if len(g)]
    gold = [list(gold_sets[i]) for i in keep]
    p = np.asarray(probs, dtype=np.float64)[keep]
    pred = np.argmax(p, axis=1) if len(keep) else np.zeros(0, dtype=np.int64)
    y_true = M.resolve_gold(gold, pred)
    primary = np.asarray([g[0] for g in gold], dtype=np.int64)
    kappa = M.cohen_kappa(y_true, pred)
    alpha = M.krippendorff_alpha_nominal(y_true, pred)
    conf = np.clip(p[np.arange(len(keep)), pred], 0.0, 1.0) if len(keep) else np.zeros(0)
    correct = (pred == y_true).astype(np.float64)
    values = {
        "accuracy": M.accuracy(y_true, pred),
        "accuracy_primary": M.accuracy(primary, pred),
        "macro_f1": M.macro_f1(y_true, pred),
        "cohen_kappa": kappa.value,
        "krippendorff_alpha": alpha.value,
        "ece": M.expected_calibration_error(conf, correct),
        "n_units": float(len(keep)),
    }
    if top_k is not None:
        values["top3_accuracy"] = M.top_k_accuracy(gold, p, top_k)
    labels = list(range(n_labels))
    prec, rec, f1, _ = M.per_label_prf(y_true, pred, labels)
    support = np.zeros(n_labels, dtype=np.int64)
    for g in gold:
        for lab in set(g):
            support[lab] += 1
    notes = [s.note for s in (kappa, alpha) if s.note]
    if len(keep) < len(gold_sets):
        notes.append(f"{len(gold_sets) - len(keep)} unit(s) without a gold label not scored")
    return TaskScores(values, prec, rec, f1, support, y_true, pred, conf, correct, notes)


def score_units(
    units: Sequence[Unit],
    codebook: Codebook,
    code_probs: NDArray[np.float64],
    cat_probs: NDArray[np.float64],
    sentiment_probs: NDArray[np.float64] | None,
) -> dict[str, TaskScores | None]:
    """Score predictions for ``units`` on the three tasks.

    Args:
        units: the units predicted, row ``i`` of every array is ``units[i]``.
        codebook: label order.
        code_probs: ``[U, n_codes]``; cat_probs: ``[U, n_categories]``;
        sentiment_probs: ``[U, n_sentiments]`` or ``None`` (no sentiment predicted → ``None``).

    Returns:
        ``{"category": TaskScores, "code": TaskScores, "sentiment": TaskScores | None}``.
    """
    code_gold = [[codebook.index(c) for c in u.code_ids] for u in units]
    c2c = codebook.code_to_category()
    cat_gold = [list(dict.fromkeys(c2c[i] for i in g)) for g in code_gold]
    out: dict[str, TaskScores | None] = {
        "category": _score_task(cat_gold, cat_probs, len(codebook.categories), None),
        "code": _score_task(code_gold, code_probs, codebook.n_codes, 3),
        "sentiment": None,
    }
    if sentiment_probs is not None:
        labels = list(codebook.sentiment_labels)
        sent_gold = [[labels.index(u.sentiment)] if u.sentiment in labels else [] for u in units]
        out["sentiment"] = _score_task(sent_gold, sentiment_probs, len(labels), None)
    return out


@dataclass
class MethodRun:
    """One method's out-of-fold predictions and timings.

    Attributes:
        name, summary, uses_descriptions, has_sentiment: from the strategy registry/estimator.
        code_probs, cat_probs, sentiment_probs: per completed repeat, ``[U, ·]`` arrays
            (``sentiment_probs`` entries are ``None`` when the method predicts no sentiment).
        fit_seconds, predict_seconds: per fold, in run order.
        scores: per completed repeat, the output of :func:`score_units`.
        params: the estimator's reported settings (e.g. the fine-tuning recipe), if any.
        training: the training data of every fold: ``"real"`` (the corpus's training units),
            ``"real+written"`` (plus the written corpus) or ``"written"`` (the written corpus
            alone); the test units are always the corpus's own.
        abstain: per completed repeat, for a method with a "no code" outcome: ``real_units``
            scored, ``real_abstained`` (real quotes left without a code: wrong, each has a
            code), ``no_code_held_out`` (written segments without a code held out of
            training, one fold at a time) and ``no_code_abstained`` (those correctly left
            without a code); empty for other methods.
    """

    name: str
    summary: str
    uses_descriptions: bool
    fine_tuned: bool
    has_sentiment: bool = True
    code_probs: list[NDArray[np.float64]] = field(default_factory=list)
    cat_probs: list[NDArray[np.float64]] = field(default_factory=list)
    sentiment_probs: list[NDArray[np.float64] | None] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)
    scores: list[dict[str, TaskScores | None]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    training: str = "real"
    abstain: list[dict[str, int]] = field(default_factory=list)

    @property
    def repeats(self) -> int:
        """Number of completed repeats (each covers every unit once)."""
        return len(self.scores)


@dataclass
class CVResult:
    """Everything a report needs from one cross-validation run."""

    corpus: str
    codebook: Codebook
    records: list[dict[str, Any]]
    units: list[Unit]
    folds: list[Fold]
    n_folds: int
    n_repeats: int
    seed: int
    methods: dict[str, MethodRun]
    backbone: dict[str, Any]
    seconds: float = 0.0
    embed_seconds: float = 0.0
    written: list[dict[str, Any]] = field(default_factory=list)
    written_corpus: str = ""


def run_cv(
    records: Sequence[Mapping[str, Any]],
    codebook: Codebook,
    strategies: Sequence[str],
    *,
    corpus: str = "corpus",
    n_folds: int = 5,
    n_repeats: int = 3,
    repeats: Mapping[str, int] | None = None,
    seed: int = 0,
    context: EvalContext | None = None,
    runtimes: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    written: Sequence[Mapping[str, Any]] | None = None,
    written_corpus: str = "written",
    training_sets: Sequence[str] | None = None,
) -> CVResult:
    """Cross-validate ``strategies`` on ``records`` with the same folds for every method.

    Args:
        records: hand-coded records (``text``, ``code_id`` or category + subcategory,
            optional ``sentiment``, ``group``, ``id``).
        codebook: label order and descriptions.
        strategies: method names (see :data:`nokoding.evaluate.strategies.STRATEGIES`).
        n_folds, n_repeats: K and the number of repeats of the split.
        repeats: per-method number of repeats (≤ ``n_repeats``; the first repeats' folds are
            used), e.g. ``{"lora": 1}`` for a slow fine-tuned method.
        seed: the split seed of repeat 0 (repeat ``r`` uses ``seed + r``).
        context: the estimators' shared context (embedder, backbone, training options).
        runtimes: extra inference runtimes (e.g. ``("int8",)``) for fine-tuned methods: each
            fold's fitted model is also scored in each of them, reported as a method
            ``"<name>@<runtime>"`` — a paired comparison (same splits, same fitted models; only
            the inference differs). Other methods ignore them; at least one fine-tuned method
            must be among ``strategies``.
        progress: called with a one-line message after each fold.
        written: records of a written corpus for the same codebook (``code_id`` ``None`` =
            no code). They are only ever training data: every fold trains on all coded
            statements; the statements without a code are split into ``n_folds`` parts per
            repeat (records sharing ``pair`` or ``group`` together), fold ``f`` trains on the
            parts other than ``f`` and predicts part ``f`` for the abstain figures only.
        written_corpus: the written corpus's name (method labels).
        training_sets: with ``written``, which training data to run for methods that can learn
            from it (:data:`WRITTEN_AWARE`): ``"real"``, ``"real+written"``, ``"written"``
            (default all three); other methods train on the real units only.

    Returns:
        A :class:`CVResult`.

    Raises:
        KeyError: for an unknown strategy or a record whose code is not in the codebook.
        ValueError: for bad fold/repeat numbers, a per-method repeat count outside 1…``n_repeats``,
            an unknown runtime, or a runtime without a fine-tuned method to score.
    """
    from nokoding.evaluate.strategies import STRATEGIES

    start = time.perf_counter()
    context = context or EvalContext(codebook, seed=seed)
    records = [dict(r) for r in records]
    for r in records:
        if not r.get("code_id"):
            from nokoding.evaluate.splits import record_code_id

            r["code_id"] = record_code_id(r, codebook, f"record {r.get('id')!r}")
    units = build_units(records, codebook)
    folds = grouped_folds(units, codebook, n_folds=n_folds, n_repeats=n_repeats, seed=seed)
    repeats = dict(repeats or {})
    for rt in runtimes:
        if rt != "int8":
            raise ValueError(f"unknown evaluation runtime {rt!r}; use 'int8' (every method is scored in fp32 anyway)")
    for name in strategies:
        if name not in STRATEGIES:
            raise KeyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
        if not 1 <= repeats.get(name, n_repeats) <= n_repeats:
            raise ValueError(f"repeats for {name!r} must be between 1 and {n_repeats}")
    if runtimes and not any(STRATEGIES[name].fine_tuned for name in strategies):
        tuned = ", ".join(n for n, i in STRATEGIES.items() if i.fine_tuned)
        raise ValueError(f"runtime {', '.join(runtimes)} is only scored for fine-tuned methods ({tuned}), "
                         "and none was asked for")
    texts = [u.text for u in units]
    methods: dict[str, MethodRun] = {}
    U = len(units)
    written = [{**dict(r), "source": "written"} for r in (written or [])]
    sets = list(training_sets or (TRAINING_SETS if written else ("real",)))
    for ts in sets:
        if ts not in TRAINING_SETS:
            raise ValueError(f"unknown training set {ts!r}; use {', '.join(TRAINING_SETS)}")
        if ts != "real" and not written:
            raise ValueError(f"training set {ts!r} needs a written corpus")
    written_fold = _written_folds(written, n_folds, n_repeats, seed)
    no_code_idx = [i for i, r in enumerate(written) if not r.get("code_id")]
    for name, ts in ((n, t) for n in strategies for t in (sets if n in WRITTEN_AWARE else ["real"])):
        info = STRATEGIES[name]
        base = name if not written else f"{name} · {ts}"
        # the method as fitted, then the same fitted models in each extra runtime (paired)
        variants: list[tuple[str, str | None]] = [(base, None)]
        if info.fine_tuned:
            variants += [(f"{base}@{rt}", rt) for rt in runtimes]
        runs = {
            label: MethodRun(label, info.summary + (f"; predictions in {rt}" if rt else ""),
                             info.uses_descriptions, info.fine_tuned, training=ts)
            for label, rt in variants
        }
        for r in range(repeats.get(name, n_repeats)):
            code_p = {label: np.zeros((U, codebook.n_codes)) for label, _ in variants}
            cat_p = {label: np.zeros((U, len(codebook.categories))) for label, _ in variants}
            sent_p: dict[str, NDArray[np.float64] | None] = {
                label: np.zeros((U, len(codebook.sentiment_labels))) for label, _ in variants
            }
            estimator: Any = None
            abstain = {label: {"real_units": 0, "real_abstained": 0, "no_code_held_out": 0, "no_code_abstained": 0}
                       for label, _ in variants}
            has_no_code = False
            for fold in (f for f in folds if f.repeat == r):
                estimator = make_estimator(name, context)
                train = [] if ts == "written" else [
                    records[i] for u in fold.train_units for i in units[u].record_indices]
                if ts != "real":  # every coded statement; the no-code ones of this fold's part are held out
                    train += [w for i, w in enumerate(written)
                              if w.get("code_id") or written_fold[r][i] != fold.fold]
                held_out = [written[i]["text"] for i in no_code_idx if written_fold[r][i] == fold.fold]
                t0 = time.perf_counter()
                estimator.fit(train)
                fit_seconds = time.perf_counter() - t0
                for label, rt in variants:
                    if rt is not None:
                        estimator.runtime = rt
                    t1 = time.perf_counter()
                    cp, sp = estimator.predict_proba([texts[u] for u in fold.test_units])
                    t2 = time.perf_counter()
                    none = getattr(estimator, "no_code", None)
                    if none is not None:
                        has_no_code = True
                        a = abstain[label]
                        a["real_units"] += len(fold.test_units)
                        a["real_abstained"] += int((np.asarray(none) >= ABSTAIN_AT).sum())
                        if held_out:
                            estimator.predict_proba(held_out)
                            a["no_code_held_out"] += len(held_out)
                            a["no_code_abstained"] += int((np.asarray(estimator.no_code) >= ABSTAIN_AT).sum())
                    runs[label].fit_seconds.append(fit_seconds)
                    runs[label].predict_seconds.append(t2 - t1)
                    code_p[label][fold.test_units] = cp
                    cat_p[label][fold.test_units] = category_probs(estimator, cp, codebook)
                    sp_label = sent_p[label]
                    if sp is None or sp_label is None:
                        sent_p[label] = None
                    else:
                        sp_label[fold.test_units] = sp
                    if progress:
                        progress(f"{label}: repeat {r + 1} fold {fold.fold + 1}/{n_folds} "
                                 f"(fit {fit_seconds:.1f}s, predict {t2 - t1:.1f}s)")
            for label, _ in variants:
                run = runs[label]
                run.has_sentiment = sent_p[label] is not None
                run.params = dict(getattr(estimator, "params", {}) or {})
                if label != base:
                    run.params["runtime"] = label.rpartition("@")[2]
                run.code_probs.append(code_p[label])
                run.cat_probs.append(cat_p[label])
                run.sentiment_probs.append(sent_p[label])
                run.scores.append(score_units(units, codebook, code_p[label], cat_p[label], sent_p[label]))
                if has_no_code:
                    run.abstain.append(abstain[label])
        methods.update(runs)
    emb = context.embedder
    backbone = {
        "name": getattr(emb, "name", context.backbone) if emb is not None else context.backbone,
        "path": str(getattr(emb, "path", "")) if emb is not None else "",
        "sha256": getattr(emb, "sha256", "") if emb is not None else "",
        "text_prefix": getattr(emb, "text_prefix", None) if emb is not None else None,
        "used": emb is not None,
    }
    return CVResult(corpus, codebook, records, units, folds, n_folds, n_repeats, seed, methods, backbone,
                    time.perf_counter() - start, float(getattr(emb, "seconds", 0.0) or 0.0),
                    written=written, written_corpus=written_corpus if written else "")


def _written_folds(written: Sequence[Mapping[str, Any]], n_folds: int, n_repeats: int, seed: int) -> list[list[int]]:
    """Per repeat, the fold of every written record; records sharing ``pair`` (a minimal pair)
    or ``group`` fall in one fold. Seeded by ``seed + repeat``, like the corpus's folds."""
    keys = [str(w.get("pair") or w.get("group") or w.get("id") or i) for i, w in enumerate(written)]
    distinct = list(dict.fromkeys(keys))
    out = []
    for r in range(n_repeats):
        order = np.random.default_rng(seed + r).permutation(len(distinct))
        fold_of = {k: int(order[j]) % n_folds for j, k in enumerate(distinct)}
        out.append([fold_of[k] for k in keys])
    return out


def _mean_std(values: Sequence[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else None,
        "values": [float(v) for v in arr],
    }


def summarise(run: MethodRun, labels: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Mean ± std over repeats of every metric of a method, per-label tables and counted notes.

    Args:
        run: a method's completed run.
        labels: per task, the label ids in order (``{"category": [...], "code": [...],
            "sentiment": [...]}``).

    Returns:
        JSON-ready ``{"metrics": {task: {metric: {mean, std, values}} or None},
        "per_label": {task: [{label, support, precision, recall, f1}] or None},
        "notes": {"<task>: <note>": count}}``. ``std`` is ``None`` with one repeat.
    """
    metrics: dict[str, Any] = {}
    per_label: dict[str, Any] = {}
    notes: Counter[str] = Counter()
    for task in TASKS:
        task_scores = [s[task] for s in run.scores]
        if not task_scores or any(t is None for t in task_scores):
            metrics[task] = None
            per_label[task] = None
            continue
        names = list(task_scores[0].values)  # type: ignore[union-attr]
        metrics[task] = {m: _mean_std([t.values[m] for t in task_scores]) for m in names}  # type: ignore[union-attr]
        rows = []
        for i, lab in enumerate(labels[task]):
            rows.append({
                "label": lab,
                "support": int(task_scores[0].support[i]),  # type: ignore[union-attr]
                "precision": float(np.mean([t.precision[i] for t in task_scores])),  # type: ignore[union-attr]
                "recall": float(np.mean([t.recall[i] for t in task_scores])),  # type: ignore[union-attr]
                "f1": float(np.mean([t.f1[i] for t in task_scores])),  # type: ignore[union-attr]
            })
        per_label[task] = rows
        for t in task_scores:
            for note in t.notes:  # type: ignore[union-attr]
                notes[f"{task}: {note}"] += 1
    return {"metrics": metrics, "per_label": per_label, "notes": dict(notes)}
