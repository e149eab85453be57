"""Training examples: group merge (multi-label), descriptions, weights, bad records."""

from __future__ import annotations

import pytest
import torch

from nokoding import corpora
from nokoding.training.data import (
    TrainingDataError,
    build_examples,
    class_balanced_weights,
    code_targets,
    load_training_data,
    read_jsonl,
    sentiment_targets,
)


def test_records_of_one_group_become_one_multi_label_example(small_corpus):
    records = corpora.load_records(small_corpus)
    codebook = corpora.load_codebook(small_corpus)
    examples = build_examples(records, codebook, use_descriptions=False)
    assert len(examples) == len(records) - 1  # r0 and r5 share group g0
    merged = examples[0]
    assert merged.id == "r0+r5"
    assert merged.code_ids == ("styring.maling", "styring.tid")  # codebook order
    assert merged.text == records[0]["text"]
    targets = code_targets(examples, codebook)
    assert targets[0].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert targets.sum().item() == len(records)  # no code lost


def test_group_keeps_the_longest_printing_and_warns_on_sentiment_conflict(codebook):
    records = [
        {"id": "a", "text": "Vi har for lite tid.", "code_id": "styring.tid", "group": "g", "sentiment": "negative"},
        {"id": "b", "text": "Vi har for lite tid. Og for mange mål.", "code_id": "styring.maling", "group": "g",
         "sentiment": "mixed"},
    ]
    with pytest.warns(UserWarning, match="sentiments"):
        (example,) = build_examples(records, codebook, use_descriptions=False)
    assert example.text == records[1]["text"]
    assert example.sentiment == "negative"  # tie → first record's label
    assert set(example.code_ids) == {"styring.tid", "styring.maling"}


def test_descriptions_are_extra_examples_without_sentiment(codebook, records):
    examples = build_examples(records, codebook, use_descriptions=True, description_weight=2.0)
    desc = [e for e in examples if e.source == "description"]
    assert [e.code_ids for e in desc] == [(c,) for c in codebook.code_ids]
    assert desc[0].text == "Styring, Måling: Måltall og rapportering."
    assert all(e.weight == 2.0 and e.sentiment is None for e in desc)
    s = sentiment_targets(examples, codebook.sentiment_labels)
    assert (s[-len(desc):] == -100).all() and (s[: -len(desc)] >= 0).all()


def test_category_and_subcategory_names_identify_the_code(codebook):
    # "Tid" exists under both categories: the pair decides
    (ex,) = build_examples([{"text": "x", "category": "Ledelse", "subcategory": "Tid"}], codebook,
                           use_descriptions=False)
    assert ex.code_ids == ("ledelse.tid",)


def test_rare_codes_weigh_more_and_weights_average_one(codebook):
    records = [{"text": f"t{i}", "code_id": "styring.maling"} for i in range(6)]
    records.append({"text": "sjelden", "code_id": "ledelse.tillit"})
    examples = build_examples(records, codebook, use_descriptions=False)
    w = class_balanced_weights(examples, codebook)
    assert w[-1] == pytest.approx(6 * w[0])  # both codes get the same total weight
    assert sum(w) / len(w) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "record,message",
    [
        ({"id": "q7", "text": "  ", "code_id": "styring.tid"}, r"record 1 \(id 'q7'\): no text"),
        ({"id": "q7", "text": "x", "code_id": "styring.nope"}, r"record 1 \(id 'q7'\): code 'styring.nope'"),
        ({"id": "q7", "text": "x", "code_id": "styring.tid", "sentiment": "angry"}, "sentiment 'angry'"),
        ({"id": "q7", "text": "x", "category": "Styring", "subcategory": "Ukjent"}, "no code"),
    ],
)
def test_bad_records_are_named(codebook, record, message):
    good = {"id": "q1", "text": "ok", "code_id": "styring.tid"}
    with pytest.raises(TrainingDataError, match=message):
        build_examples([good, record], codebook, origin="mine.jsonl")


def test_jsonl_records_need_a_codebook_and_bad_lines_are_named(tmp_path, codebook):
    path = tmp_path / "coded.jsonl"
    path.write_text('{"text": "a", "code_id": "styring.tid"}\n\n{"text": \n', encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"coded\.jsonl: line 3"):
        read_jsonl(path)
    path.write_text('{"text": "a", "code_id": "styring.tid"}\n', encoding="utf-8")
    with pytest.raises(TrainingDataError, match="needs a codebook"):
        load_training_data(path, None)
    records, cb = load_training_data(path, codebook)
    assert records == [{"text": "a", "code_id": "styring.tid"}] and cb is codebook
    with pytest.raises(TrainingDataError, match="needs a codebook"):
        load_training_data([{"text": "a"}], None)


def test_corpus_name_brings_its_codebook(small_corpus):
    records, cb = load_training_data(small_corpus, None)
    assert cb.name == "tiny_study" and len(records) == 6
    assert isinstance(code_targets(build_examples(records, cb), cb), torch.Tensor)


def test_the_datasets_view_of_a_corpus_trains_like_its_records():
    # nokoding.corpora.load gives class-number labels; train() must read them back as ids
    dataset = corpora.load("thesis_mrs")
    with pytest.raises(TrainingDataError, match=r"datasets.Dataset needs a codebook \(codebook='thesis_mrs'\)"):
        load_training_data(dataset, None)
    from_dataset, codebook = load_training_data(dataset, "thesis_mrs")
    from_records, _ = load_training_data("thesis_mrs", None)
    assert len(from_dataset) == len(from_records) == 113
    for a, b in zip(from_dataset, from_records, strict=True):
        assert (a["id"], a["text"], a["code_id"], a["category_id"]) == (b["id"], b["text"], b["code_id"], b["category_id"])
        assert a["sentiment"] == b.get("sentiment")
    examples_a = build_examples(from_dataset, codebook)
    examples_b = build_examples(from_records, codebook)
    assert [(e.text, e.code_ids, e.sentiment) for e in examples_a] == [(e.text, e.code_ids, e.sentiment) for e in examples_b]
