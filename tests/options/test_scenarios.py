"""Option value at targets and stop, with time decay to the expected time of reaching them."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest

from core.options.expiry import NY
from core.options.pricing import bsm_price
from core.options.scenarios import (
    TRADING_HOURS_PER_YEAR,
    advance_trading_hours,
    expected_hours_to_level,
    scenario_levels,
    value_at_levels,
)


def test_expected_time_is_the_median_first_passage_time() -> None:
    # Simulate a driftless log-price diffusion: about half the paths should have touched the
    # level by the expected time.
    spot, level, vol = 100.0, 101.0, 0.25
    hours = expected_hours_to_level(spot, level, vol)
    years = hours / TRADING_HOURS_PER_YEAR
    rng = np.random.default_rng(42)
    paths, steps = 3_000, 1_000
    dt = years / steps
    increments = rng.normal(-0.5 * vol**2 * dt, vol * math.sqrt(dt), size=(paths, steps))
    touched = (np.cumsum(increments, axis=1) >= math.log(level / spot)).any(axis=1)
    # Discrete monitoring misses a few touches, so the fraction sits slightly under one half.
    assert 0.44 < touched.mean() < 0.53


def test_expected_time_grows_with_the_square_of_the_distance() -> None:
    near = expected_hours_to_level(500.0, 505.0, 0.2)
    far = expected_hours_to_level(500.0, 510.0, 0.2)
    assert far / near == pytest.approx((math.log(510 / 500) / math.log(505 / 500)) ** 2)
    assert expected_hours_to_level(500.0, 500.0, 0.2) == 0.0
    assert expected_hours_to_level(500.0, 490.0, 0.0) == math.inf


def test_trading_hours_skip_nights_and_weekends() -> None:
    friday = datetime(2025, 6, 6, 15, 0, tzinfo=NY)
    assert advance_trading_hours(friday, 2.0) == datetime(2025, 6, 9, 10, 30, tzinfo=NY)
    before_open = datetime(2025, 6, 9, 8, 0, tzinfo=NY)
    assert advance_trading_hours(before_open, 1.0) == datetime(2025, 6, 9, 10, 30, tzinfo=NY)
    assert advance_trading_hours(friday, 0.0) == friday


def test_call_gains_at_target_and_loses_at_stop_with_decay_charged() -> None:
    now = datetime(2025, 6, 2, 10, 0, tzinfo=NY)
    spot, strike, iv, expiry = 590.0, 592.0, 0.18, date(2025, 6, 6)
    t_now = 4 * 24 / 8760 + 6 / 8760
    entry = float(bsm_price(spot, strike, t_now, 0.045, 0.0, iv, True))
    levels = scenario_levels([594.0, 598.0], stop=587.0)
    t1, t2, stop = value_at_levels(
        levels, spot=spot, strike=strike, expiry=expiry, is_call=True, iv=iv,
        entry_price=entry, now=now, rate=0.045,
    )  # fmt: skip
    assert [s.label for s in (t1, t2, stop)] == ["T1", "T2", "stop"]
    assert t1.value > entry and t2.value > t1.value
    assert stop.value < entry
    assert t2.trading_hours > t1.trading_hours > 0
    # Decay: at T1 the option is worth less than it would be if T1 were reached instantly.
    instant = float(bsm_price(594.0, strike, t_now, 0.045, 0.0, iv, True))
    assert t1.value < instant
    assert t1.change == pytest.approx(t1.value - entry)
    assert t1.change_pct == pytest.approx((t1.value / entry - 1) * 100)


def test_level_not_expected_before_expiry_is_valued_at_intrinsic() -> None:
    now = datetime(2025, 6, 6, 15, 0, tzinfo=NY)  # 0-DTE, one hour left
    (far,) = value_at_levels(
        {"T1": 620.0}, spot=590.0, strike=600.0, expiry=date(2025, 6, 6), is_call=True,
        iv=0.15, entry_price=0.05, now=now, rate=0.045,
    )  # fmt: skip
    assert far.after_expiry
    assert far.years_left == 0.0
    assert far.value == pytest.approx(20.0)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        expected_hours_to_level(0.0, 100.0, 0.2)
    with pytest.raises(ValueError, match="iv"):
        value_at_levels(
            {"T1": 100.0}, spot=99.0, strike=100.0, expiry=date(2025, 6, 6), is_call=True,
            iv=float("nan"), entry_price=1.0, now=datetime(2025, 6, 2, tzinfo=NY), rate=0.0,
        )  # fmt: skip
