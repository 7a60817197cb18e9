"""Shared fixtures for the options analytics tests: the real Yahoo chains snapshot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from core.options.chain import OptionChain
from core.options.expiry import NY

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "options"
YAHOO_CSV = FIXTURES / "yahoo_chains_2024-07-31.csv"

SNAPSHOT_NOW = datetime(2024, 7, 31, 16, 0, tzinfo=NY)
"""The snapshot was taken after the close of 2024-07-31."""

SNAPSHOT_RATE = 0.053
"""Three-month T-bill yield at the time, continuously compounded (approximately)."""


@pytest.fixture(scope="session")
def yahoo_chain() -> OptionChain:
    """Return every contract of the snapshot (39 underlyings)."""
    return OptionChain.from_yahoo_csv(YAHOO_CSV)
