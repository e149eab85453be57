"""CSV and JSON Lines: one row per segment, a dialect Excel and pandas both read back unchanged."""

from __future__ import annotations

import csv
import json

import pytest

from nokoding.export.tabular import (
    csv_columns,
    read_csv,
    read_jsonl,
    write_csv,
    write_jsonl,
)


def expected_rows(tagged, top_k):
    """The rows as strings, built here from the inputs (independently of the writer)."""
    rows = []
    for td in tagged:
        for seg, sug in td:
            row = {
                "document": td.document.id, "segment": str(seg.index), "speaker": seg.speaker, "role": seg.role,
                "start": str(seg.start), "end": str(seg.end),
                "start_time": "" if seg.start_time is None else f"{seg.start_time:.3f}",
                "end_time": "" if seg.end_time is None else f"{seg.end_time:.3f}",
                "text": seg.text, "context": seg.context or "",
            }
            for i in range(top_k):
                c = sug.codes[i] if i < len(sug.codes) else None
                row[f"code_{i + 1}"] = c.code_id if c else ""
                row[f"category_{i + 1}"] = c.category if c else ""
                row[f"subcategory_{i + 1}"] = c.subcategory if c else ""
                row[f"p_{i + 1}"] = f"{c.probability:.4f}" if c else ""
            row["sentiment"] = sug.sentiment
            row["p_sentiment"] = f"{sug.sentiment_probabilities[sug.sentiment]:.4f}"
            row["evidence"] = ";".join(e.segment_id for e in sug.evidence)
            row["evidence_quotes"] = " | ".join(
                f"«{' '.join(e.text.split())}» ({e.code_id}, similarity {e.similarity:.2f})" for e in sug.evidence)
            rows.append(row)
    return rows


def test_csv_rereads_with_csv_module_to_the_same_rows(tmp_path, tagged):
    path = write_csv(tmp_path / "out.csv", tagged, top_k=3)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == expected_rows(tagged, 3)
    assert read_csv(path) == rows
    # every coded segment once: 2 informant turns + 1
    assert [(r["document"], r["segment"]) for r in rows] == [("intervju_1", "1"), ("intervju_1", "3"),
                                                             ("intervju_2", "1")]


def test_csv_rereads_with_pandas_to_the_same_rows(tmp_path, tagged):
    pd = pytest.importorskip("pandas")
    path = write_csv(tmp_path / "out.csv", tagged, top_k=2)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(frame.columns) == csv_columns(2)
    assert frame.to_dict("records") == expected_rows(tagged, 2)


def test_csv_dialect_bom_crlf_and_quoted_newlines(tmp_path, tagged):
    raw = write_csv(tmp_path / "out.csv", tagged).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:].decode("utf-8")
    records = body.split("\r\n")
    assert records[-1] == "" and records[0].startswith("document,segment,")
    # the multi-line informant turn is quoted and keeps its LF inside the field
    assert '"Den går til rapportering 👍🏽.\nVi får for lite tid til å følge opp."' in body
    # a field with quotes is quoted with doubled quotes
    assert '""virkelig""' in body
    assert body.count("\r") == body.count("\r\n") == len(records) - 1 == 1 + sum(len(td) for td in tagged)


def test_fewer_codes_than_k_leaves_empty_cells(tmp_path, tagged):
    rows = read_csv(write_csv(tmp_path / "out.csv", tagged, top_k=5))
    assert all(r["code_3"] for r in rows) and all(r["code_4"] == r["p_5"] == "" for r in rows)


def test_jsonl_has_one_record_per_segment_with_offsets_into_the_text(tmp_path, tagged):
    path = write_jsonl(tmp_path / "out.jsonl", tagged, top_k=2)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    assert "å".encode() in raw and "🙂".encode() in raw  # not \u-escaped
    records = read_jsonl(path)
    assert [json.loads(line) for line in raw.decode("utf-8").splitlines()] == records
    texts = {td.document.id: td.document.text for td in tagged}
    assert len(records) == sum(len(td) for td in tagged)
    for rec, (seg, sug) in zip(records, [p for td in tagged for p in td]):
        assert texts[rec["document"]][rec["start"]:rec["end"]] == rec["text"] == seg.text
        assert [c["code"] for c in rec["codes"]] == [c.code_id for c in sug.codes[:2]]
        assert rec["sentiment"] == sug.sentiment
        assert abs(sum(rec["sentiment_probabilities"].values()) - 1) < 1e-4
        assert rec["evidence"][0]["segment_id"] == sug.evidence[0].segment_id


def test_top_k_below_one_is_rejected(tmp_path, tagged):
    with pytest.raises(ValueError, match="top_k"):
        write_csv(tmp_path / "x.csv", tagged, top_k=0)
    assert not (tmp_path / "x.csv").exists()
