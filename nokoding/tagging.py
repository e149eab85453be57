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
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nokoding.atomic import atomic_write_text
from nokoding.codebook import Codebook
from nokoding.document import Document, Segment
from nokoding.export.tagged import TaggedDocument, accepted_codes
from nokoding.suggestions import Suggestion

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

#: A suggester maps a document's segments to one suggestion each (same order).
Suggester = Callable[[Sequence[Segment]], list[Suggestion]]
#: Output formats and their file names in ``out_dir``.
FORMATS: dict[str, str] = {"csv": "segments.csv", "jsonl": "segments.jsonl", "qdpx": "project.qdpx"}
#: File endings picked up when a folder or glob is given (explicit files are always tried);
#: :data:`nokoding.ingest.EXTENSIONS` is used instead when installed.
TRANSCRIPT_SUFFIXES: tuple[str, ...] = (".txt", ".docx", ".vtt", ".srt")
#: Roles whose segments are coded, as in :func:`nokoding.segmentation.segment`: interviewer
#: turns only give context, and ``unknown`` turns (text without a speaker in a transcript that
#: has speaker labels) are mostly titles and headers.
DEFAULT_ROLES: tuple[str, ...] = ("informant",)
STATE_DIR = ".nokoding"
_MANIFEST_VERSION = 1


@dataclass(frozen=True)
class InputFailure:
    """An input that could not be tagged: the path as given or found, and why."""

    path: str
    error: str


@dataclass(frozen=True)
class OutputCheck:
    """Read-back check of one output file.

    Attributes:
        format: ``"csv"``, ``"jsonl"`` or ``"qdpx"``.
        path: the file checked.
        expected: rows (CSV, JSON Lines: segments; REFI-QDA: codings) that must be there.
        found: rows found in the file.
        missing: expected rows not found.
        duplicated: rows found more than once (counted once per extra copy).
        unexpected: rows found that were not expected (or whose text/positions differ).
    """

    format: str
    path: Path
    expected: int
    found: int
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0

    @property
    def ok(self) -> bool:
        return self.missing == self.duplicated == self.unexpected == 0 and self.expected == self.found


