"""Atomic file output: a reader never sees a half-written file.

Every file nokoding writes (codebooks, models, tagged outputs, reports) goes through these
helpers: the content is written to a temporary file in the destination folder, flushed to
disk, then moved over the destination with :func:`os.replace` (atomic on POSIX and Windows
for paths on one file system).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; creates parent folders; returns the path.

    Raises:
        OSError: if the folder is not writable (no partial file is left behind).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the permissions an ordinary open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` (encoded with ``encoding``, no BOM, newlines as given) atomically."""
    return atomic_write_bytes(path, text.encode(encoding))
