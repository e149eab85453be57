"""`nokoding validate`: check a researcher's coded data before training on it.

Exit status: 0 when training can go ahead (warnings allowed), 1 when the report has an
error (training would be refused), 2 when the data or codebook cannot be read at all.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to ``app``."""

    @app.command("validate")
    def validate_cmd(
        data: Path = typer.Option(..., "--data", help="Coded data: .qdpx project, .csv/.tsv or .jsonl file."),
        codebook: Path | None = typer.Option(
            None, "--codebook", help="Codebook (.qdc, .yaml, .txt); default: the project's own, or "
            "inferred from the codes in a CSV/JSON Lines file."),
        coder: list[str] = typer.Option(
            [], "--coder", help="Count only this coder's codings (user name or GUID); repeatable."),
        include_nokoding: bool = typer.Option(
            False, "--include-nokoding", help="Also count codings by the 'nokoding' user (its suggestions)."),
        include_unmarked_nokoding: bool = typer.Option(
            False, "--include-unmarked-nokoding",
            help="Count codings by the user 'nokoding' that are not nokoding's suggestions (made by a person "
            "coding under that name, e.g. in QualCoder after importing nokoding's project)."),
        min_examples: int = typer.Option(5, "--min-examples", min=1,
                                         help="Warn for codes with fewer segments than this."),
        max_imbalance: float = typer.Option(10.0, "--max-imbalance", min=1.0,
                                            help="Warn when largest/smallest code count exceeds this."),
        output_format: str = typer.Option("table", "--format", help="table, text or json."),
    ) -> None:
        """Check coded data for training: print a report; exit 1 if training would be refused.

        Reads .qdpx projects (any QDA program), CSV/TSV (also Taguette's highlights export:
        id, document, tag, content) and JSON Lines.
        """
        from nokoding.codebook import CodebookError
        from nokoding.coded import CodedDataError, load_coded_data, validate

        if output_format not in ("table", "text", "json"):
            typer.echo(f"error: --format must be table, text or json, not {output_format!r}", err=True)
            raise typer.Exit(2)
        try:
            coded = load_coded_data(data, codebook=codebook, coders=coder or None,
                                    include_nokoding=include_nokoding,
                                    include_unmarked_nokoding=include_unmarked_nokoding)
        except (CodedDataError, CodebookError, FileNotFoundError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        report = validate(coded, min_examples=min_examples, max_imbalance=max_imbalance)
        if output_format == "json":
            typer.echo(report.to_json())
        elif output_format == "text":
            typer.echo(report.to_text())
        else:
            from rich.console import Console

            Console().print(report)
        if not report.ok:
            raise typer.Exit(1)
