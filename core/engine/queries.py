"""Read-only views of the engine's records for the chat commands and reports.

The engine facade answers what trading needs (open positions with live marks, orders, the
portfolio view); :class:`EngineQueries` answers what people ask about it afterwards, each as a
typed result so a chat command calls one method and renders what it gets:

* :meth:`EngineQueries.status`: trading state, market hours, what is held and watched;
* :meth:`EngineQueries.pnl`: realized P&L over a period (by the day each fill realized it),
  the unrealized P&L of what is open now, and the daily series for an equity chart;
* :meth:`EngineQueries.performance`: the closed trades of a period as a
  :class:`~core.reporting.stats.PerformanceReport` (win rate, profit factor, drawdown, Sharpe);
* :meth:`EngineQueries.setup_dates` / :meth:`EngineQueries.setups_for`: the stored A+ posts;
* :meth:`EngineQueries.signal_board`: a day's signals with their status and, for the ones still
  watched, whether price has touched a rejection or bounce level yet;
* :meth:`EngineQueries.position` and :meth:`EngineQueries.open_positions_matching`: one
  position by id, and the open ones whose id or contract matches typed text.

Periods are New York trading dates: ``day`` is today, ``week`` starts on Monday, ``month`` on
the first, ``all`` has no start.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.brokers.models import OPTION_MULTIPLIER, OrderSide
from core.clock import NEW_YORK
from core.db.models import SetupMessage, SignalRow
from core.db.models.setups import ParseStatus
from core.db.models.trading import (
    FillRow,
    OrderRow,
    PositionRow,
    PositionStatus,
    ProposalRow,
)
from core.engine.base import OPEN_ORDER_STATES
from core.engine.risk import TradingState
from core.errors import NotFoundError
from core.reporting.stats import PerformanceReport, TradeRecord, summarize

if TYPE_CHECKING:
    from core.engine.engine import TradingEngine

log = logging.getLogger(__name__)
_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_SHOWN_STATUSES = (ParseStatus.PARSED, ParseStatus.PARTIAL, ParseStatus.NO_SIGNALS)


class Period(StrEnum):
    """A reporting period ending today (New York dates)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ALL = "all"

    def start(self, today: date) -> date | None:
        """Return the first trading date of the period that ends on ``today`` (None: all)."""
        if self is Period.DAY:
            return today
        if self is Period.WEEK:
            return today - timedelta(days=today.weekday())
        if self is Period.MONTH:
            return today.replace(day=1)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PnlReport:
    """P&L over a period: realized by the fills in it, unrealized of what is open now."""

    period: Period
    start: date | None  # None: since the first fill
    end: date
    realized: Decimal  # net of fees, realized in the period
    fees: Decimal
    unrealized: Decimal  # of the positions open now
    closed_trades: int  # positions closed in the period with at least one fill
    open_positions: int
    days: tuple[date, ...]  # trading days of the period (for the chart), oldest first
    daily_realized: tuple[Decimal, ...]  # net realized P&L of each day in ``days``

    @property
    def total(self) -> Decimal:
        """Return realized plus unrealized."""
        return self.realized + self.unrealized


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStatus:
    """What an admin checks first: can it trade, is the market open, what is held."""

    trading_state: TradingState
    auto_confirm: bool
    market_open: bool
    next_change: datetime | None  # the close when open, the next open when closed
    open_positions: int
    working_orders: int
    watched_signals: int
    event_failures: dict[str, int]  # subscriber name -> events it failed on (only > 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupDay:
    """A trading date with stored A+ posts."""

    trading_date: date
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalState:
    """One signal of a day, its stored status, and the trigger book's view of it."""

    id: int
    symbol: str
    category: str
    aggressiveness: str
    comparison: str
    trigger_low: Decimal
    trigger_high: Decimal | None
    targets: tuple[Decimal, ...]
    status: str
    status_reason: str | None
    status_changed_at: datetime
    watched: bool  # in the trigger book right now
    touched_at: datetime | None = None  # rejection/bounce: price reached the level
    touch_price: Decimal | None = None


def _ny_start(d: date) -> datetime:
    return datetime.combine(d, time(0), NEW_YORK).astimezone(UTC)


def _ny_date(at: datetime) -> date:
    return at.astimezone(NEW_YORK).date()


# built once (the daily loss watch runs this after each position write; see core/engine/statements.py)
_FILLS_PRICED = (select(FillRow.at, FillRow.qty, FillRow.price, FillRow.fee, OrderRow.side,
                        PositionRow.avg_entry)
                 .join(OrderRow, FillRow.order_id == OrderRow.id)
                 .join(PositionRow, OrderRow.position_id == PositionRow.id))
