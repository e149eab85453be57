"""The coding model: a BERT-family encoder, masked mean pooling and two heads.

One forward pass over a batch of token windows gives

* ``code_logits`` ``(B, n_codes)`` — one logit per codebook code, in ``Codebook.code_ids``
  order; multi-label, ``P(code) = sigmoid(logit)``;
* ``sentiment_logits`` ``(B, n_sentiments)`` — softmax over ``sentiment_labels``;
* ``embeddings`` ``(B, H)`` — the masked mean of the last hidden state, before the heads
  (used for evidence: the most similar hand-coded segments).

Category scores follow from the code probabilities through the codebook hierarchy
(:meth:`CodingModel.category_probabilities`): by default a noisy-OR,
``P(category) = 1 − ∏_{codes c in category} (1 − P(c))`` — the probability that at least one
of its codes applies if the codes were independent; ``"max"`` is the alternative.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from nokoding.codebook import Codebook
from nokoding.model.config import LoraSettings, ModelConfig
from nokoding.model.heads import make_head
from nokoding.model.pooling import pool

if TYPE_CHECKING:  # pragma: no cover
    from nokoding.model.evidence import EvidenceStore

__all__ = ["CodingModel", "CodingOutput", "apply_strategy", "load_encoder"]

#: Name of the encoder's input-token embedding matrix (frozen unless asked otherwise).
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


@dataclass
class CodingOutput:
    """Output of :meth:`CodingModel.forward` for a batch of ``B`` windows.

    Attributes:
        code_logits: ``FloatTensor[B, n_codes]``.
        sentiment_logits: ``FloatTensor[B, n_sentiments]``.
        embeddings: ``FloatTensor[B, H]`` pooled encoder output, before the heads.
    """

    code_logits: torch.Tensor
    sentiment_logits: torch.Tensor
    embeddings: torch.Tensor


def load_encoder(path: str | Path) -> tuple[nn.Module, Any]:
    """``(encoder, tokenizer)`` from a backbone folder, offline, without a pooler, in eval mode.

    A thin wrapper over :func:`nokoding.backbones.load_backbone` for callers holding a folder.

    Raises:
        FileNotFoundError: if the folder does not exist.
    """
    from nokoding.backbones import BackboneSpec, load_backbone

    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"backbone folder {folder} does not exist")
    tokenizer, encoder = load_backbone(BackboneSpec(name=folder.name, path=folder, sha256=""))
    return encoder, tokenizer


def apply_strategy(
    encoder: nn.Module, strategy: str, lora: LoraSettings | None, *, train_word_embeddings: bool = False
) -> nn.Module:
    """Prepare ``encoder`` for a fine-tuning strategy; returns it (modified in place).

    * ``"lora"``: inject LoRA adapters (peft) into the linear layers named by
      ``lora.target_modules``; only adapter weights are trainable.
    * ``"full"``: every encoder weight is trainable except the word embeddings (unless
      ``train_word_embeddings``) — freezing them makes a CPU step about 10× cheaper
      (their gradient is a 250k × 384 matrix for E5).
    * ``"frozen"``: nothing in the encoder is trainable (heads only).

    Raises:
        ValueError: for an unknown strategy.
    """
    if strategy == "lora":
        if lora is None:
            raise ValueError("strategy 'lora' needs LoRA settings")
        from peft import LoraConfig, inject_adapter_in_model

        cfg = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            bias="none",
        )
        inject_adapter_in_model(cfg, encoder)
        for name, p in encoder.named_parameters():
            p.requires_grad_("lora_" in name)
    elif strategy == "full":
        for name, p in encoder.named_parameters():
            p.requires_grad_(train_word_embeddings or not name.endswith(WORD_EMBEDDINGS))
    elif strategy == "frozen":
        for p in encoder.parameters():
            p.requires_grad_(False)
    else:
        raise ValueError(f"unknown fine-tuning strategy {strategy!r}; use 'lora', 'full' or 'frozen'")
    return encoder


class CodingModel(nn.Module):
    """Encoder + masked mean pooling + code head + sentiment head (see the module docstring).

    Attributes:
        codebook: the codebook; its ``code_ids`` are the code-logit order.
        tokenizer: the backbone's fast tokenizer.
        text_prefix: prepended to every text before tokenising (``"query: "`` for E5).
        max_length: encoder window in tokens, special tokens included.
        sentiment_labels: sentiment labels in logit order.
        config: the :class:`ModelConfig` saved as ``config.json``.
        evidence: the store of hand-coded training segments (or ``None``).
        encoder, code_head, sentiment_head: the sub-modules.

    Build a fresh one with :meth:`from_backbone`, load a saved one with
    :func:`nokoding.model.load_model`, train one with :func:`nokoding.training.train`.
    """

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: Any,
        codebook: Codebook,
        config: ModelConfig,
        *,
        evidence: EvidenceStore | None = None,
    ) -> None:
        super().__init__()
        config.check_codebook(codebook)
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.codebook = codebook
        self.config = config
        self.evidence = evidence
        #: Filled by :func:`nokoding.training.train` (and saved with the model).
        self.training_args: dict[str, Any] = {}
        self.training_log: list[dict[str, Any]] = []
        self.data_summary: dict[str, Any] = {}
        self.code_head = make_head(config.code_head, config.hidden_size, config.n_codes)
        self.sentiment_head = make_head(config.sentiment_head, config.hidden_size, len(config.sentiment_labels))
        self.register_buffer(
            "_code_to_category", torch.tensor(codebook.code_to_category(), dtype=torch.long), persistent=False
        )

    # ------------------------------------------------------------------ contract
    @property
    def text_prefix(self) -> str:
        return self.config.text_prefix

    @property
    def max_length(self) -> int:
        return self.config.max_length

    @property
    def sentiment_labels(self) -> tuple[str, ...]:
        return self.config.sentiment_labels

    @property
    def code_ids(self) -> tuple[str, ...]:
        return self.config.code_ids

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> CodingOutput:
        """Score a batch of token windows.

        Args:
            input_ids: ``LongTensor[B, T]`` (right-padded).
            attention_mask: ``LongTensor[B, T]``, 1 for real tokens, 0 for padding.

        Returns:
            :class:`CodingOutput` with ``code_logits [B, n_codes]``, ``sentiment_logits
            [B, n_sentiments]`` and ``embeddings [B, H]``.
        """
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        emb = pool(hidden, attention_mask, self.config.pooling)
        return CodingOutput(self.code_head(emb), self.sentiment_head(emb), emb)

    # ------------------------------------------------------------------ helpers
    def prepare_text(self, text: str) -> str:
        """``NFC(text_prefix + text)``: what the tokenizer sees (the inference engine does the same)."""
        return unicodedata.normalize("NFC", self.text_prefix + text)

    def tokenize(self, texts: Sequence[str], *, max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Prefix and tokenise ``texts`` into one right-padded batch, truncating to ``max_length``.

        For training and quick checks; :func:`nokoding.inference.predict` is the inference path
        (it splits long texts into windows instead of truncating).
        """
        enc = self.tokenizer(
            [self.prepare_text(t) for t in texts],
            padding=True,
            truncation=True,
            max_length=max_length or self.max_length,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    @torch.no_grad()
    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Pooled embeddings ``float32[N, H]`` of ``texts`` (truncated to ``max_length``), eval mode."""
        was_training = self.training
        self.eval()
        out = []
        try:
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = {k: v.to(self.device) for k, v in self.tokenize([texts[i] for i in idx]).items()}
                out.append((idx, self(**batch).embeddings.float().cpu().numpy()))
        finally:
            self.train(was_training)
        result = np.zeros((len(texts), self.config.hidden_size), dtype=np.float32)
        for idx, emb in out:
            result[idx] = emb
        return result

    def calibration_texts(self) -> list[str]:
        """Texts that stand for what the model will read: the calibration set of its int8 copy.

        The hand-coded training segments in the evidence store, in training order; without a
        store, each code's ``"Category / Subcategory. description"`` from the codebook.
        (:func:`nokoding.inference.int8.calibration_texts` uses at most the first 128.)
        """
        if self.evidence is not None and len(self.evidence):
            return list(self.evidence.texts)
        return [f"{c.label}. {c.description}".strip() for c in self.codebook]

    def code_probabilities(self, code_logits: np.ndarray) -> np.ndarray:
        """Code probabilities ``float64[..., n_codes]`` from code logits, as the config says.

        ``code_probability == "sigmoid"``: ``sigmoid`` per code (multi-label). ``"softmax"``:
        one distribution over the codes and, with ``no_code_class``, the outcome "no code"
        (logit 0), so the codes' probabilities sum to ``1 − P(no code)``.
        """
        from nokoding.inference.probabilities import code_probabilities, softmax

        z = np.asarray(code_logits, dtype=np.float64)
        if self.config.code_probability == "sigmoid":
            return code_probabilities(z)
        if self.config.no_code_class:
            return softmax(np.concatenate([z, np.zeros(z.shape[:-1] + (1,))], axis=-1))[..., :-1]
        return softmax(z)

    def no_code_probability(self, code_logits: np.ndarray) -> np.ndarray | None:
        """``P(no code)`` ``float64[...]`` for a model with a no-code outcome, else ``None``."""
        if not self.config.no_code_class:
            return None
        return 1.0 - self.code_probabilities(code_logits).sum(axis=-1)

    def category_probabilities(self, code_probabilities: np.ndarray) -> np.ndarray:
        """Category scores from code probabilities through the codebook hierarchy.

        Args:
            code_probabilities: ``float[..., n_codes]`` (sigmoid of the code logits).

        Returns:
            ``float[..., n_categories]`` in ``codebook.categories`` order: noisy-OR
            ``1 − ∏(1 − p)`` over each category's codes, their maximum when
            ``config.category_aggregation == "max"``, or their sum (``"sum"``, for a softmax
            over codes). A category without codes scores 0.
        """
        p = np.asarray(code_probabilities, dtype=np.float64)
        c2c = self._code_to_category.cpu().numpy()
        n_cat = len(self.codebook.categories)
        out = np.zeros(p.shape[:-1] + (n_cat,), dtype=np.float64)
        for k in range(n_cat):
            members = p[..., c2c == k]
            if members.shape[-1] == 0:
                continue
            if self.config.category_aggregation == "max":
                out[..., k] = members.max(axis=-1)
            elif self.config.category_aggregation == "sum":
                out[..., k] = members.sum(axis=-1)
            else:
                out[..., k] = 1.0 - np.prod(1.0 - members, axis=-1)
        return out

    def merge_adapters(self) -> None:
        """Fold LoRA updates into the base weights for faster inference (no-op otherwise).

        Outputs stay the same up to float rounding; the adapter weights are kept, so the model
        can still be saved.
        """
        from peft.tuners.lora import LoraLayer

        for module in self.encoder.modules():
            if isinstance(module, LoraLayer) and not module.merged:
                module.merge()

    def encoder_state_to_save(self) -> dict[str, torch.Tensor]:
        """The encoder tensors a saved model must carry, by strategy.

        ``"lora"``: the adapter weights only; ``"full"``: every encoder tensor except the word
        embeddings when they were frozen (they are the backbone's, checked by sha256 on load);
        ``"frozen"``: nothing.
        """
        state = self.encoder.state_dict()
        if self.config.strategy == "lora":
            return {k: v for k, v in state.items() if "lora_" in k}
        if self.config.strategy == "full":
            keep_words = self.config.trained_word_embeddings
            return {k: v for k, v in state.items() if keep_words or not k.endswith(WORD_EMBEDDINGS)}
        return {}

    def head_state(self) -> dict[str, torch.Tensor]:
        """Code- and sentiment-head tensors, prefixed ``code_head.`` / ``sentiment_head.``."""
        out = {f"code_head.{k}": v for k, v in self.code_head.state_dict().items()}
        out.update({f"sentiment_head.{k}": v for k, v in self.sentiment_head.state_dict().items()})
        return out

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(
        cls,
        backbone: str | Path,
        codebook: Codebook,
        *,
        strategy: str = "lora",
        lora: LoraSettings | None = None,
        code_head: str = "cosine",
        sentiment_head: str = "cosine",
        category_aggregation: str = "noisy_or",
        max_length: int | None = None,
        train_word_embeddings: bool = False,
        code_probability: str = "sigmoid",
        no_code_class: bool = False,
        predicts_sentiment: bool = True,
    ) -> CodingModel:
        """A fresh (untrained heads) model on a backbone resolved by ``resolve_backbone``.

        Args:
            backbone: a backbone name (``"me5-small"``, ``"nb-bert-base"``) or a local folder.
            codebook: fixes the code order and the sentiment labels.
            strategy: ``"lora"`` (default), ``"full"`` or ``"frozen"`` (see :func:`apply_strategy`).
            lora: adapter shape (default :class:`LoraSettings`).
            max_length: encoder window; default the backbone's.

        Raises:
            nokoding.backbones.BackboneError: unknown backbone name or missing weights.
            ValueError: unknown strategy or head type.
        """
        from nokoding import __version__
        from nokoding.backbones import load_backbone, resolve_backbone

        spec = resolve_backbone(str(backbone))
        tokenizer, encoder = load_backbone(spec)
        lora = (lora or LoraSettings()) if strategy == "lora" else None
        window = int(max_length or spec.max_length)
        limit = int(getattr(encoder.config, "max_position_embeddings", window))
        if window > limit:
            raise ValueError(f"max_length {window} exceeds the backbone's {limit} positions")
        config = ModelConfig(
            backbone_name=spec.name,
            backbone_source=str(backbone),
            backbone_sha256=spec.sha256,
            pooling=spec.pooling,
            text_prefix=spec.text_prefix,
            max_length=window,
            hidden_size=int(encoder.config.hidden_size),
            strategy=strategy,  # type: ignore[arg-type]
            lora=lora,
            code_head=code_head,  # type: ignore[arg-type]
            sentiment_head=sentiment_head,  # type: ignore[arg-type]
            category_aggregation=category_aggregation,  # type: ignore[arg-type]
            trained_word_embeddings=bool(train_word_embeddings and strategy == "full"),
            code_probability=code_probability,  # type: ignore[arg-type]
            no_code_class=no_code_class,
            predicts_sentiment=predicts_sentiment,
            nokoding_version=__version__,
            **ModelConfig.labels_from(codebook),
        )
        apply_strategy(encoder, strategy, lora, train_word_embeddings=train_word_embeddings)
        return cls(encoder, tokenizer, codebook, config)

    def save_pretrained(self, path: str | Path, **kwargs: Any) -> Path:
        """Save to a folder; see :func:`nokoding.model.io.save_pretrained`."""
        from nokoding.model.io import save_pretrained

        return save_pretrained(self, path, **kwargs)

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> CodingModel:
        """Load a saved folder; see :func:`nokoding.model.io.from_pretrained`."""
        from nokoding.model.io import from_pretrained

        return from_pretrained(path, **kwargs)
