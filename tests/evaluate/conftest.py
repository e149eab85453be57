"""Fixtures for the evaluation tests: a tiny synthetic hand-coded corpus and a cheap embedder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nokoding.codebook import Codebook

CODEBOOK = {
    "name": "tiny",
    "sentiment_labels": ["negative", "neutral", "positive", "mixed"],
    "categories": [
        {"id": "mal", "name": "Mål", "subcategories": [
            {"id": "mal.maling", "name": "Måling", "description": "måling av resultater og tall"},
            {"id": "mal.tid", "name": "Tid", "description": "tid og travelhet på jobben"},
        ]},
        {"id": "led", "name": "Ledelse", "subcategories": [
            {"id": "led.tillit", "name": "Tillit", "description": "tillit mellom leder og ansatte"},
            {"id": "led.styring", "name": "Styring", "description": "styring ovenfra og detaljstyring"},
        ]},
    ],
}

# Words that mark each code, so that a text classifier has something to learn.
_WORDS = {
    "mal.maling": ["måler", "tallene", "resultater", "indikator"],
    "mal.tid": ["tid", "travelt", "tidstyv", "stress"],
    "led.tillit": ["tillit", "stoler", "trygg", "åpen"],
    "led.styring": ["styring", "ovenfra", "detaljstyring", "kontroll"],
}
_SENTIMENTS = ["negative", "neutral", "positive", "neutral", "neutral", "mixed"]


def make_records(per_code: int = 6, *, extra: dict[str, int] | None = None) -> list[dict]:
    """Records with ``per_code`` units per code (``extra`` overrides counts), plus two quotes
    filed under two codes (same group, same text)."""
    counts = {c: per_code for c in _WORDS}
    counts.update(extra or {})
    records = []
    n = 0
    for code, k in counts.items():
        for i in range(k):
            words = _WORDS[code]
            text = f"Informant {n}: vi snakker om {words[i % 4]} og {words[(i + 1) % 4]} her, nummer {i}."
            records.append({"id": f"r{n:03d}", "text": text, "code_id": code, "group": f"g{n:03d}",
                            "sentiment": _SENTIMENTS[n % len(_SENTIMENTS)]})
            n += 1
    for j, (a, b) in enumerate((("mal.tid", "led.styring"), ("mal.maling", "led.tillit"))):
        text = f"Delt sitat {j}: {_WORDS[a][0]} og {_WORDS[b][0]} henger sammen."
        for code in (a, b):
            records.append({"id": f"r{n:03d}", "text": text, "code_id": code, "group": f"shared{j}",
                            "sentiment": "neutral"})
            n += 1
    return records


def write_corpus(folder: Path, records: list[dict], codebook: dict = CODEBOOK) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "codebook.yaml").write_text(yaml.safe_dump(codebook, allow_unicode=True), encoding="utf-8")
    (folder / "segments.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return folder


class HashEmbedder:
    """Bag of hashed words → 64-d vector; deterministic, no model. Counts calls per text."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def embed(self, texts):
        out = []
        for t in texts:
            self.calls[t] = self.calls.get(t, 0) + 1
            v = np.zeros(64, dtype=np.float32)
            for w in t.lower().replace(",", " ").replace(".", " ").replace(":", " ").split():
                v[int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1.0
            out.append(v)
        return np.stack(out) if out else np.zeros((0, 64), np.float32)


@pytest.fixture()
def codebook() -> Codebook:
    return Codebook.from_dict(CODEBOOK)


@pytest.fixture()
def records() -> list[dict]:
    return make_records()


@pytest.fixture()
def corpus_dir(tmp_path: Path, records: list[dict]) -> Path:
    return write_corpus(tmp_path / "tiny", records)
