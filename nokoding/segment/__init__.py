"""Segment: cut documents into coding segments (speaker turns, sentence windows).

:func:`segment` is the entry point; :mod:`~nokoding.segment.sentences` splits Norwegian
sentences; :mod:`~nokoding.segment.segmenter` builds windows and explains the defaults.

``nokoding.segment`` is both this package and the public function: once the package is
imported, Python binds the name ``nokoding.segment`` to the package, hiding the function
that ``nokoding`` exports lazily under the same name. So the package module itself is
callable and forwards to :func:`segment`: ``nokoding.segment(doc)`` works in any import order.
"""

import sys
import types

from nokoding.segment.segmenter import (
    DEFAULT_MAX_SENTENCES,
    DEFAULT_MAX_TOKENS,
    ROLES,
    segment,
    segment_all,
    windows,
)
from nokoding.segment.sentences import sentence_spans, split_sentences

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


class _CallableModule(types.ModuleType):
    """This package, callable as :func:`segment`."""

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return segment(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
