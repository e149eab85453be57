"""Fixtures for the coded-data tests: REFI-QDA projects written the way QDA tools write them."""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from nokoding.codebook import Codebook
from tests.conftest import REPO, SMALL_CODEBOOK

NS = "urn:QDA-XML:project:1.0"
Q = f"{{{NS}}}"
_NAMESPACE = uuid.UUID("0b9c1f4e-2a77-4d38-8c1d-7e5a6b3f9d21")


def gid(*parts: str) -> str:
    """A test GUID, upper case as NVivo writes them."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts))).upper()


ANNA = gid("user", "Anna")
BJORN = gid("user", "Bjørn")
NOKO = gid("user", "nokoding-by-name")


@dataclass
class Sel:
    """One selection: positions in source ``source``, the code names (paths) it is coded with, its
    coder and its description (a coding memo; nokoding's suggestions start "nokoding suggestion")."""

    source: int
    start: int
    end: int
    codes: Sequence[str]
    user: str | None = ANNA
    description: str = ""


@dataclass
class Project:
    """A small human-coded project: code tree, sources and selections."""

    #: code tree: (name, codable, children)
    tree: list = field(default_factory=lambda: [
        ("Styring", False, [("Måling", True, []), ("Tid", True, [("Ventetid", True, [])])]),
        ("Ledelse", True, [("Tillit", True, [])]),
    ])
    sources: list[tuple[str, str]] = field(default_factory=lambda: [
        ("Intervju 1", "I: Hva måles?\nA: Vi måles på antall vedtak hver uke, og det tar tid.\n"),
        ("Intervju 2", "I: Og lederen?\nB: Lederen stoler på oss. Vi venter lenge på svar.\n"),
    ])
    selections: list[Sel] = field(default_factory=list)
    users: list[tuple[str, str]] = field(default_factory=lambda: [(ANNA, "Anna"), (BJORN, "Bjørn"),
                                                                   (NOKO, "nokoding")])
    inline_first: bool = True

    def code_guid(self, path: str) -> str:
        return gid("code", path)

    def xml(self) -> bytes:
        root = etree.Element(Q + "Project", nsmap={None: NS})
        root.set("name", "Testprosjekt")
        root.set("origin", "tests")
        users = etree.SubElement(root, Q + "Users")
        for guid_, name in self.users:
            u = etree.SubElement(users, Q + "User")
            u.set("guid", guid_)
            u.set("name", name)
        codes = etree.SubElement(etree.SubElement(root, Q + "CodeBook"), Q + "Codes")

        def add(parent: etree._Element, nodes: list, prefix: str) -> None:
            for name, codable, children in nodes:
                path = f"{prefix}/{name}" if prefix else name
                el = etree.SubElement(parent, Q + "Code")
                el.set("guid", self.code_guid(path))
                el.set("name", name)
                el.set("isCodable", "true" if codable else "false")
                add(el, children, path)

        add(codes, self.tree, "")
        srcs = etree.SubElement(root, Q + "Sources")
        for i, (name, text) in enumerate(self.sources):
            s = etree.SubElement(srcs, Q + "TextSource")
            s.set("guid", gid("source", name))
            s.set("name", name)
            if i == 0 and self.inline_first:
                etree.SubElement(s, Q + "PlainTextContent").text = text
            else:
                s.set("plainTextPath", f"internal://{gid('source', name)}.txt")
            for k, sel in enumerate(x for x in self.selections if x.source == i):
                el = etree.SubElement(s, Q + "PlainTextSelection")
                el.set("guid", gid("sel", name, str(k), str(sel.start)))
                el.set("startPosition", str(sel.start))
                el.set("endPosition", str(sel.end))
                if sel.user:
                    el.set("creatingUser", sel.user)
                if sel.description:
                    etree.SubElement(el, Q + "Description").text = sel.description
                for code in sel.codes:
                    c = etree.SubElement(el, Q + "Coding")
                    c.set("guid", gid("coding", name, str(k), code))
                    if sel.user:
                        c.set("creatingUser", sel.user)
                    etree.SubElement(c, Q + "CodeRef").set("targetGUID", self.code_guid(code))
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def write(self, path: Path, *, qde: str = "project.qde", folder: str = "Sources") -> Path:
        """Write the ``.qdpx``; ``qde`` and ``folder`` name the project file and the sources
        folder (NVivo has written ``Sources``, the standard says ``sources``)."""
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(qde, self.xml())
            for i, (name, text) in enumerate(self.sources):
                if not (i == 0 and self.inline_first):
                    zf.writestr(f"{folder}/{gid('source', name)}.txt", text.encode("utf-8"))
        return path

    def span(self, source: int, fragment: str) -> tuple[int, int]:
        """Positions of ``fragment`` in source ``source``."""
        start = self.sources[source][1].index(fragment)
        return start, start + len(fragment)


@pytest.fixture
def project() -> Project:
    return Project()


@pytest.fixture
def small_codebook() -> Codebook:
    return Codebook.from_dict(SMALL_CODEBOOK)


@pytest.fixture(scope="session")
def project_schema():
    """The published REFI-QDA Project.xsd (skips when ``shared/refi-qda`` is absent)."""
    for base in (REPO.parent / "shared", REPO / "shared"):
        if (base / "refi-qda" / "Project.xsd").is_file():
            xmlschema = pytest.importorskip("xmlschema")
            return xmlschema.XMLSchema(base / "refi-qda" / "Project.xsd")
    pytest.skip("REFI-QDA schemas not found in ../shared/refi-qda")
