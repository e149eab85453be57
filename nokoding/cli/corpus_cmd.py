"""`nokoding corpus`: list the known hand-coded corpora and summarise one."""

from __future__ import annotations

from collections import Counter

import typer


def register(app: typer.Typer) -> None:
    """Add the ``corpus`` command group to ``app``."""
    group = typer.Typer(help="List and inspect hand-coded corpora (codebook + coded segments).",
                        no_args_is_help=True)

    @group.command("list")
    def list_cmd() -> None:
        """Print the names of the corpora nokoding can find."""
        from nokoding import corpora

        for name in corpora.list_corpora():
            typer.echo(name)

    @group.command("show")
    def show_cmd(
        corpus: str = typer.Argument("thesis_mrs", help="Corpus name or folder."),
    ) -> None:
        """Print the codebook with the number of coded segments per code and per sentiment."""
        from rich.console import Console
        from rich.table import Table

        from nokoding import corpora

        try:
            codebook = corpora.load_codebook(corpus)
            records = corpora.load_records(corpus)
        except (corpora.CorpusError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        per_code = Counter(r["code_id"] for r in records)
        table = Table(title=f"{codebook.name}: {len(records)} coded segments, {len(codebook)} codes")
        for col in ("code id", "category", "subcategory", "segments"):
            table.add_column(col, justify="right" if col == "segments" else "left")
        for code in codebook:
            table.add_row(code.id, code.category, code.subcategory, str(per_code.get(code.id, 0)))
        console = Console()
        console.print(table)
        sentiments = Counter(r.get("sentiment") or "(none)" for r in records)
        console.print("sentiment: " + ", ".join(f"{k} {v}" for k, v in sentiments.most_common()))

    app.add_typer(group, name="corpus")
