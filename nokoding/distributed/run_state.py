"""The driver's side of a distributed run, built from :mod:`nokoding.tag`'s own pieces.

Everything that decides what the user gets — input expansion, document ids, the resume
manifest and per-document result files in ``out_dir/.nokoding``, the combined CSV / JSON
Lines / REFI-QDA outputs, their read-back checks and ``summary.json`` — is the code of
:func:`nokoding.tagging.tag`, called here piece by piece, so a distributed run and a local run
of the same inputs write the same bytes (and each can resume the other's run).

Two differences, both about scale:

* results arrive in completion order from many workers; they are put back in input order
  before anything is written;
* the manifest is rewritten at most every ``flush_seconds`` (and at the end, and when the
  run is interrupted) instead of after every document; per-document result files are still
  written atomically as each document arrives. An interrupted run loses at most the
  documents of the last ``flush_seconds``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nokoding.atomic import atomic_write_text
from nokoding.codebook import Codebook
from nokoding.export.tagged import TaggedDocument
from nokoding.tagging import (
    _MANIFEST_VERSION,
    InputFailure,
    TagSummary,
    _sha256,
    _State,
    _with_id,
    _write_outputs,
    document_notes,
)

__all__ = ["RunState"]




@dataclass
class RunState:
    """Resume state and gathered results of one run over ``files`` (input order).

    Attributes:
        out: the output folder.
        state: :class:`nokoding.tagging._State` of ``out`` (manifest + result files).
        settings: what must match for a document to be resumed (model, top_k, roles).
        files, ids: the input files and their unique document ids.
        resumed: input position → result of an earlier run (already re-identified).
        tagged: input position → result tagged in this run.
        failed: input position → why it failed.
        stale: input position → why an earlier run's result is not reused (file or settings
            changed; :meth:`nokoding.tagging._State.stale_reason`).
    """

    out: Path
    state: _State
    settings: dict[str, Any]
    files: list[Path]
    ids: list[str]
    flush_seconds: float = 2.0
    resumed: dict[int, TaggedDocument] = field(default_factory=dict)
    tagged: dict[int, TaggedDocument] = field(default_factory=dict)
    failed: dict[int, InputFailure] = field(default_factory=dict)
    stale: dict[int, str] = field(default_factory=dict)
    _dirty: bool = False
    _flushed_at: float = field(default_factory=time.monotonic)

    # ------------------------------------------------------------------ resume
    def take_resumable(self, force: bool) -> list[int]:
        """Resume every file whose bytes, settings and stored result match the manifest
        (the rule of :func:`nokoding.tagging.tag`); returns the input positions still to tag.

        Only files with a manifest entry are hashed here, on the driver; new files are
        hashed by the workers that read them.
        """
        pending = []
        for i, (path, doc_id) in enumerate(zip(self.files, self.ids)):
            key = self.state.key(path)
            entry = None if force else self.state.entries.get(key)
            sha = None  # hashed here only when the settings match; otherwise by the workers
            if entry is not None and entry.get("settings") == self.settings:
                try:
                    sha = _sha256(path)
                except OSError:
                    pass  # the read stage reports it
                previous = self.state.lookup(key, sha, self.settings) if sha else None
                if previous is not None:
                    self.resumed[i] = _with_id(previous, doc_id)
                    continue
            if entry is not None:  # unhashed: compared on settings only
                reason = self.state.stale_reason(key, sha or entry.get("sha256", ""), self.settings)
                if reason:
                    self.stale[i] = reason
            pending.append(i)
        return pending

    # ------------------------------------------------------------------ results
    def put(self, order: int, sha: str, tagged: TaggedDocument) -> None:
        """Store one finished document: its result file now (atomic), the manifest entry at
        the next flush. Same file content and entry as :meth:`nokoding.tagging._State.store`."""
        key = self.state.key(self.files[order])
        path = self.state.result_path(key)
        atomic_write_text(path, json.dumps(tagged.to_dict(), ensure_ascii=False))
        self.state.entries[key] = {
            "sha256": sha,
            "settings": self.settings,
            "document_id": tagged.document.id,
            "segments": len(tagged),
            "result": path.name,
        }
        self.tagged[order] = tagged
        self._dirty = True
        if time.monotonic() - self._flushed_at >= self.flush_seconds:
            self.flush()

    def fail(self, order: int, error: str) -> None:
        """Record that input ``order`` failed (it is reported; the run goes on)."""
        self.failed[order] = InputFailure(str(self.files[order]), error)

    def flush(self) -> None:
        """Write the manifest if it changed (atomically)."""
        if self._dirty:
            payload = {"version": _MANIFEST_VERSION, "documents": self.state.entries}
            atomic_write_text(self.state.manifest_path, json.dumps(payload, ensure_ascii=False, indent=1))
            self._dirty = False
        self._flushed_at = time.monotonic()

    # ------------------------------------------------------------------ outputs
    def finish(
        self,
        summary: TagSummary,
        *,
        formats: Sequence[str],
        codebook: Codebook | None,
        model_codebook: Codebook | None,
        model: str,
        top_k: int,
        threshold: float | None,
        created: datetime | None,
        roles: Sequence[str],
        started: float,
    ) -> TagSummary:
        """Fill ``summary`` in input order, write the combined outputs with their checks and
        ``summary.json`` — the end of :func:`nokoding.tagging.tag`.

        Args:
            codebook: given by the caller (wins).
            model_codebook: the model's codebook, used when a document was tagged here.

        Raises:
            ValueError: ``qdpx`` requested and no codebook anywhere.
        """
        self.flush()
        results: list[TaggedDocument] = []
        for i, (path, doc_id) in enumerate(zip(self.files, self.ids)):
            if i in self.resumed or i in self.tagged:
                tagged = self.resumed[i] if i in self.resumed else self.tagged[i]
                results.append(tagged)
                (summary.resumed if i in self.resumed else summary.tagged).append(doc_id)
                if i in self.tagged and i in self.stale:
                    summary.redone.append(f"{doc_id} ({self.stale[i]})")
                summary.warnings += document_notes(path, tagged.document, tagged.segments, roles)
            elif i in self.failed:
                summary.failures.append(self.failed[i])
        summary.segments = sum(len(r) for r in results)
        if codebook is None and self.tagged:
            codebook = model_codebook
        stored = self.state.codebook_path.is_file()
        if codebook is None and stored:
            codebook = Codebook.from_yaml(self.state.codebook_path)
        if codebook is not None:
            codebook.to_yaml(self.state.codebook_path)
        elif "qdpx" in formats:
            raise ValueError(
                "the qdpx format needs the codebook: pass codebook= (results so far are kept for resume)"
            )
        _write_outputs(summary, results, self.out, formats, codebook, model=model, top_k=top_k,
                       threshold=threshold, created=created)
        summary.seconds = time.monotonic() - started
        summary.summary_path = self.out / "summary.json"
        atomic_write_text(summary.summary_path, json.dumps(summary.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return summary
