"""GPU path (skipped without CUDA): bf16 and fp32 on the card agree with the CPU reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nokoding.inference import predict, reference_predict
from nokoding.testing import NORWEGIAN_SAMPLE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _texts() -> list[str]:
    return ["", "ja", *NORWEGIAN_SAMPLE, " ".join(NORWEGIAN_SAMPLE) * 2]


@pytest.mark.parametrize("runtime,atol", [("fp32", 1e-4), ("bf16", 0.1)])
def test_gpu_matches_cpu_reference(wordpiece_model, runtime: str, atol: float) -> None:
    texts = _texts()
    got = list(predict(wordpiece_model, texts, device="cuda", runtime=runtime, max_batch_tokens=256))
    assert next(wordpiece_model.parameters()).device.type == "cpu"  # source model not moved
    for t, g in zip(texts, got):
        ref = reference_predict(wordpiece_model, t)
        assert (g.n_windows, g.n_tokens) == (ref.n_windows, ref.n_tokens)
        np.testing.assert_allclose(g.code_logits, ref.code_logits, atol=atol, err_msg=t[:30])
        np.testing.assert_allclose(g.embedding, ref.embedding, atol=atol, err_msg=t[:30])
