"""Fine-tune a coding model on hand-coded records (see :class:`TrainingArguments` for the recipe)."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nokoding.codebook import Codebook
from nokoding.model.coding_model import CodingModel
from nokoding.model.evidence import EvidenceStore
from nokoding.model.heads import CosineHead, prototypes
from nokoding.training.arguments import TrainingArguments
from nokoding.training.data import (
    IGNORE,
    TrainingExample,
    build_examples,
    class_balanced_weights,
    code_targets,
    load_training_data,
    sentiment_targets,
    summarise,
)

__all__ = ["fit_logistic_examples", "seeded", "set_linear_heads", "train"]


@contextmanager
def seeded(seed: int, *, deterministic: bool = True) -> Iterator[None]:
    """Run a block with torch's CPU random generator seeded and, optionally, deterministic kernels.

    The global generator state and the deterministic-algorithms setting are restored afterwards,
    so training does not disturb the caller's randomness.
    """
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@dataclass
class _Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    codes: torch.Tensor
    sentiments: torch.Tensor
    weights: torch.Tensor


class _Loss:
    """Code loss (BCE + ranking softmax CE) and class-balanced sentiment CE; see TrainingArguments."""

    def __init__(self, args: TrainingArguments, sentiments: torch.Tensor, n_labels: int) -> None:
        self.args = args
        labelled = sentiments[sentiments != IGNORE]
        counts = torch.bincount(labelled, minlength=n_labels).float()
        present = counts > 0
        weights = torch.zeros(n_labels)
        if present.any():
            weights[present] = labelled.numel() / (int(present.sum()) * counts[present])
        self.sentiment_class_weights = weights

    def __call__(
        self, code_logits: torch.Tensor, sentiment_logits: torch.Tensor, batch: _Batch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = batch.weights
        bce = F.binary_cross_entropy_with_logits(code_logits, batch.codes, reduction="none").mean(dim=-1)
        n_pos = batch.codes.sum(dim=-1)
        soft = batch.codes / n_pos.clamp(min=1).unsqueeze(-1)
        rank = -(soft * F.log_softmax(code_logits, dim=-1)).sum(dim=-1)  # 0 for uncoded examples
        code_loss = (w * (bce + self.args.rank_loss_weight * rank)).sum() / w.sum()
        if (batch.sentiments != IGNORE).any():
            sent_loss = F.cross_entropy(
                sentiment_logits, batch.sentiments, weight=self.sentiment_class_weights, ignore_index=IGNORE
            )
        else:
            sent_loss = code_logits.new_zeros(())
        return code_loss + self.args.sentiment_loss_weight * sent_loss, code_loss, sent_loss


def _tokenize(model: CodingModel, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text (``model.prepare_text``), truncated to ``max_length`` with a warning."""
    prepared = [model.prepare_text(t) for t in texts]
    full = model.tokenizer(prepared, truncation=False, return_token_type_ids=False, verbose=False)["input_ids"]
    long = [i for i, ids in enumerate(full) if len(ids) > max_length]
    if long:
        warnings.warn(
            f"{len(long)} training example(s) longer than {max_length} tokens were truncated for training",
            stacklevel=3,
        )
        cut = model.tokenizer([prepared[i] for i in long], truncation=True, max_length=max_length)["input_ids"]
        full = list(full)
        for i, ids in zip(long, cut, strict=True):
            full[i] = ids
    return [list(ids) for ids in full]


def _pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids, mask


def _head_parameters(model: CodingModel) -> list[torch.nn.Parameter]:
    return [*model.code_head.parameters(), *model.sentiment_head.parameters()]


def _init_heads(
    model: CodingModel, emb: torch.Tensor, codes: torch.Tensor, sentiments: torch.Tensor, args: TrainingArguments
) -> None:
    """Label-embedding initialisation: prototypes from the untuned encoder's embeddings."""
    center = emb.mean(dim=0)
    typical = float((emb - center).norm(dim=-1).mean())
    prior = codes.mean(dim=0).clamp(1e-3, 1 - 1e-3)
    model.code_head.init_from_prototypes(
        prototypes(emb, codes, center), center, scale=args.init_scale, bias=torch.log(prior / (1 - prior)),
        typical_norm=typical,
    )
    model.sentiment_head.init_from_prototypes(
        prototypes(emb, _onehot(sentiments, len(model.sentiment_labels)), center), center, scale=args.init_scale, bias=0.0, typical_norm=typical
    )


