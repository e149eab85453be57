"""Taguette codebook exchange: a codebook as the CSV file Taguette imports.

Taguette (taguette.org) imports a codebook only as CSV (*Project → Import codebook*), not as
REFI-QDA ``.qdc``. Its importer reads the header case-insensitively, takes the tag path from
exactly one column named ``tag``, ``name`` or ``path`` and an optional ``description``
column, skips empty rows, strips the cells, detects the encoding, and keeps the first of
two rows with the same tag. A tag is a flat path of at most 200 characters; Taguette groups
tags only by the start of their path.

What :func:`write_taguette_codebook` writes:

* columns ``tag, description`` (the names of Taguette's own codebook export);
* one row per code (categories are not tags: a highlight can only carry a code), with the
  tag path ``"<category> > <subcategory>"`` (``"Politikk > Tid"``), so codes that share a
  leaf name stay distinct and sort under their category; a deeper subcategory keeps its
  ``" / "`` (``"Styring > Tid / Ventetid"``);
* UTF-8 **with** BOM (Taguette's encoding detection recognises æøå reliably then), comma
  delimiter, minimal quoting, CRLF line ends.

The same paths come back in Taguette's highlights export (``id, document, tag, content``),
which :func:`nokoding.coded.load_coded_data` reads, and
:func:`nokoding.coded.hierarchy.load_codebook_file` reads the codebook CSV back (a path
``"A > B"`` is category ``A``, code ``B``; only ``" > "`` with its spaces separates, so a
name such as ``"Mål <2025>"`` survives).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from nokoding.atomic import atomic_write_bytes
from nokoding.codebook import Codebook, CodebookError

__all__ = ["TAG_SEPARATOR", "TAGUETTE_MAX_TAG", "codebook_to_taguette_csv", "tag_path",
           "write_taguette_codebook"]

#: Separator between category and code in a tag path.
TAG_SEPARATOR = " > "
#: Taguette refuses longer tag paths.
TAGUETTE_MAX_TAG = 200


def tag_path(category: str, subcategory: str) -> str:
    """The Taguette tag path of a code: ``"Politikk > Tid"``."""
    return f"{category}{TAG_SEPARATOR}{subcategory}"


def codebook_to_taguette_csv(codebook: Codebook) -> str:
    """The codebook as Taguette codebook CSV text (see the module docstring).

    Raises:
        CodebookError: if a category or code name holds ``" > "`` (the path could not be read
            back; a ``>`` without spaces around it is fine) or a tag path is longer than
            Taguette's 200 characters (names the code).
    """
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["tag", "description"])
    for code in codebook:
        if TAG_SEPARATOR in code.category or TAG_SEPARATOR in code.subcategory:
            raise CodebookError(
                f"codebook {codebook.name!r}: code {code.label!r} has ' > ' in its name, which separates "
                "category and code in a Taguette tag; rename it")
        path = tag_path(code.category.strip(), code.subcategory.strip())
        if len(path) > TAGUETTE_MAX_TAG:
            raise CodebookError(
                f"codebook {codebook.name!r}: the tag {path!r} has {len(path)} characters; Taguette accepts "
                f"at most {TAGUETTE_MAX_TAG}: shorten the category or code name")
        writer.writerow([path, code.description.strip()])
    return buf.getvalue()


def write_taguette_codebook(codebook: Codebook, path: str | os.PathLike[str]) -> Path:
    """Write the codebook as a Taguette codebook CSV file atomically; returns the path.

    Raises:
        CodebookError: see :func:`codebook_to_taguette_csv`.
        OSError: if the file cannot be written.
    """
    return atomic_write_bytes(path, codebook_to_taguette_csv(codebook).encode("utf-8-sig"))
