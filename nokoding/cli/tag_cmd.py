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
        runtime: str | None = typer.Option(
            None, "--runtime",
            help="fp32 (CPU default), bf16 (GPU default), int8 (CPU only: about 1.5× faster after a "
                 "9-second start, but it changes the top code of about 1 in 18 unseen segments) or onnx (CPU "
                 "only, needs the onnx extra: fp32's results in ONNX Runtime, about 10 % faster after a 5-second "
                 "start; for large batches). See the README's Speed section.",
            show_default=False,
        ),
        role: list[str] = typer.Option(
            ["informant"], "--role",
            help="Speaker role whose segments are coded (repeatable): informant, unknown (text without a "
                 "speaker label, e.g. titles), interviewer.",
        ),
        interviewer: list[str] = typer.Option(
            [], "--interviewer", metavar="LABEL",
            help="Speaker label of the interviewer (repeatable), when the transcripts' labels are not "
                 "recognised; every other labelled speaker is then an informant.",
        ),
        informant: list[str] = typer.Option(
            [], "--informant", metavar="LABEL",
            help="A speaker label of an informant that is not recognised by default (repeatable), "
                 "e.g. 'ola' or 'P'; it is then read as a speaker label.",
        ),
        force: bool = typer.Option(False, "--force", help="Redo documents finished by an earlier run."),
        engine: str = typer.Option(
            "local", "--engine",
            help="local: this process; ray: a pool of model actors on a Ray cluster (needs the ray extra). "
                 "Same outputs either way.",
        ),
        address: str | None = typer.Option(
            None, "--address",
            help="Ray cluster for --engine ray: auto, ray://HOST:10001, or unset for $RAY_ADDRESS / a private "
                 "local instance.",
            show_default=False,
        ),
        num_actors: int = typer.Option(2, "--num-actors", min=1, help="Model replicas for --engine ray."),
        gpus_per_actor: float = typer.Option(
            0.0, "--gpus-per-actor", min=0.0, help="GPUs per model replica for --engine ray (0: CPU)."
        ),
    ) -> None:
        """Tag transcripts: one CSV, JSON Lines file and REFI-QDA project for the whole batch.

        A failed input is reported and the others are tagged; the exit status is 1 when any
        input failed or an output check failed. Rerunning the same command resumes (with
        either engine).
        """
        options = dict(
            out_dir=out,
            model=model,
            formats=[f for f in formats.split(",") if f.strip()],
            top_k=top_k,
            threshold=threshold,
            device=device,
            runtime=runtime,
            roles=tuple(dict.fromkeys(role)),
            interviewer=tuple(interviewer),
            informant=tuple(informant),
            force=force,
        )
        if engine not in ("local", "ray"):
            typer.echo(f"error: unknown engine {engine!r}; use local or ray", err=True)
            raise typer.Exit(2)
        try:
            if engine == "ray":
                from nokoding.distributed import ActorStartError, tag_ray

                try:
                    summary = tag_ray(inputs, address=address, num_actors=num_actors,
                                      gpus_per_actor=gpus_per_actor, **options)
                except ActorStartError as err:
                    typer.echo(f"error: {err}", err=True)
                    raise typer.Exit(2) from None
            else:
                from nokoding.tagging import tag

                summary = tag(inputs, **options)
        except KeyboardInterrupt:
            typer.echo(f"interrupted; finished documents are kept in {out} — rerun the same command to resume",
                       err=True)
            raise typer.Exit(130) from None
        except (ValueError, OSError, ImportError) as err:  # bad option, model not found (ModelLoadError),
            # unwritable --out, Ray not installed
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        for line in summary.lines():
            typer.echo(line, err=line.startswith("failed:"))
        raise typer.Exit(summary.exit_code)
