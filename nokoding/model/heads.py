"""Classification heads on the pooled embedding: one logit per code or per sentiment label.

Both head types first *centre* the embedding (subtract a fixed mean embedding of the training
texts, stored as the buffer ``center``). Sentence encoders such as E5 place all texts in a
narrow cone (cosine similarities of unrelated texts around 0.8); centring spreads them out so
that directions, not the shared offset, separate the classes.

* :class:`CosineHead` — ``logit_k = s · cos(x − c, w_k) + b_k`` with a learned temperature
  ``s = exp(log_scale)`` and per-class bias: a prototype classifier whose prototypes ``w_k``
  start at the mean direction of each class's examples (and the code's codebook description)
  and are then trained (normalised-softmax / proxy-based metric learning; cf. Snell et al.,
  2017, "Prototypical Networks for Few-shot Learning").
* :class:`LinearHead` — ``logit_k = w_k · (x − c) + b_k``, initialised the same way
  (label-embedding initialisation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CosineHead", "LinearHead", "make_head", "prototypes"]


class _CentredHead(nn.Module):
    def __init__(self, hidden_size: int, n_labels: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.n_labels = n_labels
        self.register_buffer("center", torch.zeros(hidden_size))

    def init_from_prototypes(
        self,
        prototypes: torch.Tensor,
        center: torch.Tensor,
        *,
        scale: float = 10.0,
        bias: torch.Tensor | float = 0.0,
        typical_norm: float = 1.0,
    ) -> None:
        """Start from class directions ``prototypes`` ``(K, H)`` around ``center`` ``(H,)``.

        Afterwards a centred embedding whose direction is class ``k``'s prototype gets a logit of
        about ``scale + bias_k``. ``typical_norm`` is the usual length of a centred embedding
        (the linear head divides by it; the cosine head normalises anyway).
        """
        with torch.no_grad():
            self._set_directions(F.normalize(prototypes, dim=-1), scale, typical_norm)
            self.center.copy_(center)
            bias_param = self._bias()
            bias_param.copy_(torch.as_tensor(bias, dtype=bias_param.dtype).expand_as(bias_param))

    def _set_directions(self, directions: torch.Tensor, scale: float, typical_norm: float) -> None:
        raise NotImplementedError

    def _bias(self) -> torch.Tensor:
        raise NotImplementedError


class CosineHead(_CentredHead):
    """``logits = exp(log_scale) · cos(x − center, weight) + bias``; input ``(B, H)``, output ``(B, K)``."""

    def __init__(self, hidden_size: int, n_labels: int) -> None:
        super().__init__(hidden_size, n_labels)
        self.weight = nn.Parameter(torch.randn(n_labels, hidden_size) * 0.02)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.zeros(n_labels))

    def _set_directions(self, directions: torch.Tensor, scale: float, typical_norm: float) -> None:
        self.weight.copy_(directions)
        self.log_scale.fill_(math.log(scale))

    def _bias(self) -> torch.Tensor:
        return self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xn = F.normalize(x - self.center, dim=-1)
        wn = F.normalize(self.weight, dim=-1)
        return self.log_scale.exp() * (xn @ wn.T) + self.bias


class LinearHead(_CentredHead):
    """``logits = (x − center) @ weight.T + bias``; input ``(B, H)``, output ``(B, K)``."""

    def __init__(self, hidden_size: int, n_labels: int) -> None:
        super().__init__(hidden_size, n_labels)
        self.linear = nn.Linear(hidden_size, n_labels)

    def _set_directions(self, directions: torch.Tensor, scale: float, typical_norm: float) -> None:
        self.linear.weight.copy_(directions * (scale / max(typical_norm, 1e-6)))

    def _bias(self) -> torch.Tensor:
        return self.linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x - self.center)


def make_head(kind: str, hidden_size: int, n_labels: int) -> nn.Module:
    """Build a head by type name (``"cosine"`` or ``"linear"``); ``ValueError`` otherwise."""
    if kind == "cosine":
        return CosineHead(hidden_size, n_labels)
    if kind == "linear":
        return LinearHead(hidden_size, n_labels)
    raise ValueError(f"unknown head type {kind!r}; use 'cosine' or 'linear'")


def prototypes(
    embeddings: torch.Tensor, targets: torch.Tensor, center: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Class prototypes: the normalised (weighted) mean of the centred, normalised embeddings.

    Args:
        embeddings: ``(N, H)`` pooled embeddings.
        targets: ``(N, K)`` 0/1 (multi-hot) membership.
        center: ``(H,)`` subtracted before normalising.
        weights: optional ``(N,)`` example weights.

    Returns:
        ``(K, H)`` unit vectors; a class with no example gets a zero row.
    """
    z = F.normalize(embeddings - center, dim=-1)
    t = targets.to(z.dtype)
    if weights is not None:
        t = t * weights.to(z.dtype).unsqueeze(-1)
    return F.normalize(t.T @ z, dim=-1)