@dataclass
class TagSummary:
    """What a :func:`tag` run did.

    Attributes:
        inputs: transcript files found (after expanding folders and globs).
        tagged: document ids tagged in this run.
        resumed: document ids taken from a previous run's results.
        redone: ``"<id> (<reason>)"`` for documents an earlier run in the same folder had
            finished but this run tagged again, because the file or a resume setting changed
            (not listed under ``force``).
        failures: inputs that failed (not found, unreadable, suggester error); the others
            were tagged.
        skipped: files found in folders or by patterns that are not transcripts (a .pdf, an
            .xlsx, a Word lock file, a hidden file), each with the reason and what to do.
        segments: coded segments written (each output has this many rows; REFI-QDA has
            one selection per accepted coding instead).
        abstained: of these, segments with no code suggested ("no code suggested": the
            model abstained, no code reached the threshold, or the text is blank); they are
            in every output with an empty code and have no coding in the REFI-QDA project.
        codings: codings written to the REFI-QDA project (0 without ``qdpx``).
        outputs: format → file written.
        checks: read-back checks of the outputs.
        warnings: notes (documents without coded segments, reader warnings).
        seconds: wall-clock time of the run.
        settings: the run's options (model as given and its fingerprint, top_k, roles,
            runtime, device, threshold, formats), as written to ``summary.json``.
        summary_path: where ``summary.json`` was written (``None`` until then; not in it).
    """

    inputs: int = 0
    tagged: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)
    skipped: list[InputFailure] = field(default_factory=list)
    segments: int = 0
    abstained: int = 0
    codings: int = 0
    outputs: dict[str, Path] = field(default_factory=dict)
    checks: list[OutputCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    summary_path: Path | None = None

    @property
    def ok(self) -> bool:
        """No failed input and every output check passed."""
        return not self.failures and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 1 (what ``nokoding tag`` exits with)."""
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "inputs": self.inputs,
            "documents": len(self.tagged) + len(self.resumed),
            "tagged": self.tagged,
            "resumed": self.resumed,
            "redone": self.redone,
            "failures": [dataclasses.asdict(f) for f in self.failures],
            "skipped": [dataclasses.asdict(f) for f in self.skipped],
            "segments": self.segments,
            "abstained": self.abstained,
            "codings": self.codings,
            "outputs": {k: str(v) for k, v in self.outputs.items()},
            "checks": [{**dataclasses.asdict(c), "path": str(c.path), "ok": c.ok} for c in self.checks],
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
        }

    def lines(self) -> list[str]:
        """A human-readable report, one line per item."""
        docs = len(self.tagged) + len(self.resumed)
        out = [
            f"documents: {docs} of {self.inputs} input file(s) ({len(self.tagged)} tagged, "
            f"{len(self.resumed)} resumed), {len(self.failures)} failed"
            + (f", {len(self.skipped)} other file(s) skipped" if self.skipped else ""),
        ]
        # what went wrong comes first, before anything that was written or checked
        out += [f"failed: {f.path}: {f.error}" for f in self.failures]
        if self.failures and not docs:
            out.append("nothing was written: every input failed (earlier outputs in the folder are kept)")
        out += [f"skipped: {f.path}: {f.error}" for f in self.skipped]
        out += [
            f"segments: {self.segments} coded segment(s) ({self.abstained} with no code suggested), "
            f"{self.codings} REFI-QDA coding(s)",
            f"time: {self.seconds:.1f} s",
        ]
        if self.redone:
            out.append(f"redone instead of resumed: {'; '.join(self.redone)}")
        for fmt, path in self.outputs.items():
            out.append(f"wrote {fmt}: {path}")
        if self.summary_path is not None:
            out.append(f"wrote summary: {self.summary_path}")
        for c in self.checks:
            state = "ok" if c.ok else "FAILED"
            out.append(
                f"check {c.format}: {state} — {c.found} of {c.expected} expected row(s)"
                + ("" if c.ok else f"; missing {c.missing}, duplicated {c.duplicated}, unexpected {c.unexpected}")
            )
        out += [f"warning: {w}" for w in self.warnings]
        return out


# ----------------------------------------------------------------------------- inputs
def check_options(formats: Sequence[str] | str, top_k: int, threshold: float | None, device: str,
                  runtime: str | None = None, roles: Sequence[str] = DEFAULT_ROLES) -> tuple[str, ...]:
    """Validate options for :func:`tag` and the Ray engine; returns the formats, deduplicated.

    Raises:
        ValueError: unknown format, device, runtime or role, no role, ``int8``/``onnx`` with ``cuda``,
            ``top_k`` < 1, threshold outside 0–1.
        ModuleNotFoundError: ``onnx`` without the ``[onnx]`` extra.
    """
    if isinstance(formats, str):
        formats = formats.split(",")
    fmts = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in fmts if f not in FORMATS]
    if not fmts:
        raise ValueError(f"no output format given; choose from {', '.join(FORMATS)}")
    if unknown:
        raise ValueError(f"unknown output format(s) {unknown}; choose from {', '.join(FORMATS)}")
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda")
    check_roles(roles)
    if runtime is not None:  # the device kind is enough here; a missing GPU is found later
        from nokoding.inference.runtime import check_runtime

        check_runtime(runtime, device)
    from nokoding.suggest import check_ranking

    if top_k is None:  # tag writes a fixed number of code columns
        raise ValueError("top_k must be at least 1, got None")
    check_ranking(top_k, threshold)
    return fmts


def check_roles(roles: Sequence[str]) -> None:
    """Refuse an empty role list or a role outside :data:`nokoding.segmentation.segmenter.ROLES`.

    Raises:
        ValueError: naming the unknown roles and the known ones.
    """
    from nokoding.segmentation.segmenter import ROLES

    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise ValueError(f"unknown role(s) {bad or list(roles)}; use informant, unknown or interviewer")


def resolved_runtime(device: str, runtime: str | None) -> tuple[str, str]:
    """``(device type, runtime)`` that a run with these options uses on this machine (e.g.
    ``("cpu", "fp32")`` for ``"auto"`` and ``None`` without a GPU; ``"int8"`` and ``"onnx"``
    always get the CPU). Options that cannot be resolved here (``"cuda"`` without a GPU) come back as given."""
    from nokoding.inference.runtime import default_runtime, resolve_device

    try:
        dev = resolve_device(device, runtime)
    except ValueError:
        return device, runtime or "auto"
    return dev.type, runtime or default_runtime(dev)


def summary_settings(settings: dict[str, Any], model: str | os.PathLike[str], device: str,
                     threshold: float | None, formats: Sequence[str], runtime: str | None = None) -> dict[str, Any]:
    """The run's options as ``summary.json`` records them: the resume ``settings`` (whose
    ``model`` is the fingerprint, kept as ``model_key``) with the model as given, the device
    as given and as used, the runtime used, the threshold and the output formats."""
    used_device, used_runtime = resolved_runtime(device, runtime)
    return {**settings, "model": str(model), "model_key": settings["model"], "device": device,
            "device_used": used_device, "runtime": used_runtime, "threshold": threshold,
            "formats": list(formats)}


def model_key(model: str | os.PathLike[str]) -> str:
    """How a run's settings name a model: ``"sha256:<hex>"`` of its folder's files
    (:func:`nokoding.model.io.model_fingerprint`), or the name as given when no such folder
    exists (a custom suggester; a missing model fails later, when it is loaded)."""
    from nokoding.model.io import ModelLoadError, model_fingerprint

    try:
        return "sha256:" + model_fingerprint(model)
    except ModelLoadError:
        return str(model)


def run_settings(model: str, top_k: int, roles: Sequence[str], runtime: str | None,
                 interviewer: Sequence[str] = (), device: str = "auto",
                 informant: Sequence[str] = ()) -> dict[str, Any]:
    """What must match for a finished document to be reused when a run is resumed.

    ``runtime`` is recorded only when it is not the default for ``device`` on this machine
    (:func:`resolved_runtime`: ``--runtime fp32`` on a CPU and no ``--runtime`` are the same
    run), ``interviewer`` and ``informant`` only when given — so runs made before they
    existed stay resumable.
    """
    settings: dict[str, Any] = {"model": model, "top_k": top_k, "roles": sorted(roles)}
    if runtime is not None and resolved_runtime(device, None) != resolved_runtime(device, runtime):
        settings["runtime"] = runtime
    if interviewer:
        settings["interviewer"] = sorted(interviewer)
    if informant:
        settings["informant"] = sorted(informant)
    return settings


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------- state
class _State:
    """The resume state in ``out_dir/.nokoding`` (manifest + per-document results)."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / STATE_DIR
        self.manifest_path = self.dir / "manifest.json"
        self.codebook_path = self.dir / "codebook.yaml"
        self.entries: dict[str, dict[str, Any]] = {}
        self.note: str | None = None
        if self.manifest_path.is_file():
            try:
                data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
                if data.get("version") == _MANIFEST_VERSION and isinstance(data.get("documents"), dict):
                    self.entries = data["documents"]
                else:
                    self.note = f"{self.manifest_path}: unknown manifest version; starting afresh"
            except (OSError, ValueError) as err:
                self.note = f"{self.manifest_path}: unreadable manifest ({err}); starting afresh"

    @staticmethod
    def key(path: Path) -> str:
        return str(path.resolve())

    def result_path(self, key: str) -> Path:
        return self.dir / "documents" / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:20]}.json"

    def lookup(self, key: str, sha: str, settings: dict[str, Any]) -> TaggedDocument | None:
        entry = self.entries.get(key)
        if not entry or entry.get("sha256") != sha or entry.get("settings") != settings:
            return None
        try:
            data = json.loads(self.result_path(key).read_text(encoding="utf-8"))
            return TaggedDocument.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def stale_reason(self, key: str, sha: str, settings: dict[str, Any]) -> str | None:
        """Why an earlier result for ``key`` is not reused: ``"the file changed"`` or
        ``"changed settings: top_k 3 → 2, …"``; ``None`` when there is no earlier result."""
        entry = self.entries.get(key)
        if not entry:
            return None
        if entry.get("sha256") != sha:
            return "the file changed"
        old = entry.get("settings") or {}
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if not changed:
            return None
        return "changed settings: " + ", ".join(_change(k, old.get(k), settings.get(k)) for k in changed)

    def store(self, key: str, sha: str, settings: dict[str, Any], tagged: TaggedDocument) -> None:
        atomic_write_text(self.result_path(key), json.dumps(tagged.to_dict(), ensure_ascii=False))
        self.entries[key] = {
            "sha256": sha,
            "settings": settings,
            "document_id": tagged.document.id,
            "segments": len(tagged),
            "result": self.result_path(key).name,
        }
        payload = {"version": _MANIFEST_VERSION, "documents": self.entries}
        atomic_write_text(self.manifest_path, json.dumps(payload, ensure_ascii=False, indent=1))


