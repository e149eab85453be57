"""REFI-QDA projects: schema-valid, stable, and read back to the same codings at the same positions."""

from __future__ import annotations

import dataclasses
import zipfile
from datetime import UTC, datetime

import pytest

from nokoding.export.qdpx import (
    NOKODING_USER,
    QdpxError,
    project_xml,
    read_qdpx,
    write_qdpx,
)
from nokoding.export.tagged import TaggedDocument, accepted_codes
from tests.export.fakes import FakeSuggester, build_document, tag_documents


def expected_codings(tagged, top_k=3, threshold=None):
    return sorted(
        (td.document.id, s.start, s.end, c.code_id)
        for td in tagged for s, g in td for c in accepted_codes(g, top_k=top_k, threshold=threshold)
    )


def test_project_validates_against_project_xsd(tmp_path, tagged, codebook, refi_schemas):
    project_schema, _ = refi_schemas
    path = write_qdpx(tmp_path / "p.qdpx", tagged, codebook, model="fake",
                      created=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    with zipfile.ZipFile(path) as zf:
        qde = zf.read("project.qde")
    project_schema.validate(qde.decode("utf-8"))
    assert b'creationDateTime="2024-05-01T12:00:00Z"' in qde


def test_schema_rejects_what_it_should(tagged, codebook, refi_schemas):
    # guards the test above: a selection without positions is invalid
    project_schema, _ = refi_schemas
    xml, _ = project_xml(tagged, codebook)
    broken = xml.decode("utf-8").replace('startPosition="', 'sP="', 1)
    assert not project_schema.is_valid(broken)


def test_codings_and_offsets_round_trip_with_nordic_letters_and_emoji(tmp_path, tagged, codebook):
    path = write_qdpx(tmp_path / "p.qdpx", tagged, codebook)
    book, sources, codings = read_qdpx(path, like=codebook)
    assert book.code_ids == codebook.code_ids and book.category_ids == codebook.category_ids
    assert [s.name for s in sources] == [td.document.id for td in tagged]
    assert [s.text for s in sources] == [td.document.text for td in tagged]
    assert sorted((c.source_name, c.start, c.end, c.code_id) for c in codings) == expected_codings(tagged)
    segment_text = {(td.document.id, s.start, s.end): s.text for td in tagged for s in td.segments}
    for c in codings:
        assert c.text == segment_text[(c.source_name, c.start, c.end)]
        assert c.user_name == NOKODING_USER
    # positions count code points: the emoji segment is longer in UTF-16 units
    emoji = next(c for c in codings if "👍🏽" in c.text)
    assert c.end - c.start == len(c.text)
    assert len(emoji.text.encode("utf-16-le")) // 2 > emoji.end - emoji.start


def test_source_texts_are_stored_utf8_without_bom_with_lf(tmp_path, tagged, codebook):
    path = write_qdpx(tmp_path / "p.qdpx", tagged, codebook)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        texts = [zf.read(n) for n in names if n.startswith("sources/")]
        qde = zf.read("project.qde").decode("utf-8")
    assert names[0] == "project.qde" and len(texts) == len(tagged)
    for raw, td in zip(sorted(texts), sorted(t.document.text.encode("utf-8") for t in tagged)):
        assert raw == td and not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    for name in names[1:]:
        assert f'plainTextPath="internal://{name.removeprefix("sources/")}"' in qde


def test_reexport_is_byte_identical(tmp_path, documents, codebook):
    first = write_qdpx(tmp_path / "a.qdpx", tag_documents(documents, FakeSuggester(codebook)), codebook)
    second = write_qdpx(tmp_path / "b.qdpx", tag_documents(documents, FakeSuggester(codebook)), codebook)
    assert first.read_bytes() == second.read_bytes()
    changed = [dataclasses.replace(documents[0], text=documents[0].text + "Slutt.\n"), documents[1]]
    xml_a, _ = project_xml(tag_documents(documents, FakeSuggester(codebook)), codebook)
    xml_b, _ = project_xml(tag_documents(changed, FakeSuggester(codebook)), codebook)
    assert xml_a != xml_b  # a changed transcript is a different source


def test_threshold_and_top_k_limit_the_codings(tmp_path, tagged, codebook):
    all_probs = sorted(c.probability for td in tagged for _, g in td for c in g.codes)
    threshold = all_probs[len(all_probs) // 2]
    path = write_qdpx(tmp_path / "p.qdpx", tagged, codebook, top_k=2, threshold=threshold)
    codings = read_qdpx(path, like=codebook).codings
    assert sorted((c.source_name, c.start, c.end, c.code_id) for c in codings) == expected_codings(
        tagged, top_k=2, threshold=threshold)
    assert 0 < len(codings) < len(expected_codings(tagged))
    for c in codings:
        p = float(c.description.split("probability ")[1].split(" ")[0])
        assert p >= round(threshold, 3) - 1e-3


def test_codings_belong_to_the_nokoding_user_not_human_coders(tmp_path, tagged, codebook):
    path = write_qdpx(tmp_path / "p.qdpx", tagged, codebook)
    with zipfile.ZipFile(path) as zf:
        qde = zf.read("project.qde").decode("utf-8")
    users = {c.user_name for c in read_qdpx(path).codings}
    assert users == {NOKODING_USER} and qde.count("<User ") == 2


def test_writer_refuses_text_that_is_not_normalised(codebook):
    doc = build_document("crlf", [("I", "Spørsmål?"), ("Informant", "Svar.")])
    bad = dataclasses.replace(doc, text=doc.text.replace("\n", "\r\n"))
    seg = tag_documents([doc], FakeSuggester(codebook))[0]
    first = seg.segments[0]
    # same offsets are now wrong for the CRLF text: build a consistent document to reach the check
    moved = dataclasses.replace(first, start=bad.text.index("Svar."), end=bad.text.index("Svar.") + 5)
    td = TaggedDocument(bad, (moved,), (dataclasses.replace(seg.suggestions[0], segment=moved),))
    with pytest.raises(QdpxError, match="crlf.*not normalised"):
        project_xml([td], codebook)


def test_offsets_that_do_not_match_the_text_are_refused(documents, codebook):
    td = tag_documents(documents[:1], FakeSuggester(codebook))[0]
    shifted = dataclasses.replace(td.segments[0], start=td.segments[0].start + 1)
    with pytest.raises(ValueError, match="intervju_1.*offsets"):
        TaggedDocument(td.document, (shifted,), td.suggestions[:1])


def test_ingest_normalises_bom_and_crlf_so_positions_hold(tmp_path, codebook):
    ingest = pytest.importorskip("nokoding.ingest", reason="nokoding.ingest is not importable")
    path = tmp_path / "bom_crlf.txt"
    path.write_bytes("\ufeffI: Hvordan måles dere?\r\nInformant: På antall vedtak 🙂, dessverre.\r\n".encode())
    doc = ingest.read(path)
    assert "\r" not in doc.text and not doc.text.startswith("\ufeff")
    from nokoding.segmentation import segment

    segs = [s for s in segment(doc) if s.role != "interviewer"]
    td = TaggedDocument(doc, tuple(segs), tuple(FakeSuggester(codebook)(segs)))
    out = write_qdpx(tmp_path / "p.qdpx", [td], codebook)
    codings = read_qdpx(out).codings
    assert codings and all(c.text in doc.text and doc.text[c.start:c.end] == c.text for c in codings)
    assert any("På antall vedtak 🙂" in c.text for c in codings)


HUMAN_PROJECT = """<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="Kodet av mennesker" origin="SomeQDA 1.0">
  <Users>
    <User guid="{AAAAAAAA-0000-0000-0000-000000000001}" name="Kari Koder"/>
  </Users>
  <CodeBook><Codes>
    <Code guid="BBBBBBBB-0000-0000-0000-000000000001" name="Styring" isCodable="false">
      <Code guid="BBBBBBBB-0000-0000-0000-000000000002" name="Måling" isCodable="true"/>
    </Code>
  </Codes></CodeBook>
  <Sources>
    <TextSource guid="CCCCCCCC-0000-0000-0000-000000000001" name="inline">
      <PlainTextContent>Vi måles på alt 🙂 hele tiden.</PlainTextContent>
      <PlainTextSelection guid="DDDDDDDD-0000-0000-0000-000000000001" startPosition="3" endPosition="17"
          creatingUser="{AAAAAAAA-0000-0000-0000-000000000001}">
        <Coding guid="EEEEEEEE-0000-0000-0000-000000000001">
          <CodeRef targetGUID="{bbbbbbbb-0000-0000-0000-000000000002}"/>
        </Coding>
      </PlainTextSelection>
    </TextSource>
  </Sources>
</Project>
"""


def test_reads_a_human_coded_project_from_another_tool(tmp_path, refi_schemas):
    project_schema, _ = refi_schemas
    project_schema.validate(HUMAN_PROJECT)
    path = tmp_path / "human.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", HUMAN_PROJECT.encode("utf-8"))
    book, sources, codings = read_qdpx(path)
    assert book.code_ids == ("styring.maling",)
    (coding,) = codings
    assert (coding.start, coding.end, coding.text) == (3, 17, "måles på alt 🙂")
    assert coding.code_id == "styring.maling" and coding.code_name == "Styring / Måling"
    assert coding.user_name == "Kari Koder" and sources[0].path is None


def test_selection_outside_the_text_is_refused(tmp_path):
    path = tmp_path / "bad.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", HUMAN_PROJECT.replace('endPosition="17"', 'endPosition="99"').encode())
    with pytest.raises(QdpxError, match="bad.qdpx.*'inline'.*outside"):
        read_qdpx(path)


def test_missing_source_file_is_reported(tmp_path, tagged, codebook):
    good = write_qdpx(tmp_path / "p.qdpx", tagged, codebook)
    stripped = tmp_path / "stripped.qdpx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(stripped, "w") as dst:
        dst.writestr("project.qde", src.read("project.qde"))
    with pytest.raises(QdpxError, match="intervju_1.*not in the archive"):
        read_qdpx(stripped)
