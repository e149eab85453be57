"""REFI-QDA projects coded by people → training records (coders, nokoding's own codings, groups)."""

from __future__ import annotations

import zipfile

import pytest

from nokoding.coded import CodedDataError, load_coded_data, validate
from nokoding.document import Document, Segment
from nokoding.export.qdpx import write_qdpx
from nokoding.export.tagged import TaggedDocument
from nokoding.suggestions import CodeScore, Suggestion
from tests.coded.conftest import ANNA, BJORN, NOKO, Project, Sel


SUGGESTED = "nokoding suggestion: Styring / Tid, probability 0.812 (rank 1); sentiment neutral."


def _sel(p: Project, source: int, fragment: str, codes: list[str], user: str | None = ANNA,
         description: str = "") -> Sel:
    start, end = p.span(source, fragment)
    return Sel(source, start, end, codes, user, description)


def test_fixture_project_is_valid_refi_qda(project, project_schema):
    project.selections = [_sel(project, 0, "Vi måles på antall vedtak", ["Styring/Måling"])]
    project_schema.validate(project.xml())


def test_each_coding_becomes_a_record_with_text_offsets_and_coder(project, tmp_path):
    p = project
    p.selections = [
        _sel(p, 0, "Vi måles på antall vedtak hver uke", ["Styring/Måling", "Styring/Tid"]),
        _sel(p, 1, "Lederen stoler på oss.", ["Ledelse/Tillit"], BJORN),
        _sel(p, 1, "Vi venter lenge på svar.", ["Styring/Tid/Ventetid"], BJORN),
    ]
    coded = load_coded_data(p.write(tmp_path / "study.qdpx"))
    assert coded.format == "qdpx" and not coded.codebook_inferred
    by_text = [(r["text"], r["subcategory"], r["category"]) for r in coded.records]
    assert by_text == [
        ("Vi måles på antall vedtak hver uke", "Måling", "Styring"),
        ("Vi måles på antall vedtak hver uke", "Tid", "Styring"),
        ("Lederen stoler på oss.", "Tillit", "Ledelse"),
        ("Vi venter lenge på svar.", "Tid / Ventetid", "Styring"),
    ]
    first, second, third, _ = coded.records
    assert first["group"] == second["group"] != third["group"]
    assert first["id"] != second["id"]
    source_text = p.sources[0][1]
    assert source_text[first["start"]:first["end"]] == first["text"]
    assert first["document"] == "Intervju 1" and first["coder"] == "Anna" and third["coder"] == "Bjørn"
    assert all(r["sentiment"] is None for r in coded.records)
    assert all(r["code_id"] in coded.codebook.code_ids for r in coded.records)


def test_coders_filter_by_name_or_guid(project, tmp_path):
    p = project
    p.selections = [
        _sel(p, 0, "Vi måles på antall vedtak", ["Styring/Måling"], ANNA),
        _sel(p, 0, "det tar tid", ["Styring/Tid"], BJORN),
        _sel(p, 1, "Lederen stoler på oss.", ["Ledelse/Tillit"], BJORN),
    ]
    path = p.write(tmp_path / "study.qdpx")
    by_name = load_coded_data(path, coders=["bjørn"])
    assert {r["coder"] for r in by_name.records} == {"Bjørn"}
    assert [r["text"] for r in by_name.records] == ["det tar tid", "Lederen stoler på oss."]
    by_guid = load_coded_data(path, coders=["{" + ANNA.lower() + "}"])
    assert [r["text"] for r in by_guid.records] == ["Vi måles på antall vedtak"]
    assert any("other coders" in n for n in by_guid.notes)
    both = load_coded_data(path, coders=["Anna", BJORN])
    assert len(both.records) == 3
    with pytest.raises(CodedDataError, match="Anna, Bjørn"):
        load_coded_data(path, coders=["Kari"])


