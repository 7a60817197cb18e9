"""Time to expiry: years to the 16:00 New York close on expiry day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import numpy as np
import pytest

from core.options.expiry import NY, year_fraction_to_close

HOUR = 1.0 / (365.0 * 24.0)


def test_zero_dte_contract_decays_through_the_session() -> None:
    expiry = date(2025, 6, 6)
    morning = year_fraction_to_close(datetime(2025, 6, 6, 9, 30, tzinfo=NY), expiry)
    afternoon = year_fraction_to_close(datetime(2025, 6, 6, 15, 0, tzinfo=NY), expiry)
    assert morning == pytest.approx(6.5 * HOUR)
    assert afternoon == pytest.approx(1.0 * HOUR)


def test_time_is_zero_once_the_close_has_passed() -> None:
    expiry = date(2025, 6, 6)
    assert year_fraction_to_close(datetime(2025, 6, 6, 16, 0, tzinfo=NY), expiry) == 0.0
    assert year_fraction_to_close(datetime(2025, 6, 9, 10, 0, tzinfo=NY), expiry) == 0.0


def test_clock_in_another_time_zone_gives_the_same_answer() -> None:
    in_utc = datetime(2025, 6, 6, 17, 0, tzinfo=UTC)  # 13:00 in New York (EDT)
    assert year_fraction_to_close(in_utc, date(2025, 6, 6)) == pytest.approx(3 * HOUR)


def test_daylight_saving_change_before_expiry_is_counted() -> None:
    # From Friday 10:00 EDT to Monday 16:00 EST: clocks fall back on Sunday, so 79 hours.
    t = year_fraction_to_close(datetime(2024, 11, 1, 10, 0, tzinfo=NY), date(2024, 11, 4))
    assert t == pytest.approx(79 * HOUR)


def test_array_of_expiries_keeps_its_shape() -> None:
    now = datetime(2024, 7, 31, 16, 0, tzinfo=NY)
    expiries = np.array(
        [["2024-08-01", "2024-08-02"], ["2024-07-30", "2024-08-16"]], dtype="datetime64[D]"
    )
    t = year_fraction_to_close(now, expiries)
    assert isinstance(t, np.ndarray)
    assert t.shape == (2, 2)
    np.testing.assert_allclose(t * 365, [[1.0, 2.0], [0.0, 16.0]])


def test_early_close_can_be_given() -> None:
    now = datetime(2024, 11, 29, 12, 0, tzinfo=NY)  # day after Thanksgiving closes at 13:00
    assert year_fraction_to_close(now, date(2024, 11, 29), close=time(13, 0)) == pytest.approx(HOUR)


def test_naive_clock_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        year_fraction_to_close(datetime(2025, 6, 6, 10, 0), date(2025, 6, 6))
