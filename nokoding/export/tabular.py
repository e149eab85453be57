"""Tabular outputs of a tagging run: CSV and JSON Lines, one row per coded segment.

Row content (both formats): document id, segment index, speaker, role, start/end character
offsets (0-based, end-exclusive into the document's normalised text), start/end times
(seconds), the segment text, the context (preceding interviewer question), the top-k codes
with category, subcategory and probability, the sentiment with its probability, and the
evidence: the hand-coded training quotes the suggestion rests on, by id and as readable text
(shortened to 160 characters, with their code and similarity). Rows follow document order,
then segment order. A segment with no suggested code keeps its row, with empty code cells
(CSV) or ``"codes": []`` (JSON Lines).

CSV dialect (chosen so a double-click opens it correctly in Excel and LibreOffice, and
``csv``/pandas read it back unchanged):

* encoding UTF-8 **with** BOM (``utf-8-sig``): Excel needs the BOM to recognise UTF-8 (æøå);
* delimiter comma, quote character ``"`` (doubled inside fields), *minimal* quoting: a
  field is quoted when it contains a comma, a quote, CR or LF — so every multi-line
  segment is quoted;
* rows end with CRLF (RFC 4180); line breaks *inside* a quoted field stay LF as in the text;
* a header row; code columns ``code_1, category_1, subcategory_1, p_1, …, code_k, …, p_k``
  (empty cells where fewer than k codes were suggested); ``evidence`` holds the evidence
  segment ids joined by ``;``, ``evidence_quotes`` the quotes to read, as
  ``«quote» (code, similarity 0.83)`` joined by `` | ``;
* numbers use ``.`` as decimal separator: probabilities with 4 decimals, times in seconds
  with 3 decimals; missing values are empty cells;
* cells are written verbatim (no formula escaping, so the file round-trips): in a locale
  whose list separator is ``;`` (e.g. Norwegian Excel) use *Data → From Text/CSV* and pick
  comma, which also keeps cells that start with ``=``, ``+``, ``-`` or ``@`` as text.

JSON Lines: UTF-8 without BOM, one JSON object per line, LF line ends, non-ASCII kept as is;
codes are a list of ``{code, category, subcategory, probability}``, evidence a list of
``{segment_id, code, similarity, text}`` (``text`` shortened as above), and the full
sentiment distribution and per-category probabilities are included.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nokoding.atomic import atomic_write_bytes
from nokoding.document import Segment
from nokoding.export.tagged import TaggedDocument, evidence_note, short_quote
from nokoding.suggestions import Suggestion

__all__ = [
    "CSV_ENCODING",
    "csv_columns",
    "evidence_quotes",
    "read_csv",
    "read_jsonl",
    "segment_record",
    "write_csv",
    "write_jsonl",
]

CSV_ENCODING = "utf-8-sig"
BASE_COLUMNS: tuple[str, ...] = (
    "document",
    "segment",
    "speaker",
    "role",
    "start",
    "end",
    "start_time",
    "end_time",
    "text",
    "context",
)
TAIL_COLUMNS: tuple[str, ...] = ("sentiment", "p_sentiment", "evidence", "evidence_quotes")


def evidence_quotes(suggestion: Suggestion) -> str:
    """The ``evidence_quotes`` cell: ``«quote» (code, similarity 0.83) | …`` ("" without evidence)."""
    return " | ".join(evidence_note(e) for e in suggestion.evidence)


def csv_columns(top_k: int) -> list[str]:
    """The CSV header for ``top_k`` code columns (``top_k`` ≥ 1)."""
    cols = list(BASE_COLUMNS)
    for i in range(1, top_k + 1):
        cols += [f"code_{i}", f"category_{i}", f"subcategory_{i}", f"p_{i}"]
    return cols + list(TAIL_COLUMNS)


def segment_record(document_id: str, segment: Segment, suggestion: Suggestion, *, top_k: int) -> dict[str, Any]:
    """The JSON Lines record of one segment (see the module docstring for the fields)."""
    sentiment_p = suggestion.sentiment_probabilities.get(suggestion.sentiment)
    return {
        "document": document_id,
        "segment": segment.index,
        "speaker": segment.speaker,
        "role": segment.role,
        "start": segment.start,
        "end": segment.end,
        "start_time": segment.start_time,
        "end_time": segment.end_time,
        "text": segment.text,
        "context": segment.context,
        "codes": [
            {"code": c.code_id, "category": c.category, "subcategory": c.subcategory,
             "probability": round(float(c.probability), 6)}
            for c in suggestion.codes[:top_k]
        ],
        "categories": {k: round(float(v), 6) for k, v in suggestion.categories.items()},
        "sentiment": suggestion.sentiment,
        "sentiment_probability": None if sentiment_p is None else round(float(sentiment_p), 6),
        "sentiment_probabilities": {k: round(float(v), 6) for k, v in suggestion.sentiment_probabilities.items()},
        "evidence": [
            {"segment_id": e.segment_id, "code": e.code_id, "similarity": round(float(e.similarity), 6),
             "text": short_quote(e.text)}
            for e in suggestion.evidence
        ],
        "n_windows": suggestion.n_windows,
    }


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def _csv_row(document_id: str, segment: Segment, suggestion: Suggestion, top_k: int) -> list[str]:
    row = [
        document_id,
        str(segment.index),
        segment.speaker,
        segment.role,
        str(segment.start),
        str(segment.end),
        _num(segment.start_time, 3),
        _num(segment.end_time, 3),
        segment.text,
        segment.context or "",
    ]
    codes = suggestion.codes[:top_k]
    for i in range(top_k):
        if i < len(codes):
            c = codes[i]
            row += [c.code_id, c.category, c.subcategory, _num(c.probability, 4)]
        else:
            row += ["", "", "", ""]
    row += [
        suggestion.sentiment,
        _num(suggestion.sentiment_probabilities.get(suggestion.sentiment), 4),
        ";".join(e.segment_id for e in suggestion.evidence),
        evidence_quotes(suggestion),
    ]
    return row


def _pairs(tagged: Iterable[TaggedDocument]) -> Iterator[tuple[str, Segment, Suggestion]]:
    for td in tagged:
        for seg, sug in td:
            yield td.document.id, seg, sug


def write_csv(
    path: str | os.PathLike[str], tagged: Iterable[TaggedDocument], *, top_k: int = 3
) -> Path:
    """Write one CSV row per segment (dialect in the module docstring), atomically.

    Args:
        path: the ``.csv`` file to write (parent folders are created).
        tagged: the documents, in output order.
        top_k: number of code column groups (≥ 1); suggestions with more codes are cut.

    Returns:
        The path written.

    Raises:
        ValueError: if ``top_k`` < 1.
        OSError: if the file cannot be written (no partial file is left).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(csv_columns(top_k))
    for doc_id, seg, sug in _pairs(tagged):
        writer.writerow(_csv_row(doc_id, seg, sug, top_k))
    return atomic_write_bytes(path, buf.getvalue().encode(CSV_ENCODING))


