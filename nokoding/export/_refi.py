"""Pieces shared by the REFI-QDA codebook (``.qdc``) and project (``.qdpx``) modules.

* deterministic GUIDs (UUID version 5 under one fixed nokoding namespace, written in upper
  case), so that the same codebook or project exported twice carries the same GUIDs, and a
  ``.qdc`` and a ``.qdpx`` written from one codebook share their code GUIDs (a QDA tool can
  merge them); every element of a file gets its own GUID, none is used for two things;
* the nokoding codebook as a tree of ``<Code>`` elements: each category is a non-codable
  parent, each code (subcategory) a codable child, named so that no two codes share a name
  (:func:`export_code_names`);
* the way back: a tree of ``<Code>`` elements (from any tool) to a :class:`Codebook`, undoing
  those names (:func:`codebook_from_codes`).

Unique names. QualCoder keeps one code per name in a project: codes that share a name (the
thesis codebook has ``Tid`` under three categories) are merged on import and the codings of
the others lose their code. So a code whose subcategory name occurs in more than one category
is written as ``"<subcategory> (<category>)"`` (``"Tid (Politikk)"``); the category stays its
parent. The suffix is also written when the name already ends with its own category in
brackets, so that the importer can always strip exactly one such suffix and get the
subcategory back: the round trip is lossless for any codebook.

Reference: REFI-QDA Standard, QDA-XML 1.0 (2019), Codebook.xsd and Project.xsd.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from lxml import etree

from nokoding.codebook import (
    DEFAULT_SENTIMENT_LABELS,
    Category,
    Code,
    Codebook,
    CodebookError,
)

#: Namespace of every nokoding GUID (a fixed, random UUID; never change it: GUIDs would change).
GUID_NAMESPACE = uuid.UUID("6f1c2a8e-5b1e-4f0c-9a57-2d8f3c1e7b40")

CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
#: The pre-release namespace ATLAS.ti (and MAXQDA) have written in ``.qdc`` files.
CODEBOOK_NS_0_4 = "urn:QDA-XML:codebook:0:4"
PROJECT_NS = "urn:QDA-XML:project:1.0"

#: Name of the category that collects codes with no parent (see :func:`codebook_from_codes`).
DEFAULT_FLAT_CATEGORY = "Uncategorised"

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_TRANSLIT = str.maketrans({"æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "å": "a", "Å": "a", "ß": "ss"})


def guid(*parts: str) -> str:
    """A deterministic GUID (UUID v5 under :data:`GUID_NAMESPACE`, upper case) for the joined
    ``parts``. Upper case because some tools compare GUIDs as written (QualCoder matches a
    ``CodeRef`` to its ``Code`` by exact string); readers here compare with :func:`norm_guid`."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(parts))).upper()


def category_guid(codebook: Codebook, category: Category) -> str:
    return guid("category", codebook.name, category.id)


def code_guid(codebook: Codebook, code: Code) -> str:
    return guid("code", codebook.name, code.id)


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry (C0 controls except TAB/LF/CR)."""
    return _INVALID_XML_CHARS.sub("", value)


def norm_guid(value: str | None) -> str:
    """A GUID in canonical form for matching: braces stripped, lower case."""
    return (value or "").strip().strip("{}").lower()


def slugify(name: str) -> str:
    """An id-safe slug: ``"Mål- og resultatstyring"`` → ``"mal_og_resultatstyring"``.

    Norwegian letters are transliterated (æ→ae, ø→o, å→a), other accents dropped, anything
    outside ``[a-z0-9]`` becomes ``_``. Never empty (falls back to ``"code"``).
    """
    text = unicodedata.normalize("NFKD", name.translate(_TRANSLIT))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_") or "code"


# ------------------------------------------------------------------------- names
def _name_key(name: str) -> str:
    """How names are compared for uniqueness: NFC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def qualified_name(subcategory: str, category: str) -> str:
    """``"Tid (Politikk)"``: a subcategory name qualified by its category."""
    return f"{subcategory} ({category})"


def export_code_names(codebook: Codebook) -> dict[str, str]:
    """The ``<Code name>`` of every code (code id → name), unique in the codebook.

    A code keeps its subcategory name unless that name (compared ignoring case) is used by a
    code of another category, or collides with another written name, or already ends with
    ``" (<its category>)"``; then it is written as :func:`qualified_name`. Lossless: see
    :func:`strip_qualifier`.
    """
    codes = list(codebook)
    qualified: set[str] = set()
    counts: dict[str, int] = {}
    for c in codes:
        counts[_name_key(c.subcategory)] = counts.get(_name_key(c.subcategory), 0) + 1
    for c in codes:
        if counts[_name_key(c.subcategory)] > 1 or c.subcategory.endswith(f" ({c.category})"):
            qualified.add(c.id)
    while True:  # a plain name may equal another code's qualified name: qualify it too
        names = {c.id: qualified_name(c.subcategory, c.category) if c.id in qualified else c.subcategory
                 for c in codes}
        seen: dict[str, list[str]] = {}
        for c in codes:
            seen.setdefault(_name_key(names[c.id]), []).append(c.id)
        clash = {cid for ids in seen.values() if len(ids) > 1 for cid in ids if cid not in qualified}
        if not clash:
            return names
        qualified |= clash


