"""REFI-QDA project exchange (``.qdpx``): write nokoding's suggestions as a project, read projects back.

A ``.qdpx`` file is a ZIP archive holding ``project.qde`` (QDA-XML, namespace
``urn:QDA-XML:project:1.0``) and the source texts in a ``sources/`` folder (REFI-QDA project
exchange standard 1.0, section 8.1, lower case: ATLAS.ti refuses ``Sources/``).

What :func:`write_qdpx` writes (valid against the published ``Project.xsd``, and importable
without loss by QualCoder's REFI-QDA importer, which is stricter than the schema):

* ``<Project origin="nokoding …">`` (QualCoder needs ``origin`` or ``basePath``);
* ``<Users>``: **first** the researcher (``researcher``, default ``"researcher"``), then the
  user *nokoding*. QualCoder makes the first user of an imported project its active coder,
  so the researcher's own codings are not stored as nokoding's. The project and its sources
  are created by the researcher; every suggested selection and coding by *nokoding*
  (``creatingUser``), so suggestions stay apart from human codings after import;
* ``<CodeBook>``: each category a non-codable ``<Code isCodable="false">`` with its codes
  (subcategories) as codable children, descriptions in ``<Description>``, and code names
  unique in the project (``Tid (Politikk)``; see :mod:`nokoding.export._refi`);
* one ``<TextSource>`` per document, ``plainTextPath="internal://<GUID>.txt"``, whose text is
  stored as ``sources/<GUID>.txt``: the document's normalised text, UTF-8 without BOM, LF
  line ends;
* one ``<PlainTextSelection>`` **per suggested coding** at the segment's positions, holding
  one ``<Coding>`` with a ``<CodeRef>``. ``<Coding>`` has no description in the standard, so
  the selection's ``<Description>`` (a coding memo in QualCoder, NVivo and MAXQDA) says what
  was suggested: the code, its probability and rank, the segment's sentiment, and the
  hand-coded evidence quotes (shortened) with their codes and similarities. Only the first
  ``top_k`` codes with probability ≥ ``threshold`` become codings, so a segment with no
  accepted code (or none suggested) has no selection (CSV and JSON Lines keep every segment).

Positions: ``startPosition``/``endPosition`` are 0-based, end-exclusive positions counted in
Unicode *characters* of the plain text — code points, as Python indexes ``str`` and as the
standard counts; an emoji outside the Basic Multilingual Plane counts 1 (a tool that counts
UTF-16 code units, as NVivo is reported to, counts 2 and places later selections of that
source one character late per such emoji). ``Document.text[start:end]`` is exactly the
segment.

GUIDs are upper case, one per element, and deterministic: UUID v5 of stable names (codebook
name and code id; document id and a hash of its text; segment, positions and code). No
timestamp is written unless ``created`` is given, and ZIP entries carry a fixed date, so the
same input gives a byte-identical ``project.qde`` and ``.qdpx``.

:func:`read_qdpx` reads any tool's project (hardened, see :mod:`nokoding.export.safe`):
``project.qde`` or the one ``*.qde`` at the top of the archive (ATLAS.ti names it after the
project), sources from ``sources/`` or ``Sources/``, the codebook, and every text coding with
its positions, code and coder.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from xml.etree.ElementTree import Element

from lxml import etree

from nokoding import __version__
from nokoding.atomic import atomic_write_bytes
from nokoding.codebook import Codebook
from nokoding.export._refi import (
    DEFAULT_FLAT_CATEGORY,
    PROJECT_NS,
    add_code_tree,
    codebook_from_codes,
    guid,
    norm_guid,
    ns_of,
    slugify,
    xml_text,
)
from nokoding.export.safe import (
    UnsafeInputError,
    ZipLimits,
    check_member_name,
    parse_xml,
    read_member,
)
from nokoding.export.tagged import TaggedDocument, accepted_codes, evidence_note

__all__ = [
    "DEFAULT_RESEARCHER",
    "NOKODING_USER",
    "SOURCES_FOLDER",
    "QdpxCoding",
    "QdpxError",
    "QdpxProject",
    "QdpxSource",
    "project_xml",
    "read_qdpx",
    "write_qdpx",
]

#: Name of the REFI-QDA user that creates every suggested coding.
NOKODING_USER = "nokoding"
#: Name of the first user of a written project (the active coder after a QualCoder import).
DEFAULT_RESEARCHER = "researcher"
#: Folder of the source texts inside the archive (REFI-QDA standard, section 8.1).
SOURCES_FOLDER = "sources"
#: At most this many evidence quotes go into a selection's description.
MAX_EVIDENCE_NOTES = 3
#: Every suggested selection's description starts with this (how a suggestion is told from a
#: coding a person made under the name *nokoding*).
SUGGESTION_PREFIX = "nokoding suggestion"
_Q = f"{{{PROJECT_NS}}}"
_FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class QdpxError(ValueError):
    """A ``.qdpx`` project cannot be written or read (the message names the file and the
    source, selection or member concerned)."""


def user_guid(name: str = NOKODING_USER) -> str:
    """GUID of a user (by default *nokoding*; the same in every project)."""
    return guid("user", name)


def source_guid(tagged: TaggedDocument) -> str:
    """GUID of a document's ``<TextSource>``: from its id and a hash of its text."""
    digest = hashlib.sha256(tagged.document.text.encode("utf-8")).hexdigest()[:32]
    return guid("source", tagged.document.id, digest)


