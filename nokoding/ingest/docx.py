"""Word (.docx) transcripts via python-docx (the optional extra ``nokoding[docx]``).

python-docx opens the package; the body's XML is read here, in document order,
paragraphs and tables alike, and rendered to labelled plain text, which is then parsed
like a .txt transcript (:mod:`nokoding.ingest.text`), so speaker labels work exactly as in
text files:

* **paragraphs**: every non-empty paragraph becomes one paragraph of the document text (a
  blank line between paragraphs; a line break inside a paragraph stays a line break);
* **tracked changes** are read as Word's *final* view: inserted text (``w:ins``) and
  moved-to text (``w:moveTo``) are in, deleted (``w:del``) and moved-from (``w:moveFrom``)
  text is out, a paragraph whose mark was deleted runs on into the next one, and a
  deleted table row is left out. A document with unaccepted changes gets a warning
  saying how many;
* **tables**: a table whose rows are [speaker, words] or [time, speaker, words] (the usual
  layout of transcription tables; a header row such as "Taler | Tekst" is kept as plain
  text) gives one turn per row, the speaker taken from its cell even when it occurs in only
  one row. Any other row becomes one paragraph per non-empty cell (merged cells counted
  once); nested tables are read the same way. A table ends the turn: an unlabelled
  paragraph after it is not given the last row's speaker.

Headers, footers, footnotes, comments and text boxes are not speech and are not read.
Reading notes name places as "paragraph N", counting the paragraphs that have text and the
table rows, in document order (empty paragraphs are not counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nokoding.document import Document
from nokoding.ingest.errors import TranscriptError
from nokoding.ingest.labels import LinePrefix, matcher_for, parse_time
from nokoding.ingest.normalize import normalize_text
from nokoding.ingest.roles import RoleRules
from nokoding.ingest.text import TextStructure, parse_text

__all__ = ["docx_to_text", "read_docx"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_TIME_CELL = re.compile(r"^[\[(]?(?:\d{1,2}:)?\d{1,2}:\d{1,2}(?:[.,]\d{1,3})?(?:\s*[-–]\s*(?:\d{1,2}:)?\d{1,2}:\d{1,2}(?:[.,]\d{1,3})?)?[\])]?$")
_HEADER_WORDS = frozenset(
    "taler talar navn namn speaker person hvem kven tid time tidspunkt tidskode timestamp "
    "tekst text utsagn transkripsjon innhold tale sitat".split()
)
_SKIPPED = {_W + "delText", _W + "instrText", _W + "drawing", _W + "pict", _W + "object",
            _W + "pPr", _W + "rPr", _W + "tblPr", _W + "trPr", _W + "tcPr", _W + "sectPr",
            _MC + "AlternateContent", _W + "footnoteReference", _W + "endnoteReference"}
_REVISIONS = {"ins": "insertion", "del": "deletion", "moveFrom": "move", "moveTo": None}


@dataclass
class _Block:
    """One rendered paragraph of the document text."""

    text: str
    label: str | None = None
    time: str | None = None
    after_table: bool = False


def _import_docx() -> Any:
    try:
        import docx  # python-docx
    except ImportError as exc:
        raise ImportError(
            "reading .docx transcripts needs python-docx: pip install 'nokoding[docx]'"
        ) from exc
    return docx


def _open(path: Path) -> Any:
    try:
        docx = _import_docx()
    except ImportError as exc:
        raise TranscriptError(path, str(exc)) from exc
    if not path.is_file():
        raise TranscriptError(path, "no such file")
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
        if "word/document.xml" not in names:
            kind = (
                "an Excel workbook" if "xl/workbook.xml" in names
                else "a PowerPoint file" if "ppt/presentation.xml" in names
                else "an OpenDocument file" if "content.xml" in names
                else "a ZIP archive"
            )
            raise TranscriptError(
                path, f"is {kind}, not a Word document; save the transcript as .docx or .txt"
            )
    try:
        return docx.Document(str(path))
    except Exception as exc:
        raise TranscriptError(path, f"not a readable .docx file ({type(exc).__name__}: {exc})") from exc


def _blocks(path: Path, rules: RoleRules | None) -> tuple[list[_Block], tuple[str, ...]]:
    document = _open(path)
    body = document.element.body
    counts = {"insertion": 0, "deletion": 0, "move": 0}
    for el in body.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag.startswith(_W) and _REVISIONS.get(tag[len(_W):]):
            counts[_REVISIONS[tag[len(_W):]]] += 1  # type: ignore[index]
    matcher = matcher_for((rules or RoleRules()).role_words)
    blocks: list[_Block] = []
    _read_container(body, blocks, matcher)
    notes: tuple[str, ...] = ()
    if any(counts.values()):
        parts = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items() if n)
        notes = (
            f"{path}: the document has unaccepted tracked changes ({parts}); it was read as "
            "Word's final view (every change accepted). Accept or reject them in Word to be sure.",
        )
    return blocks, notes


def docx_to_text(path: str | Path, rules: RoleRules | None = None) -> str:
    """The body of a .docx file as labelled plain text (before normalisation).

    Raises:
        TranscriptError: the file is missing, not a Word document, or damaged; or
            python-docx is not installed (the message says how to install it).
    """
    blocks, _ = _blocks(Path(path), rules)
    return "\n\n".join(_render(b)[0] for b in blocks)


def read_docx(
    path: str | Path, *, doc_id: str, rules: RoleRules | None = None
) -> Document:
    """Read a .docx transcript (see the module docstring).

    Raises:
        TranscriptError: as :func:`docx_to_text`, or the document has no text.
    """
    path = Path(path)
    blocks, notes = _blocks(path, rules)
    parts: list[str] = []
    labels: dict[int, LinePrefix] = {}
    resets: set[int] = set()
    starts: list[int] = []
    pos = 0
    for block in blocks:
        rendered, head = _render(block)
        rendered = normalize_text(rendered)
        if not rendered.strip():
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        if block.label is not None:
            time = parse_time(block.time) if block.time else None
            labels[pos] = LinePrefix(block.label, False, time, len(normalize_text(head)))
        if block.after_table:
            resets.add(pos)
        starts.append(pos)
        parts.append(rendered)
        pos += len(rendered)
    text = "".join(parts)
    if not text.strip():
        raise TranscriptError(path, "the document has no text")
    return parse_text(
        text, doc_id=doc_id, source=path, fmt="docx", rules=rules, notes=notes,
        structure=TextStructure(labels, frozenset(resets), tuple(starts)),
    )


def _render(block: _Block) -> tuple[str, str]:
    """The block's text and the part of it before the words (label and time)."""
    if block.label is None:
        stamp = f"[{block.time}] " if block.time else ""
        return stamp + block.text, stamp
    head = (f"[{block.time}] " if block.time else "") + f"{block.label}: "
    return head + block.text, head


