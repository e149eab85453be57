"""Exports of a tagging run and REFI-QDA exchange.

* :mod:`nokoding.export.tabular` — CSV and JSON Lines, one row per coded segment;
* :mod:`nokoding.export.qdpx` — REFI-QDA projects (``.qdpx``): write suggestions, read projects;
* :mod:`nokoding.export.qdc` — REFI-QDA codebooks (``.qdc``): export and import;
* :mod:`nokoding.export.taguette` — the codebook as the CSV file Taguette imports;
* :mod:`nokoding.export.safe` — hardened XML and ZIP reading for files from outside;
* :mod:`nokoding.export.tagged` — :class:`TaggedDocument`, the input of every exporter.
"""

from __future__ import annotations

from nokoding.export.qdc import read_qdc, write_qdc
from nokoding.export.qdpx import (
    QdpxCoding,
    QdpxError,
    QdpxProject,
    QdpxSource,
    read_qdpx,
    write_qdpx,
)
from nokoding.export.safe import UnsafeInputError, XmlFormatError, ZipLimits
from nokoding.export.tabular import read_csv, read_jsonl, write_csv, write_jsonl
from nokoding.export.taguette import write_taguette_codebook
from nokoding.export.tagged import TaggedDocument, accepted_codes

__all__ = [
    "QdpxCoding",
    "QdpxError",
    "QdpxProject",
    "QdpxSource",
    "TaggedDocument",
    "UnsafeInputError",
    "XmlFormatError",
    "ZipLimits",
    "accepted_codes",
    "read_csv",
    "read_jsonl",
    "read_qdc",
    "read_qdpx",
    "write_csv",
    "write_jsonl",
    "write_qdc",
    "write_qdpx",
    "write_taguette_codebook",
]
