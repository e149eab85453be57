"""Reading transcripts: one file, a folder, or a list of paths.

* ``read(path)`` on a **file** returns one :class:`~nokoding.document.Document` and raises
  :class:`TranscriptError` if it cannot be read.
* ``read(folder)`` or ``read([path, ...])`` returns a :class:`ReadResult`: the documents
  that could be read (a sequence: iterate, index, ``len``) and the :class:`ReadFailure`
  of each file that could not, so one bad file never stops a batch. :func:`read_many`
  does the same for any input and always returns a :class:`ReadResult`.

The format comes from the file extension (``.txt``/``.text`` → txt, ``.docx``,
``.vtt``/``.webvtt``, ``.srt``); an unknown extension is sniffed from the content
(``WEBVTT`` header, ZIP signature, SubRip block, else txt). ``format=`` overrides both.
A folder contributes its files with known extensions, sorted by name (``recursive=True``
descends into sub-folders); hidden files and Word lock files (``~$...``) are skipped.

Document ids are file stems made unique within one call: ``intervju``, ``intervju-2``, ...
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from nokoding.document import Document, SpeakerTurn
from nokoding.ingest.docx import read_docx
from nokoding.ingest.encoding import read_text_file
from nokoding.ingest.errors import ReadFailure, TranscriptError
from nokoding.ingest.normalize import normalize_text
from nokoding.ingest.roles import RoleRules
from nokoding.ingest.srt import parse_srt
from nokoding.ingest.text import parse_text
from nokoding.ingest.vtt import parse_vtt

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "ReadResult",
    "detect_format",
    "detect_text_format",
    "from_text",
    "NOT_TRANSCRIPTS",
    "skip_reason",
    "read",
    "read_many",
    "single_turn_document",
]

log = logging.getLogger("nokoding.ingest")

PathLike = str | os.PathLike[str]

#: Formats a reader exists for.
FORMATS = ("txt", "docx", "vtt", "srt")

#: File extension (lower case) → format.
EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".docx": "docx",
    ".vtt": "vtt",
    ".webvtt": "vtt",
    ".srt": "srt",
}

_SAVE_AS = "save or export the transcript as .docx or .txt"

#: Extensions of files that are not read, with what to do instead.
NOT_TRANSCRIPTS: dict[str, str] = {
    ".pdf": "a PDF cannot be read reliably (columns, hyphenation, page headers); "
    "export the transcript from the program that wrote it as .docx or .txt",
    ".doc": "an old Word document (.doc); open it in Word and save it as .docx",
    ".rtf": f"a Rich Text file; {_SAVE_AS}",
    ".odt": f"an OpenDocument text; {_SAVE_AS}",
    ".pages": f"a Pages document; {_SAVE_AS}",
    ".xlsx": "an Excel workbook; copy the transcript table into Word and save it as .docx, or save it as .txt",
    ".xls": "an Excel workbook; copy the transcript table into Word and save it as .docx, or save it as .txt",
    ".csv": "a table (.csv); transcripts are read from .txt, .docx, .vtt and .srt",
    ".pptx": f"a PowerPoint file; {_SAVE_AS}",
    ".json": "a JSON file; transcripts are read from .txt, .docx, .vtt and .srt",
    **{
        ext: "an audio or video recording; nokoding reads transcripts (.txt, .docx, .vtt, .srt), not recordings"
        for ext in (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".flac", ".wma", ".mp4", ".mov", ".avi", ".mkv", ".webm")
    },
}


def skip_reason(path: PathLike) -> str | None:
    """Why a file found in a folder is not read (``None`` for a transcript file).

    Hidden files and Word lock files (``~$…``) are named as such; other extensions say what
    to do (:data:`NOT_TRANSCRIPTS`).
    """
    p = Path(path)
    if p.name.startswith("~$"):
        return "a Word lock file (Word has the document open), not a transcript"
    if p.name.startswith("."):
        return "a hidden file"
    suffix = p.suffix.lower()
    if suffix in EXTENSIONS:
        return None
    if suffix in NOT_TRANSCRIPTS:
        return NOT_TRANSCRIPTS[suffix]
    return (
        f"not a transcript format nokoding reads ({suffix or 'no extension'}); "
        "transcripts are .txt, .docx, .vtt or .srt"
    )


_SRT_START = re.compile(rb"^\s*\d+[ \t]*\r?\n[ \t]*(?:\d+:)?\d{1,2}:\d{1,2}(?:[,.]\d{1,3})?[ \t]*-->")


@dataclass
class ReadResult(Sequence[Document]):
    """What reading a folder or a list of paths gave.

    Attributes:
        documents: the documents read, in input order (folder: sorted by name).
        failures: one :class:`ReadFailure` (path, :class:`TranscriptError`) per bad file.
        skipped: files in a folder that were not transcripts (unknown extension, hidden);
            :func:`skip_reason` says why for each.
    """

    documents: list[Document] = field(default_factory=list)
    failures: list[ReadFailure] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents)

    def __len__(self) -> int:
        return len(self.documents)

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        return self.documents[index]

    @property
    def ok(self) -> bool:
        """True when every file was read."""
        return not self.failures

    def summary(self) -> str:
        """One line per failure after a count, e.g. ``"read 3 of 4 files; 1 failed:\\n  x.vtt, line 9: ..."``."""
        total = len(self.documents) + len(self.failures)
        head = f"read {len(self.documents)} of {total} files"
        if not self.failures:
            return head
        lines = [f"{head}; {len(self.failures)} failed:"]
        lines += [f"  {f.error}" for f in self.failures]
        return "\n".join(lines)

    def skipped_reasons(self) -> list[str]:
        """``"<file>: <why it was not read>"`` for each skipped file."""
        return [f"{p}: {skip_reason(p) or 'inside a hidden folder'}" for p in self.skipped]


def detect_format(path: PathLike) -> str:
    """The format of ``path`` from its extension, else from its first bytes.

    Raises:
        TranscriptError: the file cannot be opened (only when sniffing).
    """
    path = Path(path)
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is not None:
        return fmt
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise TranscriptError(path, f"cannot be read: {exc.strerror or exc}") from exc
    stripped = head.removeprefix(b"\xef\xbb\xbf")
    if stripped.startswith(b"WEBVTT"):
        return "vtt"
    if head.startswith(b"PK\x03\x04"):
        return "docx"
    if _SRT_START.match(stripped):
        return "srt"
    return "txt"


def _check_format(fmt: str | None) -> str | None:
    if fmt is None or fmt == "auto":
        return None
    if fmt not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def _read_file(path: Path, fmt: str | None, doc_id: str, rules: RoleRules, encoding: str | None) -> Document:
    if path.is_dir():
        raise TranscriptError(path, "is a folder, not a file")
    if not path.exists():
        raise TranscriptError(path, "no such file")
    if path.name.startswith("~$"):
        raise TranscriptError(
            path,
            "not read: a Word lock file (Word writes it beside a document while it is open; it "
            "holds no transcript); give the .docx document itself, whose name does not start with '~$'",
        )
    if fmt is None and path.suffix.lower() in NOT_TRANSCRIPTS:
        raise TranscriptError(path, f"not read: {NOT_TRANSCRIPTS[path.suffix.lower()]}")
    fmt = fmt or detect_format(path)
    if fmt == "docx":
        return read_docx(path, doc_id=doc_id, rules=rules)
    raw, _, notes = read_text_file(path, encoding=encoding)
    text = normalize_text(raw)
    if not text.strip():
        raise TranscriptError(path, "the file has only whitespace")
    if fmt == "vtt":
        return parse_vtt(text, doc_id=doc_id, source=path, rules=rules, notes=notes)
    if fmt == "srt":
        return parse_srt(text, doc_id=doc_id, source=path, rules=rules, notes=notes)
    return parse_text(text, doc_id=doc_id, source=path, fmt="txt", rules=rules, notes=notes)


def _list_folder(folder: Path, recursive: bool) -> tuple[list[Path], list[Path]]:
    found, skipped = [], []
    entries = folder.rglob("*") if recursive else folder.iterdir()
    for p in sorted(entries):
        if not p.is_file():
            continue
        rel = p.relative_to(folder).parts
        if any(part.startswith((".", "~$")) for part in rel[:-1]) or skip_reason(p) is not None:
            skipped.append(p)
        else:
            found.append(p)
    return found, skipped


def _unique_id(stem: str, taken: set[str]) -> str:
    if stem not in taken:
        taken.add(stem)
        return stem
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    taken.add(f"{stem}-{n}")
    return f"{stem}-{n}"


def read_many(
    paths: PathLike | Iterable[PathLike],
    *,
    format: str | None = "auto",
    interviewer: str | Iterable[str] | None = None,
    interviewer_labels: Iterable[str] | None = None,
    informant_labels: Iterable[str] | None = None,
    encoding: str | None = None,
    recursive: bool = False,
) -> ReadResult:
    """Read files and folders; bad files are reported, not raised.

    Args:
        paths: a file, a folder, or several of either.
        format: "auto" (by extension/content) or one of :data:`FORMATS` for every file.
        interviewer, interviewer_labels, informant_labels: see :mod:`nokoding.ingest.roles`.
        encoding: force a text encoding (default: detect, see :mod:`nokoding.ingest.encoding`).
        recursive: descend into sub-folders.

    Returns:
        A :class:`ReadResult` (documents, failures, skipped). Each failure is also logged
        at WARNING level on the ``nokoding.ingest`` logger.

    Raises:
        ValueError: an unknown ``format``.
    """
    fmt = _check_format(format)
    rules = RoleRules.make(interviewer, interviewer_labels, informant_labels)
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    result = ReadResult()
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found, skipped = _list_folder(p, recursive)
            files += found
            result.skipped += skipped
        else:
            files.append(p)
    taken: set[str] = set()
    for path in files:
        doc_id = _unique_id(path.stem, taken)
        try:
            result.documents.append(_read_file(path, fmt, doc_id, rules, encoding))
        except TranscriptError as exc:
            log.warning("%s", exc)
            result.failures.append(ReadFailure(path, exc))
    return result


@overload
def read(path_or_paths: PathLike, **kwargs: object) -> Document | ReadResult: ...
@overload
def read(path_or_paths: Iterable[PathLike], **kwargs: object) -> ReadResult: ...


def read(
    path_or_paths: PathLike | Iterable[PathLike],
    *,
    format: str | None = "auto",
    interviewer: str | Iterable[str] | None = None,
    interviewer_labels: Iterable[str] | None = None,
    informant_labels: Iterable[str] | None = None,
    encoding: str | None = None,
    recursive: bool = False,
    id: str | None = None,
) -> Document | ReadResult:
    """Read a transcript file into a :class:`Document`, or a folder/list into a :class:`ReadResult`.

    Args:
        path_or_paths: one file (→ ``Document``), or a folder or a list (→ ``ReadResult``).
        format: "auto" or one of "txt", "docx", "vtt", "srt".
        interviewer: speaker label(s) of the interviewer, overriding the label and
            question rules of :mod:`nokoding.ingest.roles`.
        interviewer_labels, informant_labels: label keys replacing the defaults.
        encoding: force a text encoding instead of detecting it.
        recursive: for folders, descend into sub-folders.
        id: document id for a single file (default: the file stem).

    Returns:
        ``Document`` for a file path; ``ReadResult`` for a folder or an iterable of paths.

    Raises:
        TranscriptError: (single file) missing, unreadable, binary, empty or malformed;
            the message names the file and the line/cue.
        ValueError: an unknown ``format``.
    """
    if isinstance(path_or_paths, (str, os.PathLike)) and not Path(path_or_paths).is_dir():
        path = Path(path_or_paths)
        rules = RoleRules.make(interviewer, interviewer_labels, informant_labels)
        return _read_file(path, _check_format(format), id or path.stem, rules, encoding)
    return read_many(
        path_or_paths,
        format=format,
        interviewer=interviewer,
        interviewer_labels=interviewer_labels,
        informant_labels=informant_labels,
        encoding=encoding,
        recursive=recursive,
    )


def detect_text_format(text: str) -> str:
    """``"vtt"`` for text that opens with ``WEBVTT``, ``"srt"`` for a SubRip block, else ``"txt"``."""
    head = normalize_text(text[:2000]).lstrip("\n")
    if re.match(r"WEBVTT(?:[ \t]|\n|$)", head):
        return "vtt"
    if _SRT_START.match(head.encode("utf-8")):
        return "srt"
    return "txt"


def from_text(
    text: str,
    *,
    format: str = "auto",
    id: str = "",
    interviewer: str | Iterable[str] | None = None,
    interviewer_labels: Iterable[str] | None = None,
    informant_labels: Iterable[str] | None = None,
) -> Document:
    """Parse an in-memory transcript (txt, vtt or srt text) into a :class:`Document`.

    The text is normalised first (offsets point into the normalised text, ``Document.text``).
    ``format="auto"`` (the default) detects WebVTT and SubRip (:func:`detect_text_format`).

    Raises:
        TranscriptError: the text is empty or malformed (the place is given as ``<text>``).
        ValueError: an unknown or unsupported ``format`` ("docx" needs a file).
    """
    fmt = _check_format(format) or detect_text_format(text)
    if fmt == "docx":
        raise ValueError("from_text cannot parse docx; use read(path)")
    rules = RoleRules.make(interviewer, interviewer_labels, informant_labels)
    norm = normalize_text(text)
    if not norm.strip():
        raise TranscriptError(None, "the text is empty")
    if fmt == "vtt":
        return parse_vtt(norm, doc_id=id, rules=rules)
    if fmt == "srt":
        return parse_srt(norm, doc_id=id, rules=rules)
    return parse_text(norm, doc_id=id, fmt="text", rules=rules)


def single_turn_document(text: str, *, id: str = "", role: str = "informant") -> Document:
    """An in-memory :class:`Document` whose whole (normalised) text is one speaker turn.

    No labels are looked for. Whitespace-only text gives a document with no turns.
    """
    norm = normalize_text(text)
    stripped = norm.strip()
    if not stripped:
        return Document(id=id, text=norm, turns=(), format="text")
    start = len(norm) - len(norm.lstrip())
    turn = SpeakerTurn(speaker="", role=role, start=start, end=start + len(stripped))  # type: ignore[arg-type]
    return Document(id=id, text=norm, turns=(turn,), format="text")
