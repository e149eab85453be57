"""The engine keeps working in processes forked after it ran in the parent (multiprocessing's
default start method on Linux): no hang, same results.

The check runs in a fresh Python process with a hard timeout, so a hang fails this test
instead of stopping the test suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, tempfile
    import numpy as np, torch
    from transformers import AutoTokenizer
    from nokoding.inference import bench, predict
    from nokoding.testing import make_tiny_encoder

    bench.ARCHITECTURES["fork"] = dict(
        vocab_size=500, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
        max_position_embeddings=128, type_vocab_size=2, text_prefix="",
    )
    tok = AutoTokenizer.from_pretrained(make_tiny_encoder(tempfile.mkdtemp() + "/enc", "wordpiece"))
    model = bench.BenchModel("fork", tok).eval()
    texts = bench.generate_segments(24, seed=3)

    def score(part):
        logits = np.stack([p.code_logits for p in predict(model, part, device="cpu", runtime="fp32")])
        return logits, torch.get_num_threads(), os.environ.get("TOKENIZERS_PARALLELISM")

    if __name__ == "__main__":
        torch.set_num_threads(2)  # the parent's OpenMP pool is started with two threads
        parent, _, _ = score(texts)
        with mp.get_context("fork").Pool(2) as pool:
            done = pool.map(score, [texts[:12], texts[12:]])
        np.testing.assert_allclose(np.concatenate([d[0] for d in done]), parent, atol=1e-5)
        assert {d[1] for d in done} == {1}, "children run torch on one thread"
        assert {d[2] for d in done} == {"false"}, "children's tokenizer runs single-threaded"
        assert "TOKENIZERS_PARALLELISM" not in os.environ, "the parent's environment is restored"
        assert torch.get_num_threads() == 2, "the parent keeps its threads"
        print("fork ok")
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the default start method on Linux only")
def test_predict_in_fork_pool_after_use_in_parent(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    script = tmp_path / "fork_pool.py"
    script.write_text(SCRIPT, encoding="utf-8")
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"predict in a forked pool worker hung (no result within {exc.timeout:.0f} s)")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fork ok" in done.stdout
    assert "huggingface/tokenizers" not in done.stderr  # no fork warning from the Rust tokenizer
