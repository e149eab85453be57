"""Training examples from hand-coded records and from the codebook's descriptions.

A *record* is one coded quote: a mapping with ``text`` and either ``code_id`` or the pair
(``category``, ``subcategory``), plus optional ``id``, ``sentiment`` and ``group``. Records that
share a ``group`` are the same quote filed under more than one code; they become one
multi-label example (their code ids united, in codebook order). With few quotes per code, each
code's codebook description is added as one more example of that code (no sentiment label);
on the thesis quotes this alone raised subcategory top-3 accuracy from 0.45 to 0.62 (NOTES.md).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from nokoding.codebook import Codebook, record_code_id

__all__ = [
    "TrainingDataError",
    "TrainingExample",
    "build_examples",
    "class_balanced_weights",
    "code_targets",
    "description_examples",
    "examples_from_records",
    "is_written",
    "load_training_data",
    "read_jsonl",
    "sentiment_targets",
    "summarise",
]

#: Ignored target in the sentiment loss (``torch.nn.functional.cross_entropy``'s default).
IGNORE = -100


class TrainingDataError(ValueError):
    """A training record is unusable (the message names the source and the record)."""


@dataclass(frozen=True)
class TrainingExample:
    """One training text with its targets.

    Attributes:
        id: the record id (ids joined with ``+`` for a merged group; ``desc:<code id>`` for a
            description).
        text: the text the encoder sees (the model's ``text_prefix`` is added later).
        code_ids: the codes that apply (codebook order); empty for a text with no code.
        sentiment: the sentiment label, or ``None`` when unlabelled.
        source: ``"record"`` (a coded quote) or ``"description"`` (from the codebook).
        weight: multiplies this example's loss (1 unless reweighted).
        written: ``True`` for a statement written as a training example (a written corpus),
            not an informant's words; it never calibrates probabilities when real ones can.
    """

    id: str
    text: str
    code_ids: tuple[str, ...]
    sentiment: str | None
    source: Literal["record", "description"] = "record"
    weight: float = 1.0
    written: bool = False


def load_training_data(
    data: str | os.PathLike[str] | Iterable[Mapping[str, Any]], codebook: Codebook | str | os.PathLike[str] | None
) -> tuple[list[dict[str, Any]], Codebook]:
    """Resolve what :func:`nokoding.training.train` was given into records and a codebook.

    Args:
        data: a corpus name or folder (read with ``nokoding.corpora.load_records``), a JSON
            Lines file of records (:func:`read_jsonl`), a ``datasets.Dataset`` from
            :func:`nokoding.corpora.load` (class-number labels are turned back into ids), or
            an iterable of record mappings.
        codebook: a :class:`Codebook`, a codebook name/YAML path (``nokoding.corpora.load_codebook``),
            or ``None`` to take the corpus's own codebook (only when ``data`` is a name/path).

    Raises:
        TrainingDataError: ``codebook`` is ``None`` for in-memory records or a Dataset, or there
            are no records.
    """
    if isinstance(data, (str, os.PathLike)) and Path(data).suffix in (".jsonl", ".json") and Path(data).is_file():
        records = read_jsonl(data)
        origin = str(data)
        if codebook is None:
            raise TrainingDataError(f"{data}: a records file needs a codebook (codebook=... / --codebook FILE.yaml)")
    elif isinstance(data, (str, os.PathLike)):
        from nokoding import corpora

        records = [dict(r) for r in corpora.load_records(data)]
        origin = str(data)
        if codebook is None:
            codebook = corpora.load_codebook(data)
    else:
        records = _dataset_records(data) if hasattr(data, "features") else [dict(r) for r in data]
        origin = "records"
        if codebook is None:
            if hasattr(data, "features"):
                # nokoding.corpora.load describes its Dataset as "nokoding corpus NAME: title"
                description = str(getattr(getattr(data, "info", None), "description", "") or "")
                name = description.removeprefix("nokoding corpus ").split(":")[0] if description.startswith(
                    "nokoding corpus ") else ""
                hint = f"codebook={name!r}" if name else "codebook=..., e.g. the corpus name"
                raise TrainingDataError(f"training on a datasets.Dataset needs a codebook ({hint})")
            raise TrainingDataError("training on in-memory records needs a codebook (codebook=...)")
    if not isinstance(codebook, Codebook):
        from nokoding import corpora

        codebook = corpora.load_codebook(codebook)
    if not records:
        raise TrainingDataError(f"{origin}: no training records")
    return records, codebook


#: Label columns of :func:`nokoding.corpora.load`'s Dataset → the record fields they hold.
_DATASET_LABELS = {"code": "code_id", "category": "category_id", "sentiment": "sentiment"}


def _dataset_records(dataset: Any) -> list[dict[str, Any]]:
    """Rows of a ``datasets.Dataset`` as records: class-number label columns (ClassLabel, as
    :func:`nokoding.corpora.load` writes them) turned back into code ids, category ids and
    sentiment labels (-1 = none)."""
    features = dataset.features
    records = []
    for row in dataset:
        rec = dict(row)
        for column, field_name in _DATASET_LABELS.items():
            feature = features.get(column)
            value = rec.get(column)
            if hasattr(feature, "int2str") and isinstance(value, int):
                rec.pop(column)
                rec[field_name] = feature.int2str(value) if value >= 0 else None
        records.append(rec)
    return records


def _code_of(record: Mapping[str, Any], codebook: Codebook, where: str) -> str | None:
    """The record's code id, or ``None`` for an uncoded record (no code fields)."""
    if not record.get("code_id") and not (record.get("category") and record.get("subcategory")):
        return None
    try:
        return record_code_id(record, codebook, where)
    except KeyError as err:
        raise TrainingDataError(err.args[0]) from None


def is_written(record: Mapping[str, Any]) -> bool:
    """Whether a record is a written training statement (``"source": "written"``), not a quote."""
    return record.get("source") == "written"


def examples_from_records(
    records: Sequence[Mapping[str, Any]], codebook: Codebook, *, origin: str = "records",
    written_weight: float = 1.0,
) -> list[TrainingExample]:
    """Turn records into examples, merging records that share a ``group`` (multi-label).

    A record without a code (no ``code_id`` and no category/subcategory pair) is kept as an
    example with no code (all code targets 0). A group's text is its longest record text (a
    printing may be an excerpt of another); its sentiment is its records' most common label
    (ties: the first); a disagreement is reported with a warning. A record marked
    ``"source": "written"`` (:func:`is_written`) becomes a written example of weight
    ``written_weight``.

    Raises:
        TrainingDataError: a record without text, an unknown code or an unknown sentiment
            label (the message names ``origin`` and the record's index and id).
    """
    labels = set(codebook.sentiment_labels)
    bundles: dict[str, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
    order: list[str] = []
    for i, rec in enumerate(records):
        rid = str(rec.get("id", i))
        where = f"{origin}: record {i} (id {rid!r})"
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TrainingDataError(f"{where}: no text")
        sentiment = rec.get("sentiment")
        if sentiment not in (None, "") and sentiment not in labels:
            raise TrainingDataError(
                f"{where}: sentiment {sentiment!r} is not one of {', '.join(codebook.sentiment_labels)}"
            )
        group = rec.get("group")
        key = f"group:{group}" if group not in (None, "") else f"record:{i}"
        if key not in bundles:
            order.append(key)
        bundles[key].append((i, rec))

    examples = []
    for key in order:
        members = bundles[key]
        text = max((str(rec["text"]) for _, rec in members), key=len)
        codes: set[str] = set()
        sentiments = []
        for i, rec in members:
            where = f"{origin}: record {i} (id {rec.get('id', i)!r})"
            code = _code_of(rec, codebook, where)
            if code is not None:
                codes.add(code)
            if rec.get("sentiment") not in (None, ""):
                sentiments.append(str(rec["sentiment"]))
        sentiment = None
        if sentiments:
            counts = Counter(sentiments)
            sentiment = max(counts, key=lambda s: (counts[s], -sentiments.index(s)))
            if len(counts) > 1:
                warnings.warn(
                    f"{origin}: {key} has sentiments {sorted(counts)}; using {sentiment!r}", stacklevel=2
                )
        examples.append(
            TrainingExample(
                id="+".join(dict.fromkeys(str(rec.get("id", i)) for i, rec in members)),
                text=text,
                code_ids=tuple(c for c in codebook.code_ids if c in codes),
                sentiment=sentiment,
                weight=written_weight if is_written(members[0][1]) else 1.0,
                written=is_written(members[0][1]),
            )
        )
    return examples


def description_text(codebook: Codebook, code_id: str) -> str:
    """The text standing for a code: ``"<category>, <subcategory>: <description>"``."""
    code = codebook.code(code_id)
    head = f"{code.category}, {code.subcategory}"
    return f"{head}: {code.description}" if code.description else head


def description_examples(codebook: Codebook, *, weight: float = 1.0) -> list[TrainingExample]:
    """One example per code from its codebook entry (category, subcategory and description)."""
    return [
        TrainingExample(
            id=f"desc:{c.id}", text=description_text(codebook, c.id), code_ids=(c.id,), sentiment=None,
            source="description", weight=weight,
        )
        for c in codebook.codes
    ]


def class_balanced_weights(examples: Sequence[TrainingExample], codebook: Codebook) -> list[float]:
    """Per-example weights that give every code the same total weight ("balanced").

    A code with ``n_c`` record examples gets ``w_c = N / (K · n_c)`` (``N`` coded records,
    ``K`` codes present; as scikit-learn's ``class_weight="balanced"``); an example's weight is
    the mean ``w_c`` of its codes times its own ``weight``; uncoded examples keep their own.
    Record weights are rescaled to average 1, so the loss scale does not change.
    """
    counts = Counter(c for e in examples if e.source == "record" for c in e.code_ids)
    n = sum(counts.values())
    k = len(counts)
    raw = []
    for e in examples:
        if e.source == "record" and e.code_ids:
            raw.append(sum(n / (k * counts[c]) for c in e.code_ids) / len(e.code_ids))
        else:
            raw.append(1.0)
    rec = [w for w, e in zip(raw, examples, strict=True) if e.source == "record"]
    mean = sum(rec) / len(rec) if rec else 1.0
    return [
        (w / mean if e.source == "record" else w) * e.weight for w, e in zip(raw, examples, strict=True)
    ]


def build_examples(
    records: Sequence[Mapping[str, Any]],
    codebook: Codebook,
    *,
    use_descriptions: bool = True,
    description_weight: float = 1.0,
    origin: str = "records",
    written_weight: float = 1.0,
) -> list[TrainingExample]:
    """Record examples (groups merged) followed by description examples when asked.

    Written records (``"source": "written"``) get weight ``written_weight``.
    """
    examples = examples_from_records(records, codebook, origin=origin, written_weight=written_weight)
    if use_descriptions:
        examples += description_examples(codebook, weight=description_weight)
    return examples


def code_targets(examples: Sequence[TrainingExample], codebook: Codebook) -> torch.Tensor:
    """Multi-hot code targets ``float32[N, n_codes]`` in codebook order."""
    t = torch.zeros(len(examples), codebook.n_codes)
    for i, e in enumerate(examples):
        for c in e.code_ids:
            t[i, codebook.index(c)] = 1.0
    return t


def sentiment_targets(examples: Sequence[TrainingExample], labels: Sequence[str]) -> torch.Tensor:
    """Sentiment label indices ``int64[N]``; ``-100`` (ignored) where unlabelled."""
    index = {s: i for i, s in enumerate(labels)}
    return torch.tensor([index[e.sentiment] if e.sentiment is not None else IGNORE for e in examples])


def summarise(examples: Sequence[TrainingExample], codebook: Codebook, *, source: str = "") -> dict[str, Any]:
    """Counts for ``data.json`` and the model card."""
    recs = [e for e in examples if e.source == "record"]
    per_code = Counter(c for e in recs for c in e.code_ids)
    return {
        "source": source,
        "codebook": codebook.name,
        "record_examples": len(recs),
        "multi_label_examples": sum(len(e.code_ids) > 1 for e in recs),
        "uncoded_examples": sum(not e.code_ids for e in recs),
        "written_examples": sum(e.written for e in recs),
        "written_uncoded_examples": sum(e.written and not e.code_ids for e in recs),
        "description_examples": len(examples) - len(recs),
        "codes_without_examples": [c for c in codebook.code_ids if per_code[c] == 0],
        "examples_per_code": {c: per_code[c] for c in codebook.code_ids},
        "sentiment": dict(Counter(e.sentiment for e in recs if e.sentiment is not None)),
        "written_sentiment": dict(Counter(e.sentiment for e in recs if e.written and e.sentiment is not None)),
    }


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON Lines file of records (one object per line; blank lines skipped; a BOM is allowed).

    Raises:
        TrainingDataError: naming the file and line of an invalid line.
    """
    from nokoding.export.tabular import read_jsonl as read_objects

    try:
        return read_objects(path, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise
    except ValueError as err:  # the reader's "file: line n: …" message
        raise TrainingDataError(str(err)) from None