# ----------------------------------------------------------------------------- XML walk
def _read_container(container: Any, blocks: list[_Block], matcher: Any) -> None:
    """Paragraphs and tables of a body, cell or content control, in order."""
    carry = ""  # text of a paragraph whose mark was deleted: it runs on into the next one
    after_table = False
    for child in _content(container):
        if child.tag == _W + "p":
            text = carry + _paragraph_text(child)
            carry = ""
            if _mark_deleted(child):
                carry = text
                continue
            if text.strip():
                blocks.append(_Block(text, after_table=after_table))
                after_table = False
        elif child.tag == _W + "tbl":
            if carry.strip():
                blocks.append(_Block(carry, after_table=after_table))
            carry = ""
            _read_table(child, blocks, matcher)
            after_table = True
    if carry.strip():
        blocks.append(_Block(carry, after_table=after_table))


def _content(container: Any) -> list[Any]:
    """Child paragraphs and tables, looking through content controls and custom XML."""
    out = []
    for child in container:
        if child.tag in (_W + "p", _W + "tbl"):
            out.append(child)
        elif child.tag in (_W + "sdt", _W + "customXml", _W + "sdtContent"):
            out += _content(child)
    return out


def _mark_deleted(p: Any) -> bool:
    return p.find(f"{_W}pPr/{_W}rPr/{_W}del") is not None


