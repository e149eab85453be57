"""Saving and loading coding models as a folder (in the spirit of ``save_pretrained``).

Layout of a saved model folder::

    config.json            ModelConfig: backbone name + sha256, text_prefix, max_length, head
                           types, strategy, sentiment labels, id2code/code2id and code names
    codebook.yaml          the codebook (label order = its code order)
    heads.safetensors      code head + sentiment head (incl. the centring vector)
    adapter.safetensors    LoRA adapter weights          (strategy "lora")
    encoder.safetensors    tuned encoder weights         (strategy "full"; word embeddings only
                                                          when they were tuned)
    evidence.safetensors   float16 embeddings of the hand-coded training segments
    evidence.jsonl         their ids, texts and code ids
    training_args.json     the TrainingArguments used
    training_log.jsonl     one JSON object per optimiser step (epoch, step, loss, lr, time)
    data.json              what the model was trained on (counts, sources)
    metrics.json           evaluation results (``{}`` until :func:`update_metrics` fills it)
    README.md              model card

The backbone itself is never copied: it is found again through
:func:`nokoding.backbones.resolve_backbone` and checked against the stored sha256, so a LoRA
model is a few MB. The folder is written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nokoding.atomic import atomic_write_text
from nokoding.codebook import Codebook
from nokoding.model.card import render_model_card
from nokoding.model.coding_model import CodingModel, apply_strategy
from nokoding.model.config import ModelConfig
from nokoding.model.evidence import EvidenceStore

__all__ = [
    "ADAPTER_WEIGHTS",
    "ENCODER_WEIGHTS",
    "HEAD_WEIGHTS",
    "ModelLoadError",
    "check_model_dir",
    "find_model",
    "from_pretrained",
    "load_model",
    "model_fingerprint",
    "save_pretrained",
    "update_metrics",
]

CONFIG = "config.json"
CODEBOOK = "codebook.yaml"
HEAD_WEIGHTS = "heads.safetensors"
ADAPTER_WEIGHTS = "adapter.safetensors"
ENCODER_WEIGHTS = "encoder.safetensors"
TRAINING_ARGS = "training_args.json"
TRAINING_LOG = "training_log.jsonl"
DATA = "data.json"
METRICS = "metrics.json"
CARD = "README.md"


class ModelLoadError(OSError):
    """A saved model cannot be found or loaded (the message names the folder or file and the fix)."""


# ---------------------------------------------------------------------- saving
def save_pretrained(
    model: CodingModel,
    path: str | os.PathLike[str],
    *,
    training_args: Mapping[str, Any] | None = None,
    training_log: Sequence[Mapping[str, Any]] | None = None,
    data_summary: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` to the folder ``path`` (layout in the module docstring); returns the path.

    The folder is built under a temporary name beside ``path`` and renamed into place; an
    existing *model* folder at ``path`` is replaced, anything else there is refused.

    ``training_args``, ``training_log`` and ``data_summary`` default to the model's own
    attributes (set by :func:`nokoding.training.train`).

    Raises:
        FileExistsError: if ``path`` exists and is not an empty folder or a nokoding model.
    """
    training_args = model.training_args if training_args is None else training_args
    training_log = model.training_log if training_log is None else training_log
    data_summary = model.data_summary if data_summary is None else data_summary
    path = Path(path)
    check_model_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes a private folder; a model folder is shareable
        _write_folder(model, tmp, training_args, training_log, data_summary, metrics)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_folder(
    model: CodingModel,
    folder: Path,
    training_args: Mapping[str, Any] | None,
    training_log: Sequence[Mapping[str, Any]] | None,
    data_summary: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
) -> None:
    from safetensors.torch import save_file

    def tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}

    (folder / CONFIG).write_text(model.config.to_json(), encoding="utf-8")
    model.codebook.to_yaml(folder / CODEBOOK)
    save_file(tensors(model.head_state()), str(folder / HEAD_WEIGHTS), metadata={"format": "pt"})
    encoder_state = model.encoder_state_to_save()
    if model.config.strategy == "lora":
        save_file(tensors(encoder_state), str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    elif model.config.strategy == "full":
        save_file(tensors(encoder_state), str(folder / ENCODER_WEIGHTS), metadata={"format": "pt"})
    if model.evidence is not None:
        model.evidence.save(folder)
    _dump(folder / TRAINING_ARGS, dict(training_args or {}))
    _dump(folder / DATA, dict(data_summary or {}))
    _dump(folder / METRICS, dict(metrics or {}))
    if training_log:
        lines = [json.dumps(dict(row), ensure_ascii=False) for row in training_log]
        (folder / TRAINING_LOG).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / CARD).write_text(
        render_model_card(model.config, model.codebook, training_args or {}, data_summary or {}, metrics or {}),
        encoding="utf-8",
    )


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def check_model_dir(path: str | os.PathLike[str]) -> None:
    """Refuse an output folder that :func:`save_pretrained` would refuse (check before training).

    Raises:
        FileExistsError: if ``path`` exists and is not an empty folder or a nokoding model.
    """
    path = Path(path)
    if path.exists() and not _replaceable(path):
        raise FileExistsError(f"{path} exists and is not a nokoding model folder; choose another output folder")


