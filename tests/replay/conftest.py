"""Helpers for replay tests: a small setup post and bars written for it in a temp folder."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from core.calendar import MarketCalendar
from core.clock import NEW_YORK
from core.replay.driver import SetupSource
from tests.brokers.conftest import fake_alpaca  # noqa: F401 (the fake Alpaca server fixture)
from tests.engine.conftest import write_bars

DAY = date(2025, 6, 11)

# SPY breaks out at 10:00, reaches T1 and T2, then the time stop closes it; later a rejection
# level is touched and fails (a second SPY proposal). NVDA breaks out and is stopped out.
SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60
❌ Rejection Short 611.00 🔻 609.80, 608.90, 607.50

NVDA
🔼 Aggressive Breakout 145.55 🔼 147.30, 148.85, 150.60
"""

SPY_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:29", 607.90),
            ("10:30", 608.40), ("10:59", 609.90), ("11:00", 610.30), ("11:30", 609.80),
            ("13:00", 610.50), ("13:10", 611.00), ("13:20", 610.20), ("16:00", 609.60)]
NVDA_PATH = [("09:30", 144.80), ("10:14", 144.80), ("10:15", 145.70), ("10:44", 145.80),
             ("10:45", 145.30), ("16:00", 145.00)]


def setup_source(text: str = SETUP, origin: str = "test setup") -> SetupSource:
    return SetupSource(text=text, posted_at=datetime.combine(DAY, time(9, 0), NEW_YORK),
                       origin=origin)


@pytest.fixture(scope="session")
def calendar() -> MarketCalendar:
    """One exchange calendar for the session (building it takes a second or two)."""
    return MarketCalendar()


@pytest.fixture
def bars_dir(tmp_path: Path) -> Path:
    """A bars folder with SPY and NVDA for the test day."""
    folder = tmp_path / "bars"
    write_bars(folder, "SPY", SPY_PATH)
    write_bars(folder, "NVDA", NVDA_PATH)
    return folder


@pytest.fixture
def setup_file(tmp_path: Path) -> Path:
    """The test setup as a dated file."""
    path = tmp_path / "setups" / f"{DAY.isoformat()}_test.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SETUP, encoding="utf-8")
    return path
