"""Types and helpers shared by the parts of the trading engine."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from core.brokers.base import Broker
from core.calendar import MarketCalendar
from core.clock import Clock
from core.db.models import SignalRow, SignalStatus, SignalTransition
from core.db.models.trading import (
    PositionRow,
)
from core.db.session import Database
from core.engine.bias import BiasTracker
from core.engine.config import EngineConfig
from core.engine.exits import ExitDecision, PositionState
from core.engine.risk import (
    RiskLimits,
    TradingState,
)
from core.engine.triggers import TriggerBook
from core.errors import AplusError
from core.events import (
    EventBus,
)
from core.marketdata.base import MarketData
from core.marketdata.models import Bar, OptionContract
from core.setups import SetupStore

if TYPE_CHECKING:
    from core.engine.marks import LiveMarks, OpenBook, Snapshot

CENT = Decimal("0.01")
OPEN_ORDER_STATES = ("pending_submit", "submitted", "new", "accepted", "pending_new",
                     "partially_filled", "pending_replace", "pending_cancel")


class ConfirmOutcome(StrEnum):
    """What a confirm did."""

    SUBMITTED = "submitted"
    REFRESHED = "refreshed"
    REFUSED = "refused"
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    """The answer to a confirm click: what happened and a sentence saying so."""

    outcome: ConfirmOutcome
    message: str
    proposal_id: int
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    """Portfolio Greeks: delta in shares, gamma in shares per $1, theta and vega in dollars."""

    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0
    positions: int = 0

    def add(self, greeks: dict[str, float], units: float) -> Exposure:
        """Return this exposure plus one position of ``units`` shares' worth of contracts."""
        return Exposure(self.delta + greeks["delta"] * units, self.gamma + greeks["gamma"] * units,
                        self.theta + greeks["theta"] * units, self.vega + greeks["vega"] * units,
                        self.positions + 1)


class EngineError(AplusError):
    """An engine call that cannot be done (the message says why)."""


def _d(x: float | Decimal | None) -> Decimal | None:
    if x is None:
        return None
    return Decimal(str(x))


def _money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)



@dataclass(frozen=True, slots=True)
class _SignalView:
    id: int
    symbol: str
    category: str
    aggressiveness: str
    direction: str
    trigger: Decimal
    targets: tuple[Decimal, ...]

    @classmethod
    def of(cls, row: SignalRow) -> _SignalView:
        direction = "bullish" if row.category in ("breakout", "bounce") else "bearish"
        trigger = row.trigger_low
        if row.trigger_high is not None and direction == "bearish":
            trigger = row.trigger_high
        return cls(row.id, row.symbol, row.category, row.aggressiveness, direction, trigger,
                   tuple(t.price for t in row.targets))


def _transition(session: AsyncSession, row: SignalRow, to: SignalStatus, at: datetime,
                price: Decimal | None, reason: str) -> None:
    session.add(SignalTransition(signal_id=row.id, at=at, from_status=row.status, to_status=to,
                                 price=price, reason=reason[:255]))
    row.status = to
    row.status_reason = reason[:255]
    row.status_changed_at = at
    row.updated_at = at


def _position_state(pos: PositionRow) -> PositionState:
    entry_trigger = pos.entry_trigger or Decimal(0)
    entry_under = pos.greeks.get("entry_underlying")  # each row attribute is read once
    return PositionState(
        direction=pos.direction, qty_initial=pos.qty_filled, qty_open=pos.qty_open,
        avg_entry=pos.avg_entry, entry_trigger=entry_trigger,
        entry_underlying=Decimal(str(entry_under)) if entry_under else entry_trigger,
        targets=tuple(map(Decimal, pos.targets)),
        targets_hit=pos.targets_hit, stop_price=pos.stop_price or Decimal(0),
        expiry=OptionContract.parse_cached(pos.contract).expiry)



@dataclass(frozen=True, slots=True)
class LiveMark:
    """The latest mark of a position, kept in memory between snapshots."""

    mark: Decimal
    unrealized: Decimal
    underlying: Decimal | None
    greeks: dict[str, float]
    iv: float | None
    at: datetime


class EngineParts:
    """What every part of the engine shares (set by :class:`core.engine.engine.TradingEngine`)."""

    db: Database
    broker: Broker
    market: MarketData
    clock: Clock
    calendar: MarketCalendar
    bus: EventBus
    config: EngineConfig
    setups: SetupStore
    trading_state: TradingState
    auto_confirm: bool
    limits: RiskLimits
    book: TriggerBook
    bias: BiasTracker
    exposure: Exposure
    marks: LiveMarks
    _proposal_locks: defaultdict[int, asyncio.Lock]
    _position_locks: defaultdict[int, asyncio.Lock]
    _urgent_exits: dict[int, ExitDecision]
    _exit_rows: tuple[int, list[PositionRow]] | None
    _last_bar: dict[str, Bar]
    _last_mark_event: dict[int, tuple[datetime, Decimal]]
    _last_snapshot_at: datetime | None
    _last_write_at: datetime | None
    _snapshots: list[Snapshot]
    _positions_version: int
    _open_book: OpenBook | None
    _order_ids: dict[str, tuple[int, int | None]]
    _orders_working: bool

    @asynccontextmanager
    async def _writing_positions(self) -> AsyncIterator[AsyncSession]:
        """Open a transaction that may change positions.

        When it ends (committed or not) the positions version moves on, so the next mark pass
        reads the open positions again instead of trusting its cached :class:`OpenBook`.
        """
        try:
            async with self.db.sessions.begin() as session:
                yield session
        finally:
            self._positions_version += 1
