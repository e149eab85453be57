"""`nokoding next`: which uncoded segments to code next (active learning).

    nokoding next --model my-model --corpus nye_intervjuer/ --n 20 --out neste.csv

Reads the transcripts, cuts them into segments as ``nokoding tag`` does, leaves out what the
model was trained on, and lists the ``n`` segments whose coding would teach the model most:
uncertain ones, spread out so that they are not near-copies of each other
(:mod:`nokoding.active` has the method and its sources).

Exit status: 0 on success (unreadable transcripts are reported and skipped), 1 when no
transcript could be read, 2 for bad options or a model that cannot be loaded.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``next`` command to ``app``."""

    @app.command("next")
    def next_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Trained model folder or name.", show_default=False),
        corpus: list[str] = typer.Option(
            ..., "--corpus", "-c", show_default=False,
            help="Uncoded transcripts: files, folders (searched recursively) or glob patterns; repeatable."),
        n: int = typer.Option(20, "--n", "-n", min=1, help="How many segments to list."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Also write the list as CSV to this file."),
        exclude: list[Path] = typer.Option(
            [], "--exclude", help="Coded data (.qdpx/.csv/.jsonl) whose segments are already coded; repeatable."),
        pool_factor: int = typer.Option(5, "--pool-factor", min=1,
                                        help="Pick from the N×this most uncertain segments (1: just the N most uncertain)."),
        device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
        role: list[str] = typer.Option(
            ["informant"], "--role",
            help="Speaker role whose segments are candidates (repeatable): informant, unknown, interviewer."),
        interviewer: list[str] = typer.Option(
            [], "--interviewer", metavar="LABEL",
            help="Speaker label of the interviewer (repeatable), when the labels are not recognised."),
    ) -> None:
        """List the uncoded segments whose coding would teach the model most."""
        from nokoding.active import suggest_next, write_next_csv
        from nokoding.codebook import CodebookError
        from nokoding.coded import CodedDataError, load_coded_data
        from nokoding.ingest import EXTENSIONS, read_many
        from nokoding.model import ModelLoadError, load_model
        from nokoding.segmentation import segment
        from nokoding.tagging import check_roles, expand_inputs

        if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
            typer.echo(f"error: unknown device {device!r}; use auto, cpu or cuda", err=True)
            raise typer.Exit(2)
        try:
            check_roles(role)
        except ValueError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        files, failures = expand_inputs(corpus, suffixes=tuple(EXTENSIONS))
        for f in failures:
            typer.echo(f"failed: {f.path}: {f.error}", err=True)
        read = read_many(files, interviewer=interviewer or None)
        for fail in read.failures:
            typer.echo(f"failed: {fail.error}", err=True)
        if not read.documents:
            typer.echo("error: no transcript could be read", err=True)
            raise typer.Exit(1)
        already: list[str] = []
        for path in exclude:
            try:
                already += [r["text"] for r in load_coded_data(path).records]
            except (CodedDataError, CodebookError, FileNotFoundError) as err:
                typer.echo(f"error: --exclude {err}", err=True)
                raise typer.Exit(2) from None
        try:
            loaded = load_model(model)
        except (ModelLoadError, OSError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        segments = [s for d in read.documents for s in segment(d, roles=tuple(dict.fromkeys(role)))]  # type: ignore[arg-type]
        picks = suggest_next(loaded, segments, n=n, exclude=already, pool_factor=pool_factor, device=device)
        typer.echo(
            f"{len(read.documents)} transcript(s), {len(segments)} segment(s): {picks.excluded} already coded, "
            f"{picks.skipped} blank or repeated, {picks.candidates} scored; {len(picks)} picked from the "
            f"{picks.pool} most uncertain" + ("" if picks.sentiment_used else
                                              " (sentiment not counted: the model has no sentiment training)"))
        for p in picks:
            where = f"{p.document_id}#{p.segment_index}" + (f" [{p.start}:{p.end}]" if p.start is not None else "")
            typer.echo(f"\n{p.rank:>3}. {where}  {p.top_code} {p.top_probability:.2f}  "
                       f"uncertainty {p.uncertainty:.2f}")
            typer.echo(f"     {p.text}")
            typer.echo(f"     why: {p.reason}")
        if out is not None:
            try:
                write_next_csv(out, picks, loaded.codebook)
            except OSError as err:
                typer.echo(f"error: cannot write {out}: {err}", err=True)
                raise typer.Exit(2) from None
            typer.echo(f"\ncsv: {out}")
