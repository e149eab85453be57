"""The evidence store: pooled embeddings of the hand-coded training segments.

For every suggestion the model can show the ``k`` training segments most similar to the
scored one (cosine similarity of pooled encoder embeddings), with their codes — the coder
sees *why* a code was suggested and can judge the analogy. Embeddings are kept as float16
(``N × H × 2`` bytes: 115 segments × 384 dims ≈ 88 kB).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nokoding.suggestions import Evidence

__all__ = ["EVIDENCE_TEXTS", "EVIDENCE_WEIGHTS", "EvidenceStore"]

EVIDENCE_WEIGHTS = "evidence.safetensors"
EVIDENCE_TEXTS = "evidence.jsonl"


@dataclass
class EvidenceStore:
    """Hand-coded segments with their unit-length embeddings.

    Attributes:
        embeddings: ``(N, H)`` float16, each row L2-normalised.
        ids: segment id per row (the training record's ``id``).
        texts: segment text per row.
        code_ids: the code ids the coder assigned per row (one or more).
    """

    embeddings: np.ndarray
    ids: list[str]
    texts: list[str]
    code_ids: list[tuple[str, ...]]

    def __post_init__(self) -> None:
        n = len(self.ids)
        rows = (self.embeddings.shape[0] if self.embeddings.ndim == 2 else -1, len(self.texts), len(self.code_ids))
        if any(r != n for r in rows):
            raise ValueError("evidence store: embeddings, ids, texts and code_ids must have one row per segment")

    @classmethod
    def build(
        cls, embeddings: np.ndarray, ids: Sequence[str], texts: Sequence[str], code_ids: Sequence[Sequence[str]]
    ) -> EvidenceStore:
        """Normalise ``embeddings`` ``(N, H)`` (any float dtype) and store them as float16."""
        emb = np.asarray(embeddings, dtype=np.float32)
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return cls(emb.astype(np.float16), list(ids), list(texts), [tuple(c) for c in code_ids])

    def __len__(self) -> int:
        return len(self.ids)

    def nearest(
        self, embedding: np.ndarray, k: int, code_probabilities: dict[str, float] | None = None
    ) -> tuple[Evidence, ...]:
        """The ``k`` most similar stored segments to one ``(H,)`` embedding, most similar first.

        When a stored segment carries several codes, the one the model rates highest for the
        query (``code_probabilities``) is reported, else its first code. Ties keep store order.
        """
        if k <= 0 or len(self) == 0:
            return ()
        q = np.asarray(embedding, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        sims = self.embeddings.astype(np.float32) @ q
        order = np.argsort(-sims, kind="stable")[:k]
        out = []
        for i in order:
            codes = self.code_ids[i]
            if not codes:
                code = ""
            elif code_probabilities and len(codes) > 1:
                code = max(codes, key=lambda c: code_probabilities.get(c, 0.0))
            else:
                code = codes[0]
            out.append(Evidence(segment_id=self.ids[i], text=self.texts[i], code_id=code, similarity=float(sims[i])))
        return tuple(out)

    # ------------------------------------------------------------------ files
    def save(self, folder: Path) -> None:
        """Write ``evidence.safetensors`` (embeddings) and ``evidence.jsonl`` (one row per segment)."""
        from safetensors.numpy import save_file

        save_file({"embeddings": np.ascontiguousarray(self.embeddings)}, str(folder / EVIDENCE_WEIGHTS))
        lines = [
            json.dumps({"id": i, "text": t, "code_ids": list(c)}, ensure_ascii=False)
            for i, t, c in zip(self.ids, self.texts, self.code_ids, strict=True)
        ]
        (folder / EVIDENCE_TEXTS).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> EvidenceStore | None:
        """Read the store from ``folder``, or ``None`` when the model has none.

        Raises:
            ValueError: naming the file when the two files disagree or a line is not JSON.
        """
        weights, texts = folder / EVIDENCE_WEIGHTS, folder / EVIDENCE_TEXTS
        if not weights.exists() and not texts.exists():
            return None
        from safetensors.numpy import load_file

        emb = load_file(str(weights))["embeddings"]
        rows = []
        for no, line in enumerate(texts.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{texts}: line {no}: {err}") from None
        if len(rows) != emb.shape[0]:
            raise ValueError(f"{texts}: {len(rows)} rows but {weights.name} holds {emb.shape[0]} embeddings")
        return cls(emb, [r["id"] for r in rows], [r["text"] for r in rows], [tuple(r["code_ids"]) for r in rows])
