"""Segment: cut documents into coding segments (speaker turns, sentence windows).

:func:`segment` is the entry point; :mod:`~nokoding.segmentation.sentences` splits Norwegian
sentences; :mod:`~nokoding.segmentation.segmenter` builds windows and explains the defaults.

The package is named ``segmentation`` so that it never shadows the public function
``nokoding.segment``.
"""

from nokoding.segmentation.segmenter import (
    DEFAULT_MAX_SENTENCES,
    DEFAULT_MAX_TOKENS,
    ROLES,
    segment,
    segment_all,
    windows,
)
from nokoding.segmentation.sentences import sentence_spans, split_sentences

__all__ = [
    "DEFAULT_MAX_SENTENCES",
    "DEFAULT_MAX_TOKENS",
    "ROLES",
    "segment",
    "segment_all",
    "sentence_spans",
    "split_sentences",
    "windows",
]
