"""What an option should be worth when the underlying reaches a target or the stop.

The value is the Black–Scholes–Merton price at the level, with the contract's implied
volatility held fixed (sticky strike) and the time to expiry reduced by the time the move is
expected to take, so theta is charged for the wait.

Expected time to reach a level (documented assumption): the median first-passage time of a
driftless diffusion with the underlying's volatility σ, ``τ = (ln(L/S) / (0.6745 σ))²``
(half the paths touch the level by then; 0.6745 = N⁻¹(0.75)). Volatility is assumed to
accrue only while the market is open, 252 sessions × 6.5 h = 1,638 trading hours a year, so
τ is measured in trading hours and then laid on the session calendar (09:30–16:00 New York,
Monday–Friday; exchange holidays are not modelled) to find the calendar instant at which the
contract is valued. A level not expected before the expiry close is valued at expiry
(intrinsic value) and flagged ``after_expiry``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from core.options.expiry import MARKET_CLOSE, MARKET_OPEN, NY, expiry_close, year_fraction_to_close
from core.options.pricing import bsm_price

logger = logging.getLogger(__name__)

__all__ = [
    "MEDIAN_FIRST_PASSAGE_Z",
    "TRADING_HOURS_PER_YEAR",
    "ScenarioValue",
    "advance_trading_hours",
    "expected_hours_to_level",
    "scenario_levels",
    "value_at_levels",
]

TRADING_HOURS_PER_YEAR = 252 * 6.5
"""Hours over which a year's variance accrues (regular sessions only)."""

MEDIAN_FIRST_PASSAGE_Z = 0.6744897501960817
"""N⁻¹(0.75): a driftless diffusion touches a level ``a`` with probability 1/2 by the time
``(a / (z σ))²`` (reflection principle: P(touch by T) = 2 (1 − N(a / σ√T)))."""

_MAX_SESSIONS = 3_000


@dataclass(frozen=True, slots=True)
class ScenarioValue:
    """Estimated option value (per share) when the underlying reaches ``level``."""

    label: str
    level: float
    trading_hours: float
    """Expected trading hours until the level is touched (median first passage)."""
    reached_at: datetime
    years_left: float
    """Time to expiry left at ``reached_at`` (0 if after expiry)."""
    value: float
    change: float
    """``value - entry_price``."""
    change_pct: float
    after_expiry: bool
    """True when the level is not expected before the expiry close (valued at intrinsic)."""


def expected_hours_to_level(spot: float, level: float, vol: float) -> float:
    """Return the median trading hours a diffusion with volatility ``vol`` needs to touch ``level``.

    ``vol`` is annualised. Returns 0 when the level is the spot and ``inf`` when ``vol`` is 0.
    """
    if spot <= 0 or level <= 0:
        raise ValueError(f"spot and level must be positive, got {spot} and {level}")
    if not vol >= 0:
        raise ValueError(f"vol must be non-negative, got {vol}")
    distance = abs(math.log(level / spot))
    if distance == 0:
        return 0.0
    if vol == 0:
        return math.inf
    return (distance / (MEDIAN_FIRST_PASSAGE_Z * vol)) ** 2 * TRADING_HOURS_PER_YEAR


def advance_trading_hours(now: datetime, hours: float) -> datetime:
    """Return the instant (New York time) after ``hours`` of regular-session trading from ``now``.

    Sessions are 09:30–16:00 New York, Monday to Friday; time outside them does not count.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not hours >= 0:
        raise ValueError(f"hours must be non-negative, got {hours}")
    cursor = now.astimezone(NY)
    remaining = timedelta(hours=hours) if math.isfinite(hours) else None
    for _ in range(_MAX_SESSIONS):
        day = cursor.date()
        open_ = datetime.combine(day, MARKET_OPEN, tzinfo=NY)
        close = datetime.combine(day, MARKET_CLOSE, tzinfo=NY)
        if day.weekday() >= 5 or cursor >= close:
            cursor = datetime.combine(day + timedelta(days=1), MARKET_OPEN, tzinfo=NY)
            continue
        cursor = max(cursor, open_)
        available = close - cursor
        if remaining is not None and remaining <= available:
            return cursor + remaining
        if remaining is not None:
            remaining -= available
        cursor = datetime.combine(day + timedelta(days=1), MARKET_OPEN, tzinfo=NY)
    return datetime.max.replace(tzinfo=NY) - timedelta(days=2)


def scenario_levels(targets: Sequence[float], stop: float | None) -> list[tuple[str, float]]:
    """Return ``[("T1", t1), ("T2", t2), ..., ("stop", stop)]``."""
    levels = [(f"T{i}", float(level)) for i, level in enumerate(targets, start=1)]
    if stop is not None:
        levels.append(("stop", float(stop)))
    return levels


def value_at_levels(
    levels: Mapping[str, float] | Iterable[tuple[str, float]],
    *,
    spot: float,
    strike: float,
    expiry: date,
    is_call: bool,
    iv: float,
    entry_price: float,
    now: datetime,
    rate: float,
    div_yield: float = 0.0,
    underlying_vol: float | None = None,
) -> tuple[ScenarioValue, ...]:
    """Return the estimated option value at each labelled underlying level.

    ``iv`` prices the option (held fixed); ``underlying_vol`` (default ``iv``) sets how fast
    the underlying is expected to move. ``entry_price`` is what the position cost per share.
    """
    if not (iv > 0 and math.isfinite(iv)):
        raise ValueError(f"iv must be positive and finite, got {iv}")
    pairs = list(levels.items()) if isinstance(levels, Mapping) else list(levels)
    move_vol = iv if underlying_vol is None else underlying_vol
    close = expiry_close(expiry)
    out: list[ScenarioValue] = []
    for label, level in pairs:
        hours = expected_hours_to_level(spot, level, move_vol)
        reached = advance_trading_hours(now, hours)
        after = reached >= close
        years_left = 0.0 if after else float(year_fraction_to_close(reached, expiry))
        value = float(bsm_price(level, strike, years_left, rate, div_yield, iv, is_call))
        change = value - entry_price
        out.append(
            ScenarioValue(
                label=label,
                level=float(level),
                trading_hours=hours,
                reached_at=min(reached, close) if after else reached,
                years_left=years_left,
                value=value,
                change=change,
                change_pct=change / entry_price * 100.0 if entry_price > 0 else math.nan,
                after_expiry=after,
            )
        )
    return tuple(out)


def values_at_level(
    level: float,
    reached_at: datetime,
    strike: npt.ArrayLike,
    expiry: npt.ArrayLike,
    is_call: npt.ArrayLike,
    iv: npt.ArrayLike,
    rate: float,
    div_yield: float = 0.0,
) -> npt.NDArray[np.float64]:
    """Return the model value of many contracts at one level and instant (vectorized)."""
    t_left = year_fraction_to_close(reached_at, np.asarray(expiry))
    return bsm_price(level, strike, t_left, rate, div_yield, iv, is_call)
