"""`nokoding codebook`: exchange codebooks with QDA tools: REFI-QDA ``.qdc`` files (NVivo,
ATLAS.ti, MAXQDA, QualCoder) and Taguette's codebook CSV."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``codebook`` command group (``export``, ``import``) to ``app``."""
    group = typer.Typer(help="Export a codebook to, or import one from, a REFI-QDA .qdc or a Taguette .csv file.",
                        no_args_is_help=True)

    @group.command("export")
    def export_cmd(
        out: Path = typer.Option(..., "--out", "-o", help="The file to write (.qdc, or .csv for Taguette).",
                                 show_default=False),
        corpus: str | None = typer.Option(None, "--corpus", help="Corpus name or folder (default: thesis_mrs)."),
        codebook: Path | None = typer.Option(None, "--codebook", help="A codebook.yaml file."),
        fmt: str | None = typer.Option(
            None, "--format", "-f", help="qdc (REFI-QDA) or taguette (Taguette's codebook CSV) "
            "(default: taguette for a .csv file, else qdc)."),
    ) -> None:
        """Write a corpus's codebook (or a codebook.yaml) as a REFI-QDA codebook (.qdc) or a
        Taguette codebook CSV (tags "Category > Code")."""
        from nokoding import corpora
        from nokoding.codebook import CodebookError
        from nokoding.export.qdc import write_qdc
        from nokoding.export.taguette import write_taguette_codebook

        kind = (fmt or ("taguette" if out.suffix.lower() == ".csv" else "qdc")).lower()
        if kind == "csv":
            kind = "taguette"
        if kind not in ("qdc", "taguette"):
            typer.echo(f"error: unknown format {fmt!r}; use qdc or taguette", err=True)
            raise typer.Exit(2)
        if corpus is not None and codebook is not None:
            typer.echo("error: give --corpus or --codebook, not both", err=True)
            raise typer.Exit(2)
        try:
            book = corpora.load_codebook(codebook if codebook is not None else corpus or "thesis_mrs")
        except OSError as err:
            typer.echo(f"error: cannot read {err.filename or codebook}: {err.strerror or err}", err=True)
            raise typer.Exit(2) from None
        except (corpora.CorpusError, CodebookError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        try:
            if kind == "qdc":
                write_qdc(book, out)
            else:
                write_taguette_codebook(book, out)
        except CodebookError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"wrote {out}: {len(book.categories)} categories, {len(book)} codes")

    @group.command("import")
    def import_cmd(
        source: Path = typer.Argument(
            ..., help="The .qdc file (REFI-QDA 1.0 or ATLAS.ti 0:4), or a codebook .csv (Taguette's export).",
            show_default=False),
        out: Path = typer.Option(..., "--out", "-o", help="The codebook.yaml to write.", show_default=False),
        name: str | None = typer.Option(None, "--name", help="Codebook name (default: the file name)."),
        like: str | None = typer.Option(
            None, "--like", help="Corpus or codebook.yaml whose ids to keep for codes with the same names."),
    ) -> None:
        """Read a REFI-QDA codebook (.qdc) or a codebook CSV into a nokoding codebook.yaml.

        Top-level codes become categories and their children codes; flat code lists go under
        their code group (set) or one 'Uncategorised' category. In a CSV, a tag
        "Category > Code" names the category and the code.
        """
        from dataclasses import replace

        from nokoding import corpora
        from nokoding.coded.hierarchy import codebook_from_csv
        from nokoding.export.qdc import read_qdc

        if out.resolve() == source.resolve():
            typer.echo(f"error: --out {out} is the input file; choose another file for the codebook.yaml", err=True)
            raise typer.Exit(2)
        try:
            reference = corpora.load_codebook(like) if like else None
            if source.suffix.lower() == ".csv":
                book = codebook_from_csv(source, like=reference)
                if name:
                    book = replace(book, name=name)
            else:
                book = read_qdc(source, name=name, like=reference)
        except OSError as err:
            typer.echo(f"error: cannot read {err.filename or source}: {err.strerror or err}", err=True)
            raise typer.Exit(2) from None
        except ValueError as err:  # CodebookError, UnsafeInputError, XmlFormatError
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        book.to_yaml(out)
        typer.echo(f"wrote {out}: {len(book.categories)} categories, {len(book)} codes")

    app.add_typer(group, name="codebook")
