"""Exit rules for an open option position, evaluated on each completed underlying bar.

Pure and synchronous: the engine hands in the position's state and the latest prices and
gets back at most one :class:`ExitDecision` (the most urgent). Rules, all configurable:

* **Stop** (full exit): the underlying *closes* back through the stop level. The stop starts
  at the entry trigger moved against the trade by ``stop_margin_pct`` (a bullish trade
  triggered at 600.00 with a 0.10 % margin stops on a close below 599.40); after T1 it moves
  to the underlying price at entry (``move_stop_to_entry_after_t1``).
* **Option stop** (full exit): the option's mark lost ``option_stop_pct`` of the entry price.
* **Bias flip** against the position (full exit) when ``exit_on_bias_flip``.
* **Time stop** (full exit) at ``time_stop`` New York time (15:50 by default), and on expiry
  day at ``expiry_day_exit`` at the latest.
* **Scale out** at underlying targets: ``scale_out`` gives the fraction of the *initial*
  quantity sold at T1, T2, ...; the last target takes whatever is left. With fewer contracts
  than targets, each target takes at least one contract while any are left. A bar that
  reaches several targets at once sells for all of them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.clock import NEW_YORK


class ExitKind(StrEnum):
    """Why a position is (partly) closed."""

    TARGET = "target"
    STOP = "stop"
    OPTION_STOP = "option_stop"
    BIAS_FLIP = "bias_flip"
    TIME_STOP = "time_stop"
    EXPIRY = "expiry"
    MANUAL = "manual"
    FLATTEN = "flatten"


class ExitRules(BaseModel):
    """Configuration of the exit rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale_out: tuple[float, ...] = Field(
        (1 / 3, 1 / 3, 1 / 3), description="Fraction of the initial quantity sold at T1, T2, T3..."
    )
    move_stop_to_entry_after_t1: bool = True
    stop_margin_pct: float = Field(0.10, ge=0, le=10, description="Percent beyond the trigger.")
    option_stop_pct: float = Field(50.0, gt=0, le=100, description="Percent of premium lost.")
    exit_on_bias_flip: bool = True
    time_stop: time = Field(time(15, 50), description="New York time to close everything.")
    expiry_day_exit: time = Field(time(15, 30), description="Latest exit on expiry day.")

    @field_validator("scale_out")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(f <= 0 for f in value) or sum(value) > 1.0 + 1e-9:
            raise ValueError("scale_out needs positive fractions summing to at most 1")
        return value


@dataclass(frozen=True, slots=True)
class PositionState:
    """What the rules need to know about one position."""

    direction: str  # bullish (long calls) or bearish (long puts)
    qty_initial: int
    qty_open: int
    avg_entry: Decimal  # option price paid
    entry_trigger: Decimal  # the underlying level that triggered the entry
    entry_underlying: Decimal  # the underlying price when the entry filled
    targets: tuple[Decimal, ...]  # underlying targets in order
    targets_hit: int
    stop_price: Decimal  # current underlying stop level
    expiry: date


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """Close ``qty`` contracts for ``reason``."""

    kind: ExitKind
    qty: int
    reason: str
    targets_hit: int  # the count after this exit (for scale-outs)
    new_stop: Decimal | None = None  # the stop after this exit, when it moves


def initial_stop(direction: str, trigger: Decimal, rules: ExitRules) -> Decimal:
    """Return the underlying stop level of a fresh position."""
    margin = trigger * Decimal(str(rules.stop_margin_pct)) / 100
    stop = trigger - margin if direction == "bullish" else trigger + margin
    return stop.quantize(Decimal("0.01"))


def scale_out_quantities(qty_initial: int, n_targets: int, rules: ExitRules) -> list[int]:
    """Return how many contracts to sell at each target (the last takes what is left)."""
    if n_targets == 0 or qty_initial <= 0:
        return []
    fractions = list(rules.scale_out[:n_targets])
    out: list[int] = []
    left = qty_initial
    for i in range(n_targets):
        if i == n_targets - 1:
            q = left
        else:
            f = fractions[i] if i < len(fractions) else 0.0
            q = min(left, max(1, math.floor(qty_initial * f + 1e-9)))
        out.append(q)
        left -= q
        if left <= 0:
            out.extend([0] * (n_targets - i - 1))
            break
    return out


def _reached(direction: str, price: Decimal, level: Decimal) -> bool:
    return price >= level if direction == "bullish" else price <= level


