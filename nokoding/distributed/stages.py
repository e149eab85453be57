"""The two per-document stages of a distributed tagging run, as plain Python (no Ray import).

A run moves one *row* per transcript through two stages:

1. :func:`read_stage` (a stateless task, runs wherever Ray puts it): hashes the file
   (SHA-256, the resume key), reads it with :func:`nokoding.ingest.read` and cuts it with
   :func:`nokoding.segmentation.segment`, keeping the coded roles — the same calls, in the same
   order, as :func:`nokoding.tagging.tag`;
2. :class:`SuggestActor` (a long-lived actor holding one loaded model): for every document
   of a batch, one call of the same suggester the local run uses
   (:func:`nokoding.tagging.model_suggester` → :func:`nokoding.suggest.suggest_codes` →
   :func:`nokoding.inference.predict`), so every document is batched, padded and scored
   exactly as on one machine (byte-identical outputs at equal torch thread counts).

The engine is called once per *document*, not once per mixed batch of segments from several
documents: the engine sorts and pads the texts it is given together, and fp32 results depend
(at the 1e-7 level) on which texts share a padded batch. Interview transcripts have tens to
hundreds of segments, which fill the engine's batches on their own.

Row columns (:data:`ROW_SCHEMA`): ``order`` (position in the run's file list), ``path``
(as the user gave or the folder expansion found it), ``open_path`` (absolute path the workers
open), ``doc_id``, ``sha256``, ``status`` (``read`` → ``tagged``, or ``failed``), ``error``,
``payload`` (pickled ``(Document, segments)`` after reading, pickled
:class:`~nokoding.export.tagged.TaggedDocument` after tagging), ``n_segments``, and for
throughput accounting ``worker`` (host:pid that tagged it), ``batch`` (that actor's call
number) and ``model_seconds`` (time spent in the suggester).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nokoding.document import Document, Segment
from nokoding.export.tagged import TaggedDocument
from nokoding.tagging import Suggester, _describe, _sha256

__all__ = ["ROW_FIELDS", "CrashLedger", "SuggestActor", "decode_tagged", "plan_row", "read_stage"]

#: Column names of a row, in order.
ROW_FIELDS: tuple[str, ...] = (
    "order", "path", "open_path", "doc_id", "sha256", "status", "error", "payload", "n_segments",
    "worker", "batch", "model_seconds",
)
_PICKLE = pickle.HIGHEST_PROTOCOL


def plan_row(order: int, path: Path, doc_id: str) -> dict[str, Any]:
    """The row for one input file before any stage has run.

    ``path`` is kept as given (it names the file in failures, as the local run does) and
    resolved against the driver's working directory for the workers, whose working
    directory may differ (or which may run on another node sharing the file system).
    """
    return {
        "order": order, "path": str(path), "open_path": str(path.resolve()), "doc_id": doc_id,
        "sha256": "", "status": "planned", "error": "", "payload": b"", "n_segments": 0,
        "worker": "", "batch": 0, "model_seconds": 0.0,
    }


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _path_to_open(row: dict[str, Any]) -> Path:
    """The path as given when it names the same file here (same working directory as the
    driver: documents and messages then match a local run exactly), else the absolute one."""
    given, absolute = Path(row["path"]), Path(row["open_path"])
    try:
        if given.resolve() == absolute:
            return given
    except OSError:
        pass
    return absolute


def read_stage(
    row: dict[str, Any],
    *,
    roles: Sequence[str],
    reader: Callable[[Path], Document] | None = None,
    segmenter: Callable[[Document], Sequence[Segment]] | None = None,
) -> dict[str, Any]:
    """Hash, read and segment one transcript; never raises for a bad input.

    Args:
        row: a row from :func:`plan_row`.
        roles: speaker roles whose segments are coded (others are dropped).
        reader: ``path -> Document`` (default :func:`nokoding.ingest.read`).
        segmenter: ``Document -> segments`` (default :func:`nokoding.segmentation.segment` with ``roles``).

    Returns:
        The row with ``status="read"``, ``sha256``, ``payload`` = pickled
        ``(document, segments)`` and ``n_segments``; or ``status="failed"`` with ``error``
        (the reader's message without the path, as :func:`nokoding.tagging.tag` reports it).
    """
    from nokoding.tagging import _default_reader, _default_segmenter

    out = dict(row)
    out["worker"] = _worker_name()
    path = _path_to_open(row)
    try:
        out["sha256"] = _sha256(path)
    except OSError as err:
        return {**out, "status": "failed", "error": _describe(err, path)}
    read = reader or _default_reader
    cut = segmenter or _default_segmenter(roles)
    try:
        document = dataclasses.replace(read(path), id=row["doc_id"])
        segments = [s for s in cut(document) if s.role in roles]
    except Exception as err:  # noqa: BLE001 - one bad input must not stop the batch
        return {**out, "status": "failed", "error": _describe(err, path)}
    out.update(status="read", payload=pickle.dumps((document, segments), protocol=_PICKLE),
               n_segments=len(segments))
    return out


class CrashLedger:
    """Counts, per document, the model processes that died while tagging it.

    Run as one small Ray actor per run (no CPU); every :class:`SuggestActor` calls
    :meth:`begin` before and :meth:`end` after each document. A document begun more often
    than ended was in progress when its process died. Ray replaces a dead actor and retries
    its batch without limit; the ledger lets the replacement skip a document that has
    already killed ``max_retries + 1`` processes, so one poisonous document fails alone and
    the run always ends.
    """

    def __init__(self) -> None:
        self.begun: dict[int, int] = {}
        self.ended: dict[int, int] = {}

    def begin(self, order: int) -> int:
        """Record an attempt at document ``order``; returns how many earlier attempts died."""
        died = self.begun.get(order, 0) - self.ended.get(order, 0)
        self.begun[order] = self.begun.get(order, 0) + 1
        return died

    def end(self, order: int) -> None:
        """Record that an attempt at document ``order`` finished (with a result or an error)."""
        self.ended[order] = self.ended.get(order, 0) + 1


class SuggestActor:
    """A model replica: loads the model once, then tags batches of read documents.

    Ray Data creates one instance per actor of the pool (``map_batches(SuggestActor, ...)``);
    it is an ordinary class and can be used without Ray.

    Args:
        model: model name or folder (:func:`nokoding.model.load_model`); it must be reachable
            from the node the actor runs on.
        top_k: codes per segment (as in :func:`nokoding.tagging.tag`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (a Ray GPU actor sees only its own GPU).
        runtime: ``"fp32"``, ``"int8"``, ``"onnx"``, ``"bf16"`` or ``None`` (the device's default).
        suggester_factory: zero-argument callable returning a suggester
            (``segments -> suggestions``) to use instead of the model; called once, here.
        threads: torch CPU threads in this actor (``None``: leave torch's setting). fp32
            results depend on the thread count in the last bits, so a local run with the same
            count (``NOKODING_NUM_THREADS``) gives byte-identical outputs.
        ledger: a Ray actor handle of a :class:`CrashLedger` (``None``: no crash accounting).
        max_retries: a document whose attempts have killed more than this many processes is
            failed instead of tried again.

    Raises:
        nokoding.model.ModelLoadError: if the model cannot be loaded on this node.
    """

    def __init__(
        self,
        model: str,
        top_k: int,
        device: str = "auto",
        runtime: str | None = None,
        suggester_factory: Callable[[], Suggester] | None = None,
        threads: int | None = None,
        ledger: Any = None,
        max_retries: int = 3,
    ) -> None:
        from nokoding.tagging import model_suggester

        if threads is not None:
            from nokoding.inference.runtime import configure_threads

            configure_threads(threads)

        self.suggest: Suggester = (
            suggester_factory() if suggester_factory is not None
            else model_suggester(model, top_k=top_k, device=device, runtime=runtime)
        )
        self.worker = _worker_name()
        self.calls = 0
        self.ledger = ledger
        self.max_retries = max_retries

    def tag_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """Tag one row from :func:`read_stage` (rows that are not ``read`` pass unchanged)."""
        if row["status"] != "read":
            return dict(row)
        done = {"payload": b"", "worker": self.worker, "batch": self.calls}
        if self.ledger is not None:
            import ray

            died = ray.get(self.ledger.begin.remote(row["order"]))
            if died > self.max_retries:
                self.ledger.end.remote(row["order"])
                return {**row, **done, "status": "failed",
                        "error": f"no result: the model process died {died} time(s) while tagging this "
                                 "document (see the Ray logs); rerun to retry it"}
        document, segments = pickle.loads(row["payload"])
        started = time.perf_counter()
        try:
            suggestions = list(self.suggest(segments)) if segments else []
            tagged = TaggedDocument(document, tuple(segments), tuple(suggestions))
        except Exception as err:  # noqa: BLE001 - same as the local run: record, go on
            out = {**row, **done, "status": "failed",
                   "error": "suggestions failed: " + _describe(err, _path_to_open(row))}
        else:
            out = {**row, **done, "status": "tagged", "payload": pickle.dumps(tagged, protocol=_PICKLE),
                   "model_seconds": time.perf_counter() - started}
        if self.ledger is not None:
            self.ledger.end.remote(row["order"])
        return out

    def __call__(self, batch: Any) -> Any:
        """Tag a batch (a ``pyarrow.Table`` of rows, as Ray Data passes it); returns one."""
        import pyarrow as pa

        self.calls += 1
        rows = [self.tag_row(r) for r in batch.to_pylist()]
        return pa.Table.from_pylist(rows, schema=batch.schema)


def decode_tagged(row: dict[str, Any]) -> TaggedDocument:
    """The :class:`TaggedDocument` of a ``tagged`` row."""
    tagged = pickle.loads(row["payload"])
    if not isinstance(tagged, TaggedDocument):
        raise TypeError(f"row for {row['path']} holds {type(tagged).__name__}, not a TaggedDocument")
    return tagged
