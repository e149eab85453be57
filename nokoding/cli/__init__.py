"""The ``nokoding`` command line: a thin layer over the public Python API.

Each command group lives in its own module and registers itself on :data:`app`.
"""

from __future__ import annotations

import typer

from nokoding.cli import (
    bench_cmd,
    codebook_cmd,
    corpus_cmd,
    evaluate_cmd,
    next_cmd,
    segment_cmd,
    tag_cmd,
    train_cmd,
    validate_cmd,
)

app = typer.Typer(
    name="nokoding",
    help="Suggest codebook codes and sentiment for interview transcripts (offline).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool) -> None:
    if value:
        from nokoding import __version__

        typer.echo(f"nokoding {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the nokoding version and exit."),
) -> None:
    """Suggest codebook codes and sentiment for interview transcripts (offline)."""


for _module in (segment_cmd, tag_cmd, train_cmd, evaluate_cmd, bench_cmd, codebook_cmd, corpus_cmd,
                validate_cmd, next_cmd):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
