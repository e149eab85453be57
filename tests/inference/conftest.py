"""A tiny stand-in for ``CodingModel``: random BERT encoder + masked mean pooling + two heads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertModel

from nokoding.testing import make_tiny_encoder


@dataclass
class TinyOutput:
    code_logits: torch.Tensor
    sentiment_logits: torch.Tensor
    embeddings: torch.Tensor


class TinyCodingModel(torch.nn.Module):
    """Follows ``nokoding.inference.InferenceModel``; built from a ``make_tiny_encoder`` folder."""

    def __init__(self, path: Path, *, n_codes: int = 9, n_sentiment: int = 3, text_prefix: str = "", seed: int = 1):
        super().__init__()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.encoder = BertModel.from_pretrained(path, add_pooling_layer=False)
        self.text_prefix = text_prefix
        self.max_length = int(self.encoder.config.max_position_embeddings)
        self.sentiment_labels = ["negativ", "nøytral", "positiv"][:n_sentiment]
        g = torch.Generator().manual_seed(seed)
        hidden = self.encoder.config.hidden_size
        self.code_head = torch.nn.Linear(hidden, n_codes)
        self.sentiment_head = torch.nn.Linear(hidden, n_sentiment)
        with torch.no_grad():
            for head in (self.code_head, self.sentiment_head):
                head.weight.copy_(torch.randn(head.weight.shape, generator=g))
                head.bias.copy_(torch.randn(head.bias.shape, generator=g) * 0.1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TinyOutput:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return TinyOutput(self.code_head(emb), self.sentiment_head(emb), emb)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_encoders")
    return {
        kind: make_tiny_encoder(root / kind, kind, max_position_embeddings=64, hidden_size=32, num_layers=2)
        for kind in ("wordpiece", "unigram")
    }


@pytest.fixture(scope="session")
def wordpiece_model(tiny_dirs: dict[str, Path]) -> TinyCodingModel:
    return TinyCodingModel(tiny_dirs["wordpiece"]).eval()


@pytest.fixture(scope="session")
def unigram_model(tiny_dirs: dict[str, Path]) -> TinyCodingModel:
    # E5-style: a "query: " prefix that must reappear in every window of a long text
    return TinyCodingModel(tiny_dirs["unigram"], text_prefix="query: ").eval()


@pytest.fixture(scope="session")
def tiny_model_class() -> type[TinyCodingModel]:
    return TinyCodingModel


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core machine run ~50× slower with 2 OpenMP threads than with 1."""
    from nokoding.inference import runtime

    before = torch.get_num_threads()
    runtime.configure_threads(1)
    yield
    torch.set_num_threads(before)
