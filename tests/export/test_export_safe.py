"""Hardened reading: entity bombs, external entities, escaping and oversized ZIP members are refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from nokoding.export.qdc import read_qdc
from nokoding.export.qdpx import read_qdpx
from nokoding.export.safe import (
    UnsafeInputError,
    XmlFormatError,
    ZipLimits,
    parse_xml,
    safe_extract,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&lol9;"/>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE CodeBook [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>
<Code guid="11111111-1111-1111-1111-111111111111" name="&secret;" isCodable="true"/></Codes></CodeBook>
"""

MINIMAL_QDE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="p"/>
"""


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_billion_laughs_in_a_project_is_refused_naming_the_file(tmp_path):
    bomb = make_zip(tmp_path / "bomb.qdpx", {"project.qde": BILLION_LAUGHS})
    with pytest.raises(UnsafeInputError) as err:
        read_qdpx(bomb)
    assert "bomb.qdpx" in str(err.value) and "project.qde" in str(err.value)
    assert "entity" in str(err.value)


def test_billion_laughs_in_a_codebook_is_refused(tmp_path):
    path = tmp_path / "bomb.qdc"
    path.write_bytes(BILLION_LAUGHS.replace(b"Project", b"CodeBook"))
    with pytest.raises(UnsafeInputError, match="bomb.qdc"):
        read_qdc(path)


def test_external_entity_is_refused_before_anything_is_read(tmp_path):
    path = tmp_path / "xxe.qdc"
    path.write_bytes(EXTERNAL_ENTITY)
    with pytest.raises(UnsafeInputError, match="xxe.qdc.*entity"):
        read_qdc(path)


def test_malformed_xml_names_file_and_line():
    with pytest.raises(XmlFormatError, match=r"a\.qde: line 2"):
        parse_xml(b"<Project>\n<Users></Project>", origin="a.qde")


def test_plain_doctype_without_entities_is_accepted():
    root = parse_xml(b'<?xml version="1.0"?><!DOCTYPE Project><Project name="x"/>', origin="x")
    assert root.get("name") == "x"


@pytest.mark.parametrize("member", ["../evil.txt", "Sources/../../evil.txt", "/etc/evil", "C:/evil.txt",
                                    "..\\evil.txt"])
def test_escaping_or_absolute_member_is_refused(tmp_path, member):
    archive = make_zip(tmp_path / "escape.qdpx", {"project.qde": MINIMAL_QDE, member: b"x"})
    with pytest.raises(UnsafeInputError) as err:
        read_qdpx(archive)
    assert "escape.qdpx" in str(err.value) and repr(member) in str(err.value)
    target = tmp_path / "out"
    with pytest.raises(UnsafeInputError):
        safe_extract(archive, target)
    assert not (tmp_path / "evil.txt").exists() and not target.exists()


def test_member_over_the_declared_size_cap_is_refused(tmp_path):
    archive = make_zip(tmp_path / "big.qdpx", {"project.qde": MINIMAL_QDE + b" " * 5000})
    with pytest.raises(UnsafeInputError, match="declares .* over the cap"):
        read_qdpx(archive, limits=ZipLimits(max_member_bytes=4096))
    assert read_qdpx(archive).sources == []  # the default cap accepts it


def test_total_decompressed_size_is_counted_while_reading(tmp_path):
    # Each member is under the member cap, together they exceed the total cap: the count is
    # made on the inflated bytes, not trusted from the headers.
    qde = (
        b'<?xml version="1.0"?><Project xmlns="urn:QDA-XML:project:1.0" name="p"><Sources>'
        b'<TextSource guid="11111111-1111-1111-1111-111111111111" name="a" '
        b'plainTextPath="internal://a.txt"/></Sources></Project>'
    )
    archive = make_zip(tmp_path / "zipbomb.qdpx", {"project.qde": qde, "Sources/a.txt": b"a" * 3500})
    with pytest.raises(UnsafeInputError, match="zipbomb.qdpx.*more than"):
        read_qdpx(archive, limits=ZipLimits(max_member_bytes=4000, max_total_bytes=3600))


def test_safe_extract_writes_members_inside_target(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", {"project.qde": MINIMAL_QDE, "Sources/a.txt": "blåbær".encode()})
    written = safe_extract(archive, tmp_path / "t")
    assert sorted(p.relative_to(tmp_path / "t").as_posix() for p in written) == ["Sources/a.txt", "project.qde"]
    assert (tmp_path / "t" / "Sources" / "a.txt").read_text(encoding="utf-8") == "blåbær"
