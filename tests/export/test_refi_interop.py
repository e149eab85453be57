"""REFI-QDA files that QDA programs import whole: unique code names undone on import, the
researcher as first user, sources/, GUIDs, evidence, emoji and CRLF, segments with no code."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest
from lxml import etree

from nokoding import corpora
from nokoding.codebook import Codebook
from nokoding.coded import load_coded_data
from nokoding.export._refi import export_code_names, strip_qualifier
from nokoding.export.qdc import codebook_to_qdc, read_qdc, write_qdc
from nokoding.export.qdpx import DEFAULT_RESEARCHER, NOKODING_USER, QdpxError, read_qdpx, write_qdpx
from nokoding.export.tabular import read_csv, read_jsonl, write_csv, write_jsonl
from nokoding.export.tagged import TaggedDocument, accepted_codes, short_quote
from nokoding.suggestions import Evidence
from tests.coded.conftest import Project, Sel
from tests.export.fakes import FakeSuggester, segment_turns, tag_documents
from tests.export.qda_import import import_like_qualcoder

Q = "{urn:QDA-XML:project:1.0}"

#: Repeated leaf names (Tid ×3, Ressurser ×2), a name that already looks qualified, æøå, & and <.
TRICKY = {
    "name": "vanskelig",
    "categories": [
        {"id": "pol", "name": "Politikk & styring", "subcategories": [
            {"id": "pol.tid", "name": "Tid", "description": "Tid <til> brukerne & møter."},
            {"id": "pol.tidq", "name": "Tid (Politikk & styring)", "description": "Allerede kvalifisert."},
            {"id": "pol.res", "name": "Ressurser"},
        ]},
        {"id": "mal", "name": "Mål <2025>", "subcategories": [
            {"id": "mal.tid", "name": "Tid"},
            {"id": "mal.res", "name": "ressurser"},
            {"id": "mal.ovrig", "name": "Tid (Politikk & styring)"},
        ]},
        {"id": "bru", "name": "Brukermedvirkning", "subcategories": [
            {"id": "bru.tid", "name": "Tid"},
            {"id": "bru.aere", "name": "Ære, øre & å"},
        ]},
    ],
}


@pytest.fixture
def tricky() -> Codebook:
    return Codebook.from_dict(TRICKY)


@pytest.fixture
def tricky_tagged(documents, tricky):
    return tag_documents(documents, FakeSuggester(tricky, top_k=3))


def _pairs(book: Codebook) -> list[tuple[str, str, str]]:
    return [(c.category, c.subcategory, c.description) for c in book]


def test_code_names_are_unique_readable_and_undone(tricky):
    names = export_code_names(tricky)
    assert names["pol.tid"] == "Tid (Politikk & styring)" and names["bru.tid"] == "Tid (Brukermedvirkning)"
    assert names["bru.aere"] == "Ære, øre & å"  # a name used once stays as it is
    assert len({n.casefold() for n in names.values()}) == len(tricky)  # 'Ressurser'/'ressurser' too
    for cat in tricky.categories:
        codes = list(tricky.codes_in(cat.id))
        assert strip_qualifier([names[c.id] for c in codes], cat.name) == [c.subcategory for c in codes]


def test_a_foreign_codebook_with_both_forms_keeps_its_names():
    assert strip_qualifier(["Tid", "Tid (Politikk)"], "Politikk") == ["Tid", "Tid (Politikk)"]
    assert strip_qualifier(["Tid (Politikk)", "Dialog"], "Politikk") == ["Tid", "Dialog"]


def test_qdc_round_trip_keeps_every_code_with_unique_names(tmp_path, tricky, refi_schemas):
    _, codebook_schema = refi_schemas
    path = write_qdc(tricky, tmp_path / "vanskelig.qdc")
    codebook_schema.validate(path.read_text(encoding="utf-8"))
    root = etree.fromstring(path.read_bytes())
    codable = [c.get("name") for c in root.iter("{*}Code") if c.get("isCodable") == "true"]
    assert len(codable) == len(tricky) == len({n.casefold() for n in codable})
    back = read_qdc(path)
    assert _pairs(back) == _pairs(tricky)
    assert read_qdc(path, like=tricky).code_ids == tricky.code_ids


def test_thesis_codebook_qdc_has_22_unique_names_and_round_trips(tmp_path):
    thesis = corpora.load_codebook("thesis_mrs")
    root = etree.fromstring(codebook_to_qdc(thesis))
    codable = [c.get("name") for c in root.iter("{*}Code") if c.get("isCodable") == "true"]
    assert len(codable) == len(set(codable)) == len(thesis) == 22
    assert "Tid (Politikk)" in codable and "Tid" not in codable
    path = write_qdc(thesis, tmp_path / "t.qdc")
    assert [c.pair for c in read_qdc(path)] == [c.pair for c in thesis]


def test_qualcoder_import_gets_every_code_and_coding(tmp_path, tricky, tricky_tagged):
    path = write_qdpx(tmp_path / "p.qdpx", tricky_tagged, tricky, model="fake")
    got = import_like_qualcoder(path)
    assert got.rejected == [] and len(got.codes) == len(tricky)
    assert got.categories == [c.name for c in tricky.categories]
    want = sorted(
        (td.document.id, s.start, s.end, tricky.code(c.code_id).label)
        for td in tricky_tagged for s, g in td for c in accepted_codes(g, top_k=3))
    names = {n: c for c, n in export_code_names(tricky).items()}
    assert sorted((src, a, b, tricky.code(names[code]).label) for src, a, b, code, *_ in got.codings) == want
    # the coded text is the segment, and the suggestions belong to 'nokoding', not the coder
    texts = {(td.document.id, s.start, s.end): s.text for td in tricky_tagged for s in td.segments}
    assert all(seltext == texts[(src, a, b)] for src, a, b, _, _, seltext, _ in got.codings)
    assert {owner for *_, owner, _, _ in got.codings} == {NOKODING_USER}
    assert got.coder == DEFAULT_RESEARCHER != NOKODING_USER
    assert got.sources == {td.document.id: td.document.text for td in tricky_tagged}


def test_qdpx_round_trip_through_nokoding_is_lossless(tmp_path, tricky, tricky_tagged, refi_schemas):
    project_schema, _ = refi_schemas
    path = write_qdpx(tmp_path / "p.qdpx", tricky_tagged, tricky)
    with zipfile.ZipFile(path) as zf:
        project_schema.validate(zf.read("project.qde").decode("utf-8"))
    book, _, codings = read_qdpx(path)
    assert _pairs(book) == _pairs(tricky)
    by_pair = {c.pair: c.id for c in tricky}
    got = sorted((c.source_name, c.start, c.end, by_pair[book.code(c.code_id).pair]) for c in codings)
    assert got == sorted((td.document.id, s.start, s.end, c.code_id)
                         for td in tricky_tagged for s, g in td for c in accepted_codes(g, top_k=3))
    assert read_qdpx(path, like=tricky).codebook.code_ids == tricky.code_ids


def test_archive_layout_users_guids_and_origin(tmp_path, tagged, codebook):
    path = write_qdpx(tmp_path / "p.qdpx", tagged, codebook, researcher="Anne Berit")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        root = etree.parse(io.BytesIO(zf.read("project.qde"))).getroot()
    assert names[0] == "project.qde" and all(n.startswith("sources/") for n in names[1:])
    assert root.get("origin", "").startswith("nokoding ")
    users = [(u.get("guid"), u.get("name")) for u in root.find(Q + "Users")]
    assert [n for _, n in users] == ["Anne Berit", NOKODING_USER]
    assert root.get("creatingUserGUID") == users[0][0]
    assert {s.get("creatingUser") for s in root.iter(Q + "TextSource")} == {users[0][0]}
    guids = [v for el in root.iter() for k, v in el.attrib.items() if k == "guid"]
    assert len(guids) == len(set(guids)) and all(g == g.upper() for g in guids)
    refs = [r.get("targetGUID") for r in root.iter(Q + "CodeRef")]
    assert refs and all(r == r.upper() and r in guids for r in refs)
    for el in root.iter():
        if etree.QName(el).localname in ("Users", "Sets", "Sources", "Codes"):
            assert len(el) > 0, f"empty <{etree.QName(el).localname}/>"


def test_nokoding_cannot_be_the_researcher(tmp_path, tagged, codebook):
    with pytest.raises(QdpxError, match="researcher name"):
        write_qdpx(tmp_path / "p.qdpx", tagged, codebook, researcher="Nokoding")
    assert not (tmp_path / "p.qdpx").exists()


@pytest.mark.parametrize(("qde", "folder"), [("project.qde", "Sources"), ("Min studie.qde", "sources")])
def test_projects_with_either_sources_folder_and_any_qde_name_are_read(tmp_path, qde, folder):
    p = Project(inline_first=False)
    start = p.sources[1][1].index("Lederen stoler")
    p.selections = [Sel(1, start, start + 22, ["Ledelse/Tillit"])]
    coded = load_coded_data(p.write(tmp_path / "study.qdpx", qde=qde, folder=folder))
    assert [(r["text"], r["subcategory"]) for r in coded.records] == [("Lederen stoler på oss.", "Tillit")]


def test_emoji_and_crlf_transcript_positions(tmp_path, codebook):
    from nokoding.ingest import read

    raw = "I: Hvordan er det?\r\nInformant: Det er bra 🙂 her, «virkelig».\r\nI: Og tiden?\r\n" \
          "Informant: Vi får lite tid 👍🏽 til brukerne 👨‍👩‍👧.\r\n"
    src = tmp_path / "intervju_crlf.txt"
    src.write_bytes(raw.encode("utf-8"))
    doc = read(src)
    assert "\r" not in doc.text
    segs = [s for s in segment_turns(doc) if s.role != "interviewer"]
    td = TaggedDocument(doc, tuple(segs), tuple(FakeSuggester(codebook)(segs)))
    path = write_qdpx(tmp_path / "p.qdpx", [td], codebook)
    got = import_like_qualcoder(path)
    assert got.codings and all(seltext == doc.text[a:b] for _, a, b, _, _, seltext, _ in got.codings)
    assert {seltext for *_, seltext, _ in got.codings} == {s.text for s in segs}
    last = max(got.codings, key=lambda c: c[1])
    # code points: the emoji with skin tone counts 2, the family 5; UTF-16 would count more
    assert last[2] - last[1] == len(segs[-1].text) < len(segs[-1].text.encode("utf-16-le")) // 2


def test_segment_with_no_code_exports_cleanly(tmp_path, documents, codebook, refi_schemas):
    tagged = tag_documents(documents, FakeSuggester(codebook))
    first = tagged[0]
    abstained = dataclasses.replace(first.suggestions[0], codes=(), evidence=())
    td = TaggedDocument(first.document, first.segments, (abstained, *first.suggestions[1:]))
    all_docs = [td, *tagged[1:]]
    path = write_qdpx(tmp_path / "p.qdpx", all_docs, codebook)
    with zipfile.ZipFile(path) as zf:
        refi_schemas[0].validate(zf.read("project.qde").decode("utf-8"))
    quiet = first.segments[0]
    codings = read_qdpx(path).codings
    assert not [c for c in codings if (c.source_name, c.start) == (first.document.id, quiet.start)]
    assert len(codings) == sum(len(s.codes) for d in all_docs for s in d.suggestions)
    rows = read_csv(write_csv(tmp_path / "s.csv", all_docs, top_k=3))
    assert len(rows) == sum(len(d) for d in all_docs)
    row = rows[0]
    assert row["text"] == quiet.text and row["code_1"] == row["p_1"] == row["evidence_quotes"] == ""
    records = read_jsonl(write_jsonl(tmp_path / "s.jsonl", all_docs, top_k=3))
    assert records[0]["codes"] == [] and records[0]["evidence"] == [] and len(records) == len(rows)


def test_evidence_quotes_are_readable_in_every_output(tmp_path, documents, codebook):
    long = "Vi blir målt på alt, " * 20 + "også på «øyeblikkelig» hjelp & <mer>."
    tagged = tag_documents(documents, FakeSuggester(codebook))
    td = tagged[0]
    sug = dataclasses.replace(td.suggestions[0], evidence=(
        Evidence("thesis#12", long, "styring.tid", 0.8312), Evidence("thesis#3", "Kort\nsitat.", "ledelse.tid", 0.5)))
    docs = [TaggedDocument(td.document, td.segments, (sug, *td.suggestions[1:]))]
    rec = read_jsonl(write_jsonl(tmp_path / "s.jsonl", docs))[0]
    assert [e["text"] for e in rec["evidence"]] == [short_quote(long), "Kort sitat."]
    assert len(rec["evidence"][0]["text"]) <= 160 and rec["evidence"][0]["text"].endswith("…")
    assert rec["evidence"][0]["code"] == "styring.tid" and rec["evidence"][0]["similarity"] == 0.8312
    cell = read_csv(write_csv(tmp_path / "s.csv", docs))[0]["evidence_quotes"]
    assert cell == (f"«{short_quote(long)}» (styring.tid, similarity 0.83) | "
                    "«Kort sitat.» (ledelse.tid, similarity 0.50)")
    memo = import_like_qualcoder(write_qdpx(tmp_path / "p.qdpx", docs, codebook)).codings[0][-1]
    assert memo.startswith("nokoding suggestion") and "(Styring / Tid, similarity 0.83)" in memo
    assert "«Kort sitat.» (Ledelse / Tid, similarity 0.50)" in memo and "& <mer>" not in memo


def test_short_quote_cuts_at_a_word():
    assert short_quote("  to\nlinjer  ") == "to linjer"
    cut = short_quote("ord " * 100, limit=30)
    assert cut.endswith("…") and len(cut) <= 30 and "ord ord…" in cut
    assert short_quote("x" * 300, limit=20) == "x" * 19 + "…"  # one long word is cut inside
