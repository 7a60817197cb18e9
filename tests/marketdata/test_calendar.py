"""NYSE sessions: holidays, half days, weekends."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.calendar import MarketCalendar


def test_day_after_thanksgiving_closes_at_one_pm_new_york() -> None:
    cal = MarketCalendar()
    assert cal.session_close(date(2025, 11, 28)) == datetime(2025, 11, 28, 18, 0, tzinfo=UTC)
    assert not cal.is_open(datetime(2025, 11, 28, 18, 30, tzinfo=UTC))


def test_independence_day_is_no_session() -> None:
    cal = MarketCalendar()
    assert not cal.is_session(date(2025, 7, 4))
    assert not cal.is_open(datetime(2025, 7, 4, 15, 0, tzinfo=UTC))


def test_next_open_after_a_friday_close_is_monday_morning() -> None:
    cal = MarketCalendar()
    assert cal.next_open(datetime(2025, 6, 13, 21, 0, tzinfo=UTC)) == datetime(2025, 6, 16, 13, 30, tzinfo=UTC)


def test_open_during_regular_hours_only() -> None:
    cal = MarketCalendar()
    assert cal.is_open(datetime(2025, 6, 11, 13, 30, tzinfo=UTC))
    assert not cal.is_open(datetime(2025, 6, 11, 13, 29, tzinfo=UTC))
    assert not cal.is_open(datetime(2025, 6, 11, 20, 0, tzinfo=UTC))
