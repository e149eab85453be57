"""Shared pytest fixtures: repository paths and small synthetic corpora."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The ``shared/`` folder beside the checkout (thesis seed, REFI-QDA schemas), if present."""
    env = os.environ.get("NOKODING_SHARED")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared", REPO / "shared"]:
        if (candidate / "seed" / "thesis.txt").is_file():
            return candidate
    return None


@pytest.fixture
def repo_root() -> Path:
    return REPO


SMALL_CODEBOOK = {
    "name": "tiny_study",
    "title": "A tiny study written for the tests",
    "sentiment_labels": ["negative", "neutral", "positive", "mixed"],
    "categories": [
        {
            "id": "styring",
            "name": "Styring",
            "description": "Hvordan kontoret styres.",
            "subcategories": [
                {"id": "styring.maling", "name": "Måling", "description": "Måltall og rapportering."},
                {"id": "styring.tid", "name": "Tid", "description": "Tid til brukerne."},
            ],
        },
        {
            "id": "ledelse",
            "name": "Ledelse",
            "description": "Lederens rolle.",
            "subcategories": [
                {"id": "ledelse.tillit", "name": "Tillit", "description": "Tillit mellom leder og ansatt."},
                {"id": "ledelse.tid", "name": "Tid", "description": "Lederens tid til de ansatte."},
            ],
        },
    ],
}


@pytest.fixture
def small_codebook_dict() -> dict:
    """A 2-category, 4-code codebook mapping (two codes share the subcategory name "Tid")."""
    import copy

    return copy.deepcopy(SMALL_CODEBOOK)


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A 4-code corpus folder (codebook.yaml + segments.jsonl) written for the tests."""
    import yaml

    folder = tmp_path / "tiny_study"
    folder.mkdir()
    (folder / "codebook.yaml").write_text(yaml.safe_dump(SMALL_CODEBOOK, allow_unicode=True), encoding="utf-8")
    rows = [
        ("Vi måles på antall vedtak hver uke.", "styring.maling", "negative"),
        ("Rapporteringen tar mye av dagen.", "styring.maling", "negative"),
        ("Jeg rekker ikke å snakke ordentlig med brukerne.", "styring.tid", "negative"),
        ("Lederen stoler på at jeg gjør jobben.", "ledelse.tillit", "positive"),
        ("Sjefen har alltid tid til en prat.", "ledelse.tid", "neutral"),
        ("Vi måles på antall vedtak hver uke.", "styring.tid", "negative"),
    ]
    with (folder / "segments.jsonl").open("w", encoding="utf-8") as fh:
        for i, (text, code, sentiment) in enumerate(rows):
            group = "g0" if i in (0, 5) else f"g{i}"
            fh.write(json.dumps({"id": f"r{i}", "text": text, "code_id": code, "sentiment": sentiment,
                                 "group": group}, ensure_ascii=False) + "\n")
    return folder

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster with one torch thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A WordPiece (NB-BERT-like) and a Unigram (E5-like) tiny random encoder folder."""
    from nokoding.testing import make_tiny_encoder

    root = tmp_path_factory.mktemp("tiny_encoders")
    return {kind: make_tiny_encoder(root / kind, kind, max_position_embeddings=64) for kind in ("wordpiece", "unigram")}


@pytest.fixture
def codebook(small_codebook_dict):
    """The small 4-code codebook as a :class:`~nokoding.codebook.Codebook`."""
    from nokoding.codebook import Codebook

    return Codebook.from_dict(small_codebook_dict)


@pytest.fixture
def records(codebook) -> list[dict]:
    """Each built-in sample sentence coded with a code and a sentiment in turn."""
    from nokoding.testing import NORWEGIAN_SAMPLE

    return [
        {"id": f"r{i}", "text": text, "code_id": codebook.code_ids[i % codebook.n_codes],
         "sentiment": codebook.sentiment_labels[i % 3]}
        for i, text in enumerate(NORWEGIAN_SAMPLE)
    ]
