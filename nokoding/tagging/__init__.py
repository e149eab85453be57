"""Batch tagging: read transcripts, segment them, suggest codes, write CSV / JSON Lines / REFI-QDA.

:func:`tag` is what ``nokoding tag`` runs. For every input transcript it reads the document
(:func:`nokoding.ingest.read`), cuts it into segments (:func:`nokoding.segmentation.segment`),
keeps the segments to be coded (informant turns, and turns whose role is unknown), asks the
suggester for codes and sentiment, and finally writes the run's outputs.

Output layout (``out_dir``)::

    segments.csv       one row per coded segment, all documents (see nokoding.export.tabular)
    segments.jsonl     the same rows as JSON Lines, with full probability distributions
    project.qdpx       one REFI-QDA project with every document and the suggested codings
    summary.json       the run's summary: documents, segments, failures, output checks
    .nokoding/         resume state: manifest.json, codebook.yaml, documents/<key>.json, and
                       the lock held while a run writes the folder (see run_lock)

One *combined* file per format, not one per document: a researcher filters the ``document``
column in a spreadsheet, and imports one project into the QDA tool. The per-document
results live in ``.nokoding/documents/`` and the combined files are rebuilt from them at the
end of every run, so they always hold exactly the documents of the current command.

Resume: after each document its result is stored and the manifest updated (both atomically).
A rerun skips a document whose input bytes (SHA-256), model, ``top_k`` and coded roles match
the manifest; ``force=True`` redoes everything. An interrupted run loses at most the document
in progress. Inputs are only ever read.

Checks: after writing, every output is read back and each coded segment of every readable
document must appear exactly once (CSV, JSON Lines), and every accepted coding exactly once
at the segment's positions (REFI-QDA); the result is in :attr:`TagSummary.checks`.

* :mod:`nokoding.tagging.run` — :func:`tag`, the loop over the inputs;
* :mod:`nokoding.tagging.options` — option checks and the settings recorded for resume;
* :mod:`nokoding.tagging.inputs` — files, folders and patterns expanded into transcripts;
* :mod:`nokoding.tagging.readers` — reading and segmenting one transcript, its notes;
* :mod:`nokoding.tagging.suggester` — the model's suggester, or any callable like it;
* :mod:`nokoding.tagging.resume` — the resume state in ``.nokoding/``;
* :mod:`nokoding.tagging.lock` — one run per output folder;
* :mod:`nokoding.tagging.outputs` — the combined outputs, written and read back;
* :mod:`nokoding.tagging.summary` — :class:`TagSummary`, what a run reports.
"""

from __future__ import annotations

from nokoding.tagging.inputs import (
    TRANSCRIPT_SUFFIXES,
    _skip_reason,
    _transcript_suffixes,
    _unique_ids,
    expand_inputs,
    open_run,
)
from nokoding.tagging.lock import run_lock
from nokoding.tagging.options import (
    DEFAULT_ROLES,
    FORMATS,
    check_options,
    check_roles,
    model_key,
    resolved_runtime,
    run_settings,
    summary_settings,
)
from nokoding.tagging.outputs import _compare, _write_outputs
from nokoding.tagging.readers import _default_reader, _default_segmenter, document_notes, transcript_reader
from nokoding.tagging.resume import _MANIFEST_VERSION, STATE_DIR, _change, _sha256, _State, _with_id
from nokoding.tagging.run import _describe, _tag_locked, _tag_one, tag
from nokoding.tagging.suggester import Suggester, _model_codebook, model_suggester
from nokoding.tagging.summary import InputFailure, OutputCheck, TagSummary

__all__ = [
    "FORMATS",
    "TRANSCRIPT_SUFFIXES",
    "InputFailure",
    "OutputCheck",
    "Suggester",
    "TagSummary",
    "check_options",
    "check_roles",
    "document_notes",
    "expand_inputs",
    "model_key",
    "resolved_runtime",
    "run_lock",
    "run_settings",
    "summary_settings",
    "tag",
    "transcript_reader",
]
