"""Time to expiry: years from the market's clock to the 16:00 New York close on expiry day.

Time is calendar time (ACT/365, 8,760 hours a year), the same clock as theta per calendar
day, measured to the close of the expiry day, so a 0-DTE contract at 10:00 New York has
6/8,760 of a year left and its value decays smoothly through the session. Once the close has
passed the result is 0 (expired). Early-close days can pass ``close=time(13, 0)``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

__all__ = [
    "MARKET_CLOSE",
    "MARKET_OPEN",
    "NY",
    "SECONDS_PER_YEAR",
    "expiry_close",
    "to_datetime64_days",
    "year_fraction_to_close",
]

NY = ZoneInfo("America/New_York")
"""The exchange time zone of US listed options."""

MARKET_OPEN = time(9, 30)
MARKET_CLOSE = time(16, 0)
SECONDS_PER_YEAR = 365.0 * 86_400.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_aware(now: datetime) -> None:
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(tz=NY))")


def expiry_close(expiry: date, close: time = MARKET_CLOSE) -> datetime:
    """Return the instant (New York time) at which a contract expiring on ``expiry`` stops."""
    return datetime.combine(expiry, close, tzinfo=NY)


def to_datetime64_days(expiry: date | npt.ArrayLike) -> npt.NDArray[np.datetime64]:
    """Convert dates (``date``, ISO strings or ``datetime64``) to a ``datetime64[D]`` array."""
    arr = np.asarray(expiry)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[D]")
    try:
        return arr.astype("datetime64[D]")
    except (TypeError, ValueError) as e:
        raise ValueError(f"expiry must be dates, got {arr.dtype}") from e


def year_fraction_to_close(
    now: datetime, expiry: date | npt.ArrayLike, close: time = MARKET_CLOSE
) -> float | npt.NDArray[np.float64]:
    """Return years from ``now`` to ``close`` (16:00) New York time on each expiry day; 0 if past.

    ``now`` must be timezone-aware. ``expiry`` is a ``date`` (returns a float) or an array of
    dates / ``datetime64`` (returns an array of the same shape). Daylight saving is handled
    per expiry date.
    """
    _check_aware(now)
    now_s = (now - _EPOCH).total_seconds()
    if isinstance(expiry, date) and not isinstance(expiry, datetime):
        close_s = (expiry_close(expiry, close) - _EPOCH).total_seconds()
        return max(close_s - now_s, 0.0) / SECONDS_PER_YEAR
    if isinstance(expiry, datetime):
        raise TypeError("expiry must be a date, not a datetime")
    days = to_datetime64_days(expiry)
    uniq, inverse = np.unique(days, return_inverse=True)
    close_s = np.empty(uniq.shape[0])
    for i, d in enumerate(uniq):
        if np.isnat(d):
            close_s[i] = np.nan
            continue
        py_day = date(1970, 1, 1) + timedelta(days=int(d.astype(np.int64)))
        close_s[i] = (expiry_close(py_day, close) - _EPOCH).total_seconds()
    years = np.maximum(close_s[inverse] - now_s, 0.0) / SECONDS_PER_YEAR
    return years.reshape(days.shape)