def strip_qualifier(names: list[str], category: str) -> list[str]:
    """Undo :func:`export_code_names` for the names of one category's child codes.

    One trailing ``" (<category>)"`` is removed from each name — unless two names would then
    be equal (a codebook from another tool that has both ``Tid`` and ``Tid (Politikk)``
    under ``Politikk``): then the names are kept as written.
    """
    suffix = f" ({category})"
    stripped = [n[: -len(suffix)] if n.endswith(suffix) and len(n) > len(suffix) else n for n in names]
    if len({_name_key(n) for n in stripped}) < len({_name_key(n) for n in names}):
        return list(names)
    return stripped


# ------------------------------------------------------------------------- writing
def add_code_tree(parent: etree._Element, codebook: Codebook, ns: str) -> dict[str, str]:
    """Append one ``<Code>`` per category (non-codable) with its codes (codable) as children.

    Code names come from :func:`export_code_names` (unique). Returns a mapping code id →
    GUID. Categories without codes are written too.
    """
    q = f"{{{ns}}}"
    names = export_code_names(codebook)
    code_guids: dict[str, str] = {}
    for cat in codebook.categories:
        cat_el = etree.SubElement(parent, q + "Code")
        cat_el.set("guid", category_guid(codebook, cat))
        cat_el.set("name", xml_text(cat.name))
        cat_el.set("isCodable", "false")
        if cat.description:
            etree.SubElement(cat_el, q + "Description").text = xml_text(cat.description)
        for code in codebook.codes_in(cat.id):
            code_el = etree.SubElement(cat_el, q + "Code")
            code_guids[code.id] = code_guid(codebook, code)
            code_el.set("guid", code_guids[code.id])
            code_el.set("name", xml_text(names[code.id]))
            code_el.set("isCodable", "true")
            if code.description:
                etree.SubElement(code_el, q + "Description").text = xml_text(code.description)
    return code_guids


# ------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class CodeTreeMapping:
    """How the ``<Code>`` elements of a file map onto the imported :class:`Codebook`.

    Attributes:
        codebook: the imported codebook.
        code_ids: GUID (normalised, see :func:`norm_guid`) → code id, for codable codes that
            became nokoding codes.
        category_ids: GUID → category id, for codes that became categories.
        names: GUID → the code's path of names in the file (``"Parent / Child"``).
    """

    codebook: Codebook
    code_ids: dict[str, str] = field(default_factory=dict)
    category_ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def unique_id(candidate: str, taken: set[str]) -> str:
    """``candidate``, or ``candidate_2``, ``_3`` … if taken; the result is added to ``taken``."""
    out, n = candidate, 2
    while out in taken:
        out = f"{candidate}_{n}"
        n += 1
    taken.add(out)
    return out


