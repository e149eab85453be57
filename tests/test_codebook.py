"""The codebook is the one source of truth for code order; these guard its behaviour."""

from __future__ import annotations

import copy

import pytest

from nokoding.codebook import Codebook, CodebookError


def test_codes_are_pairs_in_file_order(small_codebook_dict):
    cb = Codebook.from_dict(small_codebook_dict)
    assert cb.code_ids == ("styring.maling", "styring.tid", "ledelse.tillit", "ledelse.tid")
    assert [c.pair for c in cb] == [("Styring", "Måling"), ("Styring", "Tid"), ("Ledelse", "Tillit"),
                                    ("Ledelse", "Tid")]
    assert cb.code_to_category() == [0, 0, 1, 1]


def test_repeated_subcategory_names_are_told_apart_by_category(small_codebook_dict):
    cb = Codebook.from_dict(small_codebook_dict)
    assert cb.find("Styring", "Tid").id == "styring.tid"
    assert cb.find("ledelse", "Tid").id == "ledelse.tid"
    with pytest.raises(KeyError, match="Politikk"):
        cb.find("Politikk", "Tid")


def test_yaml_round_trip_keeps_order_and_text(tmp_path, small_codebook_dict):
    cb = Codebook.from_dict(small_codebook_dict)
    path = cb.to_yaml(tmp_path / "sub" / "codebook.yaml")
    again = Codebook.from_yaml(path)
    assert again == cb
    assert again.codes[0].description == "Måltall og rapportering."
    assert not list(tmp_path.glob("sub/.*.tmp")), "atomic write left a temporary file"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["categories"][1]["subcategories"].append({"id": "styring.maling", "name": "X"}),
         "duplicate code id"),
        (lambda d: d["categories"][0]["subcategories"].append({"id": "x", "name": "Måling"}),
         "duplicate code"),
        (lambda d: d["categories"][0]["subcategories"].append({"name": "Uten id"}), r"categories\[0\]"),
        (lambda d: d.pop("categories"), "missing 'categories'"),
    ],
)
def test_malformed_codebooks_are_refused_with_the_place(mutate, message, small_codebook_dict):
    data = copy.deepcopy(small_codebook_dict)
    mutate(data)
    with pytest.raises(CodebookError, match=message):
        Codebook.from_dict(data, origin="study.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: [unclosed\n", encoding="utf-8")
    with pytest.raises(CodebookError, match="bad.yaml"):
        Codebook.from_yaml(bad)


def test_unknown_code_lookup_names_the_codebook(small_codebook_dict):
    cb = Codebook.from_dict(small_codebook_dict)
    with pytest.raises(KeyError, match="tiny_study"):
        cb.index("nope")
