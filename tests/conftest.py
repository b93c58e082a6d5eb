"""Shared fixtures: where the real datasets are, and a fresh workspace per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("LETHE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The licensed MovieLens copies beside the repo (never committed); skip with a reason if absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set LETHE_SHARED_DATA)")
    return SHARED_DATA
