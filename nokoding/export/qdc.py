"""REFI-QDA codebook exchange (``.qdc``): export a nokoding codebook, import one from a QDA tool.

Export writes QDA-XML 1.0 (namespace ``urn:QDA-XML:codebook:1.0``, valid against the
published ``Codebook.xsd``): each category is a non-codable ``<Code isCodable="false">``
whose codable children are its codes (subcategories); descriptions go in
``<Description>``. GUIDs are deterministic (UUID v5 of the codebook name and the id), so a
re-export is byte-identical and matches the code GUIDs of nokoding's ``.qdpx`` projects.
Section numbers and sentiment labels have no place in the format and are not written.

Import accepts ``urn:QDA-XML:codebook:1.0`` and ``urn:QDA-XML:codebook:0:4`` (the namespace
ATLAS.ti and MAXQDA have written). See :func:`nokoding.export._refi.codebook_from_codes` for
how a tree — or a flat list of codes, with or without ``<Sets>`` (code groups) — becomes
categories and codes, and how ids are chosen.

Reference: REFI-QDA Standard, QDA-XML 1.0 (2019), section 5.2 (codebook exchange).
"""

from __future__ import annotations

import os
from pathlib import Path

from lxml import etree

from nokoding.atomic import atomic_write_bytes
from nokoding.codebook import Codebook, CodebookError
from nokoding.export._refi import (
    CODEBOOK_NS,
    CODEBOOK_NS_0_4,
    DEFAULT_FLAT_CATEGORY,
    add_code_tree,
    codebook_from_codes,
    ns_of,
    slugify,
    xml_text,
)
from nokoding.export.safe import UnsafeInputError, parse_xml

__all__ = ["ACCEPTED_NAMESPACES", "codebook_to_qdc", "read_qdc", "write_qdc"]

#: Codebook namespaces :func:`read_qdc` accepts.
ACCEPTED_NAMESPACES: tuple[str, ...] = (CODEBOOK_NS, CODEBOOK_NS_0_4)

#: Files larger than this are refused by :func:`read_qdc` (bytes; codebooks are kilobytes).
MAX_QDC_BYTES = 64 * 1024 * 1024


def codebook_to_qdc(codebook: Codebook, *, origin: str = "nokoding") -> bytes:
    """The codebook as ``.qdc`` XML bytes (UTF-8, with XML declaration, deterministic)."""
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS})
    root.set("origin", xml_text(origin))
    codes = etree.SubElement(root, f"{{{CODEBOOK_NS}}}Codes")
    add_code_tree(codes, codebook, CODEBOOK_NS)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_qdc(codebook: Codebook, path: str | os.PathLike[str], *, origin: str = "nokoding") -> Path:
    """Write the codebook as a ``.qdc`` file atomically; returns the path."""
    return atomic_write_bytes(path, codebook_to_qdc(codebook, origin=origin))


def read_qdc(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    like: Codebook | None = None,
    flat_category: str = DEFAULT_FLAT_CATEGORY,
) -> Codebook:
    """Import a REFI-QDA codebook (``.qdc``) as a nokoding :class:`Codebook`.

    Args:
        path: the ``.qdc`` file.
        name: the codebook's name (default: ``like``'s name, else the file stem slugified).
        like: an existing codebook whose ids (and sections, sentiment labels) are reused for
            codes with the same (category, subcategory) names — e.g. re-importing a codebook
            edited in a QDA tool keeps the ids a trained model knows.
        flat_category: category for top-level codes without children and without a set.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        nokoding.export.safe.UnsafeInputError: for entity declarations or an oversized file.
        nokoding.export.safe.XmlFormatError: for XML that is not well-formed.
        CodebookError: for a root that is not a ``CodeBook`` in an accepted namespace, or a
            codebook without codable codes (names the file).
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_QDC_BYTES:
        raise UnsafeInputError(f"{path}: {size} bytes is too large for a codebook (cap {MAX_QDC_BYTES})")
    root = parse_xml(path.read_bytes(), origin=str(path))
    ns = ns_of(root)
    local = root.tag.split("}", 1)[-1]
    if local != "CodeBook" or ns not in ACCEPTED_NAMESPACES:
        raise CodebookError(
            f"{path}: not a REFI-QDA codebook (root <{local}> in namespace {ns or 'none'!r}; "
            f"expected <CodeBook> in {' or '.join(ACCEPTED_NAMESPACES)})"
        )
    codes = root.find(f"{{{ns}}}Codes")
    if codes is None:
        raise CodebookError(f"{path}: the codebook has no <Codes>")
    sets = root.findall(f"{{{ns}}}Sets/{{{ns}}}Set")
    mapping = codebook_from_codes(
        codes,
        ns,
        sets=sets,
        name=name or (like.name if like is not None else slugify(path.stem)),
        title=like.title if like is not None else "",
        origin=str(path),
        flat_category=flat_category,
        like=like,
        source=f"imported from {path.name} ({root.get('origin') or 'unknown origin'})",
    )
    return mapping.codebook