def _replaceable(path: Path) -> bool:
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    try:
        return "nokoding_version" in json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _swap_into_place(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; an existing ``path`` is moved aside first and then deleted."""
    if not path.exists():
        os.replace(tmp, path)
        return
    old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def update_metrics(path: str | os.PathLike[str], metrics: Mapping[str, Any]) -> Path:
    """Store evaluation ``metrics`` in a saved model's ``metrics.json`` and refresh its model card.

    Both files are replaced atomically. ``metrics`` is JSON-ready; the card shows its scalar
    entries (nested mappings flattened as ``a.b``) and lists ``*.png`` figures in the folder.

    Raises:
        ModelLoadError: if ``path`` is not a saved model.
    """
    path = Path(path)
    config = _read_config(path)
    codebook = Codebook.from_yaml(path / CODEBOOK)
    atomic_write_text(path / METRICS, json.dumps(dict(metrics), ensure_ascii=False, indent=2, default=str) + "\n")
    card = render_model_card(config, codebook, _read_json(path / TRAINING_ARGS), _read_json(path / DATA), metrics,
                             figures=sorted(p.relative_to(path).as_posix() for p in path.rglob("*.png")))
    atomic_write_text(path / CARD, card)
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


# ---------------------------------------------------------------------- loading
def find_model(name_or_path: str | os.PathLike[str]) -> Path:
    """Where a model lives: an existing folder, else ``$NOKODING_MODELS/<name>``, else
    ``<repository>/models/<name>`` (the models shipped with nokoding).

    Raises:
        ModelLoadError: listing the places searched.
    """
    given = Path(name_or_path).expanduser()
    if given.is_dir():
        return given
    searched = [str(given)]
    name = str(name_or_path)
    if os.sep not in name and "/" not in name:
        candidates = []
        if os.environ.get("NOKODING_MODELS"):
            candidates.append(Path(os.environ["NOKODING_MODELS"]).expanduser() / name)
        candidates.append(_repo_models() / name)
        for candidate in candidates:
            if candidate.is_dir():
                return candidate
        searched = [str(c) for c in candidates]
    raise ModelLoadError(
        f"no nokoding model {name!r}: looked in {', '.join(searched)}. Train one with "
        f"`nokoding train --out DIR` or set NOKODING_MODELS to the folder holding {name!r}"
    )


def model_fingerprint(name_or_path: str | os.PathLike[str]) -> str:
    """SHA-256 over a saved model folder's files (relative paths and bytes), hex.

    Two spellings of the same folder give the same value; retraining into the folder changes
    it. ``nokoding tag`` keys its resume state on it, so a run resumed after the model changed
    redoes its documents.

    Raises:
        ModelLoadError: see :func:`find_model`.
    """
    import hashlib

    folder = find_model(name_or_path)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _repo_models() -> Path:
    import nokoding

    return Path(nokoding.__file__).resolve().parents[1] / "models"


def _read_config(path: Path) -> ModelConfig:
    file = path / CONFIG
    if not file.is_file():
        raise ModelLoadError(f"{path} is not a nokoding model folder: {CONFIG} is missing")
    try:
        return ModelConfig.from_dict(json.loads(file.read_text(encoding="utf-8")), origin=str(file))
    except ValueError as err:  # JSONDecodeError is a ValueError
        raise ModelLoadError(f"{file}: {err}") from None


def _resolve_backbone_for(config: ModelConfig, folder: Path, override: str | os.PathLike[str] | None) -> Any:
    from nokoding.backbones import BackboneError, resolve_backbone

    if override is not None:
        tries = [str(override)]
    else:
        tries = list(dict.fromkeys([config.backbone_source, config.backbone_name]))
    errors = []
    for candidate in tries:
        try:
            return resolve_backbone(candidate)
        except (BackboneError, OSError, ValueError) as err:
            errors.append(f"{candidate!r}: {err}")
    raise ModelLoadError(
        f"model {folder} needs backbone {config.backbone_name!r} (weights sha256 {config.backbone_sha256[:12]}…), "
        f"which is not available here ({'; '.join(errors)}). Get it with "
        f"`nokoding.resolve_backbone({config.backbone_name!r})` (the named backbones are converted or found "
        f"offline), or pass backbone=<folder with the same weights> to load_model"
    )


def from_pretrained(
    path: str | os.PathLike[str],
    *,
    backbone: str | os.PathLike[str] | None = None,
    check_backbone: bool = True,
    merge_adapters: bool = False,
    device: str | torch.device = "cpu",
) -> CodingModel:
    """Load a model folder written by :func:`save_pretrained`, in eval mode, no gradients.

    Args:
        path: the model folder.
        backbone: a backbone name or folder to use instead of the recorded one (its weights
            must still match the recorded sha256 unless ``check_backbone=False``).
        check_backbone: refuse a backbone whose weights' sha256 differs from the recorded one.
        merge_adapters: fold LoRA weights into the encoder (faster; equal up to rounding).
        device: where to put the model.

    Returns:
        A :class:`CodingModel` whose outputs equal the saved model's and whose label names
        come from ``config.json``/``codebook.yaml``.

    Raises:
        ModelLoadError: missing folder/file, unknown or mismatching backbone, weights that do
            not fit the architecture (each message names the file and what to do).
    """
    from safetensors.torch import load_file

    folder = Path(path)
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {folder} does not exist")
    config = _read_config(folder)
    try:
        codebook = Codebook.from_yaml(folder / CODEBOOK)
        config.check_codebook(codebook)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{folder / CODEBOOK}: {err}") from None
    spec = _resolve_backbone_for(config, folder, backbone)
    if check_backbone and spec.sha256 != config.backbone_sha256:
        raise ModelLoadError(
            f"model {folder} was trained on backbone {config.backbone_name!r} with weights sha256 "
            f"{config.backbone_sha256}, but {spec.path} has {spec.sha256}: predictions would differ. "
            "Use the original backbone, or pass check_backbone=False to load anyway"
        )

    from nokoding.backbones import load_backbone

    tokenizer, encoder = load_backbone(spec)
    apply_strategy(encoder, config.strategy, config.lora, train_word_embeddings=config.trained_word_embeddings)
    model = CodingModel(encoder, tokenizer, codebook, config)

    heads = _load_weights(folder / HEAD_WEIGHTS, load_file)
    _load_into(model, heads, folder / HEAD_WEIGHTS, expected=set(model.head_state()))
    if config.strategy in ("lora", "full"):
        file = folder / (ADAPTER_WEIGHTS if config.strategy == "lora" else ENCODER_WEIGHTS)
        state = _load_weights(file, load_file)
        _load_into(model.encoder, state, file, expected=set(model.encoder_state_to_save()))
    try:
        model.evidence = EvidenceStore.load(folder)
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(f"{folder}: evidence store unreadable: {err}") from None

    model.training_args = _read_json(folder / TRAINING_ARGS)
    model.data_summary = _read_json(folder / DATA)
    log_file = folder / TRAINING_LOG
    if log_file.is_file():
        model.training_log = [json.loads(x) for x in log_file.read_text(encoding="utf-8").splitlines() if x.strip()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if merge_adapters and config.strategy == "lora":
        model.merge_adapters()
    return model.to(device)


def _load_weights(file: Path, load_file: Any) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise ModelLoadError(f"{file.parent}: weights file {file.name} is missing; the model folder is incomplete")
    try:
        return load_file(str(file))
    except Exception as err:  # safetensors raises its own error types
        raise ModelLoadError(f"{file}: unreadable weights ({err})") from None


def _load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], file: Path, expected: set[str]) -> None:
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise ModelLoadError(
            f"{file}: weights do not fit the model (missing {missing[:3]}{'…' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''})"
        )
    try:
        module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatch
        raise ModelLoadError(f"{file}: weights do not fit the model: {err}") from None


def load_model(name_or_path: str | os.PathLike[str] = "thesis-mrs", **kwargs: Any) -> CodingModel:
    """Load a saved coding model by folder or by name.

    A name (no path separator) is looked up as ``$NOKODING_MODELS/<name>`` and then as
    ``<repository>/models/<name>``; ``"thesis-mrs"`` is the model shipped with nokoding.
    Keyword arguments go to :func:`from_pretrained`.

    Raises:
        ModelLoadError: see :func:`find_model` and :func:`from_pretrained`.
    """
    return from_pretrained(find_model(name_or_path), **kwargs)
