"""A scikit-learn-like estimator around :func:`nokoding.training.train` and the inference engine.

>>> clf = CodingClassifier(codebook, strategy="frozen").fit(texts, code_ids)  # doctest: +SKIP
>>> clf.predict(["Vi blir målt på antall vedtak."])                         # doctest: +SKIP
array(['mrs.maling'], dtype='<U...')

Follows scikit-learn's conventions (constructor only stores parameters, ``fit`` returns
``self``, fitted attributes end in ``_``, ``classes_`` is the code order) so that
``sklearn.base.clone`` and model-selection helpers work, without depending on scikit-learn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nokoding.codebook import Codebook
from nokoding.training.arguments import TrainingArguments

__all__ = ["CodingClassifier"]


class CodingClassifier:
    """Fit a coding model on texts and codes; predict codes, probabilities and sentiment.

    Args:
        codebook: the codebook (fixes the code order ``classes_``).
        backbone: backbone name or folder (see :func:`nokoding.training.train`).
        strategy: ``"lora"``, ``"full"`` or ``"frozen"``.
        args: training hyper-parameters (default :class:`TrainingArguments` without a progress bar).
        device: inference device (``"auto"``, ``"cpu"``, ``"cuda"``).

    Fitted attributes: ``model_`` (:class:`~nokoding.model.CodingModel`), ``classes_`` (code ids).
    """

    def __init__(
        self,
        codebook: Codebook,
        backbone: str = "me5-small",
        strategy: str = "lora",
        args: TrainingArguments | None = None,
        device: str = "auto",
    ) -> None:
        self.codebook = codebook
        self.backbone = backbone
        self.strategy = strategy
        self.args = args
        self.device = device

    # ------------------------------------------------------------------ sklearn protocol
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("codebook", "backbone", "strategy", "args", "device")}

    def set_params(self, **params: Any) -> CodingClassifier:
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"unknown parameter {k!r} for CodingClassifier")
            setattr(self, k, v)
        return self

    def fit(
        self,
        X: Sequence[str] | Sequence[Mapping[str, Any]],
        y: Sequence[str | Sequence[str]] | None = None,
        *,
        sentiments: Sequence[str | None] | None = None,
        groups: Sequence[str] | None = None,
    ) -> CodingClassifier:
        """Train on texts ``X`` with codes ``y`` (a code id, or a list of code ids per text).

        ``X`` may instead be a sequence of record mappings (then ``y`` is ``None``); see
        :mod:`nokoding.training.data` for the record fields. ``sentiments`` and ``groups`` are
        optional per-text labels and group ids.
        """
        from nokoding.training.trainer import train

        if y is None:
            records = [dict(r) for r in X]  # type: ignore[arg-type]
        else:
            if len(X) != len(y):
                raise ValueError(f"X has {len(X)} texts but y has {len(y)} labels")
            records = []
            for i, (text, codes) in enumerate(zip(X, y, strict=True)):
                group = str(groups[i]) if groups is not None else f"x{i}"
                for code in [codes] if isinstance(codes, str) else list(codes) or [None]:
                    records.append({
                        "id": f"x{i}", "text": text, "code_id": code, "group": group,
                        "sentiment": sentiments[i] if sentiments is not None else None,
                    })
        args = self.args or TrainingArguments(progress=False)
        self.model_ = train(records, codebook=self.codebook, backbone=self.backbone, strategy=self.strategy, args=args)
        self.classes_ = np.array(self.codebook.code_ids)
        return self

    # ------------------------------------------------------------------ prediction
    def _raw(self, X: Sequence[str]) -> list[Any]:
        from nokoding.inference import predict

        if not hasattr(self, "model_"):
            raise RuntimeError("this CodingClassifier is not fitted yet; call fit() first")
        return list(predict(self.model_, list(X), device=self.device))

    def decision_function(self, X: Sequence[str]) -> np.ndarray:
        """Code logits ``float32[n, n_codes]``."""
        return np.stack([r.code_logits for r in self._raw(X)]) if len(X) else np.zeros((0, len(self.codebook)))

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Code probabilities ``float64[n, n_codes]``, as the fitted model defines them (sigmoid per code,
        multi-label, for the default heads; a softmax over the codes and "no code" for ``head_fit="logistic"``)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("this CodingClassifier is not fitted yet; call fit() first")
        return np.asarray(self.model_.code_probabilities(self.decision_function(X)), dtype=np.float64)

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """The most probable code id per text, ``str[n]``."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)] if len(X) else np.array([], dtype=str)

    def predict_category_proba(self, X: Sequence[str]) -> np.ndarray:
        """Category scores ``float64[n, n_categories]`` through the codebook hierarchy."""
        return self.model_.category_probabilities(self.predict_proba(X))

    def predict_sentiment_proba(self, X: Sequence[str]) -> np.ndarray:
        """Sentiment probabilities ``float64[n, n_labels]`` (softmax) in ``sentiment_labels`` order."""
        from nokoding.inference.probabilities import sentiment_probabilities

        return sentiment_probabilities(np.stack([r.sentiment_logits for r in self._raw(X)]))

    def predict_sentiment(self, X: Sequence[str]) -> np.ndarray:
        """The most probable sentiment label per text, ``str[n]``."""
        return np.array(self.model_.sentiment_labels)[np.argmax(self.predict_sentiment_proba(X), axis=1)]

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Pooled embeddings ``float32[n, H]``."""
        return np.stack([r.embedding for r in self._raw(X)])

    def suggest(self, X: Any, top_k: int | None = 3, **kwargs: Any) -> Any:
        """:func:`nokoding.suggest_codes` with the fitted model."""
        from nokoding.suggest import suggest_codes

        return suggest_codes(X, self.model_, top_k, device=self.device, **kwargs)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fitted model (see :func:`nokoding.model.save_pretrained`)."""
        return self.model_.save_pretrained(path)