def _paragraph_text(p: Any) -> str:
    """A paragraph's text in Word's final view (see the module docstring)."""
    out: list[str] = []

    def walk(el: Any) -> None:
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag in (_W + "del", _W + "moveFrom") or tag in _SKIPPED:
                continue
            if tag == _W + "t":
                out.append(child.text or "")
            elif tag == _W + "tab":
                out.append("\t")
            elif tag in (_W + "br", _W + "cr"):
                out.append("\n")
            elif tag == _W + "noBreakHyphen":
                out.append("-")
            elif tag == _W + "p":  # a paragraph nested in a run (rare): its own line
                out.append("\n")
                walk(child)
            else:
                walk(child)

    walk(p)
    return "".join(out)


def _read_table(tbl: Any, blocks: list[_Block], matcher: Any) -> None:
    rows = []
    for tr in _rows(tbl):
        if tr.find(f"{_W}trPr/{_W}del") is not None:
            continue  # a deleted row is not in the final view
        cells: list[str] = []
        for tc in _cells(tr):
            merge = tc.find(f"{_W}tcPr/{_W}vMerge")
            if merge is not None and merge.get(_W + "val", "continue") == "continue":
                continue  # the continuation of a vertically merged cell
            inner: list[_Block] = []
            _read_container(tc, inner, matcher)
            text = "\n".join(b.text if b.label is None else _render(b)[0] for b in inner).strip()
            if text:
                cells.append(text)
        if cells:
            rows.append(cells)
    split = [_split_row(cells) for cells in rows]
    candidates = [(t, rest) for t, rest in split if len(rest) >= 2]
    speaker_table = bool(candidates) and sum(_short(rest[0]) for _, rest in candidates) >= 0.6 * len(candidates)
    for cells, (time, rest) in zip(rows, split):
        if len(rest) >= 2 and _is_header(rest):
            blocks.append(_Block(" | ".join(cells)))
        elif len(rest) >= 2 and (
            (speaker_table and _short(rest[0])) or _is_label(rest[0], matcher)
        ):
            label = " ".join(rest[0].rstrip(":").split())
            blocks.append(_Block("\n".join(rest[1:]), label=label, time=_bare(time)))
        elif time and len(rest) == 1:
            blocks.append(_Block(rest[0], time=_bare(time)))
        else:
            blocks.extend(_Block(c) for c in cells)


def _children(el: Any, tag: str) -> list[Any]:
    """``el``'s children with ``tag`` (``w:tr`` rows, ``w:tc`` cells), looking through content
    controls and custom XML wrappers."""
    out = []
    for child in el:
        if child.tag == _W + tag:
            out.append(child)
        elif child.tag in (_W + "sdt", _W + "customXml", _W + "sdtContent"):
            out += _children(child, tag)
    return out


def _rows(tbl: Any) -> list[Any]:
    return _children(tbl, "tr")


def _cells(tr: Any) -> list[Any]:
    return _children(tr, "tc")


def _split_row(cells: list[str]) -> tuple[str | None, list[str]]:
    if len(cells) >= 2 and _TIME_CELL.match(cells[0]):
        return cells[0], cells[1:]
    return None, cells


def _bare(time: str | None) -> str | None:
    return time.strip("[]()") if time else None


def _short(cell: str) -> bool:
    """Could ``cell`` be a speaker cell: one line, at most 40 characters and 5 words, not a sentence."""
    return "\n" not in cell and len(cell) <= 40 and len(cell.split()) <= 5 and not cell.rstrip().endswith((".", "?", "!", ","))


def _is_header(rest: list[str]) -> bool:
    return all(c.strip().rstrip(":").lower() in _HEADER_WORDS for c in rest[:2])


def _is_label(cell: str, matcher: Any) -> bool:
    if "\n" in cell or len(cell) > 40:
        return False
    label = cell.rstrip(":").strip()
    prefix = matcher.match(f"{label}: x")
    return prefix.label == label
