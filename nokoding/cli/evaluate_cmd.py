"""`nokoding evaluate`: cross-validate methods on a hand-coded corpus, or measure a saved model.

Two modes:

* ``nokoding evaluate --corpus thesis_mrs --backbone me5-small [--strategy NAME ...]
  --folds 5 --repeats 3 --out benchmarks/results`` — repeated stratified grouped K-fold of the
  baselines (default) and/or fine-tuned strategies; writes ``<corpus>.md``, ``.json`` and figures.
* ``nokoding evaluate --model DIR --corpus FILE.jsonl|NAME --out DIR`` — one pass of a saved
  model over a labelled corpus.

Instead of ``--corpus``, ``--data`` takes a researcher's own coded data (``.qdpx`` project,
``.csv``/``.tsv`` or ``.jsonl``; ``--codebook`` and ``--coder`` as in ``nokoding train``), read
with :func:`nokoding.coded.load_coded_data` and checked with :func:`nokoding.coded.validate`
first; when the check fails the report is printed and the exit status is 1. With ``--model``
the data is read against the model's codebook (codes matched by category and subcategory
names) and a code with fewer than two held-out segments does not refuse the evaluation (it
concerns training); every other error does.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from pathlib import Path

import typer


def _parse_repeats(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise typer.BadParameter(f"expected NAME=N, got {item!r}", param_hint="--strategy-repeats")
        out[name.strip()] = int(value)
    return out


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command to ``app``."""

    @app.command("evaluate")
    def evaluate_cmd(
        corpus: str | None = typer.Option(
            None, "--corpus", "-c",
            help="Corpus name or folder; with --model also a labelled .jsonl file [default: thesis_mrs]."),
        data: Path | None = typer.Option(
            None, "--data", help="Your coded data instead of --corpus: .qdpx, .csv/.tsv or .jsonl (validated first)."),
        codebook: Path | None = typer.Option(
            None, "--codebook", help="With --data: codebook file (.qdc, .yaml, .txt); default: the model's, the "
            "project's own, or inferred from a CSV's codes."),
        coder: list[str] = typer.Option(
            [], "--coder", help="With --data: count only this coder's codings (name or GUID); repeatable."),
        backbone: str = typer.Option("me5-small", "--backbone", "-b", help="Backbone name or folder."),
        strategy: list[str] = typer.Option(
            [], "--strategy", "-s",
            help="Method to run (repeatable): majority, tfidf-lr, embed-lr, embed-lr+desc, zero-shot, "
                 "prototype, prototype+desc, logistic, logistic+desc, logistic+desc-uncalibrated, "
                 "lora, lora+desc, full, full+desc, frozen, frozen+desc, or "
                 "'baselines' for all baselines [default: baselines]."),
        folds: int = typer.Option(5, "--folds", "-k", min=2, help="Number of folds K."),
        repeats: int = typer.Option(3, "--repeats", "-r", min=1, help="Repeats of the K-fold split."),
        strategy_repeats: list[str] = typer.Option(
            [], "--strategy-repeats", metavar="NAME=N",
            help="Fewer repeats for one method, e.g. lora=1 (repeatable)."),
        seed: int = typer.Option(0, "--seed", help="Split seed of repeat 0 (repeat r uses seed + r)."),
        epochs: int | None = typer.Option(None, "--epochs", min=0, help="Fine-tuning epochs (fine-tuned methods)."),
        also_runtime: list[str] = typer.Option(
            [], "--also-runtime", metavar="RUNTIME",
            help="Also score each fold's fine-tuned model in this inference runtime (int8), reported as "
                 "NAME@int8 beside NAME: a paired check of what quantisation costs (repeatable)."),
        written: str | None = typer.Option(
            None, "--written", help="Corpus of written training statements for the same codebook (name or folder): "
            "added to training folds only, never tested on; runs each method that can use it as three rows: "
            "real, real+written, written."),
        written_weight: float = typer.Option(1.0, "--written-weight", min=0.0,
                                             help="Weight of each written statement in training (real quotes: 1)."),
        training_set: list[str] = typer.Option(
            [], "--training-set",
            help="With --written: only these training sets (real, real+written, written; repeatable)."),
        logistic_c: float | None = typer.Option(None, "--logistic-c", min=1e-6,
                                                help="Inverse regularisation of the logistic methods."),
        out: Path = typer.Option(Path("evaluation"), "--out", "-o", help="Report folder (created)."),
        model: Path | None = typer.Option(None, "--model", "-m",
                                          help="Measure this saved model instead of cross-validating."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
    ) -> None:
        """Evaluate against the hand coding: accuracy, macro-F1, top-3, Cohen's κ, Krippendorff's α, ECE."""
        from nokoding.backbones import BackboneError
        from nokoding.evaluate import (
            LabelledCorpusError,
            evaluate_corpus,
            evaluate_model,
        )
        from nokoding.evaluate.strategies import BASELINES, STRATEGIES

        command = "nokoding " + " ".join(shlex.quote(a) for a in sys.argv[1:])

        def say(line: str) -> None:
            if not quiet:
                typer.echo(line, err=True)

        if data is not None and corpus is not None:
            typer.echo("error: give either --corpus or --data, not both", err=True)
            raise typer.Exit(2)
        if data is None and (codebook is not None or coder):
            typer.echo("error: --codebook and --coder go with --data", err=True)
            raise typer.Exit(2)
        scratch = tempfile.TemporaryDirectory(prefix="nokoding-evaluate-")
        try:
            if data is not None:
                corpus = str(_coded_corpus(data, codebook, coder, model, Path(scratch.name)))
            corpus = corpus or "thesis_mrs"
            if model is not None and also_runtime:
                typer.echo("error: --also-runtime goes with cross-validation, not with --model", err=True)
                raise typer.Exit(2)
            if model is not None:
                report = evaluate_model(model, corpus, out_dir=out, command=command)
            else:
                names: list[str] = []
                for s in strategy or ["baselines"]:
                    for n in (BASELINES if s == "baselines" else (s,)):
                        if n not in STRATEGIES:
                            typer.echo(f"error: unknown strategy {n!r}; known: {', '.join(STRATEGIES)}", err=True)
                            raise typer.Exit(2)
                        if n not in names:
                            names.append(n)
                per = _parse_repeats(strategy_repeats)
                options: dict[str, object] = {}
                if epochs is not None:
                    options["epochs"] = epochs
                if logistic_c is not None:
                    options["logistic_c"] = logistic_c
                report = evaluate_corpus(corpus, backbone=backbone, strategies=names, folds=folds, repeats=repeats,
                                         strategy_repeats=per, seed=seed, out_dir=out, train_options=options or None,
                                         runtimes=also_runtime, progress=say, command=command, written=written,
                                         written_weight=written_weight, training_sets=training_set or None)
        except (LabelledCorpusError, BackboneError, ValueError, LookupError, OSError) as err:
            # bad corpus, unknown strategy/code/backbone, missing file or model folder
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2) from None
        finally:
            scratch.cleanup()
        for kind, path in report.get("files", {}).items():
            typer.echo(f"{kind}: {path}")
        for name, m in report["methods"].items():
            cat, code = m["metrics"]["category"], m["metrics"]["code"]
            sent = m["metrics"]["sentiment"]
            typer.echo(
                f"{name:21s} repeats={m['repeats']}  category acc {cat['accuracy']['mean']:.3f} "
                f"κ {cat['cohen_kappa']['mean']:.3f}  code top-3 {code['top3_accuracy']['mean']:.3f}  "
                f"sentiment macro-F1 " + (f"{sent['macro_f1']['mean']:.3f}" if sent else "n/a"))


