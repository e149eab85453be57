"""Contrastive tuning of the encoder across codebooks, so that it separates themes, not words.

A frozen multilingual encoder places two statements close when they share words ("video",
"skjerm") even when a coder files them under different codes. :func:`tune_encoder` adapts the
encoder on coded statements from *many* studies, each with its own codebook, so that
statements of the same code move together and statements of different codes of the same
study move apart; each code's description joins its statements as one more member (an
anchor that ties the code's examples to what the researcher wrote the code is about).

Recipe (supervised contrastive learning, Khosla et al. 2020, in the style of SetFit,
Tunstall et al. 2022):

* each step draws one study, up to ``codes_per_step`` of its codes, ``statements_per_code``
  statements of each and the codes' descriptions;
* the texts are embedded as E5 was trained (prefix ``"query: "``, mean pooling) and
  L2-normalised; the loss is the supervised contrastive loss over the batch at
  ``temperature``: for every member, the other members of its code are the positives and the
  members of the study's other codes are the negatives;
* only LoRA adapters (Hu et al. 2021) on the linear layers of the top ``top_layers``
  transformer blocks learn; word embeddings and everything else stay frozen, so the result is
  stored small (:meth:`TunedEncoder.save`) and applied over the unchanged base weights
  (:mod:`nokoding.backbones.coding`).

Leave-one-study-out evaluation needs the scored study out of the tuning data:
:func:`leave_one_study_out` returns the other studies and refuses to return the held-out one.

>>> studies = [study_from_records("a", codebook_a, records_a), ...]      # doctest: +SKIP
>>> tuned = tune_encoder(leave_one_study_out(studies, "a"), backbone="me5-small")  # doctest: +SKIP
>>> X = tuned.embed(["Sjefen min er nesten aldri tilgjengelig"])        # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nokoding.codebook import Codebook

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "EncoderTuningArguments",
    "LowerLayerCache",
    "TunedEncoder",
    "TuningStudy",
    "description_anchor",
    "leave_one_study_out",
    "run_layers",
    "loso_splits",
    "study_from_records",
    "supervised_contrastive_loss",
    "tune_encoder",
]

#: File names of a stored adapter (the layout peft's ``save_pretrained`` writes).
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
#: Written beside the adapter: the recipe, the studies and the tuning log.
TUNING_RECORD = "tuning.json"

_LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


def description_anchor(category: str, name: str, description: str) -> str:
    """The text that stands for a code as an anchor: ``"<category> – <name>: <description>"``.

    The same form as :func:`nokoding.evaluate.baselines.description_text`, so the tuned
    encoder sees descriptions the way the description heads later embed them.
    """
    head = f"{category} – {name}"
    return f"{head}: {description}" if description else head


@dataclass(frozen=True)
class TuningStudy:
    """One study's coded statements, grouped by code, for contrastive tuning.

    Attributes:
        name: the study's name (unique among the studies of one tuning run).
        codes: code ids in codebook order (codes without statements are left out).
        statements: code id → its statements (non-empty tuple each).
        anchors: code id → the code's description anchor (:func:`description_anchor`).
    """

    name: str
    codes: tuple[str, ...]
    statements: Mapping[str, tuple[str, ...]]
    anchors: Mapping[str, str]

    @property
    def n_statements(self) -> int:
        return sum(len(v) for v in self.statements.values())


def study_from_records(name: str, codebook: Codebook, records: Iterable[Mapping[str, Any]]) -> TuningStudy:
    """Group a study's coded records (``text`` + ``code_id``) by code.

    Records without a ``code_id`` (e.g. statements that fit no code) are skipped; blank texts
    are skipped.

    Raises:
        ValueError: a record's ``code_id`` is not in ``codebook`` (the message names the study
            and the record's position), or fewer than two codes have statements.
    """
    by_code: dict[str, list[str]] = {}
    known = set(codebook.code_ids)
    for i, rec in enumerate(records, start=1):
        code = rec.get("code_id")
        text = str(rec.get("text") or "").strip()
        if not code or not text:
            continue
        if code not in known:
            raise ValueError(f"study {name!r}, record {i} ({rec.get('id', 'no id')}): code_id {code!r} is not in its codebook")
        by_code.setdefault(str(code), []).append(text)
    codes = tuple(c for c in codebook.code_ids if c in by_code)
    if len(codes) < 2:
        raise ValueError(f"study {name!r}: contrastive tuning needs statements of at least two codes, found {len(codes)}")
    anchors = {
        c.id: description_anchor(c.category, c.subcategory, c.description or "") for c in codebook.codes if c.id in by_code
    }
    return TuningStudy(name=name, codes=codes, statements={c: tuple(by_code[c]) for c in codes}, anchors=anchors)


def leave_one_study_out(studies: Sequence[TuningStudy], held_out: str) -> list[TuningStudy]:
    """The tuning studies for scoring ``held_out``: every study except it.

    Raises:
        KeyError: ``held_out`` is not among ``studies``.
        ValueError: two studies share a name (the held-out one could then slip in).
    """
    names = [s.name for s in studies]
    if len(set(names)) != len(names):
        raise ValueError(f"study names must be unique, got {sorted(n for n in set(names) if names.count(n) > 1)}")
    if held_out not in names:
        raise KeyError(f"study {held_out!r} is not among the studies ({', '.join(names)})")
    return [s for s in studies if s.name != held_out]


def loso_splits(studies: Sequence[TuningStudy]) -> Iterator[tuple[str, list[TuningStudy]]]:
    """``(held-out study name, tuning studies)`` for every study in turn."""
    for s in studies:
        yield s.name, leave_one_study_out(studies, s.name)


@dataclass
class EncoderTuningArguments:
    """The recipe of :func:`tune_encoder`.

    Attributes:
        steps: optimisation steps (one study per step).
        codes_per_step: most codes of the drawn study per step (all when it has fewer).
        statements_per_code: statements drawn per code and step.
        use_descriptions: add each drawn code's description anchor to the batch.
        temperature: of the supervised contrastive loss.
        learning_rate, weight_decay, warmup_fraction: AdamW with linear warm-up and decay.
        lora_r, lora_alpha, lora_dropout: the LoRA adapters.
        top_layers: adapters go into the top ``top_layers`` transformer blocks (``None``: all).
        max_length: tokens per text during tuning (longer texts are cut; tuning only).
        seed: seeds sampling, adapter initialisation and dropout.
    """

    steps: int = 60
    codes_per_step: int = 8
    statements_per_code: int = 2
    use_descriptions: bool = True
    temperature: float = 0.05
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    top_layers: int | None = 4
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.codes_per_step < 2:
            raise ValueError(f"codes_per_step must be >= 2, got {self.codes_per_step}")
        if self.statements_per_code < 1:
            raise ValueError(f"statements_per_code must be >= 1, got {self.statements_per_code}")
        if self.statements_per_code < 2 and not self.use_descriptions:
            raise ValueError("with one statement per code and no descriptions a code has no positive pair")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_layers is not None and self.top_layers < 1:
            raise ValueError(f"top_layers must be >= 1 or None, got {self.top_layers}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def supervised_contrastive_loss(embeddings: Any, labels: Any, temperature: float) -> Any:
    """Supervised contrastive loss (Khosla et al. 2020, "SupCon", the L_out form).

    Args:
        embeddings: ``(N, H)`` tensor (normalised here).
        labels: ``(N,)`` integer tensor; members with equal labels are positives.
        temperature: softmax temperature.

    Returns:
        A scalar tensor: the mean over members that have at least one positive of
        ``-mean_{p in P(i)} log softmax_{a != i}(z_i·z_a / T)[p]``; 0 when no member has one.
    """
    import torch
    import torch.nn.functional as F

    z = F.normalize(embeddings, dim=-1)
    sim = z @ z.T / temperature
    n = sim.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        return embeddings.sum() * 0.0
    per_member = -(log_prob.masked_fill(~pos, 0.0)).sum(dim=1)[has] / n_pos[has]
    return per_member.mean()


def _mean_pool(hidden: Any, mask: Any) -> Any:
    from nokoding.model.pooling import masked_mean

    return masked_mean(hidden, mask)


def _bert(model: Any) -> Any:
    """The transformers encoder inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _layer_mask(bert: Any, hidden: Any, mask: Any) -> Any:
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=bert.config, inputs_embeds=hidden, attention_mask=mask)


