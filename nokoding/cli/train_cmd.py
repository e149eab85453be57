"""`nokoding train`: fine-tune a coding model on a hand-coded corpus and save it.

    nokoding train --corpus thesis_mrs --backbone me5-small --strategy lora --epochs 6 --out models/thesis-mrs
    nokoding train --data study.qdpx --coder Kari --out my-model
    nokoding train --data coded.csv --out my-model
    nokoding train --data coded.jsonl --codebook codebook.yaml --out my-model

``--data`` is a researcher's own coded data — a REFI-QDA project exported from NVivo, ATLAS.ti,
MAXQDA or QualCoder (``.qdpx``), a spreadsheet (``.csv``/``.tsv``) or JSON Lines — read with
:func:`nokoding.coded.load_coded_data` and checked with :func:`nokoding.coded.validate` (the
checks of ``nokoding validate``) before any training: when the report has an error the report
is printed and the command exits with status 1. The codebook is the project's own for a
``.qdpx``, inferred from the codes for a CSV, or the ``--codebook`` file (``.qdc``, ``.yaml``,
``.txt``); a JSON Lines file needs ``--codebook``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pragma: no cover
    from nokoding.coded import CodedData


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train")
    def train_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="Folder to save the model in (replaced if it is a model)."),
        corpus: str | None = typer.Option(None, "--corpus", "-c", help="Corpus name or folder [default: thesis_mrs]."),
        data: Path | None = typer.Option(
            None, "--data", help="Your coded data: .qdpx project, .csv/.tsv or .jsonl file (validated first)."),
        codebook: Path | None = typer.Option(
            None, "--codebook", help="Codebook (.qdc, .yaml, .txt); default: the corpus's, the project's own, "
            "or inferred from a CSV's codes (a JSON Lines file needs one)."),
        coder: list[str] = typer.Option(
            [], "--coder", help="With --data: count only this coder's codings (name or GUID); repeatable."),
        include_nokoding: bool = typer.Option(
            False, "--include-nokoding", help="With a .qdpx: also count codings by the 'nokoding' user."),
        include_unmarked_nokoding: bool = typer.Option(
            False, "--include-unmarked-nokoding",
            help="With a .qdpx: count codings by the user 'nokoding' that are not nokoding's suggestions "
            "(a person coded under that name)."),
        backbone: str = typer.Option("me5-small", "--backbone", "-b", help="Backbone name or encoder folder."),
        strategy: str = typer.Option("lora", "--strategy", "-s", help="lora (default), full or frozen."),
        epochs: int | None = typer.Option(None, "--epochs", min=0, help="Encoder fine-tuning epochs."),
        batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Examples per step."),
        learning_rate: float | None = typer.Option(None, "--lr", help="Encoder learning rate."),
        seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same model)."),
        descriptions: bool = typer.Option(True, "--descriptions/--no-descriptions",
                                          help="Use each code's description as an extra training example."),
        written: str | None = typer.Option(
            None, "--written", help="Also train on a corpus of written training statements for the same codebook "
            "(name or folder, e.g. thesis_mrs_written); its segments without a code teach the model to abstain."),
        written_weight: float = typer.Option(1.0, "--written-weight", min=0.0,
                                             help="Weight of each written statement (real segments: 1)."),
        head_fit: str | None = typer.Option(
            None, "--head-fit", help="calibrate (default), full, or logistic: logistic-regression heads with a "
            "'no code' outcome and calibrated probabilities (use with --strategy frozen for a quick model)."),
        logistic_c: float | None = typer.Option(None, "--logistic-c", min=1e-6,
                                                help="With --head-fit logistic: inverse regularisation."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Fine-tune a coding model (codes + sentiment heads) and save it as a model folder."""
        from nokoding.backbones import BackboneError
        from nokoding.codebook import CodebookError
        from nokoding.model.io import check_model_dir
        from nokoding.training import TrainingArguments, TrainingDataError, train

        if data is not None and corpus is not None:
            typer.echo("error: give either --corpus or --data, not both", err=True)
            raise typer.Exit(2)
        if data is not None and codebook is None and data.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            typer.echo("error: --data needs --codebook FILE.yaml|.qdc for a JSON Lines file", err=True)
            raise typer.Exit(2)
        if coder and data is None:
            typer.echo("error: --coder needs --data", err=True)
            raise typer.Exit(2)
        if strategy not in ("lora", "full", "frozen"):
            typer.echo(f"error: unknown strategy {strategy!r}; use lora, full or frozen", err=True)
            raise typer.Exit(2)
        options = {"seed": seed, "use_descriptions": descriptions, "progress": not quiet}
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("learning_rate", learning_rate),
                           ("head_fit", head_fit), ("logistic_c", logistic_c)):
            if value is not None:
                options[key] = value
        try:
            check_model_dir(out)
            if data is not None:
                coded = _checked_data(data, codebook, coder, include_nokoding=include_nokoding,
                                      include_unmarked_nokoding=include_unmarked_nokoding)
                model = train(coded.records, codebook=coded.codebook, backbone=backbone, strategy=strategy,
                              args=TrainingArguments(**options), written=written, written_weight=written_weight)
                model.data_summary.update(source=str(data), format=coded.format,
                                          codebook_inferred=coded.codebook_inferred, coders=sorted(coder))
                model.save_pretrained(out)
            else:
                model = train(corpus or "thesis_mrs", codebook=codebook, backbone=backbone, strategy=strategy,
                              out_dir=out, args=TrainingArguments(**options), written=written,
                              written_weight=written_weight)
        except (TrainingDataError, CodebookError, BackboneError, ValueError, LookupError, OSError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2) from None
        log = model.training_log
        summary = model.data_summary
        losses = [row["loss"] for row in log if "loss" in row]
        written_note = f", {summary['written_examples']} of them written" if summary.get("written_examples") else ""
        typer.echo(
            f"saved {out} ({summary['record_examples']} coded examples{written_note} + "
            f"{summary['description_examples']} descriptions, {len(log)} log rows, {summary['training_seconds']} s)"
            + (f"; final loss {losses[-1]:.4f}" if losses else "")
        )


def _checked_data(data: Path, codebook: Path | None, coders: list[str], *, include_nokoding: bool = False,
                  include_unmarked_nokoding: bool = False) -> CodedData:
    """Read ``--data`` and validate it; print the report and exit 1 when training must be refused.

    Codes with no coded segment are left out (said on stderr). Exits 2 when the data or
    codebook cannot be read at all.
    """
    from nokoding.codebook import CodebookError
    from nokoding.coded import CodedDataError, load_coded_data, validate

    try:
        coded = load_coded_data(data, codebook=codebook, coders=coders or None, include_nokoding=include_nokoding,
                                include_unmarked_nokoding=include_unmarked_nokoding)
    except (CodedDataError, CodebookError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    report = validate(coded)
    if not report.ok:
        typer.echo(report.to_text())
        typer.echo("error: training refused; fix the errors above (see `nokoding validate --data ...`)", err=True)
        raise typer.Exit(1)
    if report.warnings:
        typer.echo(f"validation: {len(report.warnings)} warning(s); run `nokoding validate --data {data}` to see "
                   "them", err=True)
    for finding in report.warnings:
        if finding.rule == "human-codings-as-nokoding":
            typer.echo(f"warning: {finding.message}", err=True)
    if report.unused_codes:
        typer.echo(f"left out {len(report.unused_codes)} code(s) with no coded segment: "
                   f"{', '.join(report.unused_codes)}", err=True)
        coded = coded.without_codes(report.unused_codes)
    return coded
