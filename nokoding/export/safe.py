"""Hardened reading of XML and ZIP files that come from outside (other QDA tools, colleagues).

A ``.qdpx`` project or ``.qdc`` codebook may have been written by any program, so nokoding
parses them defensively:

* **XML** is parsed with :mod:`defusedxml` (expat underneath): a document that declares
  entities (the "billion laughs" expansion bomb, external entities that read local files
  or the network) is refused before anything is expanded or fetched. A plain ``<!DOCTYPE>``
  without entity declarations is accepted. Nothing is ever downloaded.
* **ZIP** members are read only after checking their names and sizes: an absolute name
  (``/etc/x``, ``\\x``, ``C:x``), a name with a ``..`` component, a symbolic link or an
  encrypted member is refused, and so is a member whose *declared* size or whose *actual*
  decompressed size exceeds a cap (the actual size is counted while inflating, so a
  header that lies about its size does not help a "zip bomb"). Caps are configurable with
  :class:`ZipLimits`.

Every refusal raises :class:`UnsafeInputError` (a :class:`ValueError`) whose message names
the file and the member or the XML construct.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

__all__ = [
    "UnsafeInputError",
    "XmlFormatError",
    "ZipLimits",
    "check_member_name",
    "parse_xml",
    "read_member",
    "safe_extract",
]

_MIB = 1024 * 1024


class XmlFormatError(ValueError):
    """An XML file is not well-formed (the message names the file, line and column)."""


class UnsafeInputError(ValueError):
    """An input file was refused as unsafe: entity declarations, an escaping or oversized
    ZIP member. The message names the file and the offending member or construct."""


@dataclass(frozen=True)
class ZipLimits:
    """Caps applied when reading a ZIP archive (``.qdpx``).

    Attributes:
        max_member_bytes: largest decompressed size accepted for one member that is read
            (bytes; default 256 MiB — far above any transcript or project XML).
        max_total_bytes: largest decompressed size summed over the members read (bytes;
            default 1 GiB).
        max_members: most entries the archive may list (default 100 000).
    """

    max_member_bytes: int = 256 * _MIB
    max_total_bytes: int = 1024 * _MIB
    max_members: int = 100_000


def check_member_name(name: str, *, origin: str) -> PurePosixPath:
    """Validate a ZIP member name and return it as a relative POSIX path.

    Raises:
        UnsafeInputError: for an empty or absolute name (``/x``, ``\\x``, ``C:x``), a name
            with a ``..`` component, or a NUL character; names ``origin`` and the member.
    """
    if not name or "\x00" in name:
        raise UnsafeInputError(f"{origin}: ZIP member {name!r} has an empty or invalid name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) >= 2 and unified[1] == ":"):
        raise UnsafeInputError(f"{origin}: ZIP member {name!r} has an absolute path; refused")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeInputError(
            f"{origin}: ZIP member {name!r} contains '..' and could escape the target folder; refused"
        )
    if not parts:
        raise UnsafeInputError(f"{origin}: ZIP member {name!r} has an empty path")
    return PurePosixPath(*parts)


def _check_info(info: zipfile.ZipInfo, *, origin: str, limits: ZipLimits) -> PurePosixPath:
    path = check_member_name(info.filename, origin=origin)
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        raise UnsafeInputError(f"{origin}: ZIP member {info.filename!r} is a symbolic link; refused")
    if info.flag_bits & 0x1:
        raise UnsafeInputError(f"{origin}: ZIP member {info.filename!r} is encrypted; not supported")
    if info.file_size > limits.max_member_bytes:
        raise UnsafeInputError(
            f"{origin}: ZIP member {info.filename!r} declares {info.file_size} bytes decompressed, "
            f"over the cap of {limits.max_member_bytes} bytes; refused"
        )
    return path


def _check_archive(zf: zipfile.ZipFile, *, origin: str, limits: ZipLimits) -> None:
    n = len(zf.infolist())
    if n > limits.max_members:
        raise UnsafeInputError(f"{origin}: ZIP archive lists {n} entries, over the cap of {limits.max_members}")


def read_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    *,
    origin: str,
    limits: ZipLimits = ZipLimits(),
    budget: list[int] | None = None,
) -> bytes:
    """Read one member's bytes, checking its name, declared size and actual size.

    Args:
        zf: the open archive.
        info: the member.
        origin: the archive's path, for messages.
        limits: the caps.
        budget: optional one-element list holding the bytes still allowed in total
            (decremented in place), to enforce :attr:`ZipLimits.max_total_bytes` across calls.

    Raises:
        UnsafeInputError: for an unsafe name, a symlink, encryption, or a size over a cap.
        zipfile.BadZipFile: for a corrupt member (CRC mismatch, truncated data).
    """
    _check_info(info, origin=origin, limits=limits)
    cap = limits.max_member_bytes
    if budget is not None:
        cap = min(cap, budget[0])
    chunks: list[bytes] = []
    total = 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(min(1 * _MIB, cap + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise UnsafeInputError(
                    f"{origin}: ZIP member {info.filename!r} decompresses to more than {cap} bytes "
                    "(member or total cap); refused"
                )
            chunks.append(chunk)
    if budget is not None:
        budget[0] -= total
    return b"".join(chunks)


def safe_extract(
    archive: str | os.PathLike[str], target: str | os.PathLike[str], *, limits: ZipLimits = ZipLimits()
) -> list[Path]:
    """Extract every member of a ZIP archive below ``target``, refusing unsafe members.

    All names are checked before anything is written, so a refused archive leaves
    ``target`` untouched. Returns the extracted file paths.

    Raises:
        UnsafeInputError: as :func:`read_member`, or if a resolved path leaves ``target``.
        zipfile.BadZipFile: if ``archive`` is not a readable ZIP file.
    """
    origin = str(archive)
    target = Path(target).resolve()
    with zipfile.ZipFile(archive) as zf:
        _check_archive(zf, origin=origin, limits=limits)
        infos = zf.infolist()
        planned: list[tuple[zipfile.ZipInfo, Path]] = []
        declared = 0
        for info in infos:
            rel = _check_info(info, origin=origin, limits=limits)
            dest = (target / Path(*rel.parts)).resolve()
            if not dest.is_relative_to(target):
                raise UnsafeInputError(f"{origin}: ZIP member {info.filename!r} resolves outside {target}")
            declared += info.file_size
            planned.append((info, dest))
        if declared > limits.max_total_bytes:
            raise UnsafeInputError(
                f"{origin}: ZIP members declare {declared} bytes in total, over the cap of "
                f"{limits.max_total_bytes} bytes; refused"
            )
        budget = [limits.max_total_bytes]
        written: list[Path] = []
        for info, dest in planned:
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            data = read_member(zf, info, origin=origin, limits=limits, budget=budget)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            written.append(dest)
        return written


def parse_xml(data: bytes, *, origin: str) -> Element:
    """Parse XML bytes from outside and return the root element (stdlib ElementTree).

    Entity declarations (internal or external) and external references are refused
    before expansion; a plain DOCTYPE without entities is allowed.

    Raises:
        UnsafeInputError: for entity declarations or external references (names ``origin``).
        XmlFormatError: if the XML is not well-formed (names ``origin``, line and column).
    """
    try:
        return DET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except EntitiesForbidden as err:
        raise UnsafeInputError(
            f"{origin}: the XML declares the entity {err.name!r}; entity declarations are refused "
            "(they enable entity-expansion attacks such as 'billion laughs' and reading local files)"
        ) from None
    except ExternalReferenceForbidden as err:
        raise UnsafeInputError(
            f"{origin}: the XML refers to an external resource {err.sysid!r}; refused (nothing is fetched)"
        ) from None
    except DTDForbidden as err:  # pragma: no cover - forbid_dtd is False
        raise UnsafeInputError(f"{origin}: the XML has a document type declaration {err.name!r}; refused") from None
    except DefusedXmlException as err:  # pragma: no cover - other defusedxml refusals
        raise UnsafeInputError(f"{origin}: unsafe XML refused ({err})") from None
    except ParseError as err:
        line, col = getattr(err, "position", (0, 0))
        raise XmlFormatError(f"{origin}: line {line}, column {col}: XML is not well-formed ({err})") from None
