"""Training hyper-parameters (saved as ``training_args.json`` next to the model)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from nokoding.model.config import LoraSettings

__all__ = ["TrainingArguments"]

#: Encoder learning rate per strategy when ``learning_rate`` is ``None``.
DEFAULT_ENCODER_LR = {"lora": 5e-4, "full": 3e-5, "frozen": 0.0}


@dataclass
class TrainingArguments:
    """How :func:`nokoding.training.train` fits a coding model.

    Training has two stages. The heads always start from class prototypes: the mean direction
    of each code's (and sentiment label's) centred, normalised embeddings, codebook descriptions
    included (label-embedding initialisation). *Encoder fine-tuning* (``"lora"``/``"full"``)
    makes ``epochs`` passes over the examples in shuffled mini-batches of similar length,
    encoder and heads together. The *head stage* works on cached embeddings: ``head_fit``
    ``"calibrate"`` (default) keeps the prototypes and fits only a temperature and a shared
    bias per head; ``"full"`` trains every head parameter for ``head_steps`` full-batch steps.
    It is all that strategy ``"frozen"`` does. ``head_stage`` orders the stages: ``"after"``
    (default; SetFit-like, Tunstall et al. 2022, "Efficient Few-Shot Learning Without
    Prompts") tunes the encoder against the prototype heads first, then rebuilds the
    prototypes from the tuned encoder and runs the head stage; ``"before"`` runs the head
    stage first, so the encoder only refines a near-fitted model.

    The defaults were chosen on 5-fold splits of the thesis quotes with seeds 10 and 11
    (the reported evaluation uses seeds 0–2). One repeat each, category accuracy / code
    top-3 / sentiment macro-F1: before + full head fit (the earlier default) 0.716 / 0.661 /
    0.426 (seed 0); after + full 0.688 / 0.670 / 0.480 (seed 0); after + calibrate
    0.670 / 0.697 / 0.516 (seed 10, noisy-OR categories). Per-code biases learn how often
    each code occurs in the training fold and push rare codes out of the top 3; a category
    scored by its best code (``category_aggregation="max"``) beat the noisy-OR on seed 11
    (0.688 vs 0.661). Differences of ±0.03 are within the split noise at this size.

    The code loss is binary cross-entropy per code (sigmoid, multi-label; sets the probability
    level) plus ``rank_loss_weight`` × softmax cross-entropy against the normalised multi-hot
    target (only ranks the codes: with one or two codes per quote, this is the stronger
    training signal for top-k accuracy). The sentiment loss is class-balanced softmax
    cross-entropy, weighted by ``sentiment_loss_weight``.

    Attributes:
        epochs: encoder fine-tuning passes over the examples.
        batch_size: examples per optimiser step of encoder fine-tuning.
        learning_rate: encoder learning rate; ``None`` → 5e-4 for LoRA, 3e-5 for full.
        head_learning_rate: head learning rate during encoder fine-tuning.
        head_steps: full-batch optimiser steps of ``head_fit="full"`` (0: heads stay the prototypes).
        head_stage_learning_rate: learning rate of head fitting (Adam).
        head_stage: ``"before"`` or ``"after"`` encoder fine-tuning (see above).
        head_fit: ``"full"`` trains every head parameter for ``head_steps`` steps (prototype
            directions, per-label biases, temperature); ``"calibrate"`` keeps the prototypes
            and fits only each head's temperature and one shared bias on leave-one-out
            cosines, so codes are ranked by cosine to their prototype (``head_steps`` unused;
            needs cosine heads). Per-label biases learn the training fold's code frequencies,
            which pushes rare codes out of the top 3; see the README's evaluation section.
            ``"logistic"`` fits multinomial logistic regressions on the cached embeddings
            (:mod:`nokoding.training.logistic`): a softmax over the codes plus a "no code"
            outcome learnt from examples without a code (the model can abstain), a sentiment
            head only when some example has a sentiment, and each head's temperature fitted on
            out-of-sample predictions of the training examples (real ones, not written ones,
            when there are enough). The model then has linear heads, softmax code
            probabilities and categories scored as the sum of their codes (``code_head``,
            ``sentiment_head`` and ``category_aggregation`` are not used).
        weight_decay: AdamW weight decay (not applied to biases, norms or the temperature).
        warmup_ratio: share of encoder fine-tuning steps with a linearly rising learning rate (then linear decay).
        max_grad_norm: gradient clipping (L2 norm over all trainable parameters).
        rank_loss_weight, sentiment_loss_weight: loss weights (see above).
        class_weighting: ``"balanced"`` weights examples so every code counts the same;
            ``"none"`` weights examples equally.
        use_descriptions: add one example per code from its codebook description.
        description_weight: loss weight of a description example.
        code_head, sentiment_head: ``"cosine"`` (default) or ``"linear"``.
        category_aggregation: ``"max"`` (a category scores as its best code) or ``"noisy_or"``
            (``1 − ∏(1 − p)`` over its codes).
        init_scale: initial head temperature (logit of a perfect cosine match before the bias).
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA shape (strategy "lora").
        train_word_embeddings: also tune the word embeddings (strategy "full"; ~10× slower on CPU).
        max_length: training window in tokens (longer examples are truncated); ``None`` → backbone's.
        seed: seeds weight initialisation, dropout and shuffling.
        deterministic: ask torch for deterministic kernels during training.
        evidence: store the training segments' embeddings for evidence.
        progress: show a progress bar.
        logistic_c: inverse L2 regularisation of ``head_fit="logistic"`` (standardised embeddings).
        calibration_folds: folds of the out-of-sample temperature fit of ``head_fit="logistic"``
            (0: no calibration).
    """

    epochs: int = 6
    batch_size: int = 16
    learning_rate: float | None = None
    head_learning_rate: float = 2e-3
    head_steps: int = 100
    head_stage_learning_rate: float = 1e-2
    head_stage: Literal["before", "after"] = "after"
    head_fit: Literal["full", "calibrate", "logistic"] = "calibrate"
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    rank_loss_weight: float = 1.0
    sentiment_loss_weight: float = 1.0
    class_weighting: Literal["balanced", "none"] = "balanced"
    use_descriptions: bool = True
    description_weight: float = 1.0
    code_head: Literal["cosine", "linear"] = "cosine"
    sentiment_head: Literal["cosine", "linear"] = "cosine"
    category_aggregation: Literal["noisy_or", "max"] = "max"
    init_scale: float = 10.0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] = field(default=LoraSettings().target_modules)
    train_word_embeddings: bool = False
    max_length: int | None = None
    seed: int = 0
    deterministic: bool = True
    evidence: bool = True
    progress: bool = True
    logistic_c: float = 1.0
    calibration_folds: int = 5

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.head_steps < 0:
            raise ValueError("epochs and head_steps must be ≥ 0")
        if self.batch_size < 1:
            raise ValueError("batch_size must be ≥ 1")
        if self.head_stage not in ("before", "after"):
            raise ValueError(f"head_stage must be 'before' or 'after', not {self.head_stage!r}")
        if self.head_fit not in ("full", "calibrate", "logistic"):
            raise ValueError(f"head_fit must be 'full', 'calibrate' or 'logistic', not {self.head_fit!r}")
        if self.logistic_c <= 0:
            raise ValueError("logistic_c must be > 0")
        if self.calibration_folds < 0 or self.calibration_folds == 1:
            raise ValueError("calibration_folds must be 0 (no calibration) or at least 2")
        if self.head_fit == "calibrate" and (self.code_head, self.sentiment_head) != ("cosine", "cosine"):
            raise ValueError("head_fit='calibrate' needs cosine heads (code_head and sentiment_head 'cosine')")
        if self.class_weighting not in ("balanced", "none"):
            raise ValueError(f"class_weighting must be 'balanced' or 'none', not {self.class_weighting!r}")
        self.lora_target_modules = tuple(self.lora_target_modules)

    def lora(self) -> LoraSettings:
        """The LoRA shape these arguments describe."""
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, tuple(self.lora_target_modules))

    def encoder_learning_rate(self, strategy: str) -> float:
        """``learning_rate`` or the strategy's default."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_ENCODER_LR[strategy]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (tuples as lists)."""
        out = asdict(self)
        out["lora_target_modules"] = list(self.lora_target_modules)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingArguments:
        """Rebuild from :meth:`to_dict` output; unknown keys (e.g. ``strategy``) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
