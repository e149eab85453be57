"""Turn an encoder's token states into one vector per text."""

from __future__ import annotations

import torch

__all__ = ["POOLINGS", "pool"]

POOLINGS = ("mean", "cls")


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states where ``attention_mask`` is 1 (padding ignored).

    Args:
        hidden: ``(B, T, H)`` last hidden state.
        attention_mask: ``(B, T)``, 1 for real tokens, 0 for padding.

    Returns:
        ``(B, H)``; a row whose mask is all zeros gives zeros (never NaN).

    The pooling E5 was trained with (Wang et al., 2022, "Text Embeddings by Weakly-Supervised
    Contrastive Pre-training"). Padding does not change the result, so a text scores the same
    alone or in a padded batch.
    """
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    summed = (hidden * mask).sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1.0)
    return summed / count


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, method: str = "mean") -> torch.Tensor:
    """Pool ``(B, T, H)`` token states to ``(B, H)`` by ``method`` (``"mean"`` or ``"cls"``).

    Raises:
        ValueError: for an unknown method.
    """
    if method == "mean":
        return masked_mean(hidden, attention_mask)
    if method == "cls":
        return hidden[:, 0]
    raise ValueError(f"unknown pooling {method!r}; use one of {POOLINGS}")