def _onehot(labels: torch.Tensor, n: int) -> torch.Tensor:
    """``(N, n)`` 0/1 rows for class indices ``labels`` ``(N,)``; ``IGNORE`` rows stay all zero."""
    out = torch.zeros(len(labels), n)
    known = labels != IGNORE
    out[known, labels[known]] = 1.0
    return out


def _loo_cosines(z: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines ``(N, K)`` of unit vectors ``z`` to class prototypes, leaving each example out of
    its own classes' prototypes; the mask says where a cosine exists (the class has another member)."""
    t = targets.to(z.dtype)
    sums = t.T @ z  # (K, H)
    counts = t.sum(dim=0)  # (K,)
    cos = z @ F.normalize(sums, dim=-1).T
    own = sums.unsqueeze(0) - z.unsqueeze(1)  # (N, K, H): prototype sums without example i
    loo = (z.unsqueeze(1) * F.normalize(own, dim=-1)).sum(dim=-1)
    member = t > 0
    cos = torch.where(member, loo, cos)
    ok = ~member | (counts.unsqueeze(0) > 1)
    return cos, ok


class _Run:
    """State of one training run: examples as tensors, the loss, the log and the progress bar."""

    def __init__(self, model: CodingModel, examples: Sequence[TrainingExample], args: TrainingArguments) -> None:
        self.model = model
        self.args = args
        cb = model.codebook
        self.codes = code_targets(examples, cb)
        self.sentiments = sentiment_targets(examples, model.sentiment_labels)
        if args.class_weighting == "balanced":
            self.weights = torch.tensor(class_balanced_weights(examples, cb), dtype=torch.float32)
        else:
            self.weights = torch.tensor([e.weight for e in examples], dtype=torch.float32)
        self.loss = _Loss(args, self.sentiments, len(model.sentiment_labels))
        self.examples = list(examples)
        self.texts = [e.text for e in examples]
        self.max_length = int(args.max_length or model.max_length)
        self.ids = _tokenize(model, self.texts, self.max_length)
        pad = model.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self.log: list[dict[str, Any]] = []
        self.started = time.perf_counter()
        self.bar: Any = None

    # -------------------------------------------------------------- bookkeeping
    def record(self, stage: str, epoch: int, step: int, losses: tuple[torch.Tensor, ...], lr: float) -> None:
        total, code, sent = (float(x.detach()) for x in losses)
        row = {
            "stage": stage, "epoch": epoch, "step": step, "loss": total, "code_loss": code,
            "sentiment_loss": sent, "lr": lr, "time": round(time.perf_counter() - self.started, 3),
        }
        self.log.append(row)
        if self.bar is not None:
            self.bar.set_postfix(stage=stage, loss=f"{total:.4f}")

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def batch(self, idx: torch.Tensor) -> _Batch:
        input_ids, mask = _pad([self.ids[int(i)] for i in idx], self.pad_id)
        return _Batch(input_ids, mask, self.codes[idx], self.sentiments[idx], self.weights[idx])

    # -------------------------------------------------------------- stages
    def fit_heads(self, emb: torch.Tensor) -> None:
        """Head fitting: full-batch Adam on the heads over cached embeddings."""
        params = _head_parameters(self.model)
        opt = torch.optim.Adam(params, lr=self.args.head_stage_learning_rate)
        batch = _Batch(torch.empty(0), torch.empty(0), self.codes, self.sentiments, self.weights)
        for step in range(1, self.args.head_steps + 1):
            opt.zero_grad(set_to_none=True)
            losses = self.loss(self.model.code_head(emb), self.model.sentiment_head(emb), batch)
            losses[0].backward()
            opt.step()
            if step == 1 or step % 10 == 0 or step == self.args.head_steps:
                self.record("heads", 0, step, losses, self.args.head_stage_learning_rate)
            self.tick()

    def fit_or_calibrate_heads(self, emb: torch.Tensor) -> None:
        """The head stage chosen by ``args.head_fit``."""
        if self.args.head_fit == "logistic":
            self.fit_logistic(emb)
            self.tick()
        elif self.args.head_fit == "calibrate":
            self.calibrate_heads(emb)
            self.tick()
        else:
            self.fit_heads(emb)

    def fit_logistic(self, emb: torch.Tensor) -> None:
        """Logistic-regression heads with out-of-sample temperatures (:mod:`nokoding.training.logistic`)."""
        heads = fit_logistic_examples(emb.double().numpy(), self.examples, self.model.codebook, self.args)
        set_linear_heads(self.model, heads)
        self.log.append({"stage": "logistic", "code_temperature": heads.code_temperature,
                         "sentiment_temperature": heads.sentiment_temperature, **heads.diagnostics,
                         "time": round(time.perf_counter() - self.started, 3)})

    def calibrate_heads(self, emb: torch.Tensor) -> None:
        """Head calibration: keep the prototype directions, fit only each head's temperature and
        one bias shared by all its labels, so the ranking of labels stays the prototypes' own.

        The fit uses *leave-one-out* cosines (an example's own contribution is removed from
        its labels' prototypes, as in a nearest-prototype classifier's cross-validation),
        so the temperature is not fitted to similarities the example inflated itself. The
        loss is the training loss (class-weighted BCE + ranking CE for codes, class-balanced
        CE for sentiment); full-batch L-BFGS on two numbers per head.
        """
        model = self.model
        code_cos, code_ok = _loo_cosines(F.normalize(emb - model.code_head.center, dim=-1), self.codes)
        sent_cos, sent_ok = _loo_cosines(F.normalize(emb - model.sentiment_head.center, dim=-1),
                                         _onehot(self.sentiments, len(model.sentiment_labels)))
        # an example counts for a head only where each of its labels has another member: its
        # code loss gets weight 0, its sentiment is ignored
        keep = code_ok.all(dim=-1)
        batch = _Batch(torch.empty(0), torch.empty(0), self.codes,
                       torch.where(sent_ok.all(dim=-1), self.sentiments, IGNORE), self.weights * keep)
        params = {
            "code_scale": torch.tensor(math.log(self.args.init_scale)), "code_bias": torch.tensor(0.0),
            "sent_scale": torch.tensor(math.log(self.args.init_scale)),
        }
        for p in params.values():
            p.requires_grad_(True)
        opt = torch.optim.LBFGS(list(params.values()), lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            code_logits = params["code_scale"].exp() * code_cos + params["code_bias"]
            loss = self.loss(code_logits, params["sent_scale"].exp() * sent_cos, batch)[0]
            loss.backward()
            return loss

        if keep.any():
            opt.step(closure)
        with torch.no_grad():
            for head, scale, bias in ((model.code_head, params["code_scale"], params["code_bias"]),
                                      (model.sentiment_head, params["sent_scale"], None)):
                assert isinstance(head, CosineHead)  # checked by TrainingArguments
                # temperatures are kept in [1, 100]: below 1 the labels' order would drown in
                # float rounding (an encoder without signal), above 100 a near-step function
                head.log_scale.fill_(float(scale.clamp(min=0.0, max=math.log(100.0))))
                head.bias.fill_(0.0 if bias is None else float(bias))
            code_logits = model.code_head(emb)
            sent_logits = model.sentiment_head(emb)
            full = _Batch(torch.empty(0), torch.empty(0), self.codes, self.sentiments, self.weights)
            self.record("calibrate", 0, 1, self.loss(code_logits, sent_logits, full), 0.0)

    def batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        """One epoch of shuffled mini-batches of similar length (less padding, same randomness).

        The examples are shuffled, cut into pools of ``8 × batch_size``, each pool is sorted by
        length and cut into batches, and the batch order is shuffled again.
        """
        size = self.args.batch_size
        perm = torch.randperm(len(self.ids), generator=gen).tolist()
        out = []
        for start in range(0, len(perm), 8 * size):
            pool = sorted(perm[start : start + 8 * size], key=lambda i: len(self.ids[i]))
            out += [torch.tensor(pool[k : k + size]) for k in range(0, len(pool), size)]
        order = torch.randperm(len(out), generator=gen).tolist()
        return [out[k] for k in order]

    def encoder_steps(self) -> int:
        return self.args.epochs * math.ceil(len(self.ids) / self.args.batch_size)

    def fine_tune(self, strategy: str) -> None:
        """Encoder fine-tuning: mini-batch AdamW on encoder (LoRA or full) and heads together."""
        args, model = self.args, self.model
        enc_lr = args.encoder_learning_rate(strategy)
        head_ids = {id(p) for p in _head_parameters(model)}
        decay, no_decay, heads = [], [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if id(p) in head_ids:
                heads.append(p)
            elif p.ndim >= 2 and "norm" not in name.lower():
                decay.append(p)
            else:
                no_decay.append(p)
        groups = [
            {"params": decay, "lr": enc_lr, "weight_decay": args.weight_decay},
            {"params": no_decay, "lr": enc_lr, "weight_decay": 0.0},
            {"params": heads, "lr": args.head_learning_rate, "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW([g for g in groups if g["params"]])
        total = self.encoder_steps()
        warm = int(round(args.warmup_ratio * total))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / max(1, warm)
            return max(0.0, (total - step) / max(1, total - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        gen = torch.Generator().manual_seed(args.seed)
        trainable = [p for g in groups for p in g["params"]]
        model.train()
        step = 0
        for epoch in range(1, args.epochs + 1):
            for idx in self.batches(gen):
                batch = self.batch(idx)
                out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
                losses = self.loss(out.code_logits, out.sentiment_logits, batch)
                opt.zero_grad(set_to_none=True)
                losses[0].backward()
                if args.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm)
                lr = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                step += 1
                self.record("encoder", epoch, step, losses, lr)
                self.tick()
        model.eval()


def _as_written(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record of a written corpus, marked written; its group kept apart from the real ones."""
    out = {**record, "source": "written"}
    if out.get("group") not in (None, ""):
        out["group"] = f"written:{out['group']}"
    return out


def fit_logistic_examples(
    emb: Any, examples: Sequence[TrainingExample], codebook: Codebook, args: TrainingArguments
) -> Any:
    """The ``head_fit="logistic"`` stage on embeddings ``emb`` ``[N, H]`` of ``examples``.

    Shared by :func:`train` and the evaluation's estimator of the same recipe. Example weights
    are the examples' own (written and description weights); real records (not written, not
    descriptions) fit the temperatures when there are enough of them.
    """
    from nokoding.training.logistic import fit_logistic_heads

    labels = list(codebook.sentiment_labels)
    return fit_logistic_heads(
        emb, [[codebook.index(c) for c in e.code_ids] for e in examples],
        [labels.index(e.sentiment) if e.sentiment is not None else None for e in examples],
        codebook.n_codes, len(labels), weights=[e.weight for e in examples],
        calibrate=[e.source == "record" and not e.written for e in examples], C=args.logistic_c,
        balanced=args.class_weighting == "balanced", calibration_folds=args.calibration_folds, seed=args.seed,
    )


def set_linear_heads(model: CodingModel, heads: Any) -> None:
    """Copy fitted :class:`~nokoding.training.logistic.LogisticHeads` into the model's linear heads."""
    from nokoding.model.heads import LinearHead

    pairs = [(model.code_head, heads.code)]
    if heads.sentiment is not None:
        pairs.append((model.sentiment_head, heads.sentiment))
    with torch.no_grad():
        for head, fitted in pairs:
            if not isinstance(head, LinearHead):
                raise TypeError("logistic heads need linear heads")
            head.linear.weight.copy_(torch.as_tensor(fitted.weight, dtype=head.linear.weight.dtype))
            head.linear.bias.copy_(torch.as_tensor(fitted.bias, dtype=head.linear.bias.dtype))
            head.center.copy_(torch.as_tensor(fitted.center, dtype=head.center.dtype))


def train(
    data: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    *,
    codebook: Codebook | str | os.PathLike[str] | None = None,
    backbone: str | os.PathLike[str] = "me5-small",
    strategy: str = "lora",
    out_dir: str | os.PathLike[str] | None = None,
    args: TrainingArguments | None = None,
    written: str | os.PathLike[str] | Iterable[Mapping[str, Any]] | None = None,
    written_weight: float = 1.0,
    **overrides: Any,
) -> CodingModel:
    """Fine-tune a coding model on hand-coded records.

    Args:
        data: a corpus name (``"thesis_mrs"``) or folder, a JSON Lines file of records, or an
            iterable of record mappings (``text``, ``code_id`` or ``category``+``subcategory``,
            optional ``id``, ``sentiment``, ``group``; see :mod:`nokoding.training.data`).
        codebook: the codebook (object, name or YAML path); default the corpus's own.
        backbone: a backbone name (``"me5-small"``, ``"nb-bert-base"``) or an encoder folder.
        strategy: ``"lora"`` (default: LoRA adapters, word embeddings frozen), ``"full"`` (all
            encoder weights except the word embeddings) or ``"frozen"`` (heads only).
        out_dir: if given, the trained model is saved there (see :mod:`nokoding.model.io`).
        args: hyper-parameters; ``**overrides`` replace single fields (``epochs=3``).
        written: a corpus of statements written as training examples for the same codebook
            (name, folder, JSON Lines file or records; ``code_id`` empty = a text with no code),
            added to ``data``. Records of ``data`` marked ``"source": "written"`` count as
            written too. Written statements are never evidence and never fit the temperature
            when real records can.
        written_weight: loss/sample weight of each written example (real records: 1).

    Returns:
        The trained :class:`CodingModel` in eval mode; ``model.training_log`` holds the log
        rows (also saved as ``training_log.jsonl``) and ``model.data_summary`` the data counts.

    Raises:
        nokoding.training.data.TrainingDataError: unusable records.
        nokoding.backbones.BackboneError: unknown backbone or missing weights.
        ValueError: unknown strategy or argument values; TypeError: unknown override names.
    """
    args = replace(args or TrainingArguments(), **overrides)
    if strategy not in ("lora", "full", "frozen"):
        raise ValueError(f"unknown fine-tuning strategy {strategy!r}; use 'lora', 'full' or 'frozen'")
    if written_weight < 0:
        raise ValueError(f"written_weight must be ≥ 0, got {written_weight}")
    records, codebook = load_training_data(data, codebook)
    origin = str(data) if isinstance(data, (str, os.PathLike)) else "records"
    if written is not None:
        extra, _ = load_training_data(written, codebook)
        records = [*records, *(_as_written(r) for r in extra)]
        origin += f" + written {written}" if isinstance(written, (str, os.PathLike)) else " + written records"
    examples = build_examples(
        records, codebook, use_descriptions=args.use_descriptions, description_weight=args.description_weight,
        origin=origin, written_weight=written_weight,
    )
    examples = [e for e in examples if e.weight > 0]
    logistic = args.head_fit == "logistic"
    with seeded(args.seed, deterministic=args.deterministic):
        model = CodingModel.from_backbone(
            backbone, codebook, strategy=strategy, lora=args.lora(),
            code_head="linear" if logistic else args.code_head,
            sentiment_head="linear" if logistic else args.sentiment_head,
            category_aggregation="sum" if logistic else args.category_aggregation,
            max_length=args.max_length, train_word_embeddings=args.train_word_embeddings,
            code_probability="softmax" if logistic else "sigmoid",
            no_code_class=logistic and any(e.source == "record" and not e.code_ids for e in examples),
            predicts_sentiment=any(e.sentiment is not None for e in examples),
        )
        run = _Run(model, examples, args)
        head_ticks = 1 if args.head_fit in ("calibrate", "logistic") else args.head_steps
        total = head_ticks + (run.encoder_steps() if strategy != "frozen" else 0)
        if args.progress:
            from tqdm.auto import tqdm

            run.bar = tqdm(total=total, desc="nokoding train", unit="step", leave=False)
        try:
            emb = torch.from_numpy(model.embed(run.texts))
            _init_heads(model, emb, run.codes, run.sentiments, args)
            tune_encoder = strategy != "frozen" and args.epochs > 0
            if tune_encoder and args.head_stage == "after":
                run.fine_tune(strategy)
                emb = torch.from_numpy(model.embed(run.texts))  # the tuned encoder's view
                _init_heads(model, emb, run.codes, run.sentiments, args)
                run.fit_or_calibrate_heads(emb)
            else:
                run.fit_or_calibrate_heads(emb)
                if tune_encoder:
                    run.fine_tune(strategy)
        finally:
            if run.bar is not None:
                run.bar.close()
    model.eval()
    if args.evidence:
        recs = [e for e in examples if e.source == "record" and e.code_ids and not e.written]
        emb = model.embed([e.text for e in recs])
        model.evidence = EvidenceStore.build(
            emb, [e.id for e in recs], [e.text for e in recs], [e.code_ids for e in recs]
        )
    summary = summarise(examples, codebook, source=origin)
    summary["backbone"] = model.config.backbone_name
    summary["strategy"] = strategy
    summary["training_seconds"] = round(time.perf_counter() - run.started, 1)
    model.training_log = run.log
    model.data_summary = summary
    model.training_args = {"backbone": str(backbone), "strategy": strategy, **args.to_dict()}
    if written is not None or any(e.written for e in examples):
        model.training_args.update(written=str(written) if isinstance(written, (str, os.PathLike)) else "records",
                                   written_weight=written_weight)
    if out_dir is not None:
        model.save_pretrained(Path(out_dir))
    return model
