"""Loading corpora: label features follow the codebook; bad files are named with their line."""

from __future__ import annotations

import json

import pytest

from nokoding import corpora
from nokoding.codebook import Codebook


def test_load_gives_classlabels_in_codebook_order(small_corpus):
    ds = corpora.load(small_corpus)
    cb = corpora.load_codebook(small_corpus)
    assert ds.features["code"].names == list(cb.code_ids)
    assert ds.features["category"].names == list(cb.category_ids)
    assert ds.features["sentiment"].names == list(cb.sentiment_labels)
    assert len(ds) == 6
    first = ds[0]
    assert ds.features["code"].int2str(first["code"]) == "styring.maling"
    assert ds.features["category"].int2str(ds[3]["category"]) == "ledelse"
    assert ds[0]["group"] == ds[5]["group"] == "g0"


def test_records_fill_category_from_codebook(small_corpus):
    recs = corpora.load_records(small_corpus)
    assert recs[2]["category"] == "Styring" and recs[2]["subcategory"] == "Tid"
    assert recs[4]["category_id"] == "ledelse"


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", ":7: invalid JSON"),
        (json.dumps({"id": "x", "text": "t", "code_id": "nope"}), ":7: code 'nope'"),
        (json.dumps({"id": "r0", "text": "t", "code_id": "ledelse.tid"}), ":7: duplicate id"),
        (json.dumps({"id": "y", "text": "", "code_id": "ledelse.tid"}), ":7: missing field"),
        (json.dumps({"id": "z", "text": "t", "code_id": "ledelse.tid", "sentiment": "glad"}), ":7: unknown sentiment"),
    ],
)
def test_bad_record_is_reported_with_file_and_line(small_corpus, line, message):
    with (small_corpus / "segments.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    with pytest.raises(corpora.CorpusError, match=message):
        corpora.load_records(small_corpus)


def test_unknown_corpus_lists_known_ones():
    with pytest.raises(corpora.CorpusError, match="thesis_mrs"):
        corpora.corpus_dir("no_such_corpus")


def test_missing_codebook_file_is_named(tmp_path):
    with pytest.raises(corpora.CorpusError, match="nope.yaml: no such codebook file"):
        corpora.load_codebook(tmp_path / "nope.yaml")


def test_thesis_corpus_ships_and_loads():
    ds = corpora.load("thesis_mrs")
    cb = corpora.load_codebook("thesis_mrs")
    assert isinstance(cb, Codebook)
    assert len(cb.categories) == 5 and len(cb.codes) == 22
    assert len(ds) >= 100
    used = {ds.features["code"].int2str(i) for i in ds["code"]}
    assert used == set(cb.code_ids), "every thesis code has at least one quote"
    assert -1 not in ds["sentiment"], "every thesis record carries a sentiment label"
