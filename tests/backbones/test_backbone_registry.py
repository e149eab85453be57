"""Resolving backbone names, folders and cached hub ids; registration; clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from nokoding.backbones import (
    BackboneError,
    BackboneNotFoundError,
    BackboneSpec,
    list_backbones,
    load_backbone,
    register_backbone,
    resolve_backbone,
    spec_from_directory,
    unregister_backbone,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_hf_cache(hub: Path, repo_id: str, source: Path) -> Path:
    """Lay out ``source`` the way huggingface_hub caches a download of ``repo_id``."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot)
    return snapshot


def test_local_folder_resolves_and_loads(tiny_bert_dir: Path) -> None:
    spec = resolve_backbone(str(tiny_bert_dir))
    assert spec.path == tiny_bert_dir
    assert spec.name == "tiny-bert"
    assert spec.sha256 == _sha256(tiny_bert_dir / "model.safetensors")
    assert (spec.pooling, spec.text_prefix) == ("mean", "")
    assert spec.max_length == 64  # the tiny model's position table, below 512

    tokenizer, model = load_backbone(spec)
    assert model.pooler is None  # built without pooler: nokoding pools itself
    assert not model.training
    batch = tokenizer(["hei på deg", "målstyring"], padding=True, return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    assert tuple(hidden.shape[::2]) == (2, 32)


def test_e5_folder_gets_query_prefix(tiny_bert_dir: Path) -> None:
    renamed = tiny_bert_dir.rename(tiny_bert_dir.with_name("multilingual-e5-tiny"))
    spec = resolve_backbone(renamed)
    assert (spec.name, spec.text_prefix) == ("multilingual-e5-tiny", "query: ")


def test_position_limit_is_capped_at_512(tmp_path: Path, tiny_bert_maker) -> None:
    spec = spec_from_directory(tiny_bert_maker(tmp_path / "long", max_positions=1024))
    assert spec.max_length == 512


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: (d / "config.json").unlink(), "no config.json"),
        (lambda d: (d / "model.safetensors").unlink(), "no weights file"),
        (lambda d: (d / "config.json").write_text("{not json"), "unreadable config"),
        (
            lambda d: (d / "config.json").write_text(json.dumps({"model_type": "gpt2"})),
            "not a BERT-family encoder",
        ),
        (lambda d: [(d / f).unlink() for f in ("tokenizer.json", "tokenizer_config.json")], "no tokenizer"),
    ],
)
def test_unusable_folder_is_refused_with_reason(tiny_bert_dir: Path, damage, expected: str) -> None:
    damage(tiny_bert_dir)
    with pytest.raises(BackboneNotFoundError, match=expected) as info:
        resolve_backbone(tiny_bert_dir)
    assert str(tiny_bert_dir) in str(info.value)


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BackboneNotFoundError, match="does not exist"):
        resolve_backbone(str(tmp_path / "nowhere" / "model"))


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(BackboneNotFoundError) as info:
        resolve_backbone("bert-of-nowhere")
    message = str(info.value)
    assert "bert-of-nowhere" in message
    assert "me5-small" in message and "nb-bert-base" in message


def test_builtin_names_are_listed() -> None:
    names = list_backbones()
    assert {"me5-small", "nb-bert-base"} <= set(names)
    assert names == sorted(names)


def test_missing_nb_bert_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(BackboneNotFoundError) as info:
        resolve_backbone("nb-bert-base")
    message = str(info.value)
    assert "NbAiLab/nb-bert-base" in message
    assert "hf download NbAiLab/nb-bert-base" in message
    assert "huggingface-cli download NbAiLab/nb-bert-base" in message
    assert "NOKODING_NB_BERT" in message
    assert str(tmp_path / "hf-hub") in message  # where it looked


