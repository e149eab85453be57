"""CSV and JSON Lines coded data: delimiters, BOM, encodings, code references, inferred codebooks."""

from __future__ import annotations

import json

import pytest

from nokoding.coded import CodedDataError, load_coded_data

ROWS = [
    ("Vi måles på antall vedtak; hver uke.", "Styring/Måling", "negativ", "int1"),
    ("Rapporteringen tar mye av dagen.", "Styring > Måling", "negative", "int1"),
    ("Jeg rekker ikke å snakke med brukerne.", "Styring/Tid", "", "int2"),
    ("Lederen stoler på at jeg gjør jobben.", "Ledelse > Tillit", "Positiv", "int2"),
]


def _csv(rows, delimiter: str, header=("tekst", "kode", "sentiment", "dokument")) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def test_csv_with_bom_and_semicolons_as_excel_writes_it(tmp_path):
    path = tmp_path / "koding.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(ROWS, ";").encode("utf-8"))
    coded = load_coded_data(path)
    assert [r["text"] for r in coded.records] == [r[0] for r in ROWS]
    assert [(r["category"], r["subcategory"]) for r in coded.records] == [
        ("Styring", "Måling"), ("Styring", "Måling"), ("Styring", "Tid"), ("Ledelse", "Tillit")]
    assert [r["sentiment"] for r in coded.records] == ["negative", "negative", None, "positive"]
    assert [r["document"] for r in coded.records] == ["int1", "int1", "int2", "int2"]
    assert coded.records[0]["origin"].endswith("koding.csv:2")
    assert not coded.findings


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_comma_and_tab_delimiters_are_sniffed(tmp_path, delimiter):
    path = tmp_path / ("koding.tsv" if delimiter == "\t" else "koding.csv")
    path.write_text(_csv(ROWS, delimiter), encoding="utf-8")
    coded = load_coded_data(path)
    assert [r["text"] for r in coded.records] == [r[0] for r in ROWS]


def test_windows_1252_file_is_read_with_a_warning(tmp_path):
    path = tmp_path / "koding.csv"
    path.write_bytes(_csv(ROWS, ";").encode("cp1252"))
    with pytest.warns(UserWarning, match="Windows-1252"):
        coded = load_coded_data(path)
    assert coded.records[0]["text"] == ROWS[0][0]
    (enc,) = [f for f in coded.findings if f.rule == "encoding"]
    assert enc.severity == "warning" and "koding.csv" in enc.location


def test_inferred_codebook_follows_first_use_and_is_two_levels(tmp_path):
    path = tmp_path / "koding.csv"
    rows = [("a", "Tillit", "", ""), ("b", "Styring > Tid > Ventetid", "", ""), ("c", "Styring/Måling", "", "")]
    path.write_text(_csv(rows, ","), encoding="utf-8")
    coded = load_coded_data(path)
    assert coded.codebook_inferred
    cb = coded.codebook
    assert [c.name for c in cb.categories] == ["Uncategorised", "Styring"]
    assert [(c.category, c.subcategory) for c in cb] == [
        ("Uncategorised", "Tillit"), ("Styring", "Tid / Ventetid"), ("Styring", "Måling")]
    assert [r["code_id"] for r in coded.records] == list(cb.code_ids)


def test_code_given_as_id_name_or_path_against_a_codebook(tmp_path, small_codebook):
    path = tmp_path / "koding.csv"
    rows = [("a", "styring.maling", "", ""), ("b", "Tillit", "", ""), ("c", "ledelse > tid", "", ""),
            ("d", "Tid", "", ""), ("e", "Styrng/Maling", "", ""), ("f", "Ledelse", "", "")]
    path.write_text(_csv(rows, ";"), encoding="utf-8")
    coded = load_coded_data(path, codebook=small_codebook)
    assert [(r["text"], r["code_id"]) for r in coded.records] == [
        ("a", "styring.maling"), ("b", "ledelse.tillit"), ("c", "ledelse.tid")]
    by_rule = {f.location.rsplit(":", 1)[-1]: f for f in coded.findings}
    assert by_rule["5"].rule == "ambiguous-code" and "Styring/Tid" in by_rule["5"].message
    assert by_rule["6"].rule == "unknown-code" and by_rule["6"].severity == "error"
    assert "styring.maling" in by_rule["6"].message  # a suggestion for the typo
    assert by_rule["7"].rule == "coded-on-category" and by_rule["7"].severity == "warning"


def test_codebook_file_is_loaded_by_path(tmp_path, small_codebook):
    cb_path = small_codebook.to_yaml(tmp_path / "codebook.yaml")
    path = tmp_path / "koding.csv"
    path.write_text(_csv([("a", "Måling", "", "")], ","), encoding="utf-8")
    coded = load_coded_data(path, codebook=cb_path)
    assert coded.codebook == small_codebook and coded.records[0]["code_id"] == "styring.maling"


def test_unknown_sentiment_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "koding.csv"
    path.write_text(_csv([("a", "X/Y", "sur", ""), ("b", "X/Y", "nøytral", "")], ","), encoding="utf-8")
    coded = load_coded_data(path, codebook=None)
    # unknown labels extend an inferred codebook's label set (with a warning) …
    assert "sur" in coded.codebook.sentiment_labels
    assert [r["sentiment"] for r in coded.records] == ["sur", "neutral"]
    # … but against a given codebook they are errors
    given = coded.codebook.__class__.from_dict({"name": "x", "categories": [
        {"id": "x", "name": "X", "subcategories": [{"id": "x.y", "name": "Y"}]}]})
    coded = load_coded_data(path, codebook=given)
    (err,) = [f for f in coded.findings if f.rule == "unknown-sentiment"]
    assert err.severity == "error" and err.location.endswith("koding.csv:2") and "'sur'" in err.message


def test_same_text_in_same_document_shares_a_group(tmp_path):
    path = tmp_path / "koding.csv"
    rows = [("Samme sitat.", "A/B", "", "d1"), ("Samme sitat.", "A/C", "", "d1"), ("Samme sitat.", "A/C", "", "d2")]
    path.write_text(_csv(rows, ";"), encoding="utf-8")
    recs = load_coded_data(path).records
    assert recs[0]["group"] == recs[1]["group"] != recs[2]["group"]


def test_missing_code_column_names_the_file_and_header(tmp_path):
    path = tmp_path / "koding.csv"
    path.write_text("tekst;kommentar\nhei;x\n", encoding="utf-8")
    with pytest.raises(CodedDataError, match=r"koding\.csv:1: .*'code'.*kommentar"):
        load_coded_data(path)


def test_csv_coders_filter(tmp_path):
    path = tmp_path / "koding.csv"
    rows = [("a", "A/B", "Anna"), ("b", "A/B", "Bjørn"), ("c", "A/C", "anna")]
    path.write_text(_csv(rows, ",", header=("text", "code", "coder")), encoding="utf-8")
    assert [r["text"] for r in load_coded_data(path, coders=["ANNA"]).records] == ["a", "c"]
    no_coder = tmp_path / "plain.csv"
    no_coder.write_text(_csv([("a", "A/B", "")], ","), encoding="utf-8")
    with pytest.raises(CodedDataError, match="no 'coder' column"):
        load_coded_data(no_coder, coders=["Anna"])


def test_jsonl_with_code_lists_and_bad_lines(tmp_path):
    path = tmp_path / "koding.jsonl"
    lines = [
        json.dumps({"text": "Vi måles på alt.", "code": ["Styring/Måling", "Styring/Tid"], "sentiment": "negative",
                    "document": "int1", "coder": "Anna"}, ensure_ascii=False),
        "",
        json.dumps({"tekst": "Lederen stoler på meg.", "kode": "Ledelse/Tillit"}, ensure_ascii=False),
        "{not json",
        json.dumps({"code": "Ledelse/Tillit"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    coded = load_coded_data(path)
    assert coded.format == "jsonl"
    assert [(r["text"], r["subcategory"]) for r in coded.records] == [
        ("Vi måles på alt.", "Måling"), ("Vi måles på alt.", "Tid"), ("Lederen stoler på meg.", "Tillit")]
    assert coded.records[0]["group"] == coded.records[1]["group"]
    assert coded.records[2]["sentiment"] is None
    bad = sorted((f.location.rsplit(":", 1)[-1], f.rule) for f in coded.findings)
    assert bad == [("4", "invalid-line"), ("5", "missing-field")]


def test_unknown_suffix_is_refused(tmp_path):
    path = tmp_path / "koding.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(CodedDataError, match="unknown coded-data format"):
        load_coded_data(path)
