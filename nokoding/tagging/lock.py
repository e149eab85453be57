"""The lock that keeps two tagging runs from writing one output folder at the same time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from nokoding.tagging.resume import STATE_DIR

__all__ = ["run_lock"]


@contextlib.contextmanager
def run_lock(out_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``out_dir/.nokoding/lock`` for a run, so that two runs never write one folder.

    The lock is an advisory ``flock`` on an open file: the operating system releases it when
    the process ends, also when it is killed, so a dead run never blocks the next one. The
    file records the holder's process id and start time for the message. Where ``fcntl`` is
    unavailable (Windows), no lock is taken.

    Raises:
        ValueError: another run holds the lock (the message names its process and start).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"output folder {out_dir} is a file; give a folder for --out")
    folder = Path(out_dir) / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lock"
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            raise ValueError(
                f"another nokoding tag run ({holder}) is writing to {out_dir}; wait until it has "
                "finished, or give another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {datetime.now().isoformat(timespec='seconds')}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock
