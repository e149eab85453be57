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
            typer.Option("--interviewer", help="Speaker label of the interviewer (repeatable)."),
        ] = None,
    ) -> None:
        """Print one JSON object per segment per line (informant turns unless --all-speakers).

        Each object has: id ("<document>#<index>"), document_id, index, text, start, end
        (0-based, end-exclusive character offsets into the normalised transcript text),
        speaker, role, start_time, end_time (seconds or null), context (the preceding
        interviewer question), turn_index and source. Files that cannot be read are
        reported on stderr; the others are still segmented, and the exit code is 1.
        """
        import logging

        from nokoding.ingest import read_many
        from nokoding.segmentation import ROLES, segment

        # failures are printed below; keep Python's last-resort log handler from repeating them
        ingest_log = logging.getLogger("nokoding.ingest")
        if not any(isinstance(h, logging.NullHandler) for h in ingest_log.handlers):
            ingest_log.addHandler(logging.NullHandler())
        result = read_many(files, format=format.value, interviewer=interviewer or None)
        roles = ROLES if all_speakers else ("informant",)
        for document in result:
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
