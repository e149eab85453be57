"""Where converted backbones are kept, and publishing them without half-written folders."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from nokoding.backbones.cache import cache_root, discard_directory, publish_directory


def test_cache_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOKODING_CACHE", str(tmp_path / "from-env"))
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root() == tmp_path / "from-env"
    monkeypatch.delenv("NOKODING_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    import platformdirs

    assert cache_root() == Path(platformdirs.user_cache_dir("nokoding", appauthor=False))


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_publish_builds_once_and_reuses(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "weights").write_text("w")

    final = tmp_path / "backbones" / "model-1"
    assert publish_directory(final, build) == final
    assert publish_directory(final, build) == final
    assert len(calls) == 1
    assert (final / "weights").read_text() == "w"
    assert _siblings(final.parent) == ["model-1"]  # no temporary folder left


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    area = tmp_path / "area"

    def build(tmp: Path) -> None:
        (tmp / "half").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish_directory(area / "model", build)
    assert _siblings(area) == []


def test_concurrent_publishers_end_with_one_complete_folder(tmp_path: Path) -> None:
    final = tmp_path / "area" / "model"
    barrier = threading.Barrier(3)
    results: list[Path] = []

    def build(tmp: Path) -> None:
        barrier.wait()  # all three are building at the same time
        (tmp / "a").write_text("1")
        time.sleep(0.05)
        (tmp / "b").write_text("2")

    def publish() -> None:
        results.append(publish_directory(final, build))

    threads = [threading.Thread(target=publish) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [final] * 3
    assert sorted(p.name for p in final.iterdir()) == ["a", "b"]
    assert _siblings(final.parent) == ["model"]


def test_discard_directory(tmp_path: Path) -> None:
    final = publish_directory(tmp_path / "area" / "model", lambda tmp: (tmp / "x").write_text("x"))
    discard_directory(final)
    assert _siblings(final.parent) == []
    discard_directory(final)  # already gone: no error