def _change(key: str, old: Any, new: Any) -> str:
    """``"runtime fp32 → onnx"`` for short values (``default``: not recorded), else the key."""
    before, after = ("default" if v is None else str(v) for v in (old, new))
    return f"{key} {before} → {after}" if max(len(before), len(after)) <= 40 else key


def _with_id(tagged: TaggedDocument, doc_id: str) -> TaggedDocument:
    if tagged.document.id == doc_id:
        return tagged
    segs = tuple(dataclasses.replace(s, document_id=doc_id) for s in tagged.segments)
    sugs = tuple(dataclasses.replace(g, segment=s) for g, s in zip(tagged.suggestions, segs))
    return TaggedDocument(dataclasses.replace(tagged.document, id=doc_id), segs, sugs)


# ----------------------------------------------------------------------------- model
def model_suggester(model: str, *, top_k: int = 3, device: str = "auto", runtime: str | None = None) -> Suggester:
    """A suggester backed by a trained model: :func:`nokoding.model.load_model` once, then
    :func:`nokoding.suggest.suggest_codes` per document on ``device`` in ``runtime`` (``None``:
    the device's default, fp32 on CPU and bf16 on a GPU). The returned callable has the model's
    ``codebook`` as an attribute.

    Raises:
        nokoding.model.ModelLoadError: if the model cannot be found or loaded.
    """
    from nokoding.model import load_model
    from nokoding.suggest import suggest_codes

    loaded = load_model(model)

    def run(segments: Sequence[Segment]) -> list[Suggestion]:
        return list(suggest_codes(list(segments), model=loaded, top_k=top_k, device=device, runtime=runtime))

    run.codebook = getattr(loaded, "codebook", None)  # type: ignore[attr-defined]
    return run


