"""The tiny test encoders must be reproducible: tests that compare runs depend on it."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from nokoding.testing import make_tiny_encoder


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_two_builds_give_identical_tokenizers(tmp_path, kind):
    first = make_tiny_encoder(tmp_path / "a", kind)
    second = make_tiny_encoder(tmp_path / "b", kind)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_tiny_tokenizer_keeps_norwegian_letters_and_marks_segments(tmp_path, kind):
    tokenizer = AutoTokenizer.from_pretrained(make_tiny_encoder(tmp_path / kind, kind))
    pieces = tokenizer.tokenize("Måltallene gjør ærfugl blå")
    assert tokenizer.unk_token not in pieces
    assert "".join(pieces).replace("##", "").replace("\u2581", "") == "Måltallenegjørærfuglblå"
    ids = tokenizer("tillit")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