def _datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_documents(tagged: Sequence[TaggedDocument], codebook: Codebook) -> None:
    seen: set[str] = set()
    known = set(codebook.code_ids)
    for td in tagged:
        doc = td.document
        if doc.id in seen:
            raise QdpxError(f"document id {doc.id!r} occurs twice; ids must be unique within a project")
        seen.add(doc.id)
        if doc.text.startswith("\ufeff") or "\r" in doc.text:
            raise QdpxError(
                f"document {doc.id!r}: text is not normalised (BOM or CR present); positions would "
                "shift in other tools — read it with nokoding.ingest"
            )
        for sug in td.suggestions:
            for c in sug.codes:
                if c.code_id not in known:
                    raise QdpxError(
                        f"document {doc.id!r}: suggested code {c.code_id!r} is not in codebook {codebook.name!r}"
                    )


def project_xml(
    tagged: Sequence[TaggedDocument],
    codebook: Codebook,
    *,
    top_k: int = 3,
    threshold: float | None = None,
    model: str = "",
    project_name: str = "nokoding suggestions",
    created: datetime | None = None,
    researcher: str = DEFAULT_RESEARCHER,
) -> tuple[bytes, dict[str, str]]:
    """Build ``project.qde`` (see the module docstring).

    Args:
        tagged: the documents with their segments and suggestions (ids unique).
        codebook: the codebook the suggestions refer to (every suggested code must be in it).
        top_k: at most this many codes per segment become codings.
        threshold: only codes with probability ≥ ``threshold`` become codings (``None``: all
            of the top ``top_k``).
        model: the model name, recorded in descriptions.
        project_name: the ``<Project name>``.
        created: timestamp for ``creationDateTime`` attributes; ``None`` omits them.
        researcher: name of the project's first user, who creates the project and its
            sources (QualCoder's coder after import); must not be ``"nokoding"``.

    Returns:
        ``(xml_bytes, {member path in the ZIP: text})`` — the source texts to store.

    Raises:
        QdpxError: for duplicate document ids, text that is not normalised, a suggested
            code missing from ``codebook``, or an empty researcher name or ``"nokoding"``.
    """
    tagged = list(tagged)
    _check_documents(tagged, codebook)
    researcher = " ".join(researcher.split())
    if not researcher or researcher.casefold() == NOKODING_USER:
        raise QdpxError(
            f"researcher name {researcher!r} cannot be used: it must be non-empty and not "
            f"{NOKODING_USER!r}, the user of the suggestions")
    user = user_guid()
    owner = user_guid(f"researcher\x1f{researcher}")
    stamp = _datetime(created) if created is not None else None
    model_note = f" by model {model}" if model else ""
    labels = {c.id: c.label for c in codebook}

    def attribute_to(el: etree._Element, who: str) -> None:
        el.set("creatingUser", who)
        if stamp:
            el.set("creationDateTime", stamp)

    root = etree.Element(_Q + "Project", nsmap={None: PROJECT_NS})
    root.set("name", xml_text(project_name))
    root.set("origin", f"nokoding {__version__}")
    root.set("creatingUserGUID", owner)
    if stamp:
        root.set("creationDateTime", stamp)
    users = etree.SubElement(root, _Q + "Users")
    for guid_, name in ((owner, researcher), (user, NOKODING_USER)):
        user_el = etree.SubElement(users, _Q + "User")
        user_el.set("guid", guid_)
        user_el.set("name", xml_text(name))
    code_book = etree.SubElement(root, _Q + "CodeBook")
    code_guids = add_code_tree(etree.SubElement(code_book, _Q + "Codes"), codebook, PROJECT_NS)

    texts: dict[str, str] = {}
    if tagged:
        sources = etree.SubElement(root, _Q + "Sources")
    for td in tagged:
        doc = td.document
        src_guid = source_guid(td)
        member = f"{SOURCES_FOLDER}/{src_guid}.txt"
        texts[member] = doc.text
        src = etree.SubElement(sources, _Q + "TextSource")
        src.set("guid", src_guid)
        src.set("name", xml_text(doc.id))
        src.set("plainTextPath", f"internal://{src_guid}.txt")
        attribute_to(src, owner)
        origin_name = doc.source.name if doc.source is not None else doc.id
        etree.SubElement(src, _Q + "Description").text = xml_text(
            f"Transcript {origin_name} ({doc.format}); coding suggestions{model_note} from nokoding."
        )
        selections = []
        for seg, sug in td:
            sentiment_p = sug.sentiment_probabilities.get(sug.sentiment)
            sentiment_note = f"sentiment {sug.sentiment}" + (
                f" (p = {sentiment_p:.3f})" if sentiment_p is not None else ""
            )
            evidence = "; ".join(evidence_note(e, labels.get(e.code_id))
                                 for e in sug.evidence[:MAX_EVIDENCE_NOTES])
            for rank, cs in enumerate(accepted_codes(sug, top_k=top_k, threshold=threshold), start=1):
                selections.append((seg.start, seg.end, rank, seg, cs, sentiment_note, evidence))
        selections.sort(key=lambda s: (s[0], s[1], s[2]))
        for start, end, rank, seg, cs, sentiment_note, evidence in selections:
            sel_guid = guid("selection", src_guid, str(seg.index), str(start), str(end), cs.code_id)
            sel = etree.SubElement(src, _Q + "PlainTextSelection")
            sel.set("guid", sel_guid)
            sel.set("name", xml_text(f"{doc.id} #{seg.index}"))
            sel.set("startPosition", str(start))
            sel.set("endPosition", str(end))
            attribute_to(sel, user)
            evidence_part = f" Evidence (hand-coded quotes): {evidence}." if evidence else ""
            etree.SubElement(sel, _Q + "Description").text = xml_text(
                f"{SUGGESTION_PREFIX}{model_note}: {cs.category} / {cs.subcategory}, "
                f"probability {cs.probability:.3f} (rank {rank}); {sentiment_note}.{evidence_part}"
            )
            coding = etree.SubElement(sel, _Q + "Coding")
            coding.set("guid", guid("coding", sel_guid))
            attribute_to(coding, user)
            etree.SubElement(coding, _Q + "CodeRef").set("targetGUID", code_guids[cs.code_id])

    settings = f"top {top_k} codes" + (f" with probability ≥ {threshold:g}" if threshold is not None else "")
    etree.SubElement(root, _Q + "Description").text = xml_text(
        f"Coding suggestions{model_note} for {len(tagged)} transcript(s), {settings}, made by nokoding "
        f"{__version__} and attributed to the user '{NOKODING_USER}'. Suggestions, not codings by a human coder; "
        f"code your own passages as '{researcher}' (or another name of yours), not as '{NOKODING_USER}'."
    )
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml, texts


