"""Streaming memory check: peak RSS stays flat while predict() runs over 200,000 segments.

Feeds a *generator* of generated interview segments (nokoding.inference.bench.iter_segments:
95 % 3–100 words, 5 % 300–1,500 words) through nokoding.inference.predict with a tiny random
encoder (make_tiny_encoder: hidden 16, 1 layer, 128-token window, so long turns make many
windows), keeps only a running sum of the outputs, and prints resident memory (current and
peak since start) at 10k/50k/100k/200k segments. Bounded streaming shows as a peak that stops growing after the
first chunks.

    python benchmarks/bench_memory.py                 # 200,000 segments
    python benchmarks/bench_memory.py --n-segments 20000 --checkpoints 2000,10000,20000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


class _TinyModel(torch.nn.Module):
    def __init__(self, path: Path):
        from transformers import AutoTokenizer, BertModel

        super().__init__()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.encoder = BertModel.from_pretrained(path, add_pooling_layer=False)
        self.text_prefix = ""
        self.max_length = self.encoder.config.max_position_embeddings
        h = self.encoder.config.hidden_size
        self.code_head, self.sentiment_head = torch.nn.Linear(h, 22), torch.nn.Linear(h, 3)

    def forward(self, input_ids, attention_mask):
        from types import SimpleNamespace

        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return SimpleNamespace(code_logits=self.code_head(emb), sentiment_logits=self.sentiment_head(emb), embeddings=emb)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-segments", type=int, default=200_000)
    ap.add_argument("--checkpoints", default="10000,50000,100000,200000")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (memory does not depend on it)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(",") if int(c) <= args.n_segments)

    from nokoding.inference import predict
    from nokoding.inference.bench import iter_segments
    from nokoding.testing import make_tiny_encoder

    with tempfile.TemporaryDirectory() as tmp:
        path = make_tiny_encoder(
            Path(tmp) / "enc", "wordpiece", hidden_size=16, num_layers=1, num_heads=1, intermediate_size=32,
            max_position_embeddings=128,
        )
        model = _TinyModel(path).eval()
    cur, peak = _rss_mib()
    print(f"model loaded: RSS {cur:.0f} MiB, peak {peak:.0f} MiB; streaming {args.n_segments} segments (generator input)")
    print(f"{'segments':>9} {'windows':>9} {'RSS MiB':>8} {'peak MiB':>9} {'seconds':>8}")
    total = np.zeros(22, dtype=np.float64)
    windows = 0
    start = time.perf_counter()
    for i, p in enumerate(predict(model, iter_segments(args.n_segments, seed=1), device=args.device), 1):
        total += p.code_logits
        windows += p.n_windows
        if checkpoints and i == checkpoints[0]:
            checkpoints.pop(0)
            cur, peak = _rss_mib()
            print(f"{i:>9} {windows:>9} {cur:>8.0f} {peak:>9.0f} {time.perf_counter() - start:>8.1f}", flush=True)
    print(f"done: {i} segments, checksum {total.sum():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
