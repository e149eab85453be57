"""A written corpus: corpus.yaml points at another corpus's codebook; code_id null = no code."""

from __future__ import annotations

import json

import pytest
import yaml

from nokoding import corpora


def _write(folder, rows, settings=None):
    folder.mkdir(parents=True, exist_ok=True)
    if settings is not None:
        (folder / "corpus.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (folder / "segments.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                           encoding="utf-8")
    return folder


def test_written_corpus_uses_the_referenced_codebook_and_keeps_no_code_rows(tmp_path, small_corpus):
    rows = [{"id": "w1", "text": "Tallene styrer alt.", "code_id": "styring.maling", "sentiment": "negative"},
            {"id": "w2", "text": "God morgen!", "code_id": None, "sentiment": None}]
    folder = _write(tmp_path / "written", rows, {"codebook": f"../{small_corpus.name}/codebook.yaml",
                                                 "kind": "written"})
    assert corpora.load_codebook(folder).name == corpora.load_codebook(small_corpus).name
    assert corpora.corpus_kind(folder) == "written" and corpora.corpus_kind(small_corpus) == "coded"
    records = corpora.load_records(folder)
    assert [r["code_id"] for r in records] == ["styring.maling", None]
    assert all(r["source"] == "written" for r in records)
    assert records[1]["category"] is None
    ds = corpora.load(folder)
    assert ds["code"] == [corpora.load_codebook(folder).index("styring.maling"), -1]


def test_missing_code_field_and_bad_settings_name_the_file(tmp_path, small_corpus):
    ref = {"codebook": f"../{small_corpus.name}/codebook.yaml", "kind": "written"}
    folder = _write(tmp_path / "w", [{"id": "w1", "text": "Hei."}], ref)
    with pytest.raises(corpora.CorpusError, match=r"segments\.jsonl:1: missing field\(s\) code_id"):
        corpora.load_records(folder)
    bad = _write(tmp_path / "bad", [{"id": "w1", "text": "Hei.", "code_id": None}],
                 {"codebook": "../nowhere/codebook.yaml"})
    with pytest.raises(corpora.CorpusError, match="corpus.yaml: codebook"):
        corpora.load_records(bad)
    kind = _write(tmp_path / "kind", [{"id": "w1", "text": "Hei.", "code_id": None}], {**ref, "kind": "novel"})
    with pytest.raises(corpora.CorpusError, match="kind 'novel'"):
        corpora.load_records(kind)


def test_shipped_written_corpus_loads_with_the_thesis_codebook():
    if not (corpora.SHIPPED_CORPORA / "thesis_mrs_written" / "segments.jsonl").is_file():
        pytest.skip("the written corpus is not in this checkout")
    assert "thesis_mrs_written" in corpora.list_corpora()
    assert corpora.load_codebook("thesis_mrs_written").code_ids == corpora.load_codebook("thesis_mrs").code_ids
    records = corpora.load_records("thesis_mrs_written")
    assert any(r["code_id"] is None for r in records) and all(r["source"] == "written" for r in records)
