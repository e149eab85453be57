"""Inference benchmark: the batch engine against the loops a user would write, side by side.

Measures segments/s and real (unpadded) tokens/s for three *peers* (:data:`PEERS`)

* ``baseline`` — what ``transformers.pipeline("text-classification")`` does: texts in input
  order, fixed batches of 32, each padded to its longest text, truncated at 512 tokens,
  a plain ``nn.Module`` forward under ``torch.no_grad()`` (the pipeline's own context),
  fp32, outputs copied to the host per batch;
* ``sorted`` — what ``sentence-transformers``' ``encode`` does: the same, but the texts
  sorted by length first (:func:`nokoding.inference.peers.run_sorted`) — much less padding;
* ``ort`` — the ``sorted`` loop with the model exported as it is to ONNX and run by a plain
  ONNX Runtime session, fp32 (CPU, with the ``[onnx]`` extra;
  :class:`nokoding.inference.peers.OrtPeer`);

and the engine, :func:`nokoding.inference.predict`, in each runtime: ``fp32`` / ``int8`` /
``onnx`` / ``bf16`` (``int8`` and ``onnx`` on CPU only, ``onnx`` when the ``[onnx]`` extra
is installed; ``bf16`` on a GPU, and on a CPU with bf16 matrix instructions —
:mod:`nokoding.inference.cpu`). Every mode's speed is reported as a ratio to the
*strongest* peer of the same run (the highest segments/s), and to the pipeline baseline.

for two encoder shapes, randomly initialised (throughput does not depend on the weights):

* ``nb-bert-base`` — NbAiLab/nb-bert-base's configuration (BERT, vocabulary 119,547,
  hidden 768, 12 layers, 12 heads, FFN 3,072, 512 positions), no text prefix;
* ``me5-small`` — intfloat/multilingual-e5-small's (vocabulary 250,002, hidden 384,
  12 layers, 12 heads, FFN 1,536, 512 positions), text prefix ``"query: "``;

each with mean pooling and two linear heads (22 codes, 3 sentiment labels), like
``CodingModel``. Tokenizer: the WordPiece tokenizer of :func:`nokoding.testing.make_tiny_encoder`
cut to :data:`BENCH_VOCAB_SIZE` pieces, so the rarer sample words fall apart into
characters: ≈1.4 pieces per generated word (the report prints the measured rate); its ids
are valid in both vocabularies.

Texts (:func:`generate_segments`): deterministic Norwegian word sequences, 95 % short
segments of 3–100 words (log-normal, median 25 words, like the thesis's quotes) and 5 %
long speaker turns of 300–1,500 words (uniform).

Fairness: every mode runs on the same whole input, once per pass, and the modes take turns
round by round (the order of modes rotates each round), so load from other processes hits
all modes alike. The rounds keep each mode's batching of the *whole* input
(:func:`nokoding.inference.peers.benchmark_rounds`): ``sorted`` and ``ort`` get consecutive
slices of the whole input sorted by length (token count, which is at least as tight as
``encode``'s character count; see :mod:`nokoding.inference.peers`) — so their batches of 32
are those ``encode`` forms when it is handed all the texts at once —, the baseline consecutive slices
in input order (its batches of 32 of the whole input). The engine gets the same
length-sorted slices as the sorted peers. In real use it sorts and plans chunks of 2,048
texts on CPU, which covers a benchmark input of this size whole; handed length-sorted
slices, it plans the same batches except at a round's end, where its last batch may be
short (at most one per round; the ``padded/real tokens`` column shows what it ran). A pass
covers the whole input; another pass starts only when it would still end within the time
budget, so every mode always measures every segment, equally often.

Input size matters for the sorted peers: a batch of 32 that straddles the last long turns
and the first short segments pads the short ones to the long length, and with few segments
that one batch dominates. On the generated texts the peers' padded/real tokens are 1.98 for
128 segments, 1.52 for 256, 1.12 for 512 and 1.07 for 2,000 (token-sorted), hence the
default of 512 segments for the full CPU run; the quick run's 128 make the peers look weaker
than on a realistic input.
Each mode is warmed up first (the int8 quantisation, the ONNX exports and first CUDA calls are
not timed; the report gives the warm-up seconds). The 1-minute load average is recorded at
the start and the end; when other processes were using the CPUs the report says so, and its
``seg/CPU-s`` columns (ratios of CPU time instead of wall time) are then the steadier ones.

FLOPs (reported as achieved GFLOP/s, and on a GPU as model FLOP utilisation, MFU): for a
window of ``n`` real tokens, ``2·N·n + 4·L·n²·H`` where ``N`` is the non-embedding parameter
count (encoder layers and heads: one multiply-add per parameter per token), ``L`` layers,
``H`` hidden size (``QKᵀ`` and attention×``V``: ``2·n·H`` multiply-adds per token per layer).
Padding is not counted, so the figure is useful work. MFU = achieved FLOP/s ÷ 989·10¹²
(H100/H200 SXM dense bf16 peak; meaningless on other cards, and fp32 runs are held to the
same bf16 peak). On the CPU the same figure is given as a share of the CPU's nominal peak
for the mode's data type (:func:`nokoding.inference.cpu.peak_flops`: fp32 for the peers,
fp32 and onnx; bf16; int8 for int8, whose attention still runs in fp32).

``quick`` (``nokoding bench --quick``) measures the me5-small shape only, without the slow
pipeline baseline, on 128 segments in rounds of 64: about a minute on 2 cores. Its ratios
come from few segments (see above); quote the full run's (512 segments, both shapes).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["ARCHITECTURES", "PEERS", "BenchModel", "generate_segments", "iter_segments", "run_benchmark"]

PEAK_BF16_FLOPS = 989e12
#: The peer modes (module docstring); the others are the engine's runtimes.
PEERS = ("baseline", "sorted", "ort")
#: 1-minute load average (beyond this run's own threads) above which the report warns.
BUSY_LOAD = 0.5
BASELINE_BATCH = 32
BASELINE_TRUNCATION = 512
#: Tokenizer vocabulary of the benchmark (see the module docstring).
BENCH_VOCAB_SIZE = 196

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "nb-bert-base": dict(
        vocab_size=119547, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2, text_prefix="",
    ),
    "me5-small": dict(
        vocab_size=250002, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2, text_prefix="query: ",
    ),
}


@dataclass
class _Out:
    code_logits: torch.Tensor
    sentiment_logits: torch.Tensor
    embeddings: torch.Tensor


class BenchModel(torch.nn.Module):
    """Randomly initialised encoder + masked mean pooling + code and sentiment heads.

    Follows :class:`nokoding.inference.InferenceModel` (like ``CodingModel``).

    Args:
        arch: a key of :data:`ARCHITECTURES`.
        tokenizer: Hugging Face tokenizer whose ids are below the architecture's vocabulary.
        n_codes, n_sentiment: head sizes.
        device: where to build the weights (building on a GPU is much faster).
    """

    def __init__(self, arch: str, tokenizer: Any, *, n_codes: int = 22, n_sentiment: int = 3, device: str = "cpu"):
        super().__init__()
        from transformers import BertConfig, BertModel

        spec = dict(ARCHITECTURES[arch])
        self.text_prefix = spec.pop("text_prefix")
        config = BertConfig(**spec, pad_token_id=int(tokenizer.pad_token_id or 0))
        with torch.device(device):
            torch.manual_seed(0)
            self.encoder = BertModel(config, add_pooling_layer=False)
            self.code_head = torch.nn.Linear(config.hidden_size, n_codes)
            self.sentiment_head = torch.nn.Linear(config.hidden_size, n_sentiment)
        self.tokenizer = tokenizer
        self.max_length = int(config.max_position_embeddings)
        self.sentiment_labels = ["negativ", "nøytral", "positiv"][:n_sentiment]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> _Out:
        """``LongTensor[B, T]`` ×2 → code logits ``[B, 22]``, sentiment ``[B, 3]``, embeddings ``[B, H]``."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return _Out(self.code_head(emb), self.sentiment_head(emb), emb)

    def calibration_texts(self) -> list[str]:
        """Int8 calibration texts: 64 generated segments (seed 1; the timed texts use seed 0)."""
        return generate_segments(64, seed=1)

    def flop_terms(self) -> tuple[int, int, int]:
        """``(N non-embedding parameters, layers L, hidden H)`` for the FLOP formula."""
        n = sum(p.numel() for name, p in self.named_parameters() if ".embeddings." not in f".{name}")
        cfg = self.encoder.config
        return n, int(cfg.num_hidden_layers), int(cfg.hidden_size)