def _default_reader(path: Path, interviewer: tuple[str, ...] = (), informant: tuple[str, ...] = ()) -> Document:
    import warnings

    from nokoding.ingest import TranscriptWarning, read

    with warnings.catch_warnings():
        # the same notes are in document.warnings and reach the run summary once
        warnings.simplefilter("ignore", TranscriptWarning)
        if informant:
            from nokoding.ingest import DEFAULT_INFORMANT_LABELS

            document = read(path, interviewer=interviewer or None,
                            informant_labels=[*DEFAULT_INFORMANT_LABELS, *informant])
        else:
            document = read(path, interviewer=interviewer or None)
    if interviewer and not any(t.role == "interviewer" for t in document.turns):
        # otherwise every speaker, the interviewer too, would be coded as an informant
        from nokoding.ingest import TranscriptError

        labels = sorted({t.speaker for t in document.turns if t.speaker})
        raise TranscriptError(path, f"--interviewer {', '.join(interviewer)} matches no speaker label "
                                    f"(labels here: {', '.join(labels) or 'none'})")
    return document


def transcript_reader(interviewer: Sequence[str] = (), informant: Sequence[str] = ()) -> Callable[[Path], Document]:
    """The reader :func:`tag` uses: :func:`nokoding.ingest.read` (format by extension), with
    ``interviewer`` speaker labels when given (every other labelled speaker is then an
    informant; see :mod:`nokoding.ingest.roles`; a file where none of them speaks fails with a
    :class:`~nokoding.ingest.TranscriptError` naming its labels), and ``informant`` labels
    added to the default informant labels (they are then read as speaker labels too).
    Picklable, for the Ray engine."""
    import functools

    if not interviewer and not informant:
        return _default_reader
    return functools.partial(_default_reader, interviewer=tuple(interviewer), informant=tuple(informant))


