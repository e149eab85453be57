"""Codebooks of any depth and flat lists → two levels; codebook files (.qdc incl. ATLAS.ti, YAML, .txt)."""

from __future__ import annotations

import pytest
import yaml

from nokoding.codebook import CodebookError
from nokoding.coded import load_coded_data
from nokoding.coded.hierarchy import (
    FLAT_CATEGORY,
    CodeResolver,
    UnknownCodeError,
    codebook_from_paths,
    codebook_from_tree,
    load_codebook_file,
    split_code_path,
)


def test_split_code_path():
    assert split_code_path(" Styring > Tid / ventetid > Lang ") == ("Styring", "Tid / ventetid", "Lang")
    assert split_code_path("Styring/Tid") == ("Styring", "Tid")
    assert split_code_path("Tillit") == ("Tillit",)
    nfd = "Ma\u030aling"
    assert split_code_path(nfd) == ("Måling",)


def test_deep_tree_becomes_category_and_joined_subcategory_paths():
    tree = [
        {"name": "Styring", "description": "Om styring", "codes": [
            {"name": "Tid", "codes": ["Ventetid", {"name": "Møter", "codes": ["Lange møter"]}]},
            {"name": "Rapportering", "codable": False, "codes": ["Skjema"]},
        ]},
        "Tillit",
        {"Ledelse": ["Nærhet"]},
    ]
    cb = codebook_from_tree(tree, name="dyp")
    assert [(c.category, c.subcategory) for c in cb] == [
        ("Styring", "Tid"), ("Styring", "Tid / Ventetid"), ("Styring", "Tid / Møter"),
        ("Styring", "Tid / Møter / Lange møter"), ("Styring", "Rapportering / Skjema"),
        (FLAT_CATEGORY, "Tillit"), ("Ledelse", "Nærhet"),
    ]
    assert cb.categories[0].description == "Om styring"
    assert len(set(cb.code_ids)) == len(cb.code_ids)


def test_flat_list_goes_into_one_category():
    cb = codebook_from_tree(["Måling", "Tid", "Tillit"], name="flat")
    assert [c.name for c in cb.categories] == [FLAT_CATEGORY]
    assert [c.subcategory for c in cb] == ["Måling", "Tid", "Tillit"]


def test_paths_category_coded_alone_is_not_a_code():
    cb, mapping = codebook_from_paths([("Styring",), ("Styring", "Tid"), ("Tillit",)])
    assert [(c.category, c.subcategory) for c in cb] == [("Styring", "Tid"), (FLAT_CATEGORY, "Tillit")]
    assert ("Styring",) not in mapping and mapping[("Styring", "Tid")] == "styring.tid"


def test_empty_tree_is_refused():
    with pytest.raises(CodebookError, match="no codable"):
        codebook_from_tree([{"name": "Styring", "codable": False}], origin="x.yaml")


def test_resolver_names_ambiguity_and_categories(small_codebook):
    r = CodeResolver(small_codebook)
    assert r.resolve("LEDELSE / tid").id == "ledelse.tid"
    assert r.resolve("styring/Måling").id == "styring.maling"  # category id as path head
    with pytest.raises(UnknownCodeError) as err:
        r.resolve("Tid")
    assert err.value.rule == "ambiguous-code" and "'Styring/Tid'" in str(err.value)
    with pytest.raises(UnknownCodeError) as err:
        r.resolve("Ledelse")
    assert err.value.rule == "coded-on-category" and "Tillit" in str(err.value)
    with pytest.raises(UnknownCodeError) as err:
        r.resolve("Budsjett")
    assert err.value.rule == "unknown-code" and "Budsjett" in str(err.value)


ATLAS_QDC = """<?xml version="1.0" encoding="utf-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:0:4" origin="ATLAS.ti 9.1">
  <Codes>
    <Code guid="{5E3C1D0A-1111-4A8B-9C0D-000000000001}" name="Måling" isCodable="true" color="#ff0000">
      <Description>Måltall og rapportering.</Description>
    </Code>
    <Code guid="{5E3C1D0A-1111-4A8B-9C0D-000000000002}" name="Tid" isCodable="true"/>
    <Code guid="{5E3C1D0A-1111-4A8B-9C0D-000000000003}" name="Tillit" isCodable="true"/>
  </Codes>
  <Sets>
    <Set guid="{5E3C1D0A-2222-4A8B-9C0D-000000000001}" name="Styring">
      <MemberCode guid="{5E3C1D0A-1111-4A8B-9C0D-000000000001}"/>
      <MemberCode guid="{5E3C1D0A-1111-4A8B-9C0D-000000000002}"/>
    </Set>
  </Sets>
</CodeBook>
"""


def test_atlas_ti_qdc_codebook_and_csv_against_it(tmp_path):
    qdc = tmp_path / "atlas.qdc"
    qdc.write_text(ATLAS_QDC, encoding="utf-8")
    cb = load_codebook_file(qdc)
    assert [(c.category, c.subcategory) for c in cb] == [
        ("Styring", "Måling"), ("Styring", "Tid"), (FLAT_CATEGORY, "Tillit")]
    assert cb.code(cb.code_ids[0]).description == "Måltall og rapportering."
    data = tmp_path / "koding.csv"
    data.write_text("text;code\nVi måles;Måling\nSjefen stoler på oss;Tillit\n", encoding="utf-8")
    coded = load_coded_data(data, codebook=qdc)
    assert [r["subcategory"] for r in coded.records] == ["Måling", "Tillit"]
    assert not coded.findings


def test_yaml_tree_nokoding_yaml_and_txt_files(tmp_path, small_codebook):
    tree = tmp_path / "tre.yaml"
    tree.write_text(yaml.safe_dump({"name": "studie", "sentiment_labels": ["neg", "pos"],
                                    "codes": [{"Styring": [{"Tid": ["Ventetid"]}]}]}, allow_unicode=True),
                    encoding="utf-8")
    cb = load_codebook_file(tree)
    assert cb.name == "studie" and cb.sentiment_labels == ("neg", "pos")
    assert [c.subcategory for c in cb] == ["Tid", "Tid / Ventetid"]
    assert load_codebook_file(small_codebook.to_yaml(tmp_path / "cb.yaml")) == small_codebook
    txt = tmp_path / "koder.txt"
    txt.write_text("# kodebok\nStyring > Tid > Ventetid\nTillit\n", encoding="utf-8")
    cb = load_codebook_file(txt)
    assert [(c.category, c.subcategory) for c in cb] == [
        ("Styring", "Tid"), ("Styring", "Tid / Ventetid"), (FLAT_CATEGORY, "Tillit")]
    with pytest.raises(CodebookError, match="unknown codebook format"):
        bad = tmp_path / "cb.docx"
        bad.write_bytes(b"x")
        load_codebook_file(bad)
