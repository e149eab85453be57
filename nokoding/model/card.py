"""The model card (``README.md`` of a saved model): data, protocol, intended use, limitations.

Follows the headings of Mitchell et al. (2019), "Model Cards for Model Reporting", shortened
to what a qualitative researcher needs before trusting a suggestion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from nokoding import __version__
from nokoding.codebook import Codebook
from nokoding.model.config import ModelConfig

__all__ = ["render_model_card"]


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            rows.append((name, value))
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _code_head_line(config: ModelConfig) -> str:
    if config.code_probability == "softmax":
        return (f"- Code head: {config.code_head} ({config.n_codes} codes, one softmax over the codes"
                + (" and \"no code\"; the model suggests no code when P(no code) ≥ 0.5" if config.no_code_class else "")
                + ", temperature-calibrated); category score = sum of its codes' probabilities.")
    return (f"- Code head: {config.code_head} ({config.n_codes} codes, sigmoid, multi-label); category score = "
            + ("noisy-OR 1 − ∏(1 − p) over the category's codes." if config.category_aggregation == "noisy_or"
               else "maximum over the category's codes."))


def _sentiment_line(config: ModelConfig) -> str:
    if not config.predicts_sentiment:
        return "- Sentiment head: none (trained without sentiment labels; suggestions carry no sentiment)."
    return f"- Sentiment head: {config.sentiment_head} (softmax over {', '.join(config.sentiment_labels)})."


#: Hugging Face ids of the weights behind nokoding's built-in backbone names.
_BASE_MODELS = {
    "me5-small": "intfloat/multilingual-e5-small",
    "me5-small-coding": "intfloat/multilingual-e5-small",
    "nb-bert-base": "NbAiLab/nb-bert-base",
}

#: Metrics shown in the card's ``model-index`` (Hugging Face's results block), in this order.
_INDEX_METRICS = (
    ("category.accuracy", "accuracy", "category accuracy"),
    ("category.cohen_kappa", "cohen_kappa", "category Cohen's kappa"),
    ("code.accuracy", "accuracy", "code top-1 accuracy"),
    ("code.top3_accuracy", "accuracy", "code top-3 accuracy"),
    ("sentiment.macro_f1", "f1", "sentiment macro-F1"),
    ("category.ece", "ece", "category expected calibration error"),
)


def _base_model(backbone_name: str) -> str | None:
    if backbone_name in _BASE_MODELS:
        return _BASE_MODELS[backbone_name]
    parts = backbone_name.split("/")
    return backbone_name if len(parts) == 2 and all(parts) and not backbone_name.startswith(".") else None


def _datasets(data_summary: Mapping[str, Any]) -> list[str]:
    source = str(data_summary.get("source") or "")
    names = [part.strip().removeprefix("written ").strip() for part in source.split("+")]
    return [name for name in names if name and "/" not in name and " " not in name]


def _front_matter(config: ModelConfig, codebook: Codebook, data_summary: Mapping[str, Any],
                  metrics: Mapping[str, Any]) -> list[str]:
    """Hugging Face model-card metadata (YAML between ``---`` lines) for the hub and its search."""
    meta: dict[str, Any] = {
        "language": ["no", "nb", "nn"],
        "license": "mit",
        "library_name": "nokoding",
        "pipeline_tag": "text-classification",
        "tags": ["nokoding", "qualitative-coding", "interview-transcripts", "text-classification",
                 f"codebook-{codebook.name}"],
    }
    base = _base_model(config.backbone_name)
    if base:
        meta["base_model"] = base
    datasets = _datasets(data_summary)
    if datasets:
        meta["datasets"] = datasets
    flat = dict(_flatten(metrics))
    found = [(key, kind, name) for key, kind, name in _INDEX_METRICS if isinstance(flat.get(key), (int, float))]
    if found:
        meta["metrics"] = sorted({kind for _, kind, _ in found})
        suffix = " (cross-validated)" if "fold" in str(flat.get("protocol") or "") else ""
        meta["model-index"] = [{
            "name": f"nokoding-{codebook.name}",
            "results": [{
                "task": {"type": "text-classification", "name": "Qualitative coding (codebook codes)"},
                "dataset": {"type": codebook.name, "name": codebook.title or codebook.name},
                "metrics": [{"type": kind, "name": name + suffix, "value": round(float(flat[key]), 4)}
                            for key, kind, name in found],
            }],
        }]
    text = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=10_000)
    return ["---", *text.rstrip("\n").splitlines(), "---", ""]


def render_model_card(
    config: ModelConfig,
    codebook: Codebook,
    training_args: Mapping[str, Any],
    data_summary: Mapping[str, Any],
    metrics: Mapping[str, Any],
    *,
    figures: Sequence[str] = (),
) -> str:
    """Markdown text of the model card.

    Args:
        config: the model's config (backbone, heads, strategy).
        codebook: its codebook (categories and codes are listed).
        training_args: the ``TrainingArguments`` as a mapping.
        data_summary: counts and sources of the training data (``data.json``).
        metrics: evaluation results (``metrics.json``); scalar entries become a table.
        figures: image paths relative to the model folder, shown under "Figures".
    """
    lines = [
        *_front_matter(config, codebook, data_summary, metrics),
        f"# nokoding coding model — codebook `{codebook.name}`",
        "",
        "Suggests codebook codes (category / subcategory) and a sentiment label for interview "
        "segments. Load with `nokoding.load_model(<this folder>)` or use "
        "`nokoding.suggest_codes(texts, model=<this folder>)`.",
        "",
        "## Model",
        "",
        f"- Backbone: `{config.backbone_name}` (weights sha256 `{config.backbone_sha256}`), "
        f"{config.pooling} pooling, text prefix `{config.text_prefix!r}`, window {config.max_length} tokens.",
        f"- Fine-tuning: `{config.strategy}`"
        + (f" (LoRA r={config.lora.r}, alpha={config.lora.alpha}, on {', '.join(config.lora.target_modules)})"
           if config.strategy == "lora" and config.lora else "")
        + ".",
        _code_head_line(config),
        _sentiment_line(config),
        f"- Written by nokoding {config.nokoding_version}"
        + (f"; card refreshed by nokoding {__version__}." if config.nokoding_version != __version__ else "."),
        "",
        "## Codebook",
        "",
        f"{codebook.title or codebook.name}" + (f" — source: {codebook.source}" if codebook.source else ""),
        "",
    ]
    for cat in codebook.categories:
        lines.append(f"- **{cat.name}** (`{cat.id}`): " + ", ".join(c.subcategory for c in codebook.codes_in(cat.id)))
    lines += ["", "## Training data and protocol", ""]
    n_written = int(data_summary.get("written_examples") or 0)
    if n_written:
        lines += [
            f"{n_written} of the {data_summary.get('record_examples')} training examples are **statements written "
            f"as training examples** for this codebook ({data_summary.get('written_uncoded_examples', 0)} of them "
            "with no code: greetings, procedure, small talk, off-topic talk), from the written corpus named in "
            "the training arguments (its DATASHEET.md says who wrote them and how). They are written examples, "
            "not informants' words; they are never shown as evidence. The other examples are the hand-coded "
            "quotes of the corpus.",
            "",
        ]
    if data_summary:
        for key, value in _flatten(data_summary):
            lines.append(f"- {key}: {_fmt(value)}")
    else:
        lines.append("- not recorded")
    if training_args:
        lines += ["", "<details><summary>Training arguments</summary>", "", "| argument | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in _flatten(training_args)]
        lines += ["", "</details>"]
    lines += ["", "## Evaluation", ""]
    rows = _flatten(metrics)
    if rows:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in rows]
    else:
        lines.append("Not evaluated yet (`metrics.json` is empty).")
    lines += ["", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in figures] or ["None yet."]
    lines += [
        "",
        "## Intended use",
        "",
        "A second reader for qualitative coding: it proposes codes, with the most similar hand-coded "
        "segments as evidence, for a human coder to accept or reject. It is not a replacement for "
        "coding, and its suggestions are not findings.",
        "",
        "## Limitations",
        "",
        "- Trained on few examples per code (see the data section); codes with fewer examples are "
        "less reliable"
        + (", and probabilities are not calibrated across codes." if config.code_probability == "sigmoid" else
           "; probabilities were calibrated on held-out predictions of the training quotes, which are "
           "few: read them as approximate."),
        "- Knows only this codebook; text about other themes still receives the nearest codes.",
        "- Sentiment is the sentiment toward the coded theme as labelled in the training data, "
        "not general polarity.",
        "- Texts longer than the window are split into overlapping windows whose scores are averaged.",
        "",
    ]
    return "\n".join(lines)