def iter_segments(n: int, seed: int = 0, long_share: float = 0.05) -> Iterator[str]:
    """Yield ``n`` deterministic Norwegian texts shaped like interview segments (lazily).

    ``1 - long_share`` of them are 3–100 words (log-normal, median 25), the rest 300–1,500
    words (uniform); words come from :data:`nokoding.testing.NORWEGIAN_SAMPLE`, sentences
    are capitalised and end with a full stop every 8–20 words.
    """
    from nokoding.testing import NORWEGIAN_SAMPLE

    words = [w.strip(".,:") for w in " ".join(NORWEGIAN_SAMPLE).split()]
    words = [w for w in words if w]
    rng = random.Random(seed)
    for _ in range(n):
        if rng.random() < long_share:
            k = rng.randint(300, 1500)
        else:
            k = int(min(100, max(3, round(rng.lognormvariate(math.log(25), 0.8)))))
        toks = rng.choices(words, k=k)
        sentences = []
        pos = 0
        while pos < k:
            m = rng.randint(8, 20)
            s = toks[pos : pos + m]
            sentences.append(" ".join([s[0][:1].upper() + s[0][1:], *s[1:]]) + ".")
            pos += m
        yield " ".join(sentences)


def generate_segments(n: int, seed: int = 0, long_share: float = 0.05) -> list[str]:
    """The list of :func:`iter_segments` (same texts)."""
    return list(iter_segments(n, seed, long_share))


