"""REFI-QDA codebooks (.qdc): valid export, faithful import, ATLAS.ti's 0:4 namespace, the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nokoding.cli import app
from nokoding.codebook import Codebook, CodebookError
from nokoding.export.qdc import codebook_to_qdc, read_qdc, write_qdc

ATLAS_NESTED = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:0:4" origin="ATLAS.ti Win 23.2.1">
  <Codes>
    <Code guid="{1A2B3C4D-0000-4000-8000-000000000001}" name="Mål- og resultatstyring" isCodable="true"
          color="#46AA00">
      <Description>Styring gjennom mål og måling.</Description>
      <Code guid="{1A2B3C4D-0000-4000-8000-000000000002}" name="Måling" isCodable="true">
        <Description>Måltall, rapportering.</Description>
      </Code>
      <Code guid="{1A2B3C4D-0000-4000-8000-000000000003}" name="Tid" isCodable="true">
        <Code guid="{1A2B3C4D-0000-4000-8000-000000000004}" name="Ventetid" isCodable="true"/>
      </Code>
    </Code>
    <Code guid="{1A2B3C4D-0000-4000-8000-000000000005}" name="Ledelse" isCodable="false">
      <Code guid="{1A2B3C4D-0000-4000-8000-000000000006}" name="Tid" isCodable="true"/>
    </Code>
  </Codes>
</CodeBook>
"""

ATLAS_FLAT = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:0:4" origin="ATLAS.ti Mac 9.1">
  <Codes>
    <Code guid="2B000000-0000-4000-8000-000000000001" name="Måling" isCodable="true"/>
    <Code guid="2B000000-0000-4000-8000-000000000002" name="Tillit" isCodable="true"/>
    <Code guid="2B000000-0000-4000-8000-000000000003" name="Annet" isCodable="true"/>
  </Codes>
  <Sets>
    <Set guid="2B000000-0000-4000-8000-0000000000A1" name="Styring">
      <Description>Kodegruppe</Description>
      <MemberCode guid="2B000000-0000-4000-8000-000000000001"/>
    </Set>
    <Set guid="2B000000-0000-4000-8000-0000000000A2" name="Ledelse">
      <MemberCode guid="2b000000-0000-4000-8000-000000000002"/>
    </Set>
  </Sets>
