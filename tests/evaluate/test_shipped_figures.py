"""The figures users read must agree: committed report ↔ shipped model card ↔ README."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "benchmarks/results/thesis_mrs_written/thesis_mrs.json"
MODEL = ROOT / "models/thesis-mrs"
METHOD = "logistic+desc · real+written"


def _card_metrics_module():
    spec = importlib.util.spec_from_file_location("card_metrics", ROOT / "benchmarks/card_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    return json.loads(REPORT.read_text(encoding="utf-8"))


def test_model_card_quotes_the_committed_report(report):
    cm = _card_metrics_module()
    metrics = json.loads((MODEL / "metrics.json").read_text(encoding="utf-8"))
    assert metrics == cm.card_metrics(report, METHOD, str(REPORT.relative_to(ROOT).with_suffix(".md")))
    card = (MODEL / "README.md").read_text(encoding="utf-8")
    assert f"| code.top3_accuracy | {metrics['code.top3_accuracy']:.3f} |" in card


def test_shipped_model_was_trained_with_the_evaluated_recipe(report):
    cm = _card_metrics_module()
    args = json.loads((MODEL / "training_args.json").read_text(encoding="utf-8"))
    assert cm.recipe_mismatches(report["methods"][METHOD]["params"], args) == []
    # the evaluated row trained on the written corpus the model saw, with the same weight
    assert report["methods"][METHOD]["training"] == "real+written"
    assert args["written"] == report["protocol"]["written_corpus"].split(":")[0]


def test_readme_headline_row_matches_the_report(report):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert report["command"] in " ".join(readme.replace("\\\n", " ").split())
    (row,) = [line for line in readme.splitlines() if "shipped recipe" in line and line.startswith("|")]
    cells = [re.sub(r"[*]", "", c).strip() for c in row.strip("|").split("|")]
    m = report["methods"][METHOD]["metrics"]
    expected = [m["category"]["accuracy"], m["category"]["cohen_kappa"], m["category"]["macro_f1"],
                m["code"]["top3_accuracy"], m["code"]["macro_f1"], m["sentiment"]["macro_f1"]]
    assert cells[1:] == [f"{e['mean']:.3f}" for e in expected]


def test_card_metrics_refuses_an_unknown_method(report):
    with pytest.raises(KeyError, match="logistic"):
        _card_metrics_module().card_metrics(report, "no-such-method")
