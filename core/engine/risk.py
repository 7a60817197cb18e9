"""Pre-trade risk: every rule checked before every order, each refusal with a clear reason.

Trading states, as in NautilusTrader's risk engine:

* ``active``: entries and exits allowed.
* ``reducing`` (``/admin pause``): no new entries; exits, stops and manual closes still go
  out. The daily loss halt (``daily_loss`` below) acts the same way until the next trading day.
* ``halted`` (``/admin killswitch``): no orders at all; working orders are canceled by the
  engine. Lift it with ``/admin resume``; use ``/admin flatten`` to close positions.

Entry rules, in the order they are checked (the first refusal is reported, all are listed):
``trading_state``, ``broker_health`` (the broker is not answering reliably, see
:mod:`core.engine.health`; lifted on its own when it recovers), ``order_records`` (a broker
order event the database could not take yet waits to be recorded), ``market_hours`` (exchange calendar: holidays and half days), ``daily_loss``
(the day's P&L, realized by today's fills net of their fees plus the unrealized P&L of what is
held, at or below minus the limit halts entries for the rest of the New York trading day: the
halt is a latch, see :class:`DailyLossHalt`),
``max_open_positions``, ``max_per_symbol``, ``duplicate_signal`` (one position per signal),
``max_premium_per_trade``, ``max_portfolio_premium``, ``buying_power``, ``no_0dte`` (optional).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.clock import NEW_YORK
from core.errors import AplusError


class TradingState(StrEnum):
    """What kinds of orders may go out."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RiskLimits(BaseModel):
    """Limits checked before every entry; changeable at runtime (validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_open_positions: int = Field(5, ge=0, le=500, description="Open positions at once.")
    max_per_symbol: int = Field(2, ge=0, le=100, description="Open positions per underlying.")
    max_premium_per_trade: Decimal = Field(
        Decimal("1000"), ge=0, description="Premium one entry may cost, USD."
    )
    max_portfolio_premium: Decimal = Field(
        Decimal("5000"), ge=0, description="Premium at risk across open positions, USD."
    )
    max_equity_fraction_per_trade: Decimal = Field(
        Decimal("0.02"), gt=0, le=1, description="Fraction of equity one entry may cost."
    )
    daily_loss_limit: Decimal = Field(
        Decimal("1500"), ge=0, description="Day's loss (realized + unrealized) that halts entries for the rest of the day, USD."
    )
    allow_0dte: bool = Field(True, description="Allow contracts expiring today.")
    require_market_hours: bool = Field(True, description="Refuse orders while the market is closed.")

    def with_value(self, name: str, raw: str | int | float | Decimal | bool) -> RiskLimits:
        """Return a copy with ``name`` set from ``raw`` (text accepted), validated."""
        if name not in type(self).model_fields:
            known = ", ".join(sorted(type(self).model_fields))
            raise RiskLimitError(f"unknown limit {name!r}; known limits: {known}")
        data: dict[str, Any] = self.model_dump()
        data[name] = raw
        try:
            return type(self).model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RiskLimitError(f"{name}: {err['msg']} (got {raw!r})") from None


class RiskLimitError(AplusError):
    """A limit change was refused."""


@dataclass(frozen=True, slots=True)
class EntryIntent:
    """An entry about to be sent."""

    underlying: str
    contract: str
    expiry: date
    quantity: int
    premium: Decimal  # total cost including the multiplier
    signal_id: int | None


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """What the risk rules need to know about the book at this moment."""

    trading_date: date
    market_open: bool
    open_positions: int
    open_by_symbol: dict[str, int]
    premium_at_risk: Decimal
    day_pnl: Decimal  # realized + unrealized today
    buying_power: Decimal
    equity: Decimal
    signals_with_position: frozenset[int]
    loss_halt: DailyLossHalt | None = None  # the daily loss latch, when it is on today
    unrecorded: str | None = None  # broker order updates the database has not taken yet


@dataclass(frozen=True, slots=True)
class DailyLossHalt:
    """The daily loss limit was hit: no new entries for the rest of ``trading_date``.

    Once set it stays, whatever the P&L does afterwards, until the daily reset of a later
    trading day or an explicit ``/admin resume``; it is stored, so a restart keeps it.
    Exits are not affected.
    """

    trading_date: date
    at: datetime
    day_pnl: Decimal
    limit: Decimal

    @property
    def reason(self) -> str:
        """Return the refusal sentence."""
        return (f"daily loss limit hit at {self.at.astimezone(NEW_YORK):%H:%M} New York: day P&L "
                f"{_usd(self.day_pnl)} vs limit -{_usd(self.limit)}; no new entries until the next "
                "trading day (exits still run)")

    def to_json(self) -> dict[str, str]:
        """Return the stored form."""
        return {"trading_date": self.trading_date.isoformat(), "at": self.at.isoformat(),
                "day_pnl": str(self.day_pnl), "limit": str(self.limit)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DailyLossHalt | None:
        """Return the halt stored as ``value`` (None when it was lifted)."""
        if not value.get("trading_date"):
            return None
        return cls(date.fromisoformat(value["trading_date"]), datetime.fromisoformat(value["at"]),
                   Decimal(value["day_pnl"]), Decimal(value["limit"]))


@dataclass(frozen=True, slots=True)
class Refusal:
    """One rule that refused, with a sentence a trader understands."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The outcome of a check: allowed, or refused by one or more rules."""

    refusals: tuple[Refusal, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        """Tell whether the order may go out."""
        return not self.refusals

    @property
    def first(self) -> Refusal | None:
        """Return the refusal to show first."""
        return self.refusals[0] if self.refusals else None


def _usd(x: Decimal) -> str:
    return f"${x:,.2f}"


def check_entry(
    intent: EntryIntent, view: PortfolioView, limits: RiskLimits, state: TradingState,
    broker_problem: str | None = None,
) -> RiskDecision:
    """Check every entry rule and return all refusals (first one first).

    ``broker_problem`` is why the broker counts as degraded (None when it is healthy).
    """
    out: list[Refusal] = []
    if state is TradingState.HALTED:
        out.append(Refusal("trading_state", "kill switch is on: no orders go out until /admin resume"))
    elif state is TradingState.REDUCING:
        out.append(Refusal("trading_state", "new entries are paused (exits still run); /admin resume to continue"))
    if broker_problem:
        out.append(broker_refusal(broker_problem))
    if view.unrecorded:
        out.append(Refusal("order_records", f"{view.unrecorded}; new entries wait until every "
                                            "fill and order change is recorded"))
    if limits.require_market_hours and not view.market_open:
        out.append(Refusal("market_hours", "the market is closed"))
    if view.loss_halt is not None and view.loss_halt.trading_date == view.trading_date:
        out.append(Refusal("daily_loss", view.loss_halt.reason))
    elif limits.daily_loss_limit > 0 and view.day_pnl <= -limits.daily_loss_limit:
        out.append(Refusal(
            "daily_loss",
            f"daily loss limit reached: day P&L {_usd(view.day_pnl)} vs limit -{_usd(limits.daily_loss_limit)}; "
            "no new entries today",
        ))
    if view.open_positions >= limits.max_open_positions:
        out.append(Refusal(
            "max_open_positions",
            f"{view.open_positions} positions open, limit is {limits.max_open_positions}",
        ))
    per_symbol = view.open_by_symbol.get(intent.underlying, 0)
    if per_symbol >= limits.max_per_symbol:
        out.append(Refusal(
            "max_per_symbol",
            f"{per_symbol} {intent.underlying} positions open, limit is {limits.max_per_symbol}",
        ))
    if intent.signal_id is not None and intent.signal_id in view.signals_with_position:
        out.append(Refusal("duplicate_signal", "a position for this signal already exists"))
    trade_cap = min(limits.max_premium_per_trade, view.equity * limits.max_equity_fraction_per_trade)
    if intent.premium > trade_cap:
        out.append(Refusal(
            "max_premium_per_trade",
            f"cost {_usd(intent.premium)} is over the per-trade cap {_usd(trade_cap)} "
            f"(min of {_usd(limits.max_premium_per_trade)} and "
            f"{limits.max_equity_fraction_per_trade:.1%} of equity)",
        ))
    if view.premium_at_risk + intent.premium > limits.max_portfolio_premium:
        out.append(Refusal(
            "max_portfolio_premium",
            f"premium at risk would be {_usd(view.premium_at_risk + intent.premium)}, "
            f"limit is {_usd(limits.max_portfolio_premium)}",
        ))
    if intent.premium > view.buying_power:
        out.append(Refusal(
            "buying_power",
            f"cost {_usd(intent.premium)} exceeds options buying power {_usd(view.buying_power)}",
        ))
    if not limits.allow_0dte and intent.expiry <= view.trading_date:
        out.append(Refusal("no_0dte", f"{intent.contract} expires today and 0DTE is disabled"))
    return RiskDecision(tuple(out))


def broker_refusal(problem: str) -> Refusal:
    """Return the refusal of an entry while the broker is degraded (``problem`` says why)."""
    return Refusal("broker_health", f"the broker is not answering reliably ({problem}); "
                                    "new entries wait until it recovers")


def check_exit(state: TradingState) -> RiskDecision:
    """Check an exit (reducing) order: only the kill switch stops it."""
    if state is TradingState.HALTED:
        return RiskDecision((Refusal("trading_state", "kill switch is on: no orders go out"),))
    return RiskDecision()
