"""The tagging loop: :func:`tag` reads, segments and suggests codes for each input, then writes the outputs.

It holds the output folder's lock (:mod:`nokoding.tagging.lock`) for the whole run, takes
finished documents from the resume state (:mod:`nokoding.tagging.resume`), records a failed
input instead of stopping, and ends by writing and checking the outputs
(:mod:`nokoding.tagging.outputs`) and ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from nokoding.atomic import atomic_write_text
from nokoding.codebook import Codebook
from nokoding.document import Document, Segment
from nokoding.export.tagged import TaggedDocument
from nokoding.tagging.inputs import open_run
from nokoding.tagging.lock import run_lock
from nokoding.tagging.options import DEFAULT_ROLES, check_options, model_key, run_settings, summary_settings
from nokoding.tagging.outputs import _write_outputs
from nokoding.tagging.readers import _default_segmenter, document_notes, transcript_reader
from nokoding.tagging.resume import _sha256, _State, _with_id
from nokoding.tagging.suggester import Suggester, _model_codebook, model_suggester
from nokoding.tagging.summary import InputFailure, TagSummary

__all__ = ["tag"]


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
        out_dir: output folder (created); layout in :mod:`nokoding.tagging`.
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
