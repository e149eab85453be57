"""``nokoding segment``: read transcripts and print their coding segments as JSON Lines."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nokoding.segmentation.segmenter import DEFAULT_MAX_SENTENCES, DEFAULT_MAX_TOKENS


class FormatChoice(str, Enum):
    """Transcript formats the command accepts."""

    auto = "auto"
    txt = "txt"
    docx = "docx"
    vtt = "vtt"
    srt = "srt"


def register(app: typer.Typer) -> None:
    """Add ``segment`` to ``app``."""

    @app.command("segment")
    def segment_command(
        files: Annotated[list[Path], typer.Argument(help="Transcript files or folders.")],
        format: Annotated[
            FormatChoice, typer.Option("--format", help="File format; auto = by extension.")
        ] = FormatChoice.auto,
        all_speakers: Annotated[
            bool, typer.Option("--all-speakers", help="Also segment interviewer and unknown turns.")
        ] = False,
        max_sentences: Annotated[
            int, typer.Option("--max-sentences", min=1, help="Most sentences per segment.")
        ] = DEFAULT_MAX_SENTENCES,
        max_tokens: Annotated[
            int, typer.Option("--max-tokens", min=1, help="Most whitespace tokens per segment.")
        ] = DEFAULT_MAX_TOKENS,
        interviewer: Annotated[
            list[str] | None,
            typer.Option(
                "--interviewer",
                help="Speaker label of the interviewer (repeatable); also makes lines opening "
                "with it speaker labels. Every other labelled speaker is an informant.",
            ),
        ] = None,
        informant: Annotated[
            list[str] | None,
            typer.Option(
                "--informant",
                help="A speaker label of an informant that is not recognised by default "
                "(repeatable), e.g. 'ola' or 'P'.",
            ),
        ] = None,
        explain: Annotated[
            bool,
            typer.Option(
                "--explain",
                help="Print a layout report instead of segments: the speaker labels recognised, "
                "turns per speaker, unlabelled text, and what looks like a label that was not read.",
            ),
        ] = False,
    ) -> None:
        """Print one JSON object per segment per line (informant turns unless --all-speakers).

        Each object has: id ("<document>#<index>"), document_id, index, text, start, end
        (0-based, end-exclusive character offsets into the document text nokoding builds:
        the normalised file for .txt, the paragraphs for .docx, and one "[time] Speaker:
        words" paragraph per turn for .vtt/.srt), speaker, role, start_time, end_time
        (seconds or null), context (the preceding interviewer question), turn_index,
        overlap (a cue of it overlaps another speaker's) and source. Reading warnings and
        skipped files are reported on stderr. Files that cannot be read are reported on
        stderr; the others are still segmented, and the exit code is 1.
        """
        import logging

        from nokoding.ingest import read_many
        from nokoding.segmentation import ROLES, segment

        # failures are printed below; keep Python's last-resort log handler from repeating them
        ingest_log = logging.getLogger("nokoding.ingest")
        if not any(isinstance(h, logging.NullHandler) for h in ingest_log.handlers):
            ingest_log.addHandler(logging.NullHandler())
        informant_labels = None
        if informant:
            from nokoding.ingest import DEFAULT_INFORMANT_LABELS

            informant_labels = [*DEFAULT_INFORMANT_LABELS, *informant]
        import warnings

        from nokoding.ingest import TranscriptWarning

        with warnings.catch_warnings():
            # the same notes are in Document.warnings and are printed once, below
            warnings.simplefilter("ignore", TranscriptWarning)
            result = read_many(
                files, format=format.value, interviewer=interviewer or None, informant_labels=informant_labels
            )
        for line in result.skipped_reasons():
            typer.echo(f"nokoding segment: skipped {line}", err=True)
        roles = ROLES if all_speakers else ("informant",)
        if explain:
            from nokoding.ingest.layout import explain as explain_layout

            for document in result:
                for line in explain_layout(document).lines():
                    typer.echo(line)
        for document in [] if explain else result:
            for note in document.warnings:
                where = str(document.source) if document.source else document.id
                typer.echo(f"nokoding segment: warning: {note if note.startswith(where) else f'{where}: {note}'}", err=True)
            for seg in segment(
                document, roles=roles, max_sentences=max_sentences, max_tokens=max_tokens
            ):
                record = {
                    "id": seg.uid,
                    "document_id": seg.document_id,
                    "index": seg.index,
                    "text": seg.text,
                    "start": seg.start,
                    "end": seg.end,
                    "speaker": seg.speaker,
                    "role": seg.role,
                    "start_time": seg.start_time,
                    "end_time": seg.end_time,
                    "context": seg.context,
                    "turn_index": seg.turn_index,
                    "overlap": bool(seg.meta.get("overlap", False)),
                    "source": str(document.source) if document.source else None,
                }
                typer.echo(json.dumps(record, ensure_ascii=False))
        for failure in result.failures:
            typer.echo(f"nokoding segment: {failure.error}", err=True)
        if result.failures:
            total = len(result.documents) + len(result.failures)
            typer.echo(f"nokoding segment: {len(result.failures)} of {total} files could not be read", err=True)
            raise typer.Exit(code=1)
        if not result.documents:
            typer.echo("nokoding segment: no transcript files found", err=True)
            raise typer.Exit(code=1)