_REGULAR_CLOSE: Final = time(16, 0)


def before_close(at: time, session_close: time | None) -> time:
    """Return ``at`` (a time on a regular 16:00 session) moved to an early close.

    On a half day (13:00 close) a rule set for 15:50 fires at 12:50: the same margin before
    the close, so positions are never carried past an early close by a clock time.
    """
    if session_close is None or session_close >= _REGULAR_CLOSE:
        return at
    margin = datetime.combine(date.min, _REGULAR_CLOSE) - datetime.combine(date.min, at)
    return (datetime.combine(date.min, session_close) - margin).time()


def evaluate_exit(
    pos: PositionState,
    rules: ExitRules,
    *,
    now: datetime,
    underlying_close: Decimal | None,
    underlying_high: Decimal | None = None,
    underlying_low: Decimal | None = None,
    option_mark: Decimal | None = None,
    bias_against: str | None = None,
    session_close: time | None = None,
) -> ExitDecision | None:
    """Return the most urgent exit for ``pos`` at ``now``, or None to hold.

    Order of precedence: time stop and expiry, bias flip, option stop, underlying stop,
    targets. Targets use the bar's extreme in the trade's favour (a limit-like touch);
    stops use the close.
    """
    if pos.qty_open <= 0:
        return None
    local = now.astimezone(NEW_YORK)
    bullish = pos.direction == "bullish"
    time_stop = before_close(rules.time_stop, session_close)
    if local.time() >= time_stop:
        return ExitDecision(ExitKind.TIME_STOP, pos.qty_open,
                            f"time stop {time_stop:%H:%M} New York", pos.targets_hit)
    expiry_exit = before_close(rules.expiry_day_exit, session_close)
    if local.date() >= pos.expiry and local.time() >= expiry_exit:
        return ExitDecision(ExitKind.EXPIRY, pos.qty_open,
                            f"expiry day: out by {expiry_exit:%H:%M} New York", pos.targets_hit)
    if bias_against and rules.exit_on_bias_flip:
        return ExitDecision(ExitKind.BIAS_FLIP, pos.qty_open, f"bias flipped: {bias_against}",
                            pos.targets_hit)
    if option_mark is not None and pos.avg_entry > 0:
        loss_pct = (pos.avg_entry - option_mark) / pos.avg_entry * 100
        if loss_pct >= Decimal(str(rules.option_stop_pct)):
            return ExitDecision(
                ExitKind.OPTION_STOP, pos.qty_open,
                f"option down {loss_pct:.0f}% ({pos.avg_entry:.2f} → {option_mark:.2f}), "
                f"stop is {rules.option_stop_pct:g}%", pos.targets_hit)
    if underlying_close is not None:
        broke = underlying_close < pos.stop_price if bullish else underlying_close > pos.stop_price
        if broke:
            side = "below" if bullish else "above"
            return ExitDecision(ExitKind.STOP, pos.qty_open,
                                f"underlying closed {underlying_close:.2f} {side} stop {pos.stop_price:.2f}",
                                pos.targets_hit)
    favourable = (underlying_high if bullish else underlying_low) or underlying_close
    if favourable is None or pos.targets_hit >= len(pos.targets):
        return None
    hit = pos.targets_hit
    while hit < len(pos.targets) and _reached(pos.direction, favourable, pos.targets[hit]):
        hit += 1
    if hit == pos.targets_hit:
        return None
    plan = scale_out_quantities(pos.qty_initial, len(pos.targets), rules)
    sold_before = pos.qty_initial - pos.qty_open
    due = sum(plan[:hit]) - sold_before
    qty = min(pos.qty_open, max(due, 0))
    if hit == len(pos.targets):
        qty = pos.qty_open
    names = ", ".join(f"T{i + 1} {pos.targets[i]:.2f}" for i in range(pos.targets_hit, hit))
    new_stop = None
    if pos.targets_hit == 0 and rules.move_stop_to_entry_after_t1:
        new_stop = pos.entry_underlying
    if qty <= 0:
        # Targets reached but nothing scheduled to sell yet (e.g. 1 contract planned for T3):
        # record the hit and move the stop; the decision carries qty 0.
        return ExitDecision(ExitKind.TARGET, 0, f"reached {names}", hit, new_stop)
    return ExitDecision(ExitKind.TARGET, qty, f"reached {names}: selling {qty}", hit, new_stop)
