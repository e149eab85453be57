"""Split token sequences longer than the encoder window into overlapping windows.

A text is never truncated. Its tokens (``text_prefix`` + text, tokenised once, without
special tokens) are cut at token level into windows of at most ``max_length`` tokens, and
every window is framed like a normal encoder input:

    [specials before]  [prefix tokens]  body[start : start + body_len]  [specials after]

* ``specials before/after`` are what the tokenizer's post-processor adds to a single
  sequence (``[CLS]``…``[SEP]`` for BERT WordPiece, ``<s>``…``</s>`` for XLM-R/E5);
* ``prefix tokens`` are the tokens of ``model.text_prefix`` (e.g. E5's ``"query: "``),
  repeated in every window so that each window looks like an input the model was trained on;
* ``body_len = max_length - len(specials) - len(prefix tokens)``.

**Stride** is the step, in body tokens, between the starts of consecutive windows; the
overlap between neighbours is ``body_len - stride``. The default stride is
``body_len - body_len // 4`` (a quarter of a window overlaps: 127 tokens for BERT's 512).
The last window is aligned to the end of the text so that it is full length; it may
therefore overlap its neighbour by more than the nominal overlap. A text of ``n`` body
tokens needs ``1 + ceil((n - body_len) / stride)`` windows when ``n > body_len``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["WindowFrame", "default_stride", "frame_for", "make_windows", "window_starts"]


@dataclass(frozen=True, slots=True)
class WindowFrame:
    """How windows of one model/tokenizer are framed.

    Attributes:
        before: special-token ids placed before the content (e.g. ``[CLS]``).
        after: special-token ids placed after the content (e.g. ``[SEP]``).
        prefix: token ids that ``text_prefix`` contributes to the start of a prefixed text
            (empty for no prefix), repeated at the start of every window's content.
        max_length: encoder window in tokens, specials included.
    """

    before: tuple[int, ...]
    after: tuple[int, ...]
    prefix: tuple[int, ...]
    max_length: int

    @property
    def body_length(self) -> int:
        """Body tokens that fit in one window (``max_length`` minus specials and prefix)."""
        return self.max_length - len(self.before) - len(self.after) - len(self.prefix)


def _encode(tokenizer: Any, text: str, add_special_tokens: bool) -> list[int]:
    return list(
        tokenizer(text, add_special_tokens=add_special_tokens, truncation=False, verbose=False)[
            "input_ids"
        ]
    )


def frame_for(tokenizer: Any, text_prefix: str, max_length: int) -> WindowFrame:
    """Find the special tokens a tokenizer adds to a single sequence, and the prefix tokens.

    The special tokens are found by tokenising a probe text with and without special
    tokens and locating the content inside the framed sequence, so any post-processor that
    only adds tokens around a single sequence (BERT, RoBERTa/XLM-R, E5) is handled.

    Args:
        tokenizer: Hugging Face tokenizer.
        text_prefix: the model's text prefix (``""`` for none).
        max_length: encoder window in tokens, special tokens included.

    Returns:
        The :class:`WindowFrame`.

    Raises:
        ValueError: if the tokenizer's special tokens cannot be located, or if specials and
            prefix leave no room for text in a window of ``max_length`` tokens.
    """
    probe = "Vi blir målt på antall vedtak"
    plain = _encode(tokenizer, probe, False)
    framed = _encode(tokenizer, probe, True)
    for start in range(len(framed) - len(plain) + 1):
        if framed[start : start + len(plain)] == plain:
            before, after = tuple(framed[:start]), tuple(framed[start + len(plain) :])
            break
    else:
        raise ValueError("cannot locate the tokenizer's special tokens around a probe text")
    prefix: tuple[int, ...] = ()
    if text_prefix:
        # The prefix's own last token may merge with the text that follows (Metaspace turns
        # "query: " into "▁query", ":", "▁" but "query: Vi" into "▁query", ":", "▁Vi"), so
        # keep only the tokens it shares with a prefixed text.
        alone = _encode(tokenizer, text_prefix, False)
        joined = _encode(tokenizer, text_prefix + probe, False)
        k = 0
        while k < min(len(alone), len(joined)) and alone[k] == joined[k]:
            k += 1
        prefix = tuple(alone[:k])
    frame = WindowFrame(before=before, after=after, prefix=prefix, max_length=int(max_length))
    if frame.body_length < 1:
        raise ValueError(
            f"max_length={max_length} leaves no room for text after {len(before) + len(after)} "
            f"special tokens and {len(prefix)} prefix tokens"
        )
    return frame


def default_stride(body_length: int) -> int:
    """Default step between window starts: three quarters of a window (¼ overlap), at least 1."""
    return max(1, body_length - body_length // 4)


def window_starts(n_body: int, body_length: int, stride: int) -> list[int]:
    """Start offsets (in body tokens) of the windows covering ``n_body`` body tokens.

    Args:
        n_body: number of body tokens (0 gives one empty window).
        body_length: body tokens per window (≥ 1).
        stride: step between starts (1 ≤ stride ≤ body_length, so windows never leave gaps).

    Returns:
        Increasing start offsets; every token in ``range(n_body)`` lies in at least one
        window ``[s, s + body_length)``, and the last window ends at ``n_body``.

    Raises:
        ValueError: if ``stride`` is outside ``[1, body_length]``.
    """
    if not 1 <= stride <= body_length:
        raise ValueError(f"stride must be between 1 and {body_length} tokens, got {stride}")
    if n_body <= body_length:
        return [0]
    last = n_body - body_length
    starts = list(range(0, last, stride))
    starts.append(last)
    return starts


def make_windows(content: Sequence[int], frame: WindowFrame, stride: int | None = None) -> list[list[int]]:
    """Frame one text's content tokens as one or more encoder inputs.

    Args:
        content: token ids of ``text_prefix + text`` without special tokens. If they start
            with ``frame.prefix`` the prefix is repeated in every window; otherwise (a
            tokenizer that merges the prefix with the text) the content is windowed as is.
        frame: from :func:`frame_for`.
        stride: step between window starts in body tokens (``None``: :func:`default_stride`).

    Returns:
        A list of windows, each a list of token ids no longer than ``frame.max_length``;
        a single window (the usual case) when the content fits.

    Raises:
        ValueError: for a stride outside ``[1, body_length]``.
    """
    n_pre = len(frame.prefix)
    if n_pre and tuple(content[:n_pre]) == frame.prefix:
        head, body, body_len = list(frame.prefix), content[n_pre:], frame.body_length
    else:
        head, body, body_len = [], content, frame.body_length + n_pre
    step = default_stride(body_len) if stride is None else int(stride)
    before, after = list(frame.before), list(frame.after)
    if len(body) <= body_len:
        if not 1 <= step <= body_len:
            raise ValueError(f"stride must be between 1 and {body_len} tokens, got {step}")
        return [before + head + list(body) + after]
    return [
        before + head + list(body[s : s + body_len]) + after
        for s in window_starts(len(body), body_len, step)
    ]
