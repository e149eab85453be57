"""Decoding transcript files: byte-order marks, UTF-8, UTF-16 and the Windows-1252 fallback.

Order of attempts (the first that succeeds wins):

1. a byte-order mark: UTF-8 (EF BB BF), UTF-32 LE/BE, UTF-16 LE/BE;
2. strict UTF-8 (what Teams, Zoom, and most editors write);
3. UTF-16 without a BOM, recognised by NUL bytes in every other position of an
   ASCII-heavy start (some Windows tools write this);
4. Windows-1252, the default 8-bit code page of Norwegian Windows (a superset of
   Latin-1's printable characters, with € – “ ” … š ž). The five bytes it leaves undefined
   (0x81, 0x8D, 0x8F, 0x90, 0x9D) become U+FFFD instead of switching the whole file to
   another code page. This comes with a :class:`TranscriptWarning` naming the file, the
   non-ASCII characters the decoding produced (to check) and each replaced byte with its
   line; the same note is stored in ``Document.warnings``.

A file with NUL bytes that is not UTF-16/32 is binary (a PDF, an image, an old .doc) and
raises :class:`TranscriptError`, as does an empty file.
"""

from __future__ import annotations

import codecs
import warnings
from pathlib import Path

from nokoding.ingest.errors import TranscriptError, TranscriptWarning

__all__ = ["decode_bytes", "read_text_file"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # must come before UTF-16 LE (same first two bytes)
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _utf16_without_bom(data: bytes) -> str | None:
    head = data[:400]
    if len(head) < 4 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even_nul = head[0::2].count(0) / (len(head) // 2)
    odd_nul = head[1::2].count(0) / (len(head) // 2)
    if odd_nul > 0.6 and even_nul < 0.1:
        return "utf-16-le"
    if even_nul > 0.6 and odd_nul < 0.1:
        return "utf-16-be"
    return None


def decode_bytes(
    data: bytes, path: str | Path | None = None, *, encoding: str | None = None
) -> tuple[str, str, tuple[str, ...]]:
    """Decode a transcript's bytes.

    Args:
        data: the raw file content.
        path: the file, for messages.
        encoding: force this codec (no detection, no fallback).

    Returns:
        ``(text, encoding_used, notes)``; ``notes`` is empty unless a fallback was used
        (each note also emitted as a :class:`TranscriptWarning`). The text still contains
        whatever line ends it had; a UTF BOM is consumed by the codec.

    Raises:
        TranscriptError: empty input, binary content, or (with ``encoding``) bytes that
            are not valid in that encoding (with the line of the first bad byte).
    """
    name = str(path) if path is not None else "<bytes>"
    if not data:
        raise TranscriptError(path, "the file is empty")
    if encoding is not None:
        try:
            return data.decode(encoding), encoding, ()
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise TranscriptError(path, f"not valid {encoding}: {exc.reason}", line=line) from exc
        except LookupError as exc:
            raise TranscriptError(path, f"unknown encoding {encoding!r}") from exc
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec, ()
            except UnicodeDecodeError as exc:
                raise TranscriptError(
                    path, f"starts with a {codec} byte-order mark but is not valid {codec}"
                ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error: UnicodeDecodeError | None = exc
    else:
        utf8_error = None
        if "\x00" not in text:
            return text, "utf-8", ()
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            return data.decode(utf16), utf16, ()
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise TranscriptError(path, "binary file (contains NUL bytes), not a text transcript")
    assert utf8_error is not None
    bad_line = data[: utf8_error.start].count(b"\n") + 1
    text, undefined = _decode_cp1252(data)
    changed = sorted({c for c in text if ord(c) > 127 and c != "\ufffd"})
    shown = " ".join(changed[:20]) + (" …" if len(changed) > 20 else "")
    note = (
        f"{name}: not valid UTF-8 (first bad byte on line {bad_line}); decoded as Windows-1252"
        + (f", which gave these non-ASCII characters: {shown}" if changed else "")
        + ". Check them, or save the file as UTF-8."
    )
    if undefined:
        places = ", ".join(f"0x{b:02X} on line {line}" for b, line in undefined[:5])
        more = f" and {len(undefined) - 5} more" if len(undefined) > 5 else ""
        note += (
            f" {len(undefined)} byte(s) that Windows-1252 does not define ({places}{more}) "
            "were replaced by U+FFFD (\ufffd)."
        )
    warnings.warn(note, TranscriptWarning, stacklevel=3)
    return text, "cp1252", (note,)


def _decode_cp1252(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """Windows-1252 text with its five undefined bytes replaced by U+FFFD.

    Returns:
        ``(text, undefined)``: ``undefined`` lists ``(byte, line)`` for each replaced byte.
    """
    undefined: list[tuple[int, int]] = []

    def replace(exc: UnicodeError) -> tuple[str, int]:
        assert isinstance(exc, UnicodeDecodeError)
        for pos in range(exc.start, exc.end):
            undefined.append((data[pos], data[:pos].count(b"\n") + 1))
        return "\ufffd" * (exc.end - exc.start), exc.end

    codecs.register_error("nokoding-cp1252", replace)
    return data.decode("cp1252", errors="nokoding-cp1252"), undefined


def read_text_file(
    path: str | Path, *, encoding: str | None = None
) -> tuple[str, str, tuple[str, ...]]:
    """Read and decode a text file (see :func:`decode_bytes`).

    Raises:
        TranscriptError: the file is missing or unreadable, empty, binary or undecodable.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise TranscriptError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise TranscriptError(path, "is a folder, not a file") from exc
    except OSError as exc:
        raise TranscriptError(path, f"cannot be read: {exc.strerror or exc}") from exc
    return decode_bytes(data, path, encoding=encoding)
