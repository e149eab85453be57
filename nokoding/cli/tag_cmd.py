"""`nokoding tag` (placeholder: registers nothing until its module lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to ``app``."""
    return None