def _zip_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_qdpx(
    path: str | os.PathLike[str],
    tagged: Sequence[TaggedDocument],
    codebook: Codebook,
    *,
    top_k: int = 3,
    threshold: float | None = None,
    model: str = "",
    project_name: str = "nokoding suggestions",
    created: datetime | None = None,
    researcher: str = DEFAULT_RESEARCHER,
) -> Path:
    """Write a REFI-QDA project (``.qdpx``) atomically; arguments as in :func:`project_xml`.

    Returns:
        The path written.

    Raises:
        QdpxError: see :func:`project_xml`.
        OSError: if the file cannot be written (no partial file is left).
    """
    xml, texts = project_xml(
        tagged, codebook, top_k=top_k, threshold=threshold, model=model,
        project_name=project_name, created=created, researcher=researcher,
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _zip_entry(zf, "project.qde", xml)
        for member in sorted(texts):
            _zip_entry(zf, member, texts[member].encode("utf-8"))
    return atomic_write_bytes(path, buf.getvalue())


# ============================================================================ reading
@dataclass(frozen=True)
class QdpxSource:
    """A plain-text source of a project.

    Attributes:
        guid: the source's GUID as written in the file.
        name: its name (nokoding writes the document id).
        text: its plain text (UTF-8 decoded, a leading BOM removed, otherwise unchanged).
        path: the ``plainTextPath`` (``None`` when the text was inline ``PlainTextContent``).
    """

    guid: str
    name: str
    text: str
    path: str | None = None


@dataclass(frozen=True)
class QdpxCoding:
    """One coding of a text selection.

    Attributes:
        source: GUID of the :class:`QdpxSource`.
        source_name: the source's name.
        start, end: 0-based, end-exclusive character positions into the source text.
        code: GUID of the coded ``<Code>``.
        code_id: the nokoding code id it maps to in :attr:`QdpxProject.codebook`, or ``None``
            when the coded code is a category (a parent) or not in the codebook.
        code_name: the code's name path (``"Category / Code"``), or its GUID if unknown.
        user: GUID of the coder (the coding's ``creatingUser``, else the selection's), or ``None``.
        user_name: the coder's name from ``<Users>``, or ``None``.
        selection: GUID of the ``<PlainTextSelection>``.
        text: the coded text, ``source.text[start:end]``.
        description: the selection's ``<Description>`` ("" if none).
    """

    source: str
    source_name: str
    start: int
    end: int
    code: str
    code_id: str | None
    code_name: str
    user: str | None
    user_name: str | None
    selection: str
    text: str
    description: str = ""


class QdpxProject(NamedTuple):
    """What :func:`read_qdpx` returns; unpacks as ``codebook, sources, codings``.

    ``codebook`` is ``None`` when the project has no ``<CodeBook>``.
    """

    codebook: Codebook | None
    sources: list[QdpxSource]
    codings: list[QdpxCoding]


def _find_qde(members: dict[str, zipfile.ZipInfo], origin: str) -> zipfile.ZipInfo:
    if "project.qde" in members:
        return members["project.qde"]
    top = [info for key, info in members.items() if key.endswith(".qde") and "/" not in key]
    if len(top) == 1:
        return top[0]
    raise QdpxError(f"{origin}: no project.qde at the top of the archive (is this a .qdpx file?)")


def read_qdpx(
    path: str | os.PathLike[str],
    *,
    limits: ZipLimits = ZipLimits(),
    like: Codebook | None = None,
    flat_category: str = DEFAULT_FLAT_CATEGORY,
) -> QdpxProject:
    """Read a REFI-QDA project: its codebook, plain-text sources and text codings.

    Args:
        path: the ``.qdpx`` file.
        limits: ZIP caps (see :class:`nokoding.export.safe.ZipLimits`).
        like: a codebook whose ids are reused for codes with matching names (see
            :func:`nokoding.export.qdc.read_qdc`).
        flat_category: category for top-level codes without children (see there).

    Only ``<TextSource>`` elements under ``<Sources>`` are read; their ``<PlainTextSelection>``
    codings are returned in file order. Codings of a whole source (``<Coding>`` directly in a
    ``<TextSource>``) and non-text sources are skipped.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        zipfile.BadZipFile: if it is not a ZIP archive.
        nokoding.export.safe.UnsafeInputError: for unsafe members or XML (entities, ``..``
            or absolute member names, sizes over the caps).
        nokoding.export.safe.XmlFormatError: for XML that is not well-formed.
        QdpxError: for a missing ``project.qde``, a source whose text is missing, not UTF-8
            or stored outside the archive, or a selection whose positions fall outside its
            source text (names the source and selection).
        nokoding.codebook.CodebookError: if the codebook has no codable code.
    """
    path = Path(path)
    origin = str(path)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise UnsafeInputError(f"{origin}: ZIP archive lists {len(infos)} entries, over the cap")
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            rel = check_member_name(info.filename, origin=origin)
            members[str(rel).lower()] = info
        budget = [limits.max_total_bytes]
        qde = _find_qde(members, origin)
        qde_origin = f"{origin}!{qde.filename}"
        root = parse_xml(read_member(zf, qde, origin=origin, limits=limits, budget=budget), origin=qde_origin)
        ns = ns_of(root)
        if root.tag.split("}", 1)[-1] != "Project" or not ns.startswith("urn:QDA-XML:project:"):
            raise QdpxError(f"{qde_origin}: root is not a REFI-QDA <Project> (namespace {ns or 'none'!r})")
        q = f"{{{ns}}}"

        users = {norm_guid(u.get("guid")): u.get("name") or u.get("id") for u in root.iter(q + "User")}
        codebook = None
        code_ids: dict[str, str] = {}
        names: dict[str, str] = {}
        codes_el = root.find(f"{q}CodeBook/{q}Codes")
        if codes_el is not None:
            mapping = codebook_from_codes(
                codes_el, ns, sets=root.findall(f"{q}Sets/{q}Set"),
                name=like.name if like is not None else slugify(root.get("name") or path.stem),
                title=like.title if like is not None else "", origin=qde_origin,
                flat_category=flat_category, like=like,
                source=f"imported from {path.name} ({root.get('origin') or 'unknown origin'})",
            )
            codebook, code_ids, names = mapping.codebook, mapping.code_ids, mapping.names

        sources: list[QdpxSource] = []
        codings: list[QdpxCoding] = []
        for src in root.findall(f"{q}Sources/{q}TextSource"):
            source = _read_text_source(src, q, zf, members, origin, limits, budget)
            sources.append(source)
            for sel in src.findall(q + "PlainTextSelection"):
                codings.extend(_read_selection(sel, q, source, code_ids, names, users, qde_origin))
    return QdpxProject(codebook, sources, codings)


def _read_text_source(
    src: Element,
    q: str,
    zf: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    origin: str,
    limits: ZipLimits,
    budget: list[int],
) -> QdpxSource:
    src_guid = src.get("guid") or ""
    name = src.get("name") or src_guid
    where = f"{origin}: source {name!r}"
    inline = src.find(q + "PlainTextContent")
    text_path = src.get("plainTextPath")
    if inline is not None and not text_path:
        return QdpxSource(src_guid, name, inline.text or "", None)
    if not text_path:
        raise QdpxError(f"{where} has neither plainTextPath nor PlainTextContent")
    if not text_path.startswith("internal://"):
        raise QdpxError(
            f"{where}: text is stored outside the archive ({text_path!r}); only internal:// "
            "sources and inline text are read"
        )
    rel = check_member_name(text_path[len("internal://"):], origin=origin)
    info = members.get(f"sources/{rel}".lower())
    if info is None:
        raise QdpxError(f"{where}: {text_path!r} is not in the archive's sources/ folder")
    data = read_member(zf, info, origin=origin, limits=limits, budget=budget)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise QdpxError(f"{where}: {info.filename} is not UTF-8 (byte {err.start})") from None
    return QdpxSource(src_guid, name, text.removeprefix("\ufeff"), text_path)


def _read_selection(
    sel: Element,
    q: str,
    source: QdpxSource,
    code_ids: dict[str, str],
    names: dict[str, str],
    users: dict[str, str | None],
    origin: str,
) -> list[QdpxCoding]:
    sel_guid = sel.get("guid") or ""
    where = f"{origin}: source {source.name!r}, selection {sel_guid!r}"
    try:
        start, end = int(sel.get("startPosition", "")), int(sel.get("endPosition", ""))
    except ValueError:
        raise QdpxError(f"{where}: startPosition/endPosition are not integers") from None
    if not 0 <= start <= end <= len(source.text):
        raise QdpxError(
            f"{where}: positions [{start}, {end}) fall outside the source text ({len(source.text)} characters)"
        )
    description = (sel.findtext(q + "Description") or "").strip()
    out = []
    for coding in sel.findall(q + "Coding"):
        ref = coding.find(q + "CodeRef")
        if ref is None or not ref.get("targetGUID"):
            raise QdpxError(f"{where}: a <Coding> has no <CodeRef targetGUID>")
        code = norm_guid(ref.get("targetGUID"))
        user = coding.get("creatingUser") or sel.get("creatingUser")
        out.append(
            QdpxCoding(
                source=source.guid,
                source_name=source.name,
                start=start,
                end=end,
                code=ref.get("targetGUID") or "",
                code_id=code_ids.get(code),
                code_name=names.get(code, ref.get("targetGUID") or ""),
                user=user,
                user_name=users.get(norm_guid(user)) if user else None,
                selection=sel_guid,
                text=source.text[start:end],
                description=description,
            )
        )
    return out
