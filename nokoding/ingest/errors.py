"""The one exception and the one warning category that reading transcripts produces."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ReadFailure", "TranscriptError", "TranscriptWarning"]


class TranscriptError(ValueError):
    """A transcript file cannot be read: missing, unreadable, binary, empty or malformed.

    The message names the file and, where known, the place (line number, cue).

    Attributes:
        path: the file (``None`` for in-memory text).
        reason: what is wrong, without the place.
        line: 1-based line number in the (normalised) file text, where known.
        cue: the WebVTT cue id or SubRip index, where known.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        reason: str,
        *,
        line: int | None = None,
        cue: str | int | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        self.line = line
        self.cue = cue
        super().__init__(self._message())

    def _message(self) -> str:
        where = [str(self.path) if self.path is not None else "<text>"]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.cue is not None:
            where.append(f"cue {self.cue}")
        return f"{', '.join(where)}: {self.reason}"

    def __reduce__(self):  # keep the keyword arguments when pickled (multiprocessing)
        return (_rebuild, (self.path, self.reason, self.line, self.cue))


def _rebuild(path, reason, line, cue):  # type: ignore[no-untyped-def]
    return TranscriptError(path, reason, line=line, cue=cue)


class TranscriptWarning(UserWarning):
    """A transcript was read, but with a caveat (e.g. a Windows-1252 encoding fallback)."""


@dataclass(frozen=True)
class ReadFailure:
    """A file that could not be read while reading a folder or a list of paths."""

    path: Path
    error: TranscriptError

    def __str__(self) -> str:
        return str(self.error)