def test_nb_bert_from_env_folder(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOKODING_NB_BERT", str(tiny_bert_dir))
    spec = resolve_backbone("nb-bert-base")
    assert (spec.name, spec.path, spec.text_prefix) == ("nb-bert-base", tiny_bert_dir, "")


def test_nb_bert_env_pointing_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOKODING_NB_BERT", str(tmp_path / "missing"))
    with pytest.raises(BackboneNotFoundError, match="NOKODING_NB_BERT=.*is not a folder"):
        resolve_backbone("nb-bert-base")


def test_nb_bert_from_hugging_face_cache(tiny_bert_source: Path, tmp_path: Path) -> None:
    snapshot = _fake_hf_cache(tmp_path / "hf-hub", "NbAiLab/nb-bert-base", tiny_bert_source)
    spec = resolve_backbone("nb-bert-base")
    assert spec.path == snapshot
    assert spec.name == "nb-bert-base"
    assert spec.sha256 == _sha256(snapshot / "model.safetensors")


def test_incomplete_nb_bert_in_cache_is_explained(tiny_bert_source: Path, tmp_path: Path) -> None:
    snapshot = _fake_hf_cache(tmp_path / "hf-hub", "NbAiLab/nb-bert-base", tiny_bert_source)
    (snapshot / "model.safetensors").unlink()
    with pytest.raises(BackboneNotFoundError, match="incomplete copy of NbAiLab/nb-bert-base.*no weights"):
        resolve_backbone("nb-bert-base")


def test_hub_id_in_local_cache(tiny_bert_source: Path, tmp_path: Path) -> None:
    snapshot = _fake_hf_cache(tmp_path / "hf-hub", "someone/tiny-bert", tiny_bert_source)
    spec = resolve_backbone("someone/tiny-bert")
    assert (spec.name, spec.path) == ("someone/tiny-bert", snapshot)


def test_hub_id_not_cached_is_never_downloaded() -> None:
    with pytest.raises(BackboneNotFoundError, match="never downloads.*hf download someone/absent-bert"):
        resolve_backbone("someone/absent-bert")


def test_register_backbone(tiny_bert_dir: Path, isolated_backbone_env: Path) -> None:
    seen: list[Path] = []

    def factory(cache_dir: Path) -> BackboneSpec:
        seen.append(cache_dir)
        return spec_from_directory(tiny_bert_dir, name="tiny")

    register_backbone("tiny", factory)
    try:
        assert "tiny" in list_backbones()
        spec = resolve_backbone("tiny")
        assert (spec.name, spec.path) == ("tiny", tiny_bert_dir)
        assert seen == [isolated_backbone_env]  # factories get nokoding's cache folder
        with pytest.raises(ValueError, match="already taken"):
            register_backbone("tiny", factory)
        register_backbone("tiny", lambda: spec_from_directory(tiny_bert_dir, name="tiny2"), replace=True)
        assert resolve_backbone("tiny").name == "tiny2"
    finally:
        unregister_backbone("tiny")
    assert "tiny" not in list_backbones()


def test_builtin_names_are_protected(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="already taken"):
        register_backbone("me5-small", lambda: spec_from_directory(tiny_bert_dir))


def test_factory_returning_wrong_type_is_reported() -> None:
    register_backbone("broken", lambda: {"path": "/nowhere"})
    try:
        with pytest.raises(BackboneError, match="'broken'.*not a BackboneSpec"):
            resolve_backbone("broken")
    finally:
        unregister_backbone("broken")


def test_entry_point_backbone(tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist = site / "nokoding_extra_backbone-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nokoding-extra-backbone\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nokoding.backbones]\nplugin-bert = extra_backbone:make\n")
    (site / "extra_backbone.py").write_text(
        textwrap.dedent(
            f"""
            from nokoding.backbones import spec_from_directory

            def make(cache_dir):
                return spec_from_directory({str(tiny_bert_dir)!r}, name="plugin-bert")
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "extra_backbone", raising=False)
    assert "plugin-bert" in list_backbones()
    spec = resolve_backbone("plugin-bert")
    assert (spec.name, spec.path) == ("plugin-bert", tiny_bert_dir)