@dataclass
class ModeStats:
    """Totals for one mode over the slices it ran."""

    segments: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    real_tokens: int = 0
    padded_tokens: int = 0
    windows: int = 0
    truncated_segments: int = 0
    flops: float = 0.0
    warmup_seconds: float = 0.0

    def add(self, other: ModeStats) -> None:
        for f in ("segments", "seconds", "cpu_seconds", "real_tokens", "padded_tokens", "windows", "truncated_segments", "flops"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_baseline(model: BenchModel, texts: list[str], device: torch.device) -> ModeStats:
    """The pipeline-style loop (see the module docstring); returns its timing and counts."""
    tok, n_param, n_layer, hidden = model.tokenizer, *model.flop_terms()
    st = ModeStats()
    model.eval()
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for i in range(0, len(texts), BASELINE_BATCH):
            batch = [model.text_prefix + t for t in texts[i : i + BASELINE_BATCH]]
            enc = tok(batch, padding=True, truncation=True, max_length=BASELINE_TRUNCATION, return_tensors="pt")
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            out = model(input_ids=ids, attention_mask=mask)
            _ = torch.sigmoid(out.code_logits).cpu().numpy(), torch.softmax(out.sentiment_logits, -1).cpu().numpy()
            lens = enc["attention_mask"].sum(1).numpy().astype(np.float64)
            st.real_tokens += int(lens.sum())
            st.padded_tokens += int(enc["input_ids"].numel())
            st.truncated_segments += int((lens >= BASELINE_TRUNCATION).sum())
            st.flops += float((2 * n_param * lens + 4 * n_layer * hidden * lens**2).sum())
    _sync(device)
    st.seconds, st.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    st.segments = len(texts)
    st.windows = len(texts)
    return st


def _window_flops(model: BenchModel, texts: list[str], device: torch.device) -> tuple[float, int]:
    """FLOPs and padded tokens of the engine's windows/batches for ``texts`` (not timed)."""
    from nokoding.inference.engine import Engine

    eng = Engine(model, device=str(device) if device.type == "cpu" else "cuda", runtime="fp32" if device.type == "cpu" else "bf16")
    chunk = eng._prepare_chunk(texts)
    lens = np.array([len(w) for w in chunk.windows], dtype=np.float64)
    n_param, n_layer, hidden = model.flop_terms()
    padded = sum(len(b) * int(lens[b].max()) for b in chunk.batches)
    return float((2 * n_param * lens + 4 * n_layer * hidden * lens**2).sum()), padded


def run_engine(model: BenchModel, texts: list[str], device: torch.device, runtime: str, *, compile: bool = False) -> ModeStats:
    """:func:`nokoding.inference.predict` over ``texts``; consumes every prediction."""
    from nokoding.inference import predict

    st = ModeStats()
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for p in predict(model, texts, device=device.type, runtime=runtime, compile=compile):
        st.segments += 1
        st.real_tokens += p.n_tokens
        st.windows += p.n_windows
    _sync(device)
    st.seconds, st.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return st


def machine_description(device: torch.device) -> dict[str, Any]:
    """CPU model, cores, torch/transformers versions, threads, GPU name."""
    import transformers

    from nokoding.inference.runtime import available_cpus

    cpu = platform.processor() or "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from nokoding.inference.cpu import cpu_capabilities

    desc = {
        "cpu_model": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": cpu_capabilities().as_dict(),
        "cpus_available": available_cpus(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        desc["gpu"] = torch.cuda.get_device_name(device)
        desc["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    return desc


def run_benchmark(
    *,
    device: str = "auto",
    n_segments: int | None = None,
    quick: bool = False,
    archs: list[str] | None = None,
    modes: list[str] | None = None,
    time_budget: float | None = None,
    slice_size: int | None = None,
    compile: bool = False,
    seed: int = 0,
    out_dir: str | os.PathLike[str] = "benchmarks/results",
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark, print a table, write ``inference_<device>.json`` and ``.md``
    (``inference_<device>_quick.*`` for a ``quick`` run).

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        n_segments: the whole input: segments every mode runs per pass (default: 512 CPU /
            100,000 GPU; ``quick``: 128 / 10,000).
        quick: a smoke run (module docstring): me5-small only, no baseline, small budgets.
        archs: subset of :data:`ARCHITECTURES` (default both; ``quick``: me5-small).
        modes: subset of :data:`PEERS` and ``fp32``, ``int8``, ``onnx``, ``bf16`` (default on
            CPU: baseline, sorted, fp32, int8, with the ``[onnx]`` extra ort and onnx, and
            bf16 on CPUs with bf16 matrix instructions; on GPU baseline, sorted, fp32, bf16;
            ``quick`` leaves out the baseline).
        time_budget: seconds of timed work per architecture after which no further pass over
            the input starts (the first always runs whole; default 200 CPU / 120 GPU; quick 45 / 40).
        slice_size: segments per round, a multiple of 32 (default 128 CPU / 9,984 GPU; quick
            64 / 2,496).
        command: the command line that started the run, recorded in the report.
        compile: add a ``bf16+compile`` (GPU) or ``fp32+compile`` (CPU) mode.
        seed: text generator seed.
        out_dir: folder for the result files (created).
        log: where progress lines go.

    Returns:
        The result dictionary that was written as JSON.

    Raises:
        ValueError: unknown architecture or mode, ``int8``/``onnx``/``ort`` on a GPU, a
            ``slice_size`` that is not a multiple of 32.
        ModuleNotFoundError: mode ``onnx`` or ``ort`` asked for without the ``[onnx]`` extra.
    """
    from transformers import AutoTokenizer

    from nokoding.atomic import atomic_write_text
    from nokoding.inference.onnx_runtime import check_onnx_available, onnx_available
    from nokoding.inference.peers import OrtPeer, benchmark_rounds, run_sorted, torch_forward
    from nokoding.inference.runtime import (
        CPU_RUNTIMES,
        configure_threads,
        resolve_device,
    )
    from nokoding.testing import make_tiny_encoder

    dev = resolve_device(device)
    gpu = dev.type == "cuda"
    configure_threads()
    archs = archs or (["me5-small"] if quick else list(ARCHITECTURES))
    for a in archs:
        if a not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {a!r}; choose from {', '.join(ARCHITECTURES)}")
    from nokoding.inference.cpu import cpu_capabilities, describe, peak_flops

    if not modes:
        if gpu:
            modes = ["baseline", "sorted", "fp32", "bf16"]
        else:
            ort = onnx_available()
            modes = ["baseline", "sorted", *(["ort"] if ort else []), "fp32", "int8", *(["onnx"] if ort else [])]
            if cpu_capabilities().bf16_matrix:
                modes.append("bf16")
        if quick:
            modes = [m for m in modes if m != "baseline"]
    if compile:
        modes = [*modes, "bf16+compile" if gpu else "fp32+compile"]
    for m in modes:
        if m.split("+")[0] not in (*PEERS, "fp32", "int8", "onnx", "bf16"):
            raise ValueError(f"unknown mode {m!r}")
        if gpu and m.split("+")[0] in (*CPU_RUNTIMES, "ort"):
            raise ValueError(f"mode {m} is CPU-only")
        if m in ("onnx", "ort"):
            check_onnx_available()
    if n_segments is None:
        n_segments = (10_000 if quick else 100_000) if gpu else (128 if quick else 512)
    if time_budget is None:
        time_budget = (40.0 if quick else 120.0) if gpu else (45.0 if quick else 200.0)
    if slice_size is None:
        slice_size = (2_496 if quick else 9_984) if gpu else (64 if quick else 128)
    texts = generate_segments(n_segments, seed)
    if slice_size < 1 or slice_size % BASELINE_BATCH:
        raise ValueError(f"slice_size must be a positive multiple of {BASELINE_BATCH}, got {slice_size}")

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = AutoTokenizer.from_pretrained(make_tiny_encoder(Path(tmp) / "tok", "wordpiece", vocab_size=BENCH_VOCAB_SIZE))
    tokenizer.model_max_length = BASELINE_TRUNCATION  # as NB-BERT's and E5's tokenizers say
    # the peers' whole-input order, by token count (nokoding.inference.peers); not timed
    n_tokens = [len(x) for x in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]
    input_rounds, sorted_rounds = benchmark_rounds(texts, slice_size, n_tokens)
    n_words = sum(len(t.split()) for t in texts)
    n_pieces = sum(n_tokens)
    result: dict[str, Any] = {
        "machine": machine_description(dev),
        "command": command,
        "settings": {
            "n_segments_max": n_segments, "slice_size": slice_size, "time_budget_s": time_budget,
            "seed": seed, "modes": modes, "baseline_batch": BASELINE_BATCH,
            "baseline_truncation": BASELINE_TRUNCATION,
            "tokenizer": f"make_tiny_encoder WordPiece, {BENCH_VOCAB_SIZE} pieces",
            "pieces_per_word": round(n_pieces / max(1, n_words), 3),
        },
        "architectures": {},
    }
    threads = torch.get_num_threads()
    log(f"# inference benchmark on {dev}: {describe()}; {threads} threads; modes {', '.join(modes)}")
    load_start = result["machine"]["load_average_1min"]
    if load_start is not None and load_start >= BUSY_LOAD:
        log(f"  note: the machine is busy before the run (1-min load average {load_start:.2f})")
    for arch in archs:
        t0 = time.perf_counter()
        model = BenchModel(arch, tokenizer, device=str(dev)).eval()
        result["machine"]["attn_implementation"] = model.encoder.config._attn_implementation
        build_s = time.perf_counter() - t0

        ort_peer: OrtPeer | None = None

        def run(mode: str, part: list[str]) -> ModeStats:
            nonlocal ort_peer
            if mode == "baseline":
                return run_baseline(model, part, dev)
            if mode == "sorted":
                return run_sorted(model, part, torch_forward(model, dev), model.flop_terms(), lambda: _sync(dev),
                                  presorted=True)
            if mode == "ort":
                if ort_peer is None:
                    ort_peer = OrtPeer(model, threads)
                return run_sorted(model, part, ort_peer.forward, model.flop_terms(), presorted=True)
            runtime, _, extra = mode.partition("+")
            return run_engine(model, part, dev, runtime, compile=extra == "compile")

        stats = {m: ModeStats() for m in modes}
        warm = texts[:8]
        for m in modes:  # warm-up: quantisation, exports, cuBLAS handles, compilation — not timed
            t = time.perf_counter()
            run(m, warm)
            stats[m].warmup_seconds = time.perf_counter() - t
            log(f"  {arch} warm-up {m}: {stats[m].warmup_seconds:.1f} s")
        engine_flops = engine_padded = 0.0
        start, rounds, passes, pass_s = time.perf_counter(), 0, 0, 0.0
        while passes == 0 or time.perf_counter() - start + pass_s <= time_budget:
            t_pass = time.perf_counter()
            passes += 1
            for by_input, by_length in zip(input_rounds, sorted_rounds):
                order = modes[rounds % len(modes) :] + modes[: rounds % len(modes)]
                took = {}
                for m in order:
                    one = run(m, [texts[i] for i in (by_input if m == "baseline" else by_length)])
                    stats[m].add(one)
                    took[m] = one.seconds
                f, padded = _window_flops(model, [texts[i] for i in by_length], dev)
                engine_flops += f
                engine_padded += padded
                rounds += 1
                log(f"  {arch} pass {passes} round {rounds} ({len(by_length)} segments): "
                    + ", ".join(f"{m} {took[m]:.1f} s" for m in modes)
                    + f"; {time.perf_counter() - start:.0f} s of {time_budget:.0f}")
            pass_s = time.perf_counter() - t_pass
        for m in modes:
            if m not in PEERS:
                stats[m].flops, stats[m].padded_tokens = engine_flops, int(engine_padded)
        base = stats.get("baseline")
        peers = [stats[m] for m in modes if m in PEERS and stats[m].seconds]
        best = max(peers, key=lambda p: p.segments / p.seconds) if peers else None
        best_name = next((m for m in modes if best is not None and stats[m] is best), None)
        rows = {}
        for m, s in stats.items():
            row = asdict(s)
            row["segments_per_s"] = s.segments / s.seconds if s.seconds else float("nan")
            row["real_tokens_per_s"] = s.real_tokens / s.seconds if s.seconds else float("nan")
            row["achieved_gflops"] = s.flops / s.seconds / 1e9 if s.seconds else float("nan")
            if gpu:
                row["mfu"] = s.flops / s.seconds / PEAK_BF16_FLOPS if s.seconds else float("nan")
            else:
                dtype = m.split("+")[0] if m.split("+")[0] in ("bf16", "int8") else "fp32"
                peak = peak_flops(dtype, cores=threads)
                row["peak_dtype"] = dtype
                row["share_of_cpu_peak"] = s.flops / s.seconds / peak if peak and s.seconds else float("nan")
            if best is not None and s.seconds:
                row["x_best_peer_segments_per_s"] = row["segments_per_s"] / (best.segments / best.seconds)
                row["x_best_peer_tokens_per_s"] = row["real_tokens_per_s"] / (best.real_tokens / best.seconds)
                if best.cpu_seconds and s.cpu_seconds:
                    row["x_best_peer_segments_per_cpu_s"] = (s.segments / s.cpu_seconds) / (best.segments / best.cpu_seconds)
            if base is not None and base.seconds and s.seconds:
                row["x_baseline_segments_per_s"] = row["segments_per_s"] / (base.segments / base.seconds)
                row["x_baseline_tokens_per_s"] = row["real_tokens_per_s"] / (base.real_tokens / base.seconds)
                if base.cpu_seconds and s.cpu_seconds:
                    row["x_baseline_segments_per_cpu_s"] = (s.segments / s.cpu_seconds) / (base.segments / base.cpu_seconds)
            rows[m] = row
        from nokoding.inference.runtime import default_max_batch_tokens

        budget = default_max_batch_tokens(model, dev, "bf16" if gpu else "fp32", model.max_length)
        result["architectures"][arch] = {"build_seconds": build_s, "rounds": rounds, "passes": passes,
                                         "engine_max_batch_tokens": budget,
                                         "best_peer": best_name, "modes": rows}
        log(_markdown_table(arch, rows, gpu))
        del model
        if gpu:
            torch.cuda.empty_cache()

    load_end = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    result["machine"]["load_average_1min_end"] = load_end
    others = max(load_start or 0.0, (load_end or 0.0) - threads)
    result["machine"]["busy"] = others >= BUSY_LOAD
    if result["machine"]["busy"]:
        log(f"WARNING: the machine was busy (1-min load average {load_start} at the start, {load_end} at the end, "
            f"this run's {threads} threads included) on {cpu_capabilities().cores} CPUs: other processes took CPU "
            "time, so wall-time ratios are unreliable; the seg/CPU-s ratios are steadier")
    out = Path(out_dir)
    name = f"inference_{dev.type}" + ("_quick" if quick else "")  # a smoke run never replaces a full one
    atomic_write_text(out / f"{name}.json", json.dumps(result, indent=2, default=float) + "\n")
    atomic_write_text(out / f"{name}.md", _markdown(result, gpu))
    log(f"wrote {out / name}.json and .md")
    return result


def _markdown_table(arch: str, rows: dict[str, dict[str, Any]], gpu: bool) -> str:
    nan = float("nan")
    head = (
        "| mode | segments | seconds | segments/s | real tokens/s | × best peer (seg/s) | × best peer (seg/CPU-s) "
        "| × best peer (tokens/s) | × baseline (seg/s) | padded/real tokens | GFLOP/s |"
        + (" MFU |" if gpu else " share of CPU peak |")
    )
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    lines = [f"### {arch}", "", head, sep]
    for m, r in rows.items():
        pad = r["padded_tokens"] / r["real_tokens"] if r["real_tokens"] else nan
        name = f"{m} (peer)" if m in PEERS else m
        share = f"{r['mfu']:.3f}" if gpu else f"{r.get('share_of_cpu_peak', nan):.0%} ({r.get('peak_dtype', '')})"
        lines.append(
            f"| {name} | {r['segments']} | {r['seconds']:.1f} | {r['segments_per_s']:.2f} | {r['real_tokens_per_s']:.0f} | "
            f"{r.get('x_best_peer_segments_per_s', nan):.2f} | {r.get('x_best_peer_segments_per_cpu_s', nan):.2f} | "
            f"{r.get('x_best_peer_tokens_per_s', nan):.2f} | {r.get('x_baseline_segments_per_s', nan):.2f} | {pad:.2f} | {r['achieved_gflops']:.1f} | {share} |"
        )
    return "\n".join(lines) + "\n"


def _markdown(result: dict[str, Any], gpu: bool) -> str:
    m, s = result["machine"], result["settings"]
    cpu = m.get("cpu", {})
    peak = cpu.get("peak_gflops", {})
    parts = [
        f"# Inference benchmark — {m['device']}",
        "",
        *([f"Command: `{result['command']}`", ""] if result.get("command") else []),
        f"Machine: {m['cpu_model']} ({m['cpu_capability']}; flags {', '.join(cpu.get('flags', [])) or 'none of interest'}), "
        f"{m['cpus_available']} CPUs available at {cpu.get('clock_ghz') or float('nan'):.2f} GHz as reported "
        f"(nominal peak of all of them: fp32 {peak.get('fp32')}, bf16 {peak.get('bf16')}, int8 {peak.get('int8')} GFLOP/s), "
        f"torch {m['torch']} with {m['torch_threads']} threads, transformers {m['transformers']}, "
        f"attention `{m.get('attn_implementation')}`, 1-min load average {m['load_average_1min']} at the start and "
        f"{m.get('load_average_1min_end')} at the end (this run's own threads included)"
        + (f"; GPU {m['gpu']} ({m['gpu_memory_gib']} GiB)" if gpu else "")
        + ".",
        "",
        *(["**The machine was busy** (other processes used the CPUs during the run): wall-time ratios are "
           "unreliable; the seg/CPU-s ratios are steadier.", ""] if m.get("busy") else []),
        f"Texts: generated Norwegian segments (95 % 3–100 words, 5 % 300–1,500 words), seed {s['seed']}, "
        f"{s['pieces_per_word']} WordPiece pieces per word; every mode runs the same {s['n_segments_max']} segments "
        f"per pass, the modes taking turns in rounds of {s['slice_size']} segments; further passes only within "
        f"{s['time_budget_s']:.0f} s per architecture. Peers: `baseline` (pipeline-style: batches of 32 in input "
        "order), `sorted` (sentence-transformers-style: the whole input sorted by length — token count, at least as "
        "tight as `encode`'s character count —, then batches of 32; each "
        "round is a consecutive slice of that order, so its batches are the whole-input ones) and `ort` (the sorted "
        "loop in a plain ONNX Runtime fp32 session of the same model). The engine gets the same length-sorted "
        "slices and plans its own token-budget batches within each. Ratios are to the best peer of the run "
        "(highest segments/s); the engine scores long turns whole in windows where the peers truncate them at "
        "512 tokens, so its tokens/s ratio compares equal work per token. "
        "Share of CPU peak: useful FLOP/s ÷ the nominal peak of the torch threads' cores for the data type in "
        "brackets (`nokoding.inference.cpu`). Baseline: fixed batches of "
        f"{s['baseline_batch']} in input order, padded to the batch's longest, truncated at "
        f"{s['baseline_truncation']} tokens (so it does less work on long turns: its real tokens exclude the cut "
        "tail), `torch.no_grad()`. Engine rows count every window token (overlaps included). "
        "`padded/real tokens` is the padding overhead of the batches. `seg/CPU-s` divides by the process's CPU "
        "time instead of wall time: steadier than wall time when other processes share the cores.",
        "",
    ]
    for arch, a in result["architectures"].items():
        parts.append(_markdown_table(arch, a["modes"], gpu))
        base = a["modes"].get("baseline")
        note = f"Best peer: {a.get('best_peer')}. " + f"Engine batches: at most {a['engine_max_batch_tokens']:,} padded tokens." if "engine_max_batch_tokens" in a else ""
        if "passes" in a:
            note += f" {a['passes']} pass(es) over the input, {a['rounds']} rounds."
        if base:
            note = f"Baseline truncated {base['truncated_segments']} of {base['segments']} segments. " + note
        warm = ", ".join(f"{m} {r['warmup_seconds']:.1f} s" for m, r in a["modes"].items() if "warmup_seconds" in r)
        if warm:
            note += f" Warm-up on 8 segments, not timed (includes int8 quantisation / ONNX export): {warm}."
        if note:
            parts.append(note.strip() + "\n")
    return "\n".join(parts)
