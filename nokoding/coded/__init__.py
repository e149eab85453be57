"""Coded data a researcher brings: import it, check it, hand it to training.

Retraining on a new codebook: a researcher who has coded interviews in a QDA tool or
a spreadsheet trains nokoding on *their* codebook. This package turns their files into the
training records nokoding's trainer takes (the shape of :func:`nokoding.corpora.load_records`)
and checks them first:

>>> from nokoding.coded import load_coded_data, validate
>>> coded = load_coded_data("study.qdpx", coders=["Anna"])          # doctest: +SKIP
>>> report = validate(coded, min_examples=5)                       # doctest: +SKIP
>>> print(report.to_text()); report.ok                             # doctest: +SKIP

Formats: REFI-QDA projects (``.qdpx``, :mod:`nokoding.coded.qdpx`), CSV/TSV and JSON Lines
(:mod:`nokoding.coded.csv_jsonl`). Codebooks: ``.qdc``, YAML (nokoding's schema, or a tree of
any depth, or a flat list), ``.txt`` (:func:`nokoding.coded.hierarchy.load_codebook_file`);
how deeper trees and flat lists become two levels is in :mod:`nokoding.coded.hierarchy`.
Validation rules: :mod:`nokoding.coded.validate`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from nokoding.codebook import Codebook
from nokoding.coded.base import CodedData, CodedDataError, Finding
from nokoding.coded.hierarchy import load_codebook_file
from nokoding.coded.validate import ValidationReport, validate

__all__ = [
    "CodedData",
    "CodedDataError",
    "Finding",
    "ValidationReport",
    "load_codebook_file",
    "load_coded_data",
    "validate",
]


def load_coded_data(
    path: str | os.PathLike[str],
    *,
    codebook: Codebook | str | os.PathLike[str] | None = None,
    coders: Iterable[str] | None = None,
    include_nokoding: bool = False,
    include_unmarked_nokoding: bool = False,
) -> CodedData:
    """Read a researcher's coded data as a codebook and training records.

    Args:
        path: a ``.qdpx`` project, a ``.csv``/``.tsv`` file or a ``.jsonl``/``.ndjson``/
            ``.json`` file (chosen by the file suffix).
        codebook: a :class:`Codebook`, or a codebook file (``.qdc``, ``.yaml``, ``.yml``,
            ``.json``, ``.txt``). ``None``: a ``.qdpx`` uses its own codebook; for CSV/JSON
            one is inferred from the codes used (order of first use; see
            :mod:`nokoding.coded.hierarchy`) and ``CodedData.codebook_inferred`` is set.
        coders: count only the codings of these coders (user names or, in ``.qdpx``, user
            GUIDs; in CSV/JSON the ``coder`` column).
        include_nokoding: for ``.qdpx``, also count codings by the ``nokoding`` user
            (nokoding's own suggestions, skipped by default).
        include_unmarked_nokoding: for ``.qdpx``, count the codings by the ``nokoding`` user
            that lack nokoding's suggestion description: a person made them under that name
            (reported as ``human-codings-as-nokoding`` otherwise).

    Returns:
        :class:`CodedData`. Problems that do not stop reading are in ``findings``; run
        :func:`validate` before training.

    Raises:
        FileNotFoundError: if ``path`` or the codebook file does not exist.
        CodedDataError: if the data cannot be read at all, or the format is unknown (names
            the file and, where there is one, the line).
        CodebookError: if the codebook file is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: coded data file not found")
    cb = codebook if isinstance(codebook, Codebook) or codebook is None else load_codebook_file(codebook)
    suffix = path.suffix.lower()
    if suffix == ".qdpx":
        from nokoding.coded.qdpx import read_coded_qdpx

        return read_coded_qdpx(path, codebook=cb, coders=coders, include_nokoding=include_nokoding,
                               include_unmarked_nokoding=include_unmarked_nokoding)
    from nokoding.coded.csv_jsonl import (
        CSV_SUFFIXES,
        JSONL_SUFFIXES,
        read_csv,
        read_jsonl,
    )

    if suffix in CSV_SUFFIXES:
        return read_csv(path, codebook=cb, coders=coders)
    if suffix in JSONL_SUFFIXES:
        return read_jsonl(path, codebook=cb, coders=coders)
    raise CodedDataError(
        f"{path}: unknown coded-data format {suffix!r}; use .qdpx, .csv, .tsv, .jsonl, .ndjson or .json")
