"""Fixtures for the coding-model tests: tiny random encoders and small trained models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nokoding.codebook import Codebook
from nokoding.testing import NORWEGIAN_SAMPLE, make_tiny_encoder


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine run far faster with one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A WordPiece (NB-BERT-like) and a Unigram (E5-like) tiny random encoder folder."""
    root = tmp_path_factory.mktemp("tiny_encoders")
    return {kind: make_tiny_encoder(root / kind, kind, max_position_embeddings=64) for kind in ("wordpiece", "unigram")}


@pytest.fixture
def codebook(small_codebook_dict) -> Codebook:
    return Codebook.from_dict(small_codebook_dict)


@pytest.fixture
def records(codebook: Codebook) -> list[dict]:
    """Each sample sentence coded with a code and a sentiment in turn."""
    return [
        {"id": f"r{i}", "text": text, "code_id": codebook.code_ids[i % codebook.n_codes],
         "sentiment": codebook.sentiment_labels[i % 3]}
        for i, text in enumerate(NORWEGIAN_SAMPLE)
    ]
