"""Length-sorted batches under a token budget, and dynamic padding.

Sequences (encoder windows) are sorted by length, longest first, and cut greedily into
batches whose *padded* size ``rows × longest`` stays within ``max_batch_tokens``. A batch
also ends before a sequence shorter than ``min_fill`` × its longest once such short rows
would add more than ``padding_slack`` padding tokens in total. Without that rule a few
512-token windows of one long speaker turn would drag dozens of short segments up to 512
tokens; without the slack, a small input would be cut into many tiny batches, and on a CPU
a 500-token batch costs 2–3× more per token than a 2,000-token one. Short segments
therefore travel in large batches and long windows in small ones, and a batch is padded
only to its own longest member (dynamic padding). Longest-first puts the most
memory-hungry batch at the start, so an out-of-memory error shows up at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pad_batch", "plan_batches"]


def plan_batches(
    lengths: Sequence[int] | np.ndarray,
    max_batch_tokens: int,
    max_batch_size: int | None = None,
    min_fill: float = 0.8,
    padding_slack: int | None = None,
) -> list[np.ndarray]:
    """Group sequence indices into batches of at most ``max_batch_tokens`` padded tokens.

    Args:
        lengths: token count of each sequence (``N`` values, each ≥ 1).
        max_batch_tokens: budget for ``rows × longest_row`` in one batch. A single sequence
            longer than the budget still gets a batch of its own (never dropped).
        max_batch_size: optional cap on rows per batch.
        min_fill: rows at least this fraction of the batch's longest join freely.
        padding_slack: padding tokens that the shorter rows (below ``min_fill``) may add to
            one batch in total (``None``: ``max_batch_tokens // 8``).

    Returns:
        Index arrays (``int64``) into ``lengths``; together they hold every index exactly
        once. Within and across batches the lengths are non-increasing.

    Raises:
        ValueError: if ``max_batch_tokens`` or ``max_batch_size`` is below 1, or
            ``min_fill`` is outside ``[0, 1]``.
    """
    if max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be ≥ 1, got {max_batch_tokens}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be ≥ 1, got {max_batch_size}")
    if not 0.0 <= min_fill <= 1.0:
        raise ValueError(f"min_fill must be between 0 and 1, got {min_fill}")
    slack = max_batch_tokens // 8 if padding_slack is None else int(padding_slack)
    lens = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lens, kind="stable")
    sorted_lens = lens[order]
    batches: list[np.ndarray] = []
    i, n = 0, len(order)
    while i < n:
        longest = max(int(sorted_lens[i]), 1)
        rows = max(1, max_batch_tokens // longest)
        if max_batch_size is not None:
            rows = min(rows, max_batch_size)
        end = min(n, i + rows)
        cand = sorted_lens[i + 1 : end]
        waste = np.where(cand < min_fill * longest, longest - cand, 0).cumsum()
        end = i + 1 + int(np.searchsorted(waste, slack, side="right"))
        batches.append(order[i:end])
        i = end
    return batches


def pad_batch(
    sequences: Sequence[Sequence[int]], index: np.ndarray, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad the selected sequences to the longest of them.

    Args:
        sequences: token-id lists.
        index: which sequences form the batch (``B`` indices).
        pad_id: the tokenizer's padding id.

    Returns:
        ``(input_ids, attention_mask)``, both ``int64[B, T]`` with ``T`` the longest selected
        length; the mask is 1 on real tokens and 0 on padding.
    """
    rows = [sequences[int(k)] for k in index]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, seq in enumerate(rows):
        ids[r, : len(seq)] = seq
        mask[r, : len(seq)] = 1
    return ids, mask
