"""Evaluation against a human coder's coding: cross-validated baselines and fine-tuned models.

Public API:

* :func:`evaluate_corpus` — repeated, stratified, grouped K-fold cross-validation of the
  baselines and fine-tuned strategies on a hand-coded corpus (e.g. the thesis's quotes), with
  a Markdown/JSON/figure report (:mod:`nokoding.evaluate.cv`, :mod:`nokoding.evaluate.report`);
* :func:`evaluate_model` — one saved model measured on any labelled corpus;
* :mod:`nokoding.evaluate.metrics` — accuracy, macro-F1, top-k, Cohen's kappa,
  Krippendorff's alpha, expected calibration error;
* :mod:`nokoding.evaluate.strategies` — the estimator interface and the method registry.

Metrics are computed for three tasks: main category, code (category, subcategory) and
sentiment.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nokoding.codebook import Codebook

__all__ = ["LabelledCorpusError", "evaluate_corpus", "evaluate_model", "read_labelled_jsonl"]


class LabelledCorpusError(ValueError):
    """A labelled corpus file is malformed (the message names the file and line)."""


def evaluate_corpus(
    corpus: str | os.PathLike[str] = "thesis_mrs",
    *,
    backbone: str = "me5-small",
    strategies: Sequence[str] | None = None,
    folds: int = 5,
    repeats: int = 3,
    strategy_repeats: Mapping[str, int] | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    train_options: Mapping[str, Any] | None = None,
    embedder: Any = None,
    runtimes: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    command: str = "",
    written: str | os.PathLike[str] | None = None,
    written_weight: float = 1.0,
    training_sets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Cross-validate methods on a hand-coded corpus and (optionally) write the report.

    Args:
        corpus: a corpus name (``"thesis_mrs"``) or folder (``codebook.yaml`` + ``segments.jsonl``),
            read with :mod:`nokoding.corpora`.
        backbone: encoder for the embedding baselines and fine-tuning (name or folder).
        strategies: method names (default: every baseline,
            :data:`nokoding.evaluate.strategies.BASELINES`); fine-tuned ones are
            ``lora``, ``full``, ``frozen`` and their ``+desc`` variants.
        folds, repeats: K and the number of repeats (seed ``seed + r`` for repeat ``r``).
        strategy_repeats: fewer repeats for some methods, e.g. ``{"lora": 1}``.
        out_dir: when given, writes ``<corpus>.md``, ``<corpus>.json`` and the PNG figures there.
        train_options: :class:`nokoding.training.TrainingArguments` fields for fine-tuned methods.
        embedder: an object with ``embed(texts) -> float32[N, H]`` to use instead of ``backbone``
            for the embedding baselines (tests).
        runtimes: also score fine-tuned methods' fitted models in these inference runtimes
            (``"int8"``), as methods ``"<name>@<runtime>"`` (see :func:`nokoding.evaluate.cv.run_cv`).
        progress: called with a line after every fold.
        command: the command line, recorded in the report.
        written: a corpus of written training statements for the same codebook (name or
            folder): training data only, never test data (see :func:`nokoding.evaluate.cv.run_cv`).
        written_weight: weight of each written statement in training (real quotes: 1).
        training_sets: with ``written``: ``"real"``, ``"real+written"``, ``"written"`` (default all).

    Returns:
        The report dict (as written to JSON); ``report["files"]`` lists written files.

    Raises:
        nokoding.corpora.CorpusError: unknown or malformed corpus.
        KeyError: unknown strategy.
        ValueError: bad folds/repeats.
    """
    from nokoding import corpora
    from nokoding.evaluate.cv import run_cv
    from nokoding.evaluate.report import cv_report, write_report
    from nokoding.evaluate.strategies import BASELINES, EvalContext

    codebook = corpora.load_codebook(corpus)
    records = corpora.load_records(corpus)
    name = Path(str(corpus)).name if os.sep in str(corpus) else str(corpus)
    context = EvalContext(codebook, backbone=backbone, seed=seed, train_options=dict(train_options or {}),
                          embedder=embedder, written_weight=written_weight)
    written_records: list[dict[str, Any]] = []
    written_name = ""
    if written is not None:
        other = corpora.load_codebook(written)
        if tuple(other.code_ids) != tuple(codebook.code_ids):
            raise ValueError(f"written corpus {written}: its codebook {other.name!r} is not {codebook.name!r}")
        written_records = [dict(r) for r in corpora.load_records(written)]
        written_name = Path(str(written)).name
    result = run_cv(records, codebook, list(strategies or BASELINES), corpus=name, n_folds=folds,
                    n_repeats=repeats, repeats=strategy_repeats, seed=seed, context=context, runtimes=runtimes,
                    progress=progress, written=written_records, written_corpus=written_name,
                    training_sets=training_sets)
    if written is not None:
        result.backbone["written_weight"] = written_weight
    if train_options:
        result.backbone["train_options"] = dict(train_options)
    if not result.backbone.get("sha256") and any(m.fine_tuned for m in result.methods.values()):
        from nokoding.backbones import resolve_backbone

        spec = resolve_backbone(backbone)
        result.backbone.update(name=spec.name, path=str(spec.path), sha256=spec.sha256, text_prefix=spec.text_prefix)
    report, figure = cv_report(result, command=command)
    if out_dir is not None:
        paths = write_report(report, figure, out_dir, name)
        report["files"] = {k: str(v) for k, v in paths.items()}
    return report


