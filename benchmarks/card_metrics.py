"""Copy one method's cross-validated figures from an evaluation report into a model card.

The shipped model's card must quote the same numbers as the committed report: this script
reads ``benchmarks/results/<corpus>.json`` (written by ``nokoding evaluate``), takes the
row of the method whose recipe the model was trained with, and stores mean and standard
deviation of every headline metric in the model's ``metrics.json`` and ``README.md``
(:func:`nokoding.model.update_metrics`, atomic). It refuses when the method's recipe in the
report differs from the model's ``training_args.json``, so a card never quotes another
recipe's figures.

    python benchmarks/card_metrics.py          # "logistic+desc · real+written" → models/thesis-mrs
    python benchmarks/card_metrics.py --report R.json --method lora+desc --model DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Report metrics copied into the card, per task.
HEADLINE = {
    "category": ("accuracy", "macro_f1", "cohen_kappa", "krippendorff_alpha", "ece"),
    "code": ("accuracy", "top3_accuracy", "macro_f1", "cohen_kappa", "ece"),
    "sentiment": ("accuracy", "macro_f1", "cohen_kappa", "ece"),
}

#: Recipe fields that do not change what is learnt (run-time switches).
_IGNORED = {"progress", "evidence", "backbone"}


def recipe_mismatches(report_params: dict[str, Any], training_args: dict[str, Any]) -> list[str]:
    """Fields whose value differs between a report row's recipe and a model's training arguments."""
    keys = (set(report_params) | set(training_args)) - _IGNORED
    return sorted(k for k in keys if k in report_params and k in training_args
                  and report_params[k] != training_args[k])


def card_metrics(report: dict[str, Any], method: str, source: str | None = None) -> dict[str, Any]:
    """The ``metrics.json`` mapping for one report row: provenance plus ``task.metric`` means and stds.

    ``source`` is the report's Markdown file as the card names it (default
    ``benchmarks/results/<corpus>.md``).

    Raises:
        KeyError: the report has no such method (the message lists the methods it has).
    """
    try:
        row = report["methods"][method]
    except KeyError:
        raise KeyError(f"report has no method {method!r}; it has {', '.join(report['methods'])}") from None
    protocol = report["protocol"]
    out: dict[str, Any] = {
        "source": f"{source or 'benchmarks/results/' + report['corpus']['name'] + '.md'}, method {method} "
                  "(cross-validated recipe of this model)",
        "command": report["command"],
        "protocol": f"{protocol['folds']}-fold StratifiedGroupKFold over {report['corpus']['n_units']} quote units, "
                    f"repeats: {row['repeats']} (seeds {protocol['seeds'][: row['repeats']]})",
    }
    for task, names in HEADLINE.items():
        scores = (row.get("metrics") or {}).get(task)
        if not scores:
            continue
        for name in names:
            entry = scores.get(name)
            if entry is None or entry.get("mean") is None:
                continue
            out[f"{task}.{name}"] = round(float(entry["mean"]), 4)
            if entry.get("std") is not None:
                out[f"{task}.{name}.std"] = round(float(entry["std"]), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=ROOT / "benchmarks/results/thesis_mrs_written/thesis_mrs.json")
    parser.add_argument("--method", default="logistic+desc · real+written")
    parser.add_argument("--model", type=Path, default=ROOT / "models/thesis-mrs")
    args = parser.parse_args(argv)

    from nokoding.model import update_metrics

    report = json.loads(args.report.read_text(encoding="utf-8"))
    training_args = json.loads((args.model / "training_args.json").read_text(encoding="utf-8"))
    bad = recipe_mismatches(report["methods"].get(args.method, {}).get("params", {}), training_args)
    if bad:
        print(f"{args.model}: trained with another recipe than {args.method} in {args.report} "
              f"(differs in: {', '.join(bad)})", file=sys.stderr)
        return 1
    try:
        source = str(args.report.resolve().relative_to(ROOT).with_suffix(".md"))
    except ValueError:
        source = str(args.report.with_suffix(".md"))
    update_metrics(args.model, card_metrics(report, args.method, source))
    print(f"{args.model}/metrics.json and README.md updated from {args.report} ({args.method})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