def test_nokoding_user_is_skipped_by_default(project, tmp_path):
    p = project
    p.selections = [
        _sel(p, 0, "Vi måles på antall vedtak", ["Styring/Måling"], ANNA),
        _sel(p, 0, "det tar tid", ["Styring/Tid"], NOKO, SUGGESTED),
        _sel(p, 1, "Lederen stoler på oss.", ["Ledelse/Tillit"], NOKO, SUGGESTED),
    ]
    path = p.write(tmp_path / "study.qdpx")
    default = load_coded_data(path)
    assert [r["coder"] for r in default.records] == ["Anna"]
    assert any("2 coding(s) by the user 'nokoding'" in n for n in default.notes)
    assert not [f for f in default.findings if f.rule == "human-codings-as-nokoding"]
    assert len(load_coded_data(path, include_nokoding=True).records) == 3
    assert [r["text"] for r in load_coded_data(path, coders=["nokoding"]).records] == [
        "det tar tid", "Lederen stoler på oss."]


def _tagged(codebook):
    text = "I: Hva måles?\nA: Vi blir målt på alt 🙂, også «øyeblikkelig» hjelp.\nI: Tid?\nA: Den går til rapportering.\n"
    doc = Document(id="intervju_1", text=text, format="txt")
    pieces = ["Vi blir målt på alt 🙂, også «øyeblikkelig» hjelp.", "Den går til rapportering."]
    codes = [["styring.maling", "ledelse.tillit"], ["styring.tid"]]
    segs, sugs = [], []
    for i, (piece, ids) in enumerate(zip(pieces, codes)):
        start = text.index(piece)
        seg = Segment("intervju_1", i, piece, start, start + len(piece), "A", "informant")
        scores = tuple(CodeScore(c, codebook.code(c).category, codebook.code(c).subcategory, 0.9 - 0.1 * k)
                       for k, c in enumerate(ids))
        segs.append(seg)
        sugs.append(Suggestion(piece, scores, {}, "negative", {"negative": 1.0}, segment=seg))
    return TaggedDocument(doc, tuple(segs), tuple(sugs)), pieces, codes


def test_project_written_by_nokoding_round_trips(small_codebook, tmp_path):
    tagged, pieces, codes = _tagged(small_codebook)
    path = write_qdpx(tmp_path / "suggestions.qdpx", [tagged], small_codebook, top_k=3)
    coded = load_coded_data(path, include_nokoding=True)
    got = sorted((r["text"], r["code_id"]) for r in coded.records)
    want = sorted((p, c) for p, ids in zip(pieces, codes) for c in ids)
    assert got == want
    assert coded.codebook.code_ids == small_codebook.code_ids
    groups = {r["group"] for r in coded.records if r["text"] == pieces[0]}
    assert len(groups) == 1
    assert load_coded_data(path).records == []  # all codings are nokoding's own suggestions


def test_given_codebook_maps_project_codes_by_name(project, small_codebook, tmp_path):
    p = project
    p.tree = [("Styring", False, [("Måling", True, []), ("Tid", True, [])]), ("Annet", False, [("Ukjent", True, [])])]
    p.selections = [_sel(p, 0, "Vi måles på antall vedtak", ["Styring/Måling"]),
                    _sel(p, 0, "det tar tid", ["Annet/Ukjent"])]
    coded = load_coded_data(p.write(tmp_path / "study.qdpx"), codebook=small_codebook)
    assert coded.codebook is small_codebook
    assert [r["code_id"] for r in coded.records] == ["styring.maling"]
    (err,) = [f for f in coded.findings if f.rule == "unknown-code"]
    assert err.severity == "error" and "Annet / Ukjent" in err.message and "[" in err.location


def test_coding_on_category_and_unknown_guid_are_reported(project, tmp_path):
    p = project
    p.selections = [_sel(p, 1, "Lederen stoler på oss.", ["Ledelse"]), _sel(p, 0, "det tar tid", ["Styring/Tid"])]
    target = f'targetGUID="{p.code_guid("Styring/Tid")}"'.encode()
    xml = p.xml().replace(target, b'targetGUID="DEADBEEF-0000-4000-8000-000000000000"')
    path = p.write(tmp_path / "study.qdpx")
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, xml if info.filename == "project.qde" else src.read(info))
    coded = load_coded_data(broken)
    rules = {f.rule: f for f in coded.findings}
    assert rules["coded-on-category"].severity == "warning" and "Ledelse" in rules["coded-on-category"].message
    assert rules["unknown-code"].severity == "error" and "Intervju 1" in rules["unknown-code"].location
    assert coded.records == []


