"""Ingest: read interview transcripts (txt, docx, WebVTT, SubRip) into :class:`~nokoding.document.Document`.

Modules, one job each: :mod:`~nokoding.ingest.encoding` (bytes → text),
:mod:`~nokoding.ingest.normalize` (the one normalisation all offsets refer to),
:mod:`~nokoding.ingest.labels` (speaker labels, timestamps), :mod:`~nokoding.ingest.roles`
(interviewer or informant), :mod:`~nokoding.ingest.text`, :mod:`~nokoding.ingest.docx`,
:mod:`~nokoding.ingest.vtt`, :mod:`~nokoding.ingest.srt` (the readers; cue blocks and
timings in :mod:`~nokoding.ingest.subtitles`, the text built from cues in
:mod:`~nokoding.ingest.cues`), :mod:`~nokoding.ingest.layout` (label-like lines that were not
read, and the ``--explain`` report), :mod:`~nokoding.ingest.reader` (files, folders, ids,
skipped files) and :mod:`~nokoding.ingest.errors`.

Example::

    doc = nokoding.read("intervju_01.txt")              # one file -> Document
    batch = nokoding.read("intervjuer/")                # folder -> ReadResult
    for doc in batch: ...
    print(batch.summary())                              # which files failed and why
"""

from nokoding.ingest.errors import ReadFailure, TranscriptError, TranscriptWarning
from nokoding.ingest.normalize import normalize_text
from nokoding.ingest.reader import (
    EXTENSIONS,
    FORMATS,
    NOT_TRANSCRIPTS,
    ReadResult,
    detect_format,
    from_text,
    read,
    read_many,
    single_turn_document,
    skip_reason,
)
from nokoding.ingest.roles import DEFAULT_INFORMANT_LABELS, DEFAULT_INTERVIEWER_LABELS

__all__ = [
    "DEFAULT_INFORMANT_LABELS",
    "DEFAULT_INTERVIEWER_LABELS",
    "EXTENSIONS",
    "FORMATS",
    "NOT_TRANSCRIPTS",
    "ReadFailure",
    "ReadResult",
    "TranscriptError",
    "TranscriptWarning",
    "detect_format",
    "from_text",
    "normalize_text",
    "read",
    "read_many",
    "single_turn_document",
    "skip_reason",
]
