"""NYSE trading sessions (holidays and half days) from ``exchange_calendars`` (XNYS).

The schedule is loaded once per process and cached in plain dicts, so the per-call checks the
engine and the simulated exchange make on every tick cost about a microsecond.
"""

from __future__ import annotations

import bisect
import logging
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from core.clock import NEW_YORK, utc

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _schedule() -> tuple[list[date], dict[date, tuple[datetime, datetime]]]:
    import exchange_calendars as xcals  # deferred: importing pandas costs ~0.3 s

    cal = xcals.get_calendar("XNYS")
    sched = cal.schedule
    days: list[date] = []
    times: dict[date, tuple[datetime, datetime]] = {}
    for label, opens, closes in zip(sched.index, sched["open"], sched["close"], strict=True):
        d = label.date()
        days.append(d)
        times[d] = (opens.to_pydatetime().astimezone(UTC), closes.to_pydatetime().astimezone(UTC))
    log.debug("loaded %d XNYS sessions %s..%s", len(days), days[0], days[-1])
    return days, times


class MarketCalendar:
    """Regular-hours sessions of the New York Stock Exchange."""

    def __init__(self) -> None:
        self._days, self._times = _schedule()

    @staticmethod
    def trading_date(t: datetime) -> date:
        """Return the New York calendar date of ``t``."""
        return utc(t).astimezone(NEW_YORK).date()

    def is_session(self, d: date) -> bool:
        """Tell whether the exchange trades on ``d``."""
        return d in self._times

    def session_open(self, d: date) -> datetime:
        """Return the UTC open of session ``d``; raise ``ValueError`` if ``d`` is no session."""
        return self._session(d)[0]

    def session_close(self, d: date) -> datetime:
        """Return the UTC close of session ``d`` (13:00 New York on half days)."""
        return self._session(d)[1]

    def _session(self, d: date) -> tuple[datetime, datetime]:
        try:
            return self._times[d]
        except KeyError:
            raise ValueError(f"{d} is not an NYSE session") from None

    def is_open(self, t: datetime) -> bool:
        """Tell whether regular trading is on at ``t``."""
        t = utc(t)
        times = self._times.get(t.astimezone(NEW_YORK).date())
        return times is not None and times[0] <= t < times[1]

    def next_session(self, d: date) -> date:
        """Return the first session strictly after ``d``."""
        i = bisect.bisect_right(self._days, d)
        if i >= len(self._days):
            raise ValueError(f"no known session after {d}")
        return self._days[i]

    def previous_session(self, d: date) -> date:
        """Return the last session strictly before ``d``."""
        i = bisect.bisect_left(self._days, d)
        if i == 0:
            raise ValueError(f"no known session before {d}")
        return self._days[i - 1]

    def sessions_between(self, start: date, end: date) -> list[date]:
        """Return the sessions from ``start`` to ``end`` inclusive."""
        i = bisect.bisect_left(self._days, start)
        j = bisect.bisect_right(self._days, end)
        return self._days[i:j]

    def next_open(self, t: datetime) -> datetime:
        """Return the next session open at or after ``t`` (``t`` itself if the market is open)."""
        t = utc(t)
        if self.is_open(t):
            return t
        d = t.astimezone(NEW_YORK).date()
        if d in self._times and t < self._times[d][0]:
            return self._times[d][0]
        return self._times[self.next_session(d)][0]

    def last_session_at(self, t: datetime) -> date:
        """Return the session in progress at ``t``, else the most recent one already closed."""
        t = utc(t)
        d = t.astimezone(NEW_YORK).date()
        if d in self._times and t >= self._times[d][0]:
            return d
        return self.previous_session(d)

    def closes_between(self, start: datetime, end: datetime) -> list[date]:
        """Return the sessions whose close falls in ``(start, end]``."""
        start, end = utc(start), utc(end)
        d0 = start.astimezone(NEW_YORK).date() - timedelta(days=1)
        d1 = end.astimezone(NEW_YORK).date()
        return [d for d in self.sessions_between(d0, d1) if start < self._times[d][1] <= end]
