"""Shared fixtures for the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"


@pytest.fixture
def fixtures() -> Path:
    """The folder of hand-written transcript fixtures."""
    return FIXTURES
