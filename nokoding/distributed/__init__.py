"""Distributed tagging: the local engine on a Ray cluster, with the local run's outputs.

:func:`tag_ray` (in :mod:`nokoding.distributed.ray_engine`) reads and segments transcripts
in parallel Ray tasks, scores them in a pool of model actors that run the same suggester as
:func:`nokoding.tagging.tag`, and writes the same per-document results, manifest and combined
CSV / JSON Lines / REFI-QDA outputs. Needs the ``ray`` extra (``pip install 'nokoding[ray]'``).

Importing this package does not import Ray; Ray is imported when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ActorStartError", "RayRunInfo", "RayTagSummary", "tag_ray"]

if TYPE_CHECKING:  # pragma: no cover
    from nokoding.distributed.ray_engine import (
        ActorStartError,
        RayRunInfo,
        RayTagSummary,
        tag_ray,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nokoding.distributed import ray_engine

        return getattr(ray_engine, name)
    raise AttributeError(f"module 'nokoding.distributed' has no attribute {name!r}")
