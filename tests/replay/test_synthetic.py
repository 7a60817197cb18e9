"""Synthetic days: seeded, around the setup's levels, readable by the parser and the replay."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from core.marketdata.bars_csv import read_bars_csv
from core.parsing import parse_message
from core.replay.synthetic import (
    drifting_prices,
    setup_levels,
    synthetic_bars,
    synthetic_setup_text,
    write_synthetic_day,
)

DAY = date(2025, 6, 11)


def test_the_same_seed_gives_the_same_bars_and_another_seed_other_bars(calendar) -> None:
    levels = [600.0, 602.5, 604.0, 606.4]
    a = synthetic_bars("SPY", DAY, levels, seed=5, calendar=calendar)
    assert a == synthetic_bars("SPY", DAY, levels, seed=5, calendar=calendar)
    assert a != synthetic_bars("SPY", DAY, levels, seed=6, calendar=calendar)
    assert a != synthetic_bars("QQQ", DAY, levels, seed=5, calendar=calendar)
    assert len(a) == 390  # a full session of minutes
    assert all(low <= min(o, c) and high >= max(o, c) for _, o, high, low, c, _ in a)
    # it opens inside the band of levels
    assert 600.0 < a[0][1] < 606.4


def test_half_days_have_half_sessions(calendar) -> None:
    bars = synthetic_bars("SPY", date(2025, 11, 28), [600.0, 610.0], seed=1, calendar=calendar)
    assert len(bars) == 210  # 09:30 to 13:00


def test_a_synthetic_post_parses_to_six_levels_per_ticker_and_its_bars_are_labelled(
        tmp_path: Path, calendar) -> None:
    text = synthetic_setup_text(DAY, {"SPY": 600.0, "TSLA": 330.0, "NVDA": 145.0}, seed=2)
    parsed = parse_message(text)
    assert parsed.is_aplus and parsed.trading_date == DAY and not parsed.warnings
    assert sorted(s.symbol for s in parsed.setups) == ["NVDA", "SPY", "TSLA"]
    assert all(len(s.signals) == 6 and s.bias is not None for s in parsed.setups)
    paths = write_synthetic_day(tmp_path, setup_levels(parsed), DAY, seed=2, calendar=calendar,
                                origin="test")
    assert [p.parent.name for p in paths] == ["NVDA", "SPY", "TSLA"]
    head = paths[0].read_text().splitlines()[0]
    assert head.startswith("# SYNTHETIC bars for NVDA on 2025-06-11: not market data")
    assert len(read_bars_csv(paths[0])) == 390


def test_prices_drift_day_to_day_from_the_start() -> None:
    days = [date(2025, 6, 9), date(2025, 6, 10)]
    walk = drifting_prices({"SPY": 600.0}, days, seed=1)
    assert walk[days[0]] == {"SPY": 600.0} and walk[days[1]]["SPY"] != 600.0
    assert walk == drifting_prices({"SPY": 600.0}, days, seed=1)