def document_notes(path: Path | str, document: Document, segments: Sequence[Segment], roles: Sequence[str]) -> list[str]:
    """The run summary's warnings for one tagged document: reader notes, each naming the file
    once, and a note when it has no segment of ``roles``."""
    notes = [w if w.startswith(f"{path}: ") else f"{path}: {w}" for w in document.warnings]
    if not segments:
        notes.append(f"{path}: no {'/'.join(roles)} segments to code")
    return notes


def _default_segmenter(roles: Sequence[str]) -> Callable[[Document], list[Segment]]:
    from nokoding.segmentation import segment

    wanted = tuple(roles)
    return lambda document: list(segment(document, roles=wanted))  # type: ignore[arg-type]


def _skip_reason(path: Path) -> str:
    from nokoding.ingest import skip_reason

    return skip_reason(path) or "not a transcript file"


def _transcript_suffixes() -> tuple[str, ...]:
    try:
        from nokoding.ingest import EXTENSIONS
    except ImportError:
        return TRANSCRIPT_SUFFIXES
    return tuple(EXTENSIONS)


# ----------------------------------------------------------------------------- run
def tag(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    out_dir: str | os.PathLike[str],
    model: str = "thesis-mrs",
    formats: Sequence[str] = ("csv", "jsonl", "qdpx"),
    top_k: int = 3,
    threshold: float | None = None,
    device: str = "auto",
    runtime: str | None = None,
    force: bool = False,
    suggester: Suggester | None = None,
    codebook: Codebook | None = None,
    reader: Callable[[Path], Document] | None = None,
    segmenter: Callable[[Document], Sequence[Segment]] | None = None,
    roles: Sequence[str] = DEFAULT_ROLES,
    interviewer: Sequence[str] = (),
    informant: Sequence[str] = (),
    progress: bool | None = None,
    created: datetime | None = None,
) -> TagSummary:
    """Tag transcripts with a model's code and sentiment suggestions and write the outputs.

    Args:
        inputs: files, folders (searched recursively for .txt/.docx/.vtt/.srt) and glob patterns.
        out_dir: output folder (created); layout in the module docstring.
        model: model name or path for :func:`nokoding.model.load_model` (loaded only when a
            document needs tagging and no ``suggester`` is given); recorded in the outputs.
        formats: any of ``"csv"``, ``"jsonl"``, ``"qdpx"`` (a sequence or a comma-separated string).
        top_k: codes per segment in the outputs (≥ 1).
        threshold: only codes with probability ≥ ``threshold`` (0–1) become REFI-QDA codings;
            CSV/JSON Lines always list the top ``top_k``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (passed to the model).
        runtime: ``"fp32"``, ``"int8"`` (CPU only; faster, and it changes some top codes — see
            the README), ``"onnx"`` (CPU only, ``[onnx]`` extra; fp32 in ONNX Runtime, same
            results) or ``"bf16"``; ``None``: fp32 on CPU, bf16 on a GPU. A run resumed with
            another runtime redoes its documents.
        force: redo documents already finished in ``out_dir``.
        suggester: callable ``segments -> suggestions`` replacing the model (tests, custom models).
        codebook: the codebook of the suggestions (default: ``suggester.codebook``, the model's,
            or the one stored in ``out_dir`` by an earlier run); needed for ``qdpx``.
        reader: ``path -> Document`` (default :func:`nokoding.ingest.read`).
        segmenter: ``Document -> segments`` (default :func:`nokoding.segmentation.segment` with
            ``roles``); segments of other roles are dropped either way.
        roles: speaker roles whose segments are coded (``informant``; add ``unknown`` for text
            without a speaker label, ``interviewer`` for the questions).
        interviewer: speaker labels of the interviewer(s), for transcripts whose labels the
            reader does not recognise (see :func:`transcript_reader`); ignored with ``reader``.
        informant: speaker labels of informants that are not recognised by default (e.g.
            ``"P"``, ``"ola"``); ignored with ``reader``.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        created: timestamp for REFI-QDA ``creationDateTime`` (default: none, for
            byte-identical re-exports).

    Returns:
        A :class:`TagSummary`; failed inputs are listed there, never raised.

    Raises:
        ValueError: for an unknown format, device, runtime or role, ``top_k`` < 1, a threshold
            outside 0–1, ``device="cuda"`` without a usable GPU (model runs), ``out_dir`` being a
            file, or ``qdpx`` without any codebook available.
        OSError: if ``out_dir`` cannot be written.
        ModuleNotFoundError: ``runtime="onnx"`` without the ``[onnx]`` extra.
    """
    started = time.monotonic()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    formats = check_options(formats, top_k, threshold, device, runtime, roles)

    if suggester is None:
        from nokoding.inference.runtime import resolve_device

        resolve_device(device, runtime)  # e.g. cuda without a GPU: refuse before any work
    summary = TagSummary()
    with run_lock(out_dir):
        return _tag_locked(
            inputs, summary, started=started, out_dir=out_dir, model=model, formats=formats, top_k=top_k,
            threshold=threshold, device=device, runtime=runtime, force=force, suggester=suggester,
            codebook=codebook, reader=reader, segmenter=segmenter, roles=roles, interviewer=interviewer,
            informant=informant, progress=progress, created=created,
        )


