"""Word (.docx) transcripts via python-docx (the optional extra ``nokoding[docx]``).

The body is read in document order, paragraphs and tables alike, and rendered to
labelled plain text, which is then parsed like a .txt transcript
(:mod:`nokoding.ingest.text`), so speaker labels work exactly as in text files:

* every non-empty paragraph becomes one paragraph of the document text (a blank line
  between paragraphs; a line break inside a paragraph stays a line break);
* a table row whose cells are [speaker, words] or [time, speaker, words] (the usual
  layout of transcription tables) becomes ``[time] Speaker: words``; any other row
  becomes one paragraph per non-empty cell (merged cells counted once); nested tables
  are read the same way.

Headers, footers, footnotes, comments and text boxes are not speech and are not read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nokoding.document import Document
from nokoding.ingest.errors import TranscriptError
from nokoding.ingest.labels import matcher_for
from nokoding.ingest.normalize import normalize_text
from nokoding.ingest.roles import RoleRules
from nokoding.ingest.text import parse_text

__all__ = ["docx_to_text", "read_docx"]

_TIME_CELL = re.compile(r"^[\[(]?(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?[\])]?$")


def _import_docx() -> Any:
    try:
        import docx  # python-docx
    except ImportError as exc:
        raise ImportError(
            "reading .docx transcripts needs python-docx: pip install 'nokoding[docx]'"
        ) from exc
    return docx


def docx_to_text(path: str | Path, rules: RoleRules | None = None) -> str:
    """The body of a .docx file as labelled plain text (before normalisation).

    Raises:
        TranscriptError: the file is missing, not a Word document, or damaged; or
            python-docx is not installed (the message says how to install it).
    """
    path = Path(path)
    try:
        docx = _import_docx()
    except ImportError as exc:
        raise TranscriptError(path, str(exc)) from exc
    if not path.is_file():
        raise TranscriptError(path, "no such file")
    try:
        document = docx.Document(str(path))
    except Exception as exc:
        raise TranscriptError(path, f"not a readable .docx file ({type(exc).__name__}: {exc})") from exc
    matcher = matcher_for((rules or RoleRules()).role_words)
    blocks: list[str] = []
    _read_container(document, blocks, matcher)
    return "\n\n".join(blocks)


def read_docx(
    path: str | Path, *, doc_id: str, rules: RoleRules | None = None
) -> Document:
    """Read a .docx transcript (see the module docstring).

    Raises:
        TranscriptError: as :func:`docx_to_text`, or the document has no text.
    """
    path = Path(path)
    text = normalize_text(docx_to_text(path, rules))
    if not text.strip():
        raise TranscriptError(path, "the document has no text")
    return parse_text(text, doc_id=doc_id, source=path, fmt="docx", rules=rules)


def _read_container(container: Any, blocks: list[str], matcher: Any) -> None:
    from docx.table import Table

    for item in container.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                _read_row(row, blocks, matcher)
        elif item.text.strip():
            blocks.append(item.text)


def _cell_text(cell: Any, matcher: Any) -> str:
    inner: list[str] = []
    _read_container(cell, inner, matcher)
    return "\n".join(inner)


def _read_row(row: Any, blocks: list[str], matcher: Any) -> None:
    seen: set[int] = set()
    cells: list[str] = []
    row_cells = row.cells  # keeps the cell elements alive, so id() stays meaningful
    for cell in row_cells:
        if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
            continue
        seen.add(id(cell._tc))
        text = _cell_text(cell, matcher).strip()
        if text:
            cells.append(text)
    if not cells:
        return
    time = cells[0] if len(cells) >= 2 and _TIME_CELL.match(cells[0]) else None
    rest = cells[1:] if time else cells
    if len(rest) >= 2 and _is_label(rest[0], matcher):
        label = rest[0].rstrip(":").strip()
        stamp = f"[{time.strip('[]()')}] " if time else ""
        blocks.append(f"{stamp}{label}: " + "\n".join(rest[1:]))
    elif time and len(rest) == 1:
        blocks.append(f"[{time.strip('[]()')}] {rest[0]}")
    else:
        blocks.extend(cells)


def _is_label(cell: str, matcher: Any) -> bool:
    if "\n" in cell or len(cell) > 40:
        return False
    label = cell.rstrip(":").strip()
    prefix = matcher.match(f"{label}: x")
    return prefix.label == label
