"""One estimator interface for every method evaluated: baselines and fine-tuned strategies.

A :class:`CodingEstimator` is fitted on hand-coded records and returns probabilities in the
codebook's label order (scikit-learn style)::

    est = make_estimator("embed-lr", context).fit(train_records)
    code_probs, sentiment_probs = est.predict_proba(texts)   # [N, C], [N, S] or None

The registry (:data:`STRATEGIES`) names every method the ``nokoding evaluate`` command can
run; :func:`make_estimator` builds a fresh, unfitted estimator for one fold.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from nokoding.codebook import Codebook
from nokoding.evaluate.baselines import (
    Embedder,
    EmbeddingLogRegEstimator,
    MajorityEstimator,
    PrototypeEstimator,
    TfidfLogRegEstimator,
    ZeroShotEstimator,
)

__all__ = [
    "BASELINES",
    "FINE_TUNED",
    "STRATEGIES",
    "CodingEstimator",
    "EncoderEmbedder",
    "EvalContext",
    "FineTunedEstimator",
    "LogisticEstimator",
    "StrategyInfo",
    "category_probs",
    "make_estimator",
]

Record = Mapping[str, Any]


@runtime_checkable
class CodingEstimator(Protocol):
    """What the cross-validation needs from a method.

    Attributes:
        name: the row label in reports.
        uses_descriptions: whether the codebook's code descriptions inform predictions.
        has_sentiment: ``False`` when the method predicts no sentiment (``predict_proba``
            then returns ``None`` in its place and the report prints n/a).
        independent_codes: ``True`` when code probabilities are independent per code
            (multi-label sigmoids, not summing to 1); category scores are then a noisy-OR
            of the codes' probabilities instead of their sum.
    """

    name: str
    uses_descriptions: bool
    has_sentiment: bool

    def fit(self, records: Sequence[Record]) -> CodingEstimator:
        """Learn from hand-coded records (``text``, ``code_id``, optional ``sentiment``)."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """``(code_probs [N, n_codes], sentiment_probs [N, n_sentiments] or None)``, codebook order."""
        ...


def category_probs(estimator: Any, code_probs: NDArray[np.float64], codebook: Codebook) -> NDArray[np.float64]:
    """Category scores ``[N, n_categories]`` from code scores through the codebook hierarchy.

    An estimator with its own ``category_probabilities(code_probs)`` method (a fine-tuned
    model, which applies its configured aggregation) is asked for them. Otherwise a
    distribution over codes (rows sum to 1) is summed per category (the probability that
    the segment's code lies in that category); for independent per-code probabilities
    (``estimator.independent_codes``) the noisy-OR ``1 − ∏(1 − p)`` is used, the default of
    :meth:`nokoding.model.CodingModel.category_probabilities`.
    """
    own = getattr(estimator, "category_probabilities", None)
    if callable(own):
        return np.asarray(own(code_probs), dtype=np.float64)
    p = np.asarray(code_probs, dtype=np.float64)
    c2c = np.asarray(codebook.code_to_category())
    out = np.zeros((p.shape[0], len(codebook.categories)))
    for k in range(len(codebook.categories)):
        members = p[:, c2c == k]
        if members.shape[1] == 0:
            continue
        if getattr(estimator, "independent_codes", False):
            out[:, k] = 1.0 - np.prod(1.0 - members, axis=1)
        else:
            out[:, k] = members.sum(axis=1)
    return out


class EncoderEmbedder:
    """Frozen backbone encoder → masked-mean-pooled embeddings, each text embedded once per run.

    Texts are prefixed with the backbone's ``text_prefix`` (``"query: "`` for E5) and run
    through :func:`nokoding.inference.predict`, so texts longer than the encoder window are
    split into windows and averaged, never truncated.

    Args:
        backbone: a backbone name (``"me5-small"``) or folder, resolved by
            :func:`nokoding.backbones.resolve_backbone`.
        text_prefix, max_length: override the backbone's values (e.g. for tiny test encoders).

    Attributes:
        name, path, sha256: the resolved backbone (``sha256`` may be ``""`` for a bare folder).
    """

    def __init__(self, backbone: str | os.PathLike[str], *, text_prefix: str | None = None,
                 max_length: int | None = None) -> None:
        from nokoding.backbones import resolve_backbone

        spec = resolve_backbone(str(backbone))
        self.name = str(spec.name)
        self.path = Path(spec.path)
        self.sha256 = str(getattr(spec, "sha256", "") or "")
        self.text_prefix = spec.text_prefix if text_prefix is None else text_prefix
        self.max_length = int(max_length or spec.max_length)
        self.pooling = str(getattr(spec, "pooling", "mean"))
        self._cache: dict[str, NDArray[np.float32]] = {}
        self._module: Any = None
        self.seconds = 0.0

    def _model(self) -> Any:
        if self._module is None:
            import torch

            from nokoding.model.coding_model import load_encoder
            from nokoding.model.pooling import pool

            encoder, tokenizer = load_encoder(self.path)
            encoder.eval()
            pooling = self.pooling

            class _Pooled(torch.nn.Module):
                def __init__(self, enc: torch.nn.Module, tok: Any, prefix: str, max_length: int) -> None:
                    super().__init__()
                    self.encoder, self.tokenizer, self.text_prefix, self.max_length = enc, tok, prefix, max_length

                def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
                    hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                    emb = pool(hidden, attention_mask, pooling)
                    dummy = emb.new_zeros((emb.shape[0], 1))
                    return _Out(dummy, dummy, emb)

            self._module = _Pooled(encoder, tokenizer, self.text_prefix, self.max_length)
        return self._module

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings ``float32[len(texts), H]`` in input order (memoised by exact text)."""
        import time

        from nokoding.inference import predict

        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            start = time.perf_counter()
            for text, pred in zip(todo, predict(self._model(), todo, device="cpu")):
                self._cache[text] = np.array(pred.embedding, dtype=np.float32)
            self.seconds += time.perf_counter() - start
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


@dataclass
class _Out:
    code_logits: Any
    sentiment_logits: Any
    embeddings: Any


class FineTunedEstimator:
    """A coding model fine-tuned on the fold's training records by :func:`nokoding.training.train`.

    Probabilities: ``sigmoid`` of the code logits (independent per code — the model is
    multi-label) and ``softmax`` of the sentiment logits, from :func:`nokoding.inference.predict`
    in :attr:`runtime` (``"fp32"``; set it to ``"int8"`` to score the quantised model — the
    evaluation does so for ``runtimes``, see :func:`nokoding.evaluate.cv.run_cv`).

    Args:
        codebook: label order.
        backbone: backbone name or folder.
        strategy: ``"lora"``, ``"full"`` or ``"frozen"`` (see :func:`nokoding.training.train`).
        use_descriptions: passed to ``TrainingArguments.use_descriptions`` (one extra training
            example per code from its codebook description).
        train_options: keyword arguments for :class:`nokoding.training.TrainingArguments`.
        seed: training seed.
    """

    has_sentiment = True
    independent_codes = True

    def __init__(self, codebook: Codebook, backbone: str, strategy: str, *, use_descriptions: bool = False,
                 train_options: Mapping[str, Any] | None = None, seed: int = 0, written_weight: float = 1.0) -> None:
        self.codebook, self.backbone, self.strategy = codebook, backbone, strategy
        self.written_weight = written_weight
        self.use_descriptions = self.uses_descriptions = use_descriptions
        self.train_options = dict(train_options or {})
        self.seed = seed
        self.name = strategy + ("+desc" if use_descriptions else "")
        self.model: Any = None
        #: ``P(no code)`` of the last prediction, for a model with a "no code" outcome.
        self.no_code: NDArray[np.float64] | None = None
        #: Inference runtime of :meth:`predict_proba` (CPU: ``"fp32"`` or ``"int8"``).
        self.runtime = "fp32"
        #: The training recipe of the last fit (reported).
        self.params: dict[str, Any] = {}

    def fit(self, records: Sequence[Record]) -> FineTunedEstimator:
        from nokoding.training import TrainingArguments, train

        # evidence store kept (as `nokoding train` does): it does not change any score, and the
        # int8 runtime calibrates on its training segments (nokoding.inference.int8)
        options = {"seed": self.seed, "progress": False, "evidence": True, **self.train_options,
                   "use_descriptions": self.use_descriptions}
        args = TrainingArguments(**options)
        self.params = {"strategy": self.strategy, "backbone": self.backbone, **args.to_dict()}
        self.model = train([dict(r) for r in records], codebook=self.codebook, backbone=self.backbone,
                           strategy=self.strategy, args=args, written_weight=self.written_weight)
        return self

    def category_probabilities(self, code_probs: NDArray[np.float64]) -> NDArray[np.float64]:
        """``[N, n_categories]`` by the fitted model's own aggregation (noisy-OR or max)."""
        return np.asarray(self.model.category_probabilities(code_probs), dtype=np.float64)

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        from nokoding.inference import predict
        from nokoding.inference.probabilities import prediction_probabilities

        preds = list(predict(self.model, list(texts), device="cpu", runtime=self.runtime))
        codes, sentiment = prediction_probabilities(preds, self.codebook.n_codes, len(self.codebook.sentiment_labels))
        if preds and self.model.config.code_probability != "sigmoid":
            logits = np.stack([p.code_logits for p in preds])
            codes = self.model.code_probabilities(logits)
            self.no_code = self.model.no_code_probability(logits)
        if not self.model.config.predicts_sentiment:
            self.has_sentiment = False
            return codes, None  # type: ignore[return-value]
        return codes, sentiment


class LogisticEstimator:
    """The ``head_fit="logistic"`` recipe of :func:`nokoding.training.train` on a frozen encoder.

    Every text is embedded once per run by the shared :class:`EncoderEmbedder`; each fold
    builds its training examples as :func:`~nokoding.training.train` does (groups merged,
    descriptions, written examples weighted) and fits the heads with the same function
    (:func:`nokoding.training.trainer.fit_logistic_examples`), so the evaluated recipe is the
    trained one. Code probabilities are a softmax over the codes and, when the training fold
    has examples without a code, "no code" (:attr:`no_code`: ``P(no code)`` of the last
    prediction).

    Args:
        codebook: label order.
        embedder: the run's embedder.
        use_descriptions: add each code's description as one example.
        calibrate: fit the temperatures (``False``: ``calibration_folds=0``, to report the
            calibration's effect).
        train_options: keyword arguments for :class:`nokoding.training.TrainingArguments`
            (``logistic_c``, ``class_weighting``, ...).
        written_weight: weight of records marked ``"source": "written"``.
        seed: solver and calibration-fold seed.
    """

    has_sentiment = True
    independent_codes = False

    def __init__(self, codebook: Codebook, embedder: Embedder, *, use_descriptions: bool = True,
                 calibrate: bool = True, train_options: Mapping[str, Any] | None = None,
                 written_weight: float = 1.0, seed: int = 0) -> None:
        self.codebook, self.embedder = codebook, embedder
        self.use_descriptions = self.uses_descriptions = use_descriptions
        self.calibrate = calibrate
        self.train_options = dict(train_options or {})
        self.written_weight = written_weight
        self.seed = seed
        self.name = "logistic" + ("+desc" if use_descriptions else "") + ("" if calibrate else " (uncalibrated)")
        self.params: dict[str, Any] = {}
        self.no_code: NDArray[np.float64] | None = None

    def fit(self, records: Sequence[Record]) -> LogisticEstimator:
        from nokoding.training import TrainingArguments
        from nokoding.training.data import build_examples
        from nokoding.training.trainer import fit_logistic_examples

        known = {"logistic_c", "class_weighting", "calibration_folds", "description_weight"}
        options = {k: v for k, v in self.train_options.items() if k in known}
        options.update(seed=self.seed, progress=False, evidence=False, head_fit="logistic",
                       use_descriptions=self.use_descriptions)
        if not self.calibrate:
            options["calibration_folds"] = 0
        args = TrainingArguments(**options)
        examples = build_examples([dict(r) for r in records], self.codebook, use_descriptions=self.use_descriptions,
                                  description_weight=args.description_weight, written_weight=self.written_weight)
        examples = [e for e in examples if e.weight > 0]
        self.params = {"strategy": "frozen", "backbone": str(getattr(self.embedder, "name", "")),
                       "written_weight": self.written_weight, **args.to_dict()}
        emb = np.asarray(self.embedder.embed([e.text for e in examples]), dtype=np.float64)
        self.heads = fit_logistic_examples(emb, examples, self.codebook, args)
        self.has_sentiment = self.heads.sentiment is not None
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        X = np.asarray(self.embedder.embed([str(t) for t in texts]), dtype=np.float64)
        codes, none = self.heads.code_proba(X)
        self.no_code = none
        return codes, self.heads.sentiment_proba(X)


@dataclass
class EvalContext:
    """What estimators of one evaluation run share.

    Attributes:
        codebook: label order and code descriptions.
        backbone: backbone name or folder for encoder-based methods.
        seed: base seed (logistic regression, training).
        train_options: keyword arguments for fine-tuning (:class:`nokoding.training.TrainingArguments`).
        embedder: the run's frozen-encoder embedder; built on first use from ``backbone``.
        written_weight: weight of written training records (``"source": "written"``).
    """

    codebook: Codebook
    backbone: str = "me5-small"
    seed: int = 0
    train_options: dict[str, Any] = field(default_factory=dict)
    embedder: Embedder | None = None
    written_weight: float = 1.0

    def get_embedder(self) -> Embedder:
        """The shared embedder (built from :attr:`backbone` on first call)."""
        if self.embedder is None:
            self.embedder = EncoderEmbedder(self.backbone)
        return self.embedder


@dataclass(frozen=True)
class StrategyInfo:
    """A method the evaluation can run.

    Attributes:
        name: its ``--strategy`` name and report row label.
        summary: one line for the report.
        uses_descriptions: whether code descriptions inform it.
        fine_tuned: whether it trains the encoder (slow on CPU).
        factory: builds an unfitted estimator for one fold from the run's context.
    """

    name: str
    summary: str
    uses_descriptions: bool
    fine_tuned: bool
    factory: Callable[[EvalContext], CodingEstimator]


def _fine_tuned(strategy: str, desc: bool) -> Callable[[EvalContext], CodingEstimator]:
    return lambda ctx: FineTunedEstimator(ctx.codebook, ctx.backbone, strategy, use_descriptions=desc,
                                          train_options=ctx.train_options, seed=ctx.seed,
                                          written_weight=ctx.written_weight)


_ENTRIES = [
    StrategyInfo("majority", "training-fold label frequencies (majority class first)", False, False,
                 lambda ctx: MajorityEstimator(ctx.codebook)),
    StrategyInfo("tfidf-lr", "TF-IDF of character 2–5-grams + logistic regression (C=10)", False, False,
                 lambda ctx: TfidfLogRegEstimator(ctx.codebook, seed=ctx.seed)),
    StrategyInfo("embed-lr", "frozen encoder, mean-pooled embeddings + logistic regression (C=1)", False, False,
                 lambda ctx: EmbeddingLogRegEstimator(ctx.codebook, ctx.get_embedder(), seed=ctx.seed)),
    StrategyInfo("embed-lr+desc", "embed-lr with each code description as one extra training example", True, False,
                 lambda ctx: EmbeddingLogRegEstimator(ctx.codebook, ctx.get_embedder(), use_descriptions=True,
                                                      seed=ctx.seed)),
    StrategyInfo("zero-shot", "cosine similarity to code descriptions (temperature fitted in-fold); no sentiment",
                 True, False, lambda ctx: ZeroShotEstimator(ctx.codebook, ctx.get_embedder())),
    StrategyInfo("prototype", "nearest prototype of centred, normalised embeddings (per code, per sentiment)",
                 False, False,
                 lambda ctx: PrototypeEstimator(ctx.codebook, ctx.get_embedder(), use_descriptions=False)),
    StrategyInfo("prototype+desc", "prototype with each code description added to its prototype",
                 True, False,
                 lambda ctx: PrototypeEstimator(ctx.codebook, ctx.get_embedder(), use_descriptions=True)),
    StrategyInfo("logistic", "frozen encoder + logistic-regression heads, \"no code\" outcome, out-of-sample "
                 "temperature (nokoding.training, head_fit='logistic')", False, False,
                 lambda ctx: LogisticEstimator(ctx.codebook, ctx.get_embedder(), use_descriptions=False,
                                               train_options=ctx.train_options, written_weight=ctx.written_weight,
                                               seed=ctx.seed)),
    StrategyInfo("logistic+desc", "logistic with code descriptions as extra training examples", True, False,
                 lambda ctx: LogisticEstimator(ctx.codebook, ctx.get_embedder(), use_descriptions=True,
                                               train_options=ctx.train_options, written_weight=ctx.written_weight,
                                               seed=ctx.seed)),
    StrategyInfo("logistic+desc-uncalibrated", "logistic+desc without the temperature (calibration's effect)",
                 True, False,
                 lambda ctx: LogisticEstimator(ctx.codebook, ctx.get_embedder(), use_descriptions=True,
                                               calibrate=False, train_options=ctx.train_options,
                                               written_weight=ctx.written_weight, seed=ctx.seed)),
    StrategyInfo("lora", "fine-tuned: LoRA adapters + code/sentiment heads (nokoding.training)", False, True,
                 _fine_tuned("lora", False)),
    StrategyInfo("lora+desc", "lora with code descriptions as extra training examples", True, True,
                 _fine_tuned("lora", True)),
    StrategyInfo("full", "fine-tuned: all encoder weights except word embeddings + heads", False, True,
                 _fine_tuned("full", False)),
    StrategyInfo("full+desc", "full with code descriptions as extra training examples", True, True,
                 _fine_tuned("full", True)),
    StrategyInfo("frozen", "heads trained on a frozen encoder (nokoding.training)", False, True,
                 _fine_tuned("frozen", False)),
    StrategyInfo("frozen+desc", "frozen with code descriptions as extra training examples", True, True,
                 _fine_tuned("frozen", True)),
]

#: Every method by name, in report order.
STRATEGIES: dict[str, StrategyInfo] = {s.name: s for s in _ENTRIES}
#: The methods run by default (fast on CPU).
BASELINES: tuple[str, ...] = tuple(s.name for s in _ENTRIES if not s.fine_tuned and not s.name.startswith("logistic"))
#: The fine-tuned strategies (minutes per fold on CPU).
FINE_TUNED: tuple[str, ...] = tuple(s.name for s in _ENTRIES if s.fine_tuned)


def make_estimator(name: str, context: EvalContext) -> CodingEstimator:
    """A fresh, unfitted estimator of method ``name`` for one fold.

    Raises:
        KeyError: for an unknown name (the message lists the known ones).
    """
    try:
        info = STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}") from None
    return info.factory(context)