def _coded_corpus(data: Path, codebook: Path | None, coders: list[str], model: Path | None, scratch: Path) -> Path:
    """Read and validate ``--data``; write it where the evaluators read corpora.

    With ``model``: a labelled JSON Lines file ``<scratch>/<data stem>.jsonl`` keyed to the
    model's codebook. Without: a corpus folder ``<scratch>/<data stem>/`` (``codebook.yaml`` +
    ``segments.jsonl``). The report name is the data file's stem either way.

    Exits 1 (printing the validation report) when the data must be refused, 2 when it cannot be
    read; raises ``ModelLoadError`` when the model folder cannot be found.
    """
    from nokoding.codebook import Codebook, CodebookError
    from nokoding.coded import CodedDataError, load_coded_data, validate

    target: Codebook | Path | None = codebook
    if model is not None and codebook is None:
        from nokoding.model import find_model

        target = Codebook.from_yaml(find_model(model) / "codebook.yaml")
    try:
        coded = load_coded_data(data, codebook=target, coders=coders or None)
    except (CodedDataError, CodebookError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    report = validate(coded)
    blocking = [f for f in report.errors if model is None or f.rule != "too-few-examples"]
    if blocking and model is not None:
        # measuring a saved model: only problems that make rows unscorable matter (a code with
        # few examples is fine here), so list those alone, without training advice
        for f in blocking:
            typer.echo(f"error [{f.rule}] {f.location + ': ' if f.location else ''}{f.message}", err=True)
        typer.echo(f"error: evaluation of {model} on {data} refused: fix the {len(blocking)} problem(s) above "
                   "(a code must be one of the model's codebook)", err=True)
        raise typer.Exit(1)
    if blocking:
        typer.echo(report.to_text())
        typer.echo("error: evaluation refused; fix the errors above (see `nokoding validate --data ...`)", err=True)
        raise typer.Exit(1)
    lines = "".join(
        json.dumps({"id": r["id"], "text": r["text"], "code_id": r["code_id"], "sentiment": r.get("sentiment"),
                    "group": r.get("group") or r["id"]}, ensure_ascii=False) + "\n"
        for r in coded.records
    )
    if model is not None:
        path = scratch / f"{data.stem}.jsonl"
        path.write_text(lines, encoding="utf-8")
        return path
    coded = coded.without_codes(report.unused_codes)  # codes with no segment cannot be cross-validated
    folder = scratch / data.stem
    folder.mkdir()
    coded.codebook.to_yaml(folder / "codebook.yaml")
    (folder / "segments.jsonl").write_text(lines, encoding="utf-8")
    return folder