</CodeBook>
"""


def test_export_validates_against_codebook_xsd(tmp_path, codebook, refi_schemas):
    _, codebook_schema = refi_schemas
    path = write_qdc(codebook, tmp_path / "cb.qdc")
    codebook_schema.validate(str(path))
    text = path.read_text(encoding="utf-8")
    assert text.count('isCodable="false"') == len(codebook.categories)
    assert text.count('isCodable="true"') == len(codebook.codes)
    assert "<Description>Måltall og rapportering.</Description>" in text


def test_thesis_codebook_exports_valid(tmp_path, refi_schemas):
    corpora = pytest.importorskip("nokoding.corpora")
    try:
        thesis = corpora.load_codebook("thesis_mrs")
    except (corpora.CorpusError, FileNotFoundError):
        pytest.skip("pending: corpora/thesis_mrs/codebook.yaml not in the checkout")
    _, codebook_schema = refi_schemas
    path = write_qdc(thesis, tmp_path / "thesis.qdc")
    codebook_schema.validate(str(path))
    back = read_qdc(path, like=thesis)
    assert back.code_ids == thesis.code_ids and back.category_ids == thesis.category_ids


def test_export_is_deterministic(codebook):
    assert codebook_to_qdc(codebook) == codebook_to_qdc(Codebook.from_dict(codebook.to_dict()))


def test_round_trip_keeps_order_names_descriptions(tmp_path, codebook):
    back = read_qdc(write_qdc(codebook, tmp_path / "cb.qdc"))
    assert [c.pair for c in back.codes] == [c.pair for c in codebook.codes]
    assert [c.description for c in back.codes] == [c.description for c in codebook.codes]
    assert [c.name for c in back.categories] == [c.name for c in codebook.categories]
    # without a reference, ids are slugs of the names; with one, the reference's ids are kept
    assert back.code_ids == ("styring.maling", "styring.tid", "ledelse.tillit", "ledelse.tid")
    like = read_qdc(tmp_path / "cb.qdc", like=codebook)
    assert like.codes == codebook.codes and like.categories == codebook.categories and like.name == codebook.name


def test_atlas_ti_0_4_nested_codebook(tmp_path):
    path = tmp_path / "Atlas export.qdc"
    path.write_text(ATLAS_NESTED, encoding="utf-8")
    book = read_qdc(path)
    assert book.name == "atlas_export"
    assert book.category_ids == ("mal_og_resultatstyring", "ledelse")
    assert [c.pair for c in book.codes] == [
        ("Mål- og resultatstyring", "Måling"),
        ("Mål- og resultatstyring", "Tid"),
        ("Mål- og resultatstyring", "Tid / Ventetid"),
        ("Ledelse", "Tid"),
    ]
    assert book.code_ids == ("mal_og_resultatstyring.maling", "mal_og_resultatstyring.tid",
                             "mal_og_resultatstyring.tid_ventetid", "ledelse.tid")
    assert book.categories[0].description == "Styring gjennom mål og måling."
    assert book.codes[0].description == "Måltall, rapportering."


def test_atlas_ti_flat_codebook_uses_code_groups_then_one_category(tmp_path):
    path = tmp_path / "flat.qdc"
    path.write_text(ATLAS_FLAT, encoding="utf-8")
    book = read_qdc(path)
    assert [c.pair for c in book.codes] == [("Styring", "Måling"), ("Ledelse", "Tillit"),
                                            ("Uncategorised", "Annet")]
    assert book.categories[0].description == "Kodegruppe"


def test_unknown_namespace_and_empty_codebook_are_errors(tmp_path):
    other = tmp_path / "other.qdc"
    other.write_text(ATLAS_FLAT.replace("urn:QDA-XML:codebook:0:4", "urn:example:other"), encoding="utf-8")
    with pytest.raises(CodebookError, match="other.qdc.*not a REFI-QDA codebook"):
        read_qdc(other)
    empty = tmp_path / "empty.qdc"
    empty.write_text('<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="'
                     '11111111-1111-1111-1111-111111111111" name="Bare overskrift" isCodable="false"/>'
                     "</Codes></CodeBook>", encoding="utf-8")
    with pytest.raises(CodebookError, match="empty.qdc.*no codable codes"):
        read_qdc(empty)


def test_cli_export_and_import(tmp_path, codebook, refi_schemas):
    _, codebook_schema = refi_schemas
    yaml_path = codebook.to_yaml(tmp_path / "codebook.yaml")
    runner = CliRunner()
    result = runner.invoke(app, ["codebook", "export", "--codebook", str(yaml_path), "--format", "qdc",
                                 "--out", str(tmp_path / "cb.qdc")])
    assert result.exit_code == 0, result.output
    codebook_schema.validate(str(tmp_path / "cb.qdc"))
    result = runner.invoke(app, ["codebook", "import", str(tmp_path / "cb.qdc"), "--out",
                                 str(tmp_path / "back.yaml"), "--like", str(yaml_path)])
    assert result.exit_code == 0, result.output
    back = Codebook.from_yaml(tmp_path / "back.yaml")
    assert back.codes == codebook.codes and back.categories == codebook.categories


def test_cli_errors_exit_2_with_a_message(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["codebook", "import", str(tmp_path / "missing.qdc"), "--out",
                                 str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "missing.qdc" in result.output
    assert "cannot read" in result.output and "No such file" in result.output and "Errno" not in result.output
    qdc = tmp_path / "same.qdc"
    assert runner.invoke(app, ["codebook", "export", "--out", str(qdc)]).exit_code == 0
    before = qdc.read_bytes()
    result = runner.invoke(app, ["codebook", "import", str(qdc), "--out", str(qdc)])
    assert result.exit_code == 2 and "is the input file" in result.output
    assert qdc.read_bytes() == before
    result = runner.invoke(app, ["codebook", "export", "--corpus", "no_such_corpus", "--out",
                                 str(tmp_path / "x.qdc")])
    assert result.exit_code == 2 and "no_such_corpus" in result.output
    assert not (tmp_path / "x.qdc").exists()