def run_layers(bert: Any, hidden: Any, mask: Any, start: int, stop: int | None = None) -> Any:
    """Run transformer blocks ``start:stop`` of a BERT-type ``bert`` on ``hidden`` (``B, T, H``)."""
    layer_mask = _layer_mask(bert, hidden, mask)
    for layer in bert.encoder.layer[start:stop]:
        out = layer(hidden, layer_mask)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


class LowerLayerCache:
    """Token states after the frozen lower blocks of an encoder, computed once per text.

    When adapters sit only in the top blocks, everything below them is the unchanged base
    encoder, so its output for a text never changes during tuning, across leave-one-study-out
    folds, or between the base and the tuned encoder. Caching it makes a tuning step cost only
    the top blocks (forward and backward).

    Args:
        model: a transformers BERT-type encoder (or a peft wrapper of one); its blocks below
            ``split`` must carry no adapters.
        tokenizer: its tokenizer.
        split: number of lower blocks whose output is cached (0 caches the embeddings).
        text_prefix: prepended to every text.
        max_length: tokens per text (longer texts are cut).
    """

    def __init__(self, model: Any, tokenizer: Any, split: int, *, text_prefix: str = "", max_length: int = 128,
                 batch_size: int = 32) -> None:
        self.model, self.tokenizer, self.split = model, tokenizer, int(split)
        self.text_prefix, self.max_length, self.batch_size = text_prefix, int(max_length), int(batch_size)
        self._states: dict[str, Any] = {}
        self.seconds = 0.0

    def __len__(self) -> int:
        return len(self._states)

    def fill(self, texts: Sequence[str]) -> None:
        """Compute and keep the lower states of the texts not seen yet."""
        import torch

        todo = sorted(dict.fromkeys(t for t in texts if t not in self._states), key=len)
        if not todo:
            return
        started = time.perf_counter()
        bert = _bert(self.model)
        was_training = bert.training
        bert.eval()
        try:
            with torch.no_grad():
                for i in range(0, len(todo), self.batch_size):
                    chunk = todo[i : i + self.batch_size]
                    enc = self.tokenizer([self.text_prefix + t for t in chunk], padding=True, truncation=True,
                                         max_length=self.max_length, return_tensors="pt")
                    hidden = bert.embeddings(input_ids=enc["input_ids"])
                    hidden = run_layers(bert, hidden, enc["attention_mask"], 0, self.split)
                    for row, text in enumerate(chunk):
                        n = int(enc["attention_mask"][row].sum())
                        self._states[text] = hidden[row, :n].clone()
        finally:
            bert.train(was_training)
        self.seconds += time.perf_counter() - started

    def batch(self, texts: Sequence[str]) -> tuple[Any, Any]:
        """``(hidden (B, T, H), attention mask (B, T))`` for ``texts``, padded with zeros."""
        import torch

        self.fill(texts)
        states = [self._states[t] for t in texts]
        longest = max(s.shape[0] for s in states)
        hidden = states[0].new_zeros((len(states), longest, states[0].shape[1]))
        mask = torch.zeros((len(states), longest), dtype=torch.long)
        for i, s in enumerate(states):
            hidden[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = 1
        return hidden, mask

    def embed(self, model: Any, texts: Sequence[str]) -> NDArray[np.float32]:
        """Mean-pooled embeddings of ``texts`` through ``model``'s blocks above the split."""
        import torch

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self.fill(texts)
        bert = _bert(model)
        was_training = bert.training
        bert.eval()
        order = sorted(range(len(texts)), key=lambda i: self._states[texts[i]].shape[0])
        out = np.zeros((len(texts), int(bert.config.hidden_size)), dtype=np.float32)
        try:
            with torch.no_grad():
                for i in range(0, len(order), self.batch_size):
                    idx = order[i : i + self.batch_size]
                    hidden, mask = self.batch([texts[j] for j in idx])
                    top = run_layers(bert, hidden, mask, self.split)
                    out[idx] = _mean_pool(top, mask).float().numpy()
        finally:
            bert.train(was_training)
        return out


@dataclass
class TunedEncoder:
    """An encoder with trained LoRA adapters (a peft model), its tokenizer and how to feed it.

    Attributes:
        model: the peft-wrapped transformers encoder (eval mode after tuning).
        tokenizer: the backbone's tokenizer.
        text_prefix: prepended to every text (``"query: "`` for E5).
        backbone_name, backbone_sha256: the base encoder the adapters belong to.
        args: the recipe; studies: names and sizes of the tuning studies; log: per-step rows.
        cache: the lower-block states used in tuning (reused by :meth:`embed`).
    """

    model: Any
    tokenizer: Any
    text_prefix: str
    backbone_name: str
    backbone_sha256: str
    args: EncoderTuningArguments
    studies: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    cache: LowerLayerCache | None = None

    def embed(self, texts: Sequence[str], *, adapters: bool = True) -> NDArray[np.float32]:
        """Mean-pooled embeddings ``float32[len(texts), H]`` (not normalised), in input order.

        With ``adapters=False`` the base encoder's embeddings (the adapters switched off).
        Texts longer than ``args.max_length`` tokens are cut (this serves benchmarks;
        ``nokoding``'s inference splits long texts into windows instead).
        """
        cache = self.cache or LowerLayerCache(self.model, self.tokenizer, 0, text_prefix=self.text_prefix,
                                             max_length=self.args.max_length)
        self.cache = cache
        if adapters:
            return cache.embed(self.model, texts)
        with self.model.disable_adapter():
            return cache.embed(self.model, texts)

    def save(self, folder: str | os.PathLike[str], *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write the adapters (``adapter_model.safetensors``, ``adapter_config.json``) and
        ``tuning.json`` (recipe, studies, log, base sha256) into ``folder`` (created).

        Only the adapter weights are written, never the base encoder. The files are written
        to a temporary folder beside ``folder`` and moved in one by one.
        """
        import shutil
        import tempfile

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            self.model.save_pretrained(tmp)
            cfg_path = tmp / ADAPTER_CONFIG
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg["base_model_name_or_path"] = self.backbone_name  # never a path of this machine
            cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            record = {
                "base_backbone": self.backbone_name,
                "base_sha256": self.backbone_sha256,
                "text_prefix": self.text_prefix,
                "pooling": "mean",
                "recipe": self.args.to_dict(),
                "studies": self.studies,
                "seconds": round(self.seconds, 1),
                "log": self.log,
                **dict(extra or {}),
            }
            (tmp / TUNING_RECORD).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            folder.mkdir(parents=True, exist_ok=True)
            for item in sorted(tmp.iterdir()):
                os.chmod(item, 0o644)  # the temporary folder is private; the files are not
                os.replace(item, folder / item.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder


def _batch(study: TuningStudy, args: EncoderTuningArguments, rng: random.Random) -> tuple[list[str], list[int]]:
    codes = list(study.codes)
    if len(codes) > args.codes_per_step:
        codes = rng.sample(codes, args.codes_per_step)
    texts: list[str] = []
    labels: list[int] = []
    for k, code in enumerate(codes):
        pool = study.statements[code]
        n = min(args.statements_per_code, len(pool))
        texts.extend(rng.sample(pool, n))
        labels.extend([k] * n)
        if args.use_descriptions:
            texts.append(study.anchors[code])
            labels.append(k)
    return texts, labels


def tune_encoder(
    studies: Sequence[TuningStudy],
    *,
    backbone: str | os.PathLike[str] = "me5-small",
    args: EncoderTuningArguments | None = None,
    cache: LowerLayerCache | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> TunedEncoder:
    """Tune LoRA adapters of ``backbone`` contrastively on the codes of ``studies``.

    Args:
        studies: the tuning studies (at least one; each with at least two codes). Every
            study is drawn with equal probability per step, whatever its size.
        backbone: a backbone name or encoder folder (:func:`nokoding.backbones.resolve_backbone`).
        args: the recipe; ``**overrides`` replace single fields (``steps=40``).
        cache: lower-block states of the same backbone, split below the adapted blocks, to
            reuse across runs (leave-one-study-out folds); made here when not given.
        progress: called with each log row (``step``, ``study``, ``loss``, ``seconds``).

    Returns:
        The :class:`TunedEncoder` in eval mode.

    Raises:
        ValueError: no study, repeated study names, bad recipe values, or a ``cache`` split
            at another block than the adapters.
        nokoding.backbones.BackboneError: unknown backbone or missing weights.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    from nokoding.backbones import load_backbone, resolve_backbone

    args = EncoderTuningArguments(**{**(args.to_dict() if args else {}), **overrides})
    if not studies:
        raise ValueError("tune_encoder needs at least one study")
    names = [s.name for s in studies]
    if len(set(names)) != len(names):
        raise ValueError(f"study names must be unique, got {names}")

    spec = resolve_backbone(os.fspath(backbone))
    tokenizer, base = load_backbone(spec)
    n_layers = int(base.config.num_hidden_layers)
    top = n_layers if args.top_layers is None else min(args.top_layers, n_layers)
    split = n_layers - top
    if cache is None:
        cache = LowerLayerCache(base, tokenizer, split, text_prefix=spec.text_prefix, max_length=args.max_length)
    elif cache.split != split:
        raise ValueError(f"the cache holds states after block {cache.split}, the adapters start at block {split}")
    torch.manual_seed(args.seed)
    lora = LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, bias="none",
        target_modules=list(_LORA_TARGETS), layers_to_transform=list(range(split, n_layers)),
        layers_pattern="layer",
    )
    model = get_peft_model(base, lora)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay)
    warmup = max(1, int(round(args.warmup_fraction * args.steps)))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (args.steps - step) / max(1, args.steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_factor)
    rng = random.Random(args.seed)
    bert = _bert(model)
    log: list[dict[str, Any]] = []
    started = time.perf_counter()
    model.train()
    for step in range(args.steps):
        study = studies[rng.randrange(len(studies))]
        texts, labels = _batch(study, args, rng)
        hidden, mask = cache.batch(texts)
        top_states = run_layers(bert, hidden, mask, split)
        emb = _mean_pool(top_states, mask)
        loss = supervised_contrastive_loss(emb, torch.tensor(labels), args.temperature)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        scheduler.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"contrastive loss is {value} at step {step + 1} (study {study.name})")
        row = {"step": step + 1, "study": study.name, "loss": round(value, 4),
               "seconds": round(time.perf_counter() - started, 1)}
        log.append(row)
        if progress is not None:
            progress(row)
    model.eval()
    return TunedEncoder(
        model=model, tokenizer=tokenizer, text_prefix=spec.text_prefix, backbone_name=spec.name,
        backbone_sha256=spec.sha256, args=args,
        studies=[{"name": s.name, "codes": len(s.codes), "statements": s.n_statements} for s in studies],
        log=log, seconds=time.perf_counter() - started, cache=cache,
    )