def read_labelled_jsonl(path: str | os.PathLike[str], codebook: Codebook) -> list[dict[str, Any]]:
    """Read a labelled JSON Lines file: one object per line with ``text`` and a code.

    A code is ``code_id`` or ``category`` + ``subcategory`` (names or ids) of ``codebook``;
    ``sentiment`` (one of ``codebook.sentiment_labels``), ``id`` and ``group`` are optional.
    Blank lines are skipped.

    Returns:
        Records with ``code_id`` filled in, in file order.

    Raises:
        FileNotFoundError: if the file does not exist.
        LabelledCorpusError: naming the file and line of invalid JSON, a missing text, a code
            not in the codebook or an unknown sentiment label; or when the file has no records.
    """
    from nokoding.evaluate.splits import record_code_id

    path = Path(path)
    labels = set(codebook.sentiment_labels)
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise LabelledCorpusError(f"{where}: invalid JSON ({err.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str) or not rec["text"].strip():
                raise LabelledCorpusError(f"{where}: needs a non-empty 'text'")
            try:
                rec["code_id"] = record_code_id(rec, codebook, where)
            except KeyError as err:
                raise LabelledCorpusError(str(err.args[0])) from None
            if rec.get("sentiment") in ("", None):
                rec["sentiment"] = None
            elif rec["sentiment"] not in labels:
                raise LabelledCorpusError(
                    f"{where}: sentiment {rec['sentiment']!r} is not one of {', '.join(codebook.sentiment_labels)}")
            rec.setdefault("id", f"line{lineno}")
            out.append(rec)
    if not out:
        raise LabelledCorpusError(f"{path}: no records")
    return out


def _load_labelled(corpus_or_path: str | os.PathLike[str], codebook: Codebook) -> tuple[str, list[dict[str, Any]]]:
    path = Path(str(corpus_or_path)).expanduser()
    if path.is_file():
        return path.stem, read_labelled_jsonl(path, codebook)
    from nokoding import corpora

    folder = corpora.corpus_dir(corpus_or_path)
    records = [dict(r) for r in corpora.load_records(folder)]
    other = corpora.load_codebook(folder)
    if tuple(other.code_ids) != tuple(codebook.code_ids):
        # Re-key the corpus's codes onto the model's codebook by (category, subcategory) names.
        for i, rec in enumerate(records):
            code = other.code(rec["code_id"])
            try:
                rec["code_id"] = codebook.find(code.category, code.subcategory).id
            except KeyError:
                raise LabelledCorpusError(
                    f"{folder / 'segments.jsonl'}: record {i} ({rec.get('id')!r}) has code {code.label!r}, "
                    f"which the model's codebook {codebook.name!r} does not have") from None
    return folder.name, records


def evaluate_model(
    model_dir: str | os.PathLike[str] | Any,
    corpus_or_path: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Measure a saved coding model on a labelled corpus (no training, one pass).

    Args:
        model_dir: a saved model folder or name (:func:`nokoding.model.load_model`), or a
            loaded :class:`~nokoding.model.CodingModel`.
        corpus_or_path: a labelled JSON Lines file (see :func:`read_labelled_jsonl`; codes are
            read against the model's codebook) or a corpus name/folder.
        out_dir: when given, writes ``<corpus>.md``/``.json`` and figures there.
        name: the method label in the report (default: the model folder's name).
        command: the command line, recorded in the report.

    Returns:
        The report dict (same layout as :func:`evaluate_corpus`, one method, one repeat).

    Raises:
        nokoding.model.ModelLoadError: the model cannot be loaded.
        LabelledCorpusError: the corpus file is malformed or names codes the model lacks.
    """
    from nokoding.evaluate.cv import score_units
    from nokoding.evaluate.report import single_report, write_report
    from nokoding.evaluate.splits import build_units
    from nokoding.inference import predict
    from nokoding.inference.probabilities import prediction_probabilities

    if isinstance(model_dir, (str, os.PathLike)):
        from nokoding.model import load_model

        model = load_model(model_dir)
        label = name or Path(str(model_dir)).name
    else:
        model = model_dir
        label = name or "model"
    codebook: Codebook = model.codebook
    corpus_name, records = _load_labelled(corpus_or_path, codebook)
    units = build_units(records, codebook)
    start = time.perf_counter()
    preds = list(predict(model, [u.text for u in units], device="cpu"))
    seconds = time.perf_counter() - start
    code_probs, sent_probs = prediction_probabilities(preds, codebook.n_codes, len(model.sentiment_labels))
    if preds and getattr(model.config, "code_probability", "sigmoid") != "sigmoid":
        code_probs = model.code_probabilities(np.stack([p.code_logits for p in preds]))
    if not getattr(model.config, "predicts_sentiment", True):
        sent_probs = None
    cat_probs = np.asarray(model.category_probabilities(code_probs), dtype=np.float64)
    has_sentiment = any(u.sentiment for u in units)
    scores = score_units(units, codebook, code_probs, cat_probs,
                         sent_probs if has_sentiment and sent_probs is not None else None)
    cfg = getattr(model, "config", None)
    info = {
        "path": str(model_dir) if isinstance(model_dir, (str, os.PathLike)) else "",
        "summary": f"saved model ({getattr(cfg, 'strategy', '?')} on {getattr(cfg, 'backbone_name', '?')})",
        "backbone": getattr(cfg, "backbone_name", ""),
        "backbone_sha256": getattr(cfg, "backbone_sha256", ""),
        "strategy": getattr(cfg, "strategy", ""),
    }
    report, figure = single_report(name=label, corpus=corpus_name, codebook=codebook, records=records, units=units,
                                   scores=scores, model_info=info, seconds=seconds, command=command)
    if not has_sentiment:
        report["protocol"]["sentiment"] = "no record has a sentiment label: sentiment not scored"
    if out_dir is not None:
        paths = write_report(report, figure, out_dir, corpus_name)
        report["files"] = {k: str(v) for k, v in paths.items()}
    return report
