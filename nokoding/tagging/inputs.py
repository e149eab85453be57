"""Inputs of a tagging run: files, folders and glob patterns expanded into transcripts, one document id each.

:func:`open_run` starts (or resumes) a run in an output folder: it creates the folder, reads its
resume state (:mod:`nokoding.tagging.resume`) and expands the inputs (:func:`expand_inputs`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from nokoding.tagging.resume import _State
from nokoding.tagging.summary import InputFailure, TagSummary

__all__ = ["TRANSCRIPT_SUFFIXES", "expand_inputs", "open_run"]

#: File endings picked up when a folder or glob is given (explicit files are always tried);
#: :data:`nokoding.ingest.EXTENSIONS` is used instead when installed.
TRANSCRIPT_SUFFIXES: tuple[str, ...] = (".txt", ".docx", ".vtt", ".srt")


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    suffixes: Sequence[str] = TRANSCRIPT_SUFFIXES,
    exclude: Path | None = None,
    skipped: list[InputFailure] | None = None,
) -> tuple[list[Path], list[InputFailure]]:
    """Expand files, folders (recursively, files with ``suffixes``; hidden entries skipped)
    and glob patterns (``*``, ``?``, ``[...]``, ``**``) into a de-duplicated file list.
    Hidden entries and Word lock files (``~$…``) inside folders are skipped.

    Args:
        inputs: paths or patterns, in the order wanted.
        suffixes: file endings taken from folders and globs (case-insensitive).
        exclude: a folder whose contents are never taken (the output folder).
        skipped: when given, one :class:`InputFailure` (path, reason) is appended for each
            file of a folder or pattern that is not taken (not a transcript, hidden, a Word
            lock file); hidden folders are named once, not descended into.

    Returns:
        ``(files, failures)``: files in input order (folder contents sorted), and one
        :class:`InputFailure` per input that matched nothing.
    """
    wanted = {s.lower() for s in suffixes}
    excl = exclude.resolve() if exclude is not None else None
    files: list[Path] = []
    failures: list[InputFailure] = []
    seen: set[Path] = set()

    def skip(p: Path, reason: str) -> None:
        if skipped is not None and not (excl is not None and p.resolve().is_relative_to(excl)):
            skipped.append(InputFailure(str(p), reason))

    def from_folder(folder: Path) -> list[Path]:
        found = []
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if any(part.startswith(".") for part in rel.parts[:-1]):
                continue  # inside a hidden folder: the folder itself was named
            if p.is_dir():
                if p.name.startswith("."):
                    skip(p, "a hidden folder (not searched)")
                continue
            if not p.is_file():
                continue
            if p.suffix.lower() in wanted and not p.name.startswith((".", "~$")):
                found.append(p)
            else:
                skip(p, _skip_reason(p))
        return found

    def add(p: Path) -> bool:
        r = p.resolve()
        if excl is not None and r.is_relative_to(excl):
            return False
        if r not in seen:
            seen.add(r)
            files.append(p)
        return True

    for raw in inputs:
        text = os.fspath(raw)
        p = Path(text).expanduser()
        if p.is_file():
            add(p)
        elif p.is_dir():
            found = from_folder(p)
            for f in found:
                add(f)
            if not found:
                failures.append(InputFailure(text, f"no transcripts ({', '.join(sorted(wanted))}) in this folder"))
        elif glob.has_magic(text):
            matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(text), recursive=True))]
            found = []
            for m in matches:
                if m.is_dir():
                    found += from_folder(m)
                elif m.is_file() and m.suffix.lower() in wanted:
                    found.append(m)
                elif m.is_file():
                    skip(m, _skip_reason(m))
            for f in found:
                add(f)
            if not found:
                failures.append(InputFailure(text, "the pattern matched no transcript files"))
        else:
            failures.append(InputFailure(text, "no such file or folder"))
    return files, failures


def open_run(
    inputs: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], summary: TagSummary
) -> tuple[Path, _State, list[Path], list[str]]:
    """Start (or resume) a tagging run: create ``out_dir``, read its resume state, expand the inputs.

    Unreadable inputs, a state note and an empty input list are recorded in ``summary``.

    Returns:
        ``(out, state, files, ids)``: the output folder, its resume state, the transcript files
        in input order and one unique document id per file (its stem, ``-2``, ``-3`` … on clashes).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} is a file; give a folder for --out")
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out)
    if state.note:
        summary.warnings.append(state.note)
    files, failures = expand_inputs(inputs, suffixes=_transcript_suffixes(), exclude=out,
                                    skipped=summary.skipped)
    summary.inputs = len(files)
    summary.failures.extend(failures)
    if not files and not failures:
        summary.failures.append(InputFailure("", "no input files given"))
    return out, state, files, _unique_ids(files)


def _unique_ids(files: Sequence[Path]) -> list[str]:
    taken: set[str] = set()
    out = []
    for f in files:
        base = f.stem or "document"
        cand, n = base, 2
        while cand in taken:
            cand = f"{base}-{n}"
            n += 1
        taken.add(cand)
        out.append(cand)
    return out


def _skip_reason(path: Path) -> str:
    from nokoding.ingest import skip_reason

    return skip_reason(path) or "not a transcript file"


def _transcript_suffixes() -> tuple[str, ...]:
    try:
        from nokoding.ingest import EXTENSIONS
    except ImportError:
        return TRANSCRIPT_SUFFIXES
    return tuple(EXTENSIONS)