def codebook_from_codes(
    codes: Element,
    ns: str,
    *,
    sets: Iterable[Element] = (),
    name: str,
    origin: str,
    flat_category: str = DEFAULT_FLAT_CATEGORY,
    like: Codebook | None = None,
    title: str = "",
    source: str = "",
) -> CodeTreeMapping:
    """Turn a ``<Codes>`` element (codebook or project namespace ``ns``) into a Codebook.

    Mapping (nokoding needs exactly two levels, category → code):

    * a top-level ``<Code>`` **with** children becomes a category; every codable descendant
      becomes a code of that category; grandchildren and deeper are flattened into it with
      their path below the category joined by ``" / "`` as the subcategory name
      (``"Tid / Ventetid"``);
    * a top-level ``<Code>`` **without** children (a flat codebook, as ATLAS.ti writes) becomes
      a code under the category named after the first ``<Set>`` (code group) listing it, or
      else under one category named ``flat_category``;
    * non-codable leaves are skipped (they cannot carry codings);
    * the names of a category's direct children lose one trailing ``" (<category>)"``
      (:func:`strip_qualifier`), which undoes the unique names nokoding writes.

    Ids: with ``like`` given, a code whose (category, subcategory) names match a code of
    ``like`` keeps that code's ids (and section); otherwise ids are slugified names
    (``"<category slug>.<subcategory slug>"``), made unique with ``_2``, ``_3``… .

    Raises:
        CodebookError: if a ``<Code>`` lacks ``name`` or the result has no codable code
            (names ``origin``).
    """
    q = f"{{{ns}}}"
    mapping = CodeTreeMapping(codebook=None)  # type: ignore[arg-type]
    set_of: dict[str, tuple[str, str]] = {}
    for set_el in sets:
        set_name = (set_el.get("name") or "").strip()
        if not set_name:
            continue
        set_desc = (set_el.findtext(q + "Description") or "").strip()
        for member in set_el.findall(q + "MemberCode"):
            key = norm_guid(member.get("guid") or member.get("targetGUID"))
            set_of.setdefault(key, (set_name, set_desc))

    # (category name, category description, [(sub name, description, guid)])
    groups: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
    cat_guids: dict[str, str] = {}

    def name_of(el: Element) -> str:
        value = el.get("name")
        if value is None or not value.strip():
            raise CodebookError(f"{origin}: a <Code> (guid {el.get('guid')!r}) has no name")
        return value.strip()

    def walk(el: Element, path: list[str], cat_name: str) -> None:
        children = el.findall(q + "Code")
        own = [name_of(child) for child in children]
        if not path:  # direct children of a category: undo the export's "Name (Category)"
            own = strip_qualifier(own, cat_name)
        for child, child_name in zip(children, own):
            child_path = [*path, child_name]
            key = norm_guid(child.get("guid"))
            mapping.names[key] = " / ".join([cat_name, *child_path])
            if _truthy(child.get("isCodable")):
                desc = (child.findtext(q + "Description") or "").strip()
                groups[cat_name][1].append((" / ".join(child_path), desc, key))
            walk(child, child_path, cat_name)

    for top in codes.findall(q + "Code"):
        top_name = name_of(top)
        key = norm_guid(top.get("guid"))
        desc = (top.findtext(q + "Description") or "").strip()
        if top.findall(q + "Code"):
            groups.setdefault(top_name, (desc, []))
            cat_guids.setdefault(top_name, key)
            mapping.names[key] = top_name
            walk(top, [], top_name)
        elif _truthy(top.get("isCodable")):
            cat_name, cat_desc = set_of.get(key, (flat_category, ""))
            groups.setdefault(cat_name, (cat_desc, []))
            mapping.names[key] = f"{cat_name} / {top_name}"
            groups[cat_name][1].append((top_name, desc, key))

    categories: list[Category] = []
    out_codes: list[Code] = []
    cat_taken: set[str] = set()
    code_taken: set[str] = set()
    for cat_name, (cat_desc, subs) in groups.items():
        ref_cat = None
        if like is not None:
            ref_cat = next((c for c in like.categories if c.name == cat_name), None)
        cat_id = unique_id(ref_cat.id if ref_cat else slugify(cat_name), cat_taken)
        categories.append(
            Category(cat_id, cat_name, cat_desc or (ref_cat.description if ref_cat else ""),
                     ref_cat.section if ref_cat else None)
        )
        if cat_name in cat_guids:
            mapping.category_ids[cat_guids[cat_name]] = cat_id
        seen_pairs: set[str] = set()
        for sub_name, desc, key in subs:
            if sub_name in seen_pairs:  # the same name twice under one category: keep the first
                mapping.code_ids[key] = next(c.id for c in out_codes if c.pair == (cat_name, sub_name))
                continue
            seen_pairs.add(sub_name)
            ref_code = None
            if like is not None:
                try:
                    ref_code = like.find(cat_name, sub_name)
                except KeyError:
                    ref_code = None
            code_id = unique_id(ref_code.id if ref_code else f"{cat_id}.{slugify(sub_name)}", code_taken)
            out_codes.append(
                Code(code_id, cat_name, sub_name, cat_id, desc or (ref_code.description if ref_code else ""),
                     ref_code.section if ref_code else None)
            )
            mapping.code_ids[key] = code_id
    if not out_codes:
        raise CodebookError(f"{origin}: the codebook has no codable codes")
    try:
        cb = Codebook(
            name=name,
            categories=tuple(categories),
            codes=tuple(out_codes),
            sentiment_labels=like.sentiment_labels if like is not None else DEFAULT_SENTIMENT_LABELS,
            title=title,
            source=source,
        )
    except CodebookError as err:
        raise CodebookError(f"{origin}: {err}") from None
    object.__setattr__(mapping, "codebook", cb)
    return mapping


def ns_of(element: Element) -> str:
    """The namespace URI of an ElementTree element's tag ("" when none)."""
    tag = element.tag
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""
