"""The saved description of a coding model (``config.json``).

A :class:`ModelConfig` records everything needed to rebuild a :class:`~nokoding.model.CodingModel`
next to its weights: which backbone (name and sha256 of its weights), how text is prepared
(``text_prefix``, ``max_length``), the head types, the fine-tuning strategy, and the label maps
(code ids and readable names — never ``LABEL_n``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nokoding.codebook import Codebook

__all__ = ["CONFIG_FORMAT", "HeadType", "LoraSettings", "ModelConfig", "Strategy"]

#: Version of the saved-directory layout; bump on incompatible changes.
CONFIG_FORMAT = 1

Strategy = Literal["lora", "full", "frozen"]
HeadType = Literal["cosine", "linear"]
Aggregation = Literal["noisy_or", "max", "sum"]
CodeProbability = Literal["sigmoid", "softmax"]


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter shape (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models").

    Attributes:
        r: rank of the update ``B @ A`` added to each adapted linear layer.
        alpha: scaling numerator; the update is multiplied by ``alpha / r``.
        dropout: dropout on the adapter's input during training.
        target_modules: names (suffixes) of the ``nn.Linear`` layers to adapt; the default
            adapts the attention projections (query, key, value, output) and both
            feed-forward layers of every BERT block.
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "key", "value", "dense")


@dataclass(frozen=True)
class ModelConfig:
    """Everything in ``config.json`` except the weights.

    Attributes:
        backbone_name: the backbone's canonical name (``BackboneSpec.name``).
        backbone_source: what the trainer passed to ``resolve_backbone`` (a name or a path);
            tried first when the model is loaded.
        backbone_sha256: sha256 of the backbone weights; loading checks it.
        pooling: how token states become one vector (``"mean"``: masked mean, the default).
        text_prefix: prepended to every text before tokenising (``"query: "`` for E5).
        max_length: encoder window in tokens, special tokens included.
        hidden_size: width of the pooled embedding ``H``.
        strategy: how the encoder was fine-tuned: ``"lora"``, ``"full"`` or ``"frozen"``.
        lora: the adapter shape when ``strategy == "lora"``.
        code_head, sentiment_head: head types (``"cosine"`` or ``"linear"``).
        category_aggregation: how category scores follow from code probabilities
            (``"noisy_or"``: ``1 − ∏(1 − p)``; ``"max"``: the best code's probability;
            ``"sum"``: the sum of its codes' probabilities, for ``code_probability="softmax"``).
        code_probability: how code logits become probabilities: ``"sigmoid"`` per code
            (multi-label; older models) or ``"softmax"`` over the codes (one distribution,
            calibrated by a temperature folded into the head).
        no_code_class: with ``"softmax"``, whether the distribution has one more outcome,
            "no code", whose logit is fixed at 0 (the code logits are relative to it); the
            model then abstains where "no code" is the most probable outcome.
        predicts_sentiment: ``False`` for a model trained without sentiment labels: its
            sentiment head is untrained and suggestions carry no sentiment.
        trained_word_embeddings: whether strategy ``"full"`` also tuned the word embeddings
            (then they are saved; otherwise they are the backbone's).
        code_ids: code ids in label order (index ``i`` of the code logits).
        code_names: readable ``"Category / Subcategory"`` per code id.
        sentiment_labels: sentiment labels in logit order.
        nokoding_version: the version that wrote the model.
    """

    backbone_name: str
    backbone_source: str
    backbone_sha256: str
    pooling: str
    text_prefix: str
    max_length: int
    hidden_size: int
    code_ids: tuple[str, ...]
    code_names: dict[str, str]
    sentiment_labels: tuple[str, ...]
    strategy: Strategy = "lora"
    lora: LoraSettings | None = field(default_factory=LoraSettings)
    code_head: HeadType = "cosine"
    sentiment_head: HeadType = "cosine"
    category_aggregation: Aggregation = "noisy_or"
    trained_word_embeddings: bool = False
    code_probability: CodeProbability = "sigmoid"
    no_code_class: bool = False
    predicts_sentiment: bool = True
    nokoding_version: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in ("lora", "full", "frozen"):
            raise ValueError(f"unknown fine-tuning strategy {self.strategy!r}; use 'lora', 'full' or 'frozen'")
        for kind, value in (("code_head", self.code_head), ("sentiment_head", self.sentiment_head)):
            if value not in ("cosine", "linear"):
                raise ValueError(f"unknown {kind} type {value!r}; use 'cosine' or 'linear'")
        if self.category_aggregation not in ("noisy_or", "max", "sum"):
            raise ValueError(
                f"unknown category_aggregation {self.category_aggregation!r}; use 'noisy_or', 'max' or 'sum'"
            )
        if self.code_probability not in ("sigmoid", "softmax"):
            raise ValueError(f"unknown code_probability {self.code_probability!r}; use 'sigmoid' or 'softmax'")
        if self.no_code_class and self.code_probability != "softmax":
            raise ValueError("no_code_class needs code_probability 'softmax'")
        if self.strategy == "lora" and self.lora is None:
            raise ValueError("strategy 'lora' needs LoRA settings")

    @property
    def n_codes(self) -> int:
        return len(self.code_ids)

    @staticmethod
    def labels_from(codebook: Codebook) -> dict[str, Any]:
        """The label fields (``code_ids``, ``code_names``, ``sentiment_labels``) of a codebook."""
        return {
            "code_ids": codebook.code_ids,
            "code_names": {c.id: c.label for c in codebook.codes},
            "sentiment_labels": tuple(codebook.sentiment_labels),
        }

    def check_codebook(self, codebook: Codebook) -> None:
        """Raise ``ValueError`` if ``codebook`` does not have this model's code and sentiment order."""
        if tuple(codebook.code_ids) != tuple(self.code_ids):
            raise ValueError(
                f"codebook {codebook.name!r} does not match the model's label order "
                f"({len(codebook.code_ids)} vs {len(self.code_ids)} codes)"
            )
        if tuple(codebook.sentiment_labels) != tuple(self.sentiment_labels):
            raise ValueError(
                f"codebook {codebook.name!r} sentiment labels {codebook.sentiment_labels} differ from "
                f"the model's {self.sentiment_labels}"
            )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` mapping, with ``id2code``/``code2id`` maps for other tools."""
        out = asdict(self)
        out["code_ids"] = list(self.code_ids)
        out["sentiment_labels"] = list(self.sentiment_labels)
        if self.lora is not None:
            out["lora"]["target_modules"] = list(self.lora.target_modules)
        out["id2code"] = {str(i): c for i, c in enumerate(self.code_ids)}
        out["code2id"] = {c: i for i, c in enumerate(self.code_ids)}
        out["format"] = CONFIG_FORMAT
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "config.json") -> ModelConfig:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: naming ``origin`` when a field is missing or the format is newer.
        """
        fmt = data.get("format", CONFIG_FORMAT)
        if fmt > CONFIG_FORMAT:
            raise ValueError(f"{origin}: model format {fmt} is newer than this nokoding ({CONFIG_FORMAT}); upgrade")
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        try:
            lora = kwargs.get("lora")
            if lora is not None:
                kwargs["lora"] = LoraSettings(**{**lora, "target_modules": tuple(lora["target_modules"])})
            kwargs["code_ids"] = tuple(kwargs["code_ids"])
            kwargs["sentiment_labels"] = tuple(kwargs["sentiment_labels"])
            return cls(**kwargs)
        except (KeyError, TypeError) as err:
            raise ValueError(f"{origin}: malformed model config ({err})") from None
