"""Long-text windows (no truncation, full coverage) and token-budget batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nokoding.inference.batching import pad_batch, plan_batches
from nokoding.inference.windows import (
    WindowFrame,
    frame_for,
    make_windows,
    window_starts,
)


@given(n=st.integers(0, 3000), body=st.integers(1, 600), data=st.data())
@settings(max_examples=300, deadline=None)
def test_windows_cover_every_token_and_end_at_the_text_end(n: int, body: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(1, body))
    starts = window_starts(n, body, stride)
    covered = np.zeros(n, dtype=bool)
    for s in starts:
        covered[s : s + body] = True
    assert covered.all()
    assert starts == sorted(set(starts)) and starts[0] == 0
    assert min(starts[-1] + body, n) == n or n <= body
    if n > body:
        assert starts[-1] + body == n  # last window full length
        assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_window_starts_rejects_bad_stride() -> None:
    with pytest.raises(ValueError, match="stride"):
        window_starts(100, 10, 11)
    with pytest.raises(ValueError, match="stride"):
        window_starts(100, 10, 0)


def test_make_windows_frames_each_window_and_repeats_prefix() -> None:
    frame = WindowFrame(before=(101,), after=(102,), prefix=(7, 8), max_length=8)  # body 4
    content = [7, 8] + list(range(20, 31))  # prefix + 11 body tokens
    windows = make_windows(content, frame, stride=3)
    assert all(len(w) <= 8 for w in windows)
    assert all(w[:3] == [101, 7, 8] and w[-1] == 102 for w in windows)
    bodies = [w[3:-1] for w in windows]
    assert bodies[0] == [20, 21, 22, 23] and bodies[-1] == [27, 28, 29, 30]
    assert set().union(*map(set, bodies)) == set(range(20, 31))
    assert make_windows([7, 8, 20], frame) == [[101, 7, 8, 20, 102]]
    assert make_windows([], frame) == [[101, 102]]


def test_frame_for_real_tokenizers(wordpiece_model, unigram_model) -> None:
    wp = frame_for(wordpiece_model.tokenizer, "", 64)
    tok = wordpiece_model.tokenizer
    assert wp.before == (tok.cls_token_id,) and wp.after == (tok.sep_token_id,) and wp.prefix == ()
    un = frame_for(unigram_model.tokenizer, "query: ", 64)
    assert un.prefix and un.body_length == 64 - 2 - len(un.prefix)
    with pytest.raises(ValueError, match="no room"):
        frame_for(tok, "", 2)


@given(
    lengths=st.lists(st.integers(1, 512), min_size=1, max_size=300),
    budget=st.integers(1, 5000),
    cap=st.one_of(st.none(), st.integers(1, 64)),
    fill=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
    slack=st.sampled_from([None, 0, 100, 1000]),
)
@settings(max_examples=200, deadline=None)
def test_batches_hold_every_index_once_within_budget(
    lengths: list[int], budget: int, cap: int | None, fill: float, slack: int | None
) -> None:
    batches = plan_batches(lengths, budget, cap, min_fill=fill, padding_slack=slack)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    padded = [len(b) * max(lengths[i] for i in b) for b in batches]
    for b, p in zip(batches, padded):
        assert p <= budget or len(b) == 1  # an over-budget window travels alone
        assert cap is None or len(b) <= cap
        longest = max(lengths[i] for i in b)
        waste = sum(longest - lengths[i] for i in b if lengths[i] < fill * longest)
        assert waste <= (budget // 8 if slack is None else slack)  # bounded padding
    ordered = [lengths[i] for i in flat]
    assert ordered == sorted(ordered, reverse=True)


def test_pad_batch_pads_right_to_the_batch_longest() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8], [9, 9]], np.array([1, 2]), pad_id=0)
    assert ids.tolist() == [[8, 0], [9, 9]]
    assert mask.tolist() == [[1, 0], [1, 1]]


def test_long_windows_do_not_pad_short_segments() -> None:
    lengths = [512, 512, 512] + [40] * 50
    batches = plan_batches(lengths, 4096)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded <= 1.2 * sum(lengths)  # without the fill rule: 8 rows × 512 + 45 × 40
    # a little padding is accepted rather than cutting a small input into many batches
    assert len(plan_batches([130, 120, 100, 90, 70, 50, 40, 30, 20, 10], 4096)) <= 2
