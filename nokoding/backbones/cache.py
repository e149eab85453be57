"""nokoding's user cache folder and safe publication of folders into it.

Converted backbones are large (hundreds of MB) and are made once per machine, so they live in
a per-user cache, never in the repository or the working directory:

* ``cache_dir`` argument, else
* environment variable ``NOKODING_CACHE``, else
* ``platformdirs.user_cache_dir("nokoding")`` (``~/.cache/nokoding`` on Linux,
  ``~/Library/Caches/nokoding`` on macOS, ``%LOCALAPPDATA%\\nokoding\\Cache`` on Windows).

A folder is built under a temporary name beside its destination and renamed into place in one
step, so a reader never sees half a conversion and two processes building the same folder at
once both end up using one complete copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ENV_CACHE", "cache_root", "discard_directory", "publish_directory", "sha256_of"]

#: Environment variable that overrides the cache folder.
ENV_CACHE = "NOKODING_CACHE"
_PARTIAL = ".partial"
_STALE_AFTER_S = 6 * 3600
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return nokoding's cache folder (not created): argument > $NOKODING_CACHE > platformdirs."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nokoding", appauthor=False))


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, remembered per (path, size, mtime) for the life of the process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    digest = _SHA_MEMO.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = _SHA_MEMO[key] = h.hexdigest()
    return digest


def publish_directory(final: str | os.PathLike[str], build: Callable[[Path], object]) -> Path:
    """Create folder ``final`` atomically by calling ``build(tmp)`` on a temporary sibling.

    If ``final`` already exists it is returned untouched (``build`` is not called). Otherwise
    ``build`` fills a fresh temporary folder in the same parent, which is then renamed to
    ``final``. If another process published ``final`` meanwhile, that copy wins and the
    temporary folder is deleted. Leftover temporary folders older than six hours (from killed
    processes) are removed on the way.

    Returns:
        ``final`` as a Path.

    Raises:
        Whatever ``build`` raises (the temporary folder is removed first); OSError when the
        parent folder is not writable.
    """
    final = Path(final)
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep_partials(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=_PARTIAL, dir=final.parent))
    try:
        build(tmp)
        _make_readable(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process was first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def discard_directory(path: str | os.PathLike[str]) -> None:
    """Remove a published folder safely: rename it aside first, then delete it.

    Readers that already opened files keep working on POSIX; a concurrent
    :func:`publish_directory` never sees a half-deleted folder under the real name.
    """
    path = Path(path)
    if not path.exists():
        return
    aside = path.with_name(f".{path.name}.{os.getpid()}.{time.time_ns()}.stale{_PARTIAL}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _make_readable(folder: Path) -> None:
    # mkdtemp makes the folder private (0700); a cache of public model files may be shared
    os.chmod(folder, 0o755)
    for item in folder.rglob("*"):
        os.chmod(item, 0o755 if item.is_dir() else 0o644)


def _sweep_partials(final: Path) -> None:
    now = time.time()
    for leftover in final.parent.glob(f".{final.name}.*{_PARTIAL}"):
        try:
            if now - leftover.stat().st_mtime > _STALE_AFTER_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass
