"""Taguette: the codebook CSV its importer takes, and its highlights CSV read as coded data."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from nokoding.cli import app
from nokoding.codebook import Codebook, CodebookError
from nokoding.coded import load_coded_data, validate
from nokoding.coded.hierarchy import load_codebook_file
from nokoding.export.taguette import codebook_to_taguette_csv, write_taguette_codebook
from tests.export.test_refi_interop import TRICKY


@pytest.fixture
def tricky() -> Codebook:
    return Codebook.from_dict(TRICKY)


def taguette_reads(data: bytes) -> list[dict[str, str]]:
    """The tags Taguette's codebook importer takes from ``data``: header lower-cased, exactly
    one of tag/name/path, optional description, empty rows skipped, cells stripped, the first
    of two equal paths kept; a UTF-8 file with BOM decodes as utf-8-sig."""
    text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else data.decode("latin-1")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.lower() for h in next(reader)]
    cols = [c for c in ("tag", "name", "path") if c in header]
    assert len(cols) == 1, header
    col, desc = header.index(cols[0]), header.index("description") if "description" in header else None
    tags, seen = [], set()
    for row in reader:
        if not any(row):
            continue
        path = row[col].strip()
        assert path and len(path) <= 200
        if path not in seen:
            seen.add(path)
            tags.append({"path": path, "description": row[desc].strip() if desc is not None else ""})
    return tags


def test_codebook_csv_is_what_taguette_imports_with_distinct_paths(tmp_path, tricky):
    path = write_taguette_codebook(tricky, tmp_path / "codebook.csv")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbftag,description\r\n")
    tags = taguette_reads(data)
    assert [t["path"] for t in tags] == [f"{c.category} > {c.subcategory}" for c in tricky]
    assert "Politikk & styring > Tid" in [t["path"] for t in tags] and len(tags) == len(tricky)
    assert tags[0]["description"] == "Tid <til> brukerne & møter."


def test_codebook_csv_reads_back_to_the_same_codebook(tmp_path, tricky):
    back = load_codebook_file(write_taguette_codebook(tricky, tmp_path / "codebook.csv"))
    assert [(c.category, c.subcategory, c.description) for c in back] == [
        (c.category, c.subcategory, c.description) for c in tricky]


def test_taguette_codebook_export_with_its_counts_and_a_flat_tag_is_read(tmp_path):
    path = tmp_path / "taguette-codebook.csv"
    path.write_text("tag,description,number of highlights,number of documents\n"
                    "interesting,Further review required,0,0\n"
                    "Styring > Tid,Tid til brukerne,4,2\n\n"
                    "Styring > Tid,duplicate row,0,0\n", encoding="utf-8")
    book = load_codebook_file(path)
    assert [(c.category, c.subcategory, c.description) for c in book] == [
        ("Uncategorised", "interesting", "Further review required"), ("Styring", "Tid", "Tid til brukerne")]


@pytest.mark.parametrize(("header", "message"), [("tag,name\n", "exactly one"), ("label\n", "exactly one")])
def test_codebook_csv_without_one_tag_column_is_refused(tmp_path, header, message):
    path = tmp_path / "c.csv"
    path.write_text(header + "A,B\n", encoding="utf-8")
    with pytest.raises(CodebookError, match=rf"c\.csv:1: .*{message}"):
        load_codebook_file(path)


def test_names_taguette_cannot_carry_are_refused(tricky):
    bad = Codebook.from_dict({**TRICKY, "categories": [
        {"id": "a", "name": "A > B", "subcategories": [{"id": "a.c", "name": "C"}]}]})
    with pytest.raises(CodebookError, match="' > '"):
        codebook_to_taguette_csv(bad)
    long = Codebook.from_dict({**TRICKY, "categories": [
        {"id": "a", "name": "A" * 150, "subcategories": [{"id": "a.c", "name": "C" * 60}]}]})
    with pytest.raises(CodebookError, match="at most 200"):
        codebook_to_taguette_csv(long)


def _highlights(tmp_path):
    # Taguette's highlights export: one row per highlight and tag; an untagged highlight has tag ""
    path = tmp_path / "highlights.csv"
    rows = [
        ["id", "document", "tag", "content"],
        ["1", "intervju 1", "Politikk & styring > Tid", "Vi rekker ikke brukerne."],
        ["1", "intervju 1", "Brukermedvirkning > Tid", "Vi rekker ikke brukerne."],
        ["2", "intervju 1", "Mål <2025> > Tid", "Målene tar all tid."],
        ["3", "intervju 2", "", "Uten merkelapp."],
    ]
    rows += [[str(10 + i), "intervju 2", f"{c} > {s}", f"sitat {i} om {s}"]
             for i, (c, s) in enumerate([("Politikk & styring", "Tid"), ("Mål <2025>", "Tid"),
                                         ("Brukermedvirkning", "Tid")] * 2)]
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_highlights_csv_is_read_with_repeated_leaf_names_kept_apart(tmp_path, tricky):
    coded = load_coded_data(_highlights(tmp_path), codebook=tricky)
    assert [(r["text"], r["code_id"]) for r in coded.records[:3]] == [
        ("Vi rekker ikke brukerne.", "pol.tid"), ("Vi rekker ikke brukerne.", "bru.tid"),
        ("Målene tar all tid.", "mal.tid")]
    assert coded.records[0]["group"] == coded.records[1]["group"] != coded.records[2]["group"]
    assert coded.records[0]["document"] == "intervju 1"
    assert [f.rule for f in coded.findings] == ["uncoded-segment"]
    inferred = load_coded_data(_highlights(tmp_path))
    assert [c.pair for c in inferred.codebook] == [
        ("Politikk & styring", "Tid"), ("Brukermedvirkning", "Tid"), ("Mål <2025>", "Tid")]


def test_codes_without_highlights_are_left_out_not_refused(tmp_path, tricky):
    # Taguette's own codebook CSV lists the default tag, which no highlight uses
    codebook = tmp_path / "codebook.csv"
    codebook.write_text("tag,description\ninteresting,\n" + "".join(
        f"{c} > Tid,\n" for c in ("Politikk & styring", "Mål <2025>", "Brukermedvirkning")), encoding="utf-8")
    report = validate(load_coded_data(_highlights(tmp_path), codebook=codebook))
    assert report.ok, report.to_text()
    assert report.unused_codes == ["uncategorised.interesting"]
    assert "unused-code" in [f.rule for f in report.warnings]


def test_cli_exports_and_imports_a_taguette_codebook(tmp_path):
    runner = CliRunner()
    out = tmp_path / "thesis.csv"
    result = runner.invoke(app, ["codebook", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tags = taguette_reads(out.read_bytes())
    assert len(tags) == 22 and "Politikk > Tid" in [t["path"] for t in tags]
    result = runner.invoke(app, ["codebook", "import", str(out), "--out", str(tmp_path / "back.yaml"),
                                 "--name", "tilbake"])
    assert result.exit_code == 0, result.output
    back = Codebook.from_yaml(tmp_path / "back.yaml")
    assert back.name == "tilbake" and len(back) == 22
    assert runner.invoke(app, ["codebook", "export", "--out", str(out), "--format", "xlsx"]).exit_code == 2