def _tag_locked(
    inputs: Iterable[str | os.PathLike[str]],
    summary: TagSummary,
    *,
    started: float,
    out_dir: str | os.PathLike[str],
    model: str,
    formats: Sequence[str],
    top_k: int,
    threshold: float | None,
    device: str,
    runtime: str | None,
    force: bool,
    suggester: Suggester | None,
    codebook: Codebook | None,
    reader: Callable[[Path], Document] | None,
    segmenter: Callable[[Document], Sequence[Segment]] | None,
    roles: Sequence[str],
    interviewer: Sequence[str],
    informant: Sequence[str],
    progress: bool | None,
    created: datetime | None,
) -> TagSummary:
    """The body of :func:`tag`, run while holding the output folder's lock."""
    out, state, files, ids = open_run(inputs, out_dir, summary)
    settings = run_settings(model_key(model), top_k, roles, runtime, interviewer, device, informant)
    summary.settings = summary_settings(settings, model, device, threshold, formats, runtime)
    read = reader or transcript_reader(interviewer, informant)
    cut = segmenter or _default_segmenter(roles)
    results: list[TaggedDocument] = []
    loaded: list[Suggester] = [suggester] if suggester is not None else []

    def active_suggester() -> Suggester:
        # The model is loaded once, when the first document needs it; a load error stops the run.
        if not loaded:
            loaded.append(model_suggester(model, top_k=top_k, device=device, runtime=runtime))
        return loaded[0]

    if codebook is None and suggester is not None:
        codebook = getattr(suggester, "codebook", None)
    stored = state.codebook_path.is_file()
    if codebook is None and suggester is not None and not stored and "qdpx" in formats:
        raise ValueError("the qdpx format needs the codebook: pass codebook= or a suggester with .codebook")

    show = sys.stderr.isatty() if progress is None else progress
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), unit="doc", desc="tagging", disable=not show, file=sys.stderr, dynamic_ncols=True)
    try:
        for path, doc_id in zip(files, ids):
            _tag_one(path, doc_id, state=state, settings=settings, force=force, read=read, cut=cut,
                     roles=roles, summary=summary, results=results,
                     get_suggester=active_suggester)
            bar.update(1)
            bar.set_postfix(segments=sum(len(r) for r in results), failed=len(summary.failures), refresh=False)
    finally:
        bar.close()

    if not results and summary.failures:
        # every input failed: an earlier run's outputs and summary.json stay as they were
        summary.seconds = time.monotonic() - started
        return summary
    summary.segments = sum(len(r) for r in results)
    summary.abstained = sum(not s.codes for r in results for s in r.suggestions)
    if codebook is None and loaded:
        codebook = getattr(loaded[0], "codebook", None)
    if codebook is None and stored:  # every document resumed: the codebook of the earlier run
        codebook = Codebook.from_yaml(state.codebook_path)
    if codebook is None and suggester is None:  # nothing was tagged: read the model's codebook file
        codebook = _model_codebook(model)
    if codebook is not None:
        codebook.to_yaml(state.codebook_path)
    elif "qdpx" in formats:
        raise ValueError(
            "the qdpx format needs the codebook: pass codebook= (results so far are kept for resume)"
        )
    _write_outputs(summary, results, out, formats, codebook, model=model, top_k=top_k,
                   threshold=threshold, created=created)
    summary.seconds = time.monotonic() - started
    summary.summary_path = out / "summary.json"
    atomic_write_text(summary.summary_path, json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
    return summary


@contextlib.contextmanager
def run_lock(out_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``out_dir/.nokoding/lock`` for a run, so that two runs never write one folder.

    The lock is an advisory ``flock`` on an open file: the operating system releases it when
    the process ends, also when it is killed, so a dead run never blocks the next one. The
    file records the holder's process id and start time for the message. Where ``fcntl`` is
    unavailable (Windows), no lock is taken.

    Raises:
        ValueError: another run holds the lock (the message names its process and start).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"output folder {out_dir} is a file; give a folder for --out")
    folder = Path(out_dir) / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lock"
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            raise ValueError(
                f"another nokoding tag run ({holder}) is writing to {out_dir}; wait until it has "
                "finished, or give another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {datetime.now().isoformat(timespec='seconds')}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock


def _model_codebook(model: str) -> Codebook | None:
    """The codebook stored in a model folder, without loading the model (``None`` if not found)."""
    from nokoding.model.io import find_model

    try:
        path = find_model(model) / "codebook.yaml"
        return Codebook.from_yaml(path) if path.is_file() else None
    except (OSError, ValueError, LookupError):
        return None


def _tag_one(
    path: Path,
    doc_id: str,
    *,
    state: _State,
    settings: dict[str, Any],
    force: bool,
    read: Callable[[Path], Document],
    cut: Callable[[Document], Sequence[Segment]],
    roles: Sequence[str],
    summary: TagSummary,
    results: list[TaggedDocument],
    get_suggester: Callable[[], Suggester],
) -> None:
    """Tag one input (or take it from the resume state); record a failure instead of raising."""
    key = state.key(path)
    try:
        sha = _sha256(path)
    except OSError as err:
        summary.failures.append(InputFailure(str(path), _describe(err, path)))
        return
    previous = None if force else state.lookup(key, sha, settings)
    if previous is not None:
        results.append(_with_id(previous, doc_id))
        summary.resumed.append(doc_id)
        summary.warnings += document_notes(path, previous.document, previous.segments, roles)
        return
    reason = None if force else state.stale_reason(key, sha, settings)
    try:
        document = dataclasses.replace(read(path), id=doc_id)
        segments = [s for s in cut(document) if s.role in roles]
    except Exception as err:  # noqa: BLE001 - one bad input must not stop the batch
        summary.failures.append(InputFailure(str(path), _describe(err, path)))
        return
    suggest = get_suggester() if segments else None
    try:
        suggestions = list(suggest(segments)) if suggest is not None else []
        tagged = TaggedDocument(document, tuple(segments), tuple(suggestions))
    except Exception as err:  # noqa: BLE001
        summary.failures.append(InputFailure(str(path), "suggestions failed: " + _describe(err, path)))
        return
    state.store(key, sha, settings, tagged)
    results.append(tagged)
    summary.tagged.append(doc_id)
    if reason:
        summary.redone.append(f"{doc_id} ({reason})")
    summary.warnings += document_notes(path, document, segments, roles)


def _describe(err: BaseException, path: Path) -> str:
    """The error message without repeating the path (reader errors already name the file)."""
    text = str(err)
    prefix = f"{path}: "
    if text.startswith(prefix):
        return text[len(prefix):]
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {text}"


def _write_outputs(
    summary: TagSummary,
    results: list[TaggedDocument],
    out: Path,
    formats: Sequence[str],
    codebook: Codebook | None,
    *,
    model: str,
    top_k: int,
    threshold: float | None,
    created: datetime | None,
) -> None:
    from nokoding.export.qdpx import read_qdpx, write_qdpx
    from nokoding.export.tabular import read_csv, read_jsonl, write_csv, write_jsonl

    if codebook is not None and top_k > len(codebook):
        summary.warnings.append(f"top_k {top_k} is more than the codebook's {len(codebook)} codes; "
                                f"the outputs list {len(codebook)}")
        top_k = len(codebook)
    for fmt, name in FORMATS.items():
        if fmt not in formats and (out / name).exists():
            summary.warnings.append(f"{out / name} is from an earlier run and was not updated "
                                    f"(this run wrote {', '.join(formats)})")
    expected_rows = Counter((r.document.id, s.index, s.text) for r in results for s in r.segments)
    for fmt in formats:
        path = out / FORMATS[fmt]
        if fmt == "csv":
            write_csv(path, results, top_k=top_k)
            found = Counter((row["document"], int(row["segment"]), row["text"]) for row in read_csv(path))
            summary.checks.append(_compare(fmt, path, expected_rows, found))
        elif fmt == "jsonl":
            write_jsonl(path, results, top_k=top_k)
            found = Counter((rec["document"], int(rec["segment"]), rec["text"]) for rec in read_jsonl(path))
            summary.checks.append(_compare(fmt, path, expected_rows, found))
        else:
            assert codebook is not None
            write_qdpx(path, results, codebook, top_k=top_k, threshold=threshold, model=model, created=created)
            expected = Counter(
                (r.document.id, s.start, s.end, c.code_id, s.text)
                for r in results
                for s, g in r
                for c in accepted_codes(g, top_k=top_k, threshold=threshold)
            )
            project = read_qdpx(path, like=codebook)
            found = Counter((c.source_name, c.start, c.end, c.code_id, c.text) for c in project.codings)
            summary.codings = sum(expected.values())
            summary.checks.append(_compare(fmt, path, expected, found))
        summary.outputs[fmt] = path


def _compare(fmt: str, path: Path, expected: Counter[Any], found: Counter[Any]) -> OutputCheck:
    missing = sum((expected - found).values())
    unexpected = sum(n for k, n in found.items() if k not in expected)
    duplicated = sum(max(0, n - expected[k]) for k, n in found.items() if k in expected)
    return OutputCheck(fmt, path, sum(expected.values()), sum(found.values()), missing, duplicated, unexpected)