_FILLS_PRICED_SINCE = _FILLS_PRICED.where(FillRow.at >= bindparam("since"))


async def realized_by_day(session: AsyncSession, start: date | None) -> tuple[dict[date, Decimal], Decimal]:
    """Return net realized P&L per New York date of the fills since ``start``, and fees.

    A sell fill realizes (price − the position's average entry) × quantity × 100; every
    fill's fee counts against its day. Summed over a position's fills this is the
    position's ``realized_pnl − fees`` whenever its entries filled before its exits.
    """
    rows = (await session.execute(_FILLS_PRICED) if start is None else
            await session.execute(_FILLS_PRICED_SINCE, {"since": _ny_start(start)}))
    daily: defaultdict[date, Decimal] = defaultdict(lambda: _ZERO)
    fees = _ZERO
    for at, qty, price, fee, side, avg_entry in rows:
        day = _ny_date(at)
        if side == OrderSide.SELL:
            daily[day] += (price - avg_entry) * qty * OPTION_MULTIPLIER
        daily[day] -= fee
        fees += fee
    return dict(daily), fees


class EngineQueries:
    """Answer read-only questions about the engine's records."""

    def __init__(self, engine: TradingEngine) -> None:
        self.engine = engine
        self._sessions = engine.db.sessions

    def today(self) -> date:
        """Return today's New York date by the engine's clock."""
        return self.engine.trading_date()

    # ---------------------------------------------------------------- status ---------

    async def status(self) -> EngineStatus:
        """Return the engine's state, the market's, and what is open and watched."""
        engine = self.engine
        now = engine.clock.now()
        calendar = engine.calendar
        market_open = calendar.is_open(now)
        if market_open:
            next_change: datetime | None = calendar.session_close(engine.trading_date(now))
        else:
            try:
                next_change = calendar.next_open(now)
            except ValueError:  # beyond the calendar's known sessions
                next_change = None
        async with self._sessions() as session:
            held = (await session.execute(select(func.count()).select_from(PositionRow).where(
                PositionRow.status != PositionStatus.CLOSED))).scalar_one()
            working = (await session.execute(select(func.count()).select_from(OrderRow).where(
                OrderRow.status.in_(OPEN_ORDER_STATES)))).scalar_one()
        failures = {name: n for name, n in engine.bus.failures().items() if n}
        return EngineStatus(
            trading_state=engine.trading_state, auto_confirm=engine.auto_confirm,
            market_open=market_open, next_change=next_change, open_positions=held,
            working_orders=working, watched_signals=len(engine.book), event_failures=failures)

    # ------------------------------------------------------------------ P&L ----------

    async def pnl(self, period: Period) -> PnlReport:
        """Return realized (per fill day), unrealized and daily P&L over ``period``."""
        today = self.today()
        start = period.start(today)
        daily, fees = await self._realized_by_day(start)
        first = min(daily, default=today) if start is None else start
        sessions = self.engine.calendar.sessions_between(first, today)
        days = sorted(set(sessions) | set(daily))
        async with self._sessions() as session:
            stmt = select(func.count()).select_from(PositionRow).where(
                PositionRow.status == PositionStatus.CLOSED, PositionRow.qty_filled > 0)
            if start is not None:
                stmt = stmt.where(PositionRow.closed_at >= _ny_start(start))
            closed = (await session.execute(stmt)).scalar_one()
        live = await self.engine.positions(open_only=True)
        unrealized = sum((p.unrealized_pnl or _ZERO for p in live), _ZERO)
        realized = sum(daily.values(), _ZERO)
        return PnlReport(
            period=period, start=start, end=today, realized=realized.quantize(_CENT),
            fees=fees.quantize(_CENT), unrealized=unrealized.quantize(_CENT),
            closed_trades=closed, open_positions=len(live), days=tuple(days),
            daily_realized=tuple(daily.get(d, _ZERO).quantize(_CENT) for d in days))

    async def _realized_by_day(self, start: date | None) -> tuple[dict[date, Decimal], Decimal]:
        async with self._sessions() as session:
            return await realized_by_day(session, start)

    # ----------------------------------------------------------------- stats ---------

    async def closed_trades(self, period: Period = Period.ALL) -> list[TradeRecord]:
        """Return the positions closed in ``period`` (with at least one fill), oldest first."""
        start = period.start(self.today())
        sig = aliased(SignalRow)
        stmt = (select(PositionRow, sig.category, sig.aggressiveness, ProposalRow.max_loss,
                       ProposalRow.category)
                .outerjoin(sig, PositionRow.signal_id == sig.id)
                .outerjoin(ProposalRow, PositionRow.proposal_id == ProposalRow.id)
                .where(PositionRow.status == PositionStatus.CLOSED, PositionRow.qty_filled > 0)
                .order_by(PositionRow.closed_at, PositionRow.id))
        if start is not None:
            stmt = stmt.where(PositionRow.closed_at >= _ny_start(start))
        out = []
        async with self._sessions() as session:
            for pos, category, aggressiveness, max_loss, prop_category in await session.execute(stmt):
                out.append(TradeRecord(
                    trading_date=_ny_date(pos.closed_at) if pos.closed_at else pos.trading_date,
                    symbol=pos.underlying, contract=pos.contract, direction=pos.direction,
                    category=category or prop_category or "unknown",
                    aggressiveness=aggressiveness or "none", qty=pos.qty_filled,
                    entry_price=pos.avg_entry, exit_price=pos.avg_exit,
                    realized_pnl=pos.realized_pnl - pos.fees, max_loss=max_loss,
                    opened_at=pos.opened_at, closed_at=pos.closed_at,
                    exit_reason=pos.exit_reason, position_id=pos.id))
        return out

    async def performance(self, period: Period = Period.ALL) -> PerformanceReport:
        """Return the statistics of the trades closed in ``period``.

        Daily figures (Sharpe, Sortino, daily drawdown) run over every trading day of the
        period, days without a closed trade counting as 0; for ``all`` from the first close.
        """
        trades = await self.closed_trades(period)
        today = self.today()
        start = period.start(today)
        if start is None:
            start = min((t.trading_date for t in trades), default=today)
        days = self.engine.calendar.sessions_between(start, today)
        return summarize(trades, days)

    # ---------------------------------------------------------------- setups ---------

    async def setup_dates(self, *, limit: int = 25, containing: str = "") -> list[SetupDay]:
        """Return the newest trading dates with stored A+ posts, optionally matching text."""
        stmt = (select(SetupMessage.trading_date, func.count(distinct(SetupMessage.id)))
                .where(SetupMessage.trading_date.is_not(None), SetupMessage.deleted_at.is_(None),
                       SetupMessage.parse_status.in_([str(s) for s in _SHOWN_STATUSES]))
                .group_by(SetupMessage.trading_date)
                .order_by(SetupMessage.trading_date.desc()))
        needle = containing.strip()
        out: list[SetupDay] = []
        async with self._sessions() as session:
            for day, count in await session.execute(stmt):
                if needle and needle not in day.isoformat():
                    continue
                out.append(SetupDay(trading_date=day, messages=count))
                if len(out) >= limit:
                    break
        return out

    async def setups_for(self, trading_date: date) -> list[SetupMessage]:
        """Return the A+ posts of ``trading_date`` with their setups, oldest first."""
        rows = await self.engine.setups.messages_for_date(trading_date)
        return [r for r in rows if r.parse_status in _SHOWN_STATUSES]

    async def signal_board(self, trading_date: date | None = None) -> list[SignalState]:
        """Return the signals of a day (default today) with their state, by symbol."""
        day = trading_date or self.today()
        book = self.engine.book
        out = []
        for row in await self.engine.setups.signals(day):
            touch = book.touch_of(row.id)
            out.append(SignalState(
                id=row.id, symbol=row.symbol, category=row.category,
                aggressiveness=row.aggressiveness, comparison=row.comparison,
                trigger_low=row.trigger_low, trigger_high=row.trigger_high,
                targets=tuple(t.price for t in row.targets), status=row.status,
                status_reason=row.status_reason, status_changed_at=row.status_changed_at,
                watched=row.id in book,
                touched_at=touch.at if touch else None,
                touch_price=Decimal(str(touch.price)).quantize(_CENT) if touch else None))
        return out

    # -------------------------------------------------------------- positions --------

    async def position(self, position_id: int) -> PositionRow:
        """Return one position with its live mark; raise :class:`NotFoundError` if unknown."""
        async with self._sessions() as session:
            row = await session.get(PositionRow, position_id)
        if row is None:
            raise NotFoundError(f"there is no position #{position_id}")
        return self.engine.with_live_marks([row])[0]

    async def open_positions_matching(self, text: str, *, limit: int = 25) -> list[PositionRow]:
        """Return open positions whose id or contract contains ``text`` (newest first)."""
        needle = text.strip().lstrip("#").upper()
        rows = [p for p in await self.engine.positions(open_only=True)
                if p.status == PositionStatus.OPEN]
        if needle:
            rows = [p for p in rows if needle in str(p.id) or needle in p.contract]
        return rows[:limit]
