"""`nokoding tag`: suggest codes and sentiment for a batch of transcripts and write the outputs."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``tag`` command to ``app``."""

    @app.command("tag")
    def tag_cmd(
        inputs: list[str] = typer.Argument(
            ..., help="Transcript files, folders (searched recursively) or glob patterns.", show_default=False
        ),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created).", show_default=False),
        model: str = typer.Option("thesis-mrs", "--model", "-m", help="Model name or folder."),
        formats: str = typer.Option("csv,jsonl,qdpx", "--format", "-f",
                                    help="Comma-separated output formats: csv, jsonl, qdpx."),
        top_k: int = typer.Option(3, "--top-k", min=1, help="Codes per segment in the outputs."),
        threshold: float | None = typer.Option(
            None, "--threshold", min=0.0, max=1.0,
            help="Only codes with probability ≥ P become REFI-QDA codings (top-k still limits).",
            metavar="P",
        ),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        force: bool = typer.Option(False, "--force", help="Redo documents finished by an earlier run."),
    ) -> None:
        """Tag transcripts: one CSV, JSON Lines file and REFI-QDA project for the whole batch.

        A failed input is reported and the others are tagged; the exit status is 1 when any
        input failed or an output check failed. Rerunning the same command resumes.
        """
        from nokoding.tag import tag

        try:
            summary = tag(
                inputs,
                out_dir=out,
                model=model,
                formats=[f for f in formats.split(",") if f.strip()],
                top_k=top_k,
                threshold=threshold,
                device=device,
                force=force,
            )
        except KeyboardInterrupt:
            typer.echo(f"interrupted; finished documents are kept in {out} — rerun the same command to resume",
                       err=True)
            raise typer.Exit(130) from None
        except (ValueError, OSError) as err:  # bad option, model not found (ModelLoadError), unwritable --out
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        for line in summary.lines():
            typer.echo(line, err=line.startswith("failed:"))
        raise typer.Exit(summary.exit_code)
