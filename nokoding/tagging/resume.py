"""Resume state of a tagging run: the manifest and per-document results in ``out_dir/.nokoding``.

After each document its result is stored and the manifest updated, both atomically; a rerun
reuses a result whose input bytes (SHA-256) and settings match (:meth:`_State.lookup`) and says
why it redoes one that does not (:meth:`_State.stale_reason`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from nokoding.atomic import atomic_write_text
from nokoding.export.tagged import TaggedDocument

__all__ = ["STATE_DIR"]

STATE_DIR = ".nokoding"
_MANIFEST_VERSION = 1


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
