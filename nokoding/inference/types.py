"""What the inference core needs from a model, and what it gives back.

The inference core does not import :mod:`nokoding.model`: it relies only on the structural
contract below, so it runs any ``torch.nn.Module`` that looks like ``CodingModel``
(the fine-tuned encoder with a code head and a sentiment head).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["CodingOutputLike", "InferenceModel", "RawPrediction"]


class CodingOutputLike(Protocol):
    """Output of one forward pass over a batch of ``B`` windows.

    Attributes:
        code_logits: ``FloatTensor[B, C]``, one logit per codebook code (multi-label: the
            probability of a code is ``sigmoid(logit)``).
        sentiment_logits: ``FloatTensor[B, S]``, one logit per sentiment label (single-label:
            probabilities are ``softmax`` over the ``S`` labels).
        embeddings: ``FloatTensor[B, H]``, masked mean pooling of the encoder's last hidden
            state (before the heads).
    """

    code_logits: Any
    sentiment_logits: Any
    embeddings: Any


@runtime_checkable
class InferenceModel(Protocol):
    """Structural contract of a model that :func:`nokoding.inference.predict` can run.

    Attributes:
        tokenizer: a Hugging Face tokenizer (a *fast* one gives the fast path; a slow one
            works, slower).
        text_prefix: prepended to every text before tokenising (``"query: "`` for E5,
            ``""`` for NB-BERT); repeated at the start of every window of a long text.
        max_length: the encoder window in tokens, special tokens included (512 for BERT).

    Calling the module as ``model(input_ids=LongTensor[B, T], attention_mask=LongTensor[B, T])``
    returns a :class:`CodingOutputLike`. Padding is on the right and marked by 0 in
    ``attention_mask``; the model must ignore padded positions (masked attention and masked
    mean pooling), which is what makes batched results equal one-at-a-time results.
    """

    tokenizer: Any
    text_prefix: str
    max_length: int

    def __call__(self, input_ids: Any, attention_mask: Any) -> CodingOutputLike: ...

    def parameters(self, recurse: bool = ...) -> Any: ...

    def eval(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class RawPrediction:
    """Model output for one input text (segment), pooled over its windows.

    Attributes:
        code_logits: ``float32[C]`` code logits in the model's codebook order
            (:class:`nokoding.codebook.Codebook` is the source of truth for that order).
        sentiment_logits: ``float32[S]`` sentiment logits in ``model.sentiment_labels`` order.
        embedding: ``float32[H]`` segment embedding (masked mean pooling, before the heads).
        n_windows: how many encoder windows the text needed (1 unless it was longer than
            ``model.max_length`` tokens); logits and embedding are the plain mean over windows.
        n_tokens: real (unpadded) tokens fed to the encoder for this text, summed over its
            windows, special tokens and the ``text_prefix`` tokens included.

    The arrays are read-only views; copy them before modifying.
    """

    code_logits: np.ndarray
    sentiment_logits: np.ndarray
    embedding: np.ndarray
    n_windows: int
    n_tokens: int