def test_selection_outside_source_text_is_an_error_naming_source_and_positions(project, tmp_path):
    p = project
    n = len(p.sources[1][1])
    p.selections = [Sel(1, n - 5, n + 40, ["Styring/Tid"])]
    coded = load_coded_data(p.write(tmp_path / "study.qdpx"))
    report = validate(coded)
    (err,) = [f for f in report.errors if f.rule == "outside-source"]
    assert "Intervju 2" in err.message and str(n + 40) in err.message
    assert not report.ok


def test_empty_selection_is_left_out_with_a_warning(project, tmp_path):
    p = project
    start, _ = p.span(0, "Vi måles")
    p.selections = [Sel(0, start, start, ["Styring/Måling"]), _sel(p, 0, "det tar tid", ["Styring/Tid"])]
    coded = load_coded_data(p.write(tmp_path / "study.qdpx"))
    assert [r["text"] for r in coded.records] == ["det tar tid"]
    (warn,) = [f for f in coded.findings if f.rule == "empty-segment"]
    assert warn.severity == "warning" and f"[{start}:{start}]" in warn.location


def test_not_a_project_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.qdpx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CodedDataError, match="x.qdpx"):
        load_coded_data(bad)


def _trap(p: Project) -> Project:
    """A project coded in QualCoder after importing a project whose only user was 'nokoding':
    two suggestions (with nokoding's description) and two codings a person made as 'nokoding'."""
    p.selections = [
        _sel(p, 0, "Vi måles på antall vedtak", ["Styring/Måling"], NOKO, SUGGESTED),
        _sel(p, 1, "Lederen stoler på oss.", ["Ledelse/Tillit"], NOKO, SUGGESTED),
        _sel(p, 0, "det tar tid", ["Styring/Tid"], NOKO),
        _sel(p, 1, "Vi venter lenge på svar.", ["Styring/Tid/Ventetid"], NOKO, "viktig sitat"),
    ]
    return p


def test_codings_a_person_made_as_nokoding_are_reported_and_can_be_counted(project, tmp_path):
    path = _trap(project).write(tmp_path / "study.qdpx")
    default = load_coded_data(path)
    assert default.records == []
    (finding,) = [f for f in default.findings if f.rule == "human-codings-as-nokoding"]
    assert finding.severity == "warning" and finding.message.startswith("2 coding(s)")
    assert "--include-unmarked-nokoding" in finding.message
    report = validate(default)
    assert not report.ok and "human-codings-as-nokoding" in [f.rule for f in report.findings]
    counted = load_coded_data(path, include_unmarked_nokoding=True)
    assert [r["text"] for r in counted.records] == ["det tar tid", "Vi venter lenge på svar."]
    assert not [f for f in counted.findings if f.rule == "human-codings-as-nokoding"]
    assert any("2 coding(s) by the user 'nokoding' (its own suggestions)" in n for n in counted.notes)
    assert len(load_coded_data(path, include_nokoding=True).records) == 4


def test_nokodings_own_project_keeps_the_researchers_codings_apart(small_codebook, tmp_path):
    """After import QualCoder codes as the first user, the researcher, so new codings count."""
    from tests.export.qda_import import import_like_qualcoder

    path = write_qdpx(tmp_path / "p.qdpx", [_tagged(small_codebook)[0]], small_codebook, researcher="Anna")
    assert import_like_qualcoder(path).coder == "Anna"
    coded = load_coded_data(path)
    assert coded.records == [] and not [f for f in coded.findings if f.rule == "human-codings-as-nokoding"]
    assert any("3 coding(s) by the user 'nokoding' (its own suggestions)" in n for n in coded.notes)
