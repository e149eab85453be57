"""How QualCoder's REFI-QDA project importer reads a ``.qdpx``, restated for the tests.

The rules below are those of QualCoder's importer (``src/qualcoder/refi.py``), written here
from its documented behaviour so that a test can tell whether a project would arrive whole:

* the archive is unpacked; the sources folder is ``sources`` when a top-level entry has that
  exact name, else ``Sources``; the project file is the ``*.qde`` at the top;
* the **first** ``<User>`` becomes the active coder;
* a ``<Code isCodable="false">`` is a category; any other ``<Code>`` is a code. Names are
  unique keys (SQLite ``UNIQUE``): a second code or category with a name already taken is
  not inserted, so its GUID maps to nothing;
* a ``<Coding>``'s code is found by comparing its ``CodeRef/@targetGUID`` with each code's
  ``guid`` **as written** (exact string); its coder is the ``PlainTextSelection``'s
  ``creatingUser`` looked up by exact GUID (``"default"`` when not found); the coded text is
  ``fulltext[startPosition:endPosition]`` of the source's plain text read as UTF-8 (when the
  file's first line ends in CRLF, every LF is followed by a space to keep Windows positions);
* the ``PlainTextSelection``'s ``<Description>`` becomes the coding memo.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree


@dataclass
class Imported:
    """What a QualCoder import of a project ends up with."""

    coder: str
    categories: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # guid as written -> name
    rejected: list[str] = field(default_factory=list)  # names refused as duplicates
    sources: dict[str, str] = field(default_factory=dict)  # name -> fulltext
    # (source name, pos0, pos1, code name or None, owner, seltext, memo)
    codings: list[tuple[str, int, int, str | None, str, str, str]] = field(default_factory=list)


def import_like_qualcoder(path: Path) -> Imported:
    """Read ``path`` by the rules in the module docstring."""
    with zipfile.ZipFile(path) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
        folder = "sources" if "sources" in tops else "Sources"
        qde = next(n for n in zf.namelist() if "/" not in n and n.endswith(".qde"))
        root = etree.parse(io.BytesIO(zf.read(qde))).getroot()
        ns = root.tag[1:].split("}", 1)[0]
        q = f"{{{ns}}}"
        users = [(u.get("guid"), u.get("name")) for u in root.find(q + "Users")]
        out = Imported(coder=users[0][1])
        taken_codes: set[str] = set()
        taken_cats: set[str] = set()

        def walk(el: etree._Element) -> None:
            name = el.get("name")
            if el.get("isCodable") == "false":
                if name in taken_cats:
                    out.rejected.append(name)
                else:
                    taken_cats.add(name)
                    out.categories.append(name)
            elif name in taken_codes:
                out.rejected.append(name)
            else:
                taken_codes.add(name)
                out.codes[el.get("guid")] = name
            for child in el.findall(q + "Code"):
                walk(child)

        for code in root.find(f"{q}CodeBook/{q}Codes").findall(q + "Code"):
            walk(code)
        for src in root.iterfind(f"{q}Sources/{q}TextSource"):
            member = f"{folder}/{src.get('plainTextPath').split('internal://', 1)[1]}"
            raw = zf.read(member)
            fulltext = raw.decode("utf-8", errors="replace")
            if raw.split(b"\n", 1)[0].endswith(b"\r"):
                fulltext = fulltext.replace("\n", "\n ")
            out.sources[src.get("name")] = fulltext
            for sel in src.findall(q + "PlainTextSelection"):
                pos0, pos1 = int(sel.get("startPosition")), int(sel.get("endPosition"))
                owner = next((n for g, n in users if g == sel.get("creatingUser")), "default")
                memo = sel.findtext(q + "Description") or ""
                for coding in sel.findall(q + "Coding"):
                    target = list(coding)[0].get("targetGUID")
                    out.codings.append((src.get("name"), pos0, pos1, out.codes.get(target), owner,
                                        fulltext[pos0:pos1], memo))
    return out