def write_jsonl(
    path: str | os.PathLike[str], tagged: Iterable[TaggedDocument], *, top_k: int = 3
) -> Path:
    """Write one JSON object per segment and line (see :func:`segment_record`), atomically.

    Raises:
        ValueError: if ``top_k`` < 1.
        OSError: if the file cannot be written.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    lines = [
        json.dumps(segment_record(doc_id, seg, sug, top_k=top_k), ensure_ascii=False, allow_nan=False)
        for doc_id, seg, sug in _pairs(tagged)
    ]
    return atomic_write_bytes(path, "".join(line + "\n" for line in lines).encode("utf-8"))


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read a CSV written by :func:`write_csv` back as a list of ``{column: cell}`` rows.

    Raises:
        ValueError: if a row has a different number of cells than the header (names the
            file and line).
    """
    path = Path(path)
    with path.open("r", encoding=CSV_ENCODING, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return []
        rows = []
        for row in reader:
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: line {reader.line_num}: {len(row)} cells, header has {len(header)}"
                )
            rows.append(dict(zip(header, row)))
        return rows


def read_jsonl(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> list[dict[str, Any]]:
    """Read a JSON Lines file back as a list of records (blank lines skipped).

    Raises:
        ValueError: for a line that is not a JSON object (names the file and line).
    """
    path = Path(path)
    records = []
    with path.open("r", encoding=encoding) as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {n}: invalid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}: line {n}: expected a JSON object")
            records.append(record)
    return records
