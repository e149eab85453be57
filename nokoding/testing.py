"""Tiny randomly initialised encoders for tests and examples (no download, seconds to build).

Two shapes mirror the two backbones nokoding supports:

* ``"wordpiece"`` — a cased BERT WordPiece tokenizer with ``[CLS]``/``[SEP]``/``[PAD]``/
  ``[UNK]``/``[MASK]``, shaped like NB-BERT's (``NbAiLab/nb-bert-base``);
* ``"unigram"`` — a SentencePiece-style Unigram tokenizer with ``<s>``/``<pad>``/``</s>``/
  ``<unk>`` at ids 0–3 and a Metaspace pre-tokenizer, shaped like multilingual-e5-small's
  (XLM-R vocabulary).

Both vocabularies are built deterministically from a small built-in Norwegian sample
(special tokens, every character, then whole words by frequency), so two calls with
the same arguments give byte-identical tokenizers; tokenizer *training* is avoided
because the trainers in ``tokenizers`` break ties in a run-dependent order. The
tokenizer is saved, with a randomly initialised ``transformers.BertModel``, as an
ordinary Hugging Face directory that ``AutoModel``/``AutoTokenizer.from_pretrained``
load offline.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Literal

__all__ = ["NORWEGIAN_SAMPLE", "make_tiny_encoder"]

#: Sentences written for these tests (bokmål), enough to train a small tokenizer.
NORWEGIAN_SAMPLE: tuple[str, ...] = (
    "Vi blir målt på antall oppfølgingsvedtak hver måned, og det tar tid fra brukerne.",
    "Lederen min gir meg handlingsrom til å prioritere de brukerne som trenger mest hjelp.",
    "Måltallene kommer ovenfra, og vi har lite å si om hvordan de blir satt.",
    "Jeg har fått kurs i motiverende intervju, så kompetansen min har økt.",
    "Det er for lite ressurser på kontoret til å følge opp alle tett nok.",
    "Politikerne vet ikke hvordan arbeidshverdagen vår ser ut.",
    "Regelverket er komplisert, f.eks. når det gjelder arbeidsavklaringspenger.",
    "Tillit mellom leder og ansatte er viktig for at vi skal trives.",
    "Brukermedvirkning betyr at brukeren er med og bestemmer tiltakene sine.",
    "Vi har dialog med brukerne om hva som er realistisk, og det fungerer godt.",
    "Egne mål for kontoret gjør at vi ser hva vi faktisk får til.",
    "Det blir mye rapportering, og kvaliteten i samtalene blir ikke målt.",
    "Æ, ø og å må tokeniseres riktig: blåbærsyltetøy, øl og ærfugl.",
    "Hun sa at hun ikke hadde tid til å sette seg inn i nye tiltak.",
    "Toppledelsen følger tett med på resultatene hvert kvartal.",
    "Medarbeiderne ønsker mer faglig utvikling og mindre detaljstyring.",
)

_WORDPIECE_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_UNIGRAM_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _sample_words() -> tuple[list[str], list[tuple[str, int]]]:
    """Characters (sorted) and words with counts (most frequent first, ties by spelling)."""
    import unicodedata
    from collections import Counter

    words: Counter[str] = Counter()
    for sentence in NORWEGIAN_SAMPLE:
        words.update(re.findall(r"\w+|[^\w\s]", unicodedata.normalize("NFKC", sentence)))
    chars = sorted({ch for word in words for ch in word})
    return chars, sorted(words.items(), key=lambda item: (-item[1], item[0]))


def _wordpiece_vocab(vocab_size: int) -> dict[str, int]:
    """A WordPiece vocabulary: specials, characters, ``##``-continuations, whole words."""
    chars, words = _sample_words()
    pieces = [*_WORDPIECE_SPECIALS, *chars, *(f"##{ch}" for ch in chars)]
    pieces += [word for word, _ in words if len(word) > 1]
    return {piece: i for i, piece in enumerate(dict.fromkeys(pieces[: max(vocab_size, len(_WORDPIECE_SPECIALS))]))}


def _unigram_vocab(vocab_size: int) -> list[tuple[str, float]]:
    """A Unigram vocabulary with log-probability scores; whole words outscore characters."""
    chars, words = _sample_words()
    total = sum(count for _, count in words)
    pieces: dict[str, float] = {special: 0.0 for special in _UNIGRAM_SPECIALS}
    pieces.setdefault("\u2581", math.log(1 / total) - 1.0)
    for ch in chars:
        pieces.setdefault(ch, math.log(1 / total) - 2.0)
        pieces.setdefault(f"\u2581{ch}", math.log(1 / total) - 2.0)
    for word, count in words:
        if len(pieces) >= vocab_size:
            break
        pieces.setdefault(f"\u2581{word}", math.log(count / total))
    return list(pieces.items())


def make_tiny_encoder(
    path: str | os.PathLike[str],
    kind: Literal["wordpiece", "unigram"] = "wordpiece",
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 128,
    vocab_size: int = 400,
    seed: int = 0,
) -> Path:
    """Build and save a tiny random BERT encoder with a tokenizer of the given ``kind``.

    Args:
        path: folder to write (created); holds ``config.json``, ``model.safetensors``,
            ``tokenizer.json`` and ``tokenizer_config.json``.
        kind: ``"wordpiece"`` (NB-BERT-like) or ``"unigram"`` (E5/XLM-R-like).
        hidden_size, num_layers, num_heads, intermediate_size: encoder shape.
        max_position_embeddings: the encoder window in tokens (small values let tests
            exercise long-text handling cheaply).
        vocab_size: largest vocabulary size (the sample gives a few hundred pieces).
        seed: seeds the weight initialisation (same seed → identical weights).

    Returns:
        The folder path.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(_wordpiece_vocab(vocab_size), unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        cls_tok, sep_tok, pad_tok, unk_tok, mask_tok = "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram(_unigram_vocab(vocab_size), unk_id=_UNIGRAM_SPECIALS.index("<unk>")))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        cls_tok, sep_tok, pad_tok, unk_tok, mask_tok = "<s>", "</s>", "<pad>", "<unk>", "<mask>"
    else:
        raise ValueError(f"unknown tiny tokenizer kind {kind!r}; use 'wordpiece' or 'unigram'")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls_tok} $A {sep_tok}",
        pair=f"{cls_tok} $A {sep_tok} $B:1 {sep_tok}:1",
        special_tokens=[(cls_tok, tok.token_to_id(cls_tok)), (sep_tok, tok.token_to_id(sep_tok))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        cls_token=cls_tok,
        sep_token=sep_tok,
        pad_token=pad_tok,
        unk_token=unk_tok,
        mask_token=mask_tok,
        model_max_length=max_position_embeddings,
    )
    fast.save_pretrained(path)

    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tok.token_to_id(pad_tok),
    )
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=False)
    from nokoding.backbones.registry import quiet_hf_progress

    with quiet_hf_progress():  # no "Writing model shards" bar for a tiny test model
        model.save_pretrained(path)
    return path
