"""The trading engine: from a parsed setup to a closed, accounted trade, with no Discord in it.

One :class:`TradingEngine` owns the watched signals, the proposals, our order records and the
positions. It is driven by three inputs and publishes typed events (:mod:`core.events`):

* :meth:`TradingEngine.on_bar` with each completed underlying bar (triggers, bias flips,
  exits);
* :meth:`TradingEngine.on_order_update` with each broker order event (fills, cancels);
* :meth:`TradingEngine.tick` on a timer (proposal expiry, repricing, marks, end of day).

Live, :meth:`start` runs tasks that feed the first two from the market-data and broker streams,
and the scheduler calls ``tick``; the offline replay calls the same three methods itself with
a fake clock, so both run exactly the same code.

:class:`TradingEngine` is the one object callers use; its flows live beside it as parts it is
built from: :mod:`~core.engine.proposal_flow` (propose, confirm, reject, expire),
:mod:`~core.engine.order_flow` (submit, fills, repricing), :mod:`~core.engine.position_flow`
(exits, close, flatten, marks) and :mod:`~core.engine.recovery` (start-up reconciliation).

Every order row is written before the broker is called (``pending_submit``, client order id
derived from our record), so a crash at any point is reconciled at the next start by client
order id. A confirm is idempotent: an in-process lock per proposal plus a compare-and-set on the
proposal's status in the database give one order or none, never two.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import selectinload

from core.brokers.base import Broker, Subscription
from core.brokers.errors import BrokerError
from core.brokers.models import (
    OPTION_MULTIPLIER,
    OrderUpdate,
)
from core.calendar import MarketCalendar
from core.clock import NEW_YORK, Clock
from core.db.models import SignalRow, SignalStatus, TickerSetupRow
from core.db.models.trading import (
    OrderRow,
    PositionRow,
    PositionStatus,
    ProposalRow,
)
from core.db.session import Database
from core.engine.base import (
    OPEN_ORDER_STATES,
    ConfirmOutcome,
    ConfirmResult,
    EngineError,
    Exposure,
    _money,
    _SignalView,
    _transition,
)
from core.engine.bias import BiasFlip, BiasSpec, BiasTracker
from core.engine.config import EngineConfig
from core.engine.exits import ExitDecision
from core.engine.marks import LiveMarks, OpenBook, Snapshot
from core.engine.order_flow import OrderFlow
from core.engine.position_flow import PositionFlow
from core.engine.proposal_flow import ProposalFlow, storage_problem
from core.engine.proposals import ProposalPlan
from core.engine.queries import realized_by_day
from core.engine.recovery import Recovery
from core.engine.risk import (
    DailyLossHalt,
    PortfolioView,
    RiskLimits,
    TradingState,
)
from core.engine.state import EngineStateStore
from core.engine.statements import OPEN_PROPOSALS
from core.engine.triggers import Bar as TBar
from core.engine.triggers import TriggerBook, TriggerDecision, WatchedSignal
from core.errors import NotFoundError
from core.events import (
    BiasFlipped,
    DailySummary,
    EngineStateChanged,
    EventBus,
    SetupParsed,
    SignalSkipped,
    SignalTriggered,
)
from core.marketdata.base import MarketData, PriceStream
from core.marketdata.models import Bar, PriceEventKind
from core.memory import release_free_memory
from core.setups import IncomingMessage, IngestOutcome, IngestResult, SetupStore
from core.tasks import TaskSupervisor

log = logging.getLogger(__name__)

LOSS_HALT_KEY = "daily_loss_halt"


class TradingEngine(ProposalFlow, OrderFlow, PositionFlow, Recovery):
    """Signals in, proposals out, confirmed trades executed and managed to the close."""

    def __init__(
        self,
        *,
        db: Database,
        broker: Broker,
        market: MarketData,
        clock: Clock,
        calendar: MarketCalendar,
        bus: EventBus,
        config: EngineConfig | None = None,
    ) -> None:
        self.db = db
        self.broker = broker
        self.market = market
        self.clock = clock
        self.calendar = calendar
        self.bus = bus
        self.config = config or EngineConfig()
        self.setups = SetupStore(db.sessions, clock)
        self.state_store = EngineStateStore(db.sessions)
        self.trading_state = TradingState.ACTIVE
        self.auto_confirm = self.config.auto_confirm
        self.limits: RiskLimits = self.config.risk
        self.loss_halt: DailyLossHalt | None = None  # the daily loss latch (see risk.py)
        self._realized_today: tuple[date, int, Decimal] | None = None  # day, positions version
        self.book = TriggerBook(self.config.triggers)
        self.bias = BiasTracker()
        self._proposal_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._position_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._urgent_exits: dict[int, ExitDecision] = {}  # waiting for a scale-out's cancel
        self._exit_rows: tuple[int, list[PositionRow]] | None = None  # by positions version
        self._unrecorded: deque[OrderUpdate] = deque()  # broker events the database refused
        self._unrecorded_reason: str | None = None
        self._last_bar: dict[str, Bar] = {}
        self._last_mark_event: dict[int, tuple[datetime, Decimal]] = {}
        self._last_marks_at: datetime | None = None
        self._last_snapshot_at: datetime | None = None
        self._last_write_at: datetime | None = None  # snapshots written, positions re-read
        self._snapshots: list[Snapshot] = []  # taken, not yet written
        self._summarised: set[date] = set()
        self._loaded_date: date | None = None
        self._stream: PriceStream | None = None
        self._updates: Subscription[OrderUpdate] | None = None
        self._tasks = TaskSupervisor("engine")
        self.exposure = Exposure()
        self.marks = LiveMarks()
        self._positions_version = 0  # moves on after every transaction that writes positions
        self._open_book: OpenBook | None = None  # the mark pass's cache of open positions
        # client order id -> (order id, position id) of the orders sent or looked up: neither
        # changes for an order, and a reprice (the one change of a client id) forgets its old id
        self._order_ids: dict[str, tuple[int, int | None]] = {}
        # Idle fast path: skip the timer's queries while nothing can be due (True = look).
        self._proposals_open = True  # set on each new proposal, cleared when a tick finds none
        self._orders_working = True  # set on each submit, cleared when a pass finds none

    # ------------------------------------------------------------------ lifecycle ----

    async def start(self, *, live: bool = True) -> None:
        """Load state, reconcile with the broker, and resume watching today's signals.

        With ``live`` the engine also consumes the broker's order updates and the price stream
        in background tasks; without it the caller drives :meth:`on_bar`,
        :meth:`pump_order_updates` and :meth:`tick` (the offline replay does).
        """
        self.trading_state, self.auto_confirm, self.limits = await self.state_store.load(
            self.config.risk, self.config.auto_confirm)
        self.loss_halt = DailyLossHalt.from_json(await self.state_store.value(LOSS_HALT_KEY))
        self._updates = self.broker.order_updates()  # type: ignore[assignment]
        await self.reconcile()
        await self._load_signals(self.trading_date())
        if live:
            self._stream = self.market.price_stream(self.book.symbols(), bars=True)
            self._tasks.spawn(self._consume_prices(), "prices")
            self._tasks.spawn(self._consume_updates(), "order-updates")

    async def stop(self) -> None:
        """Stop background work and write the buffered snapshots.

        Open orders stay with the broker and are reconciled at the next start.
        """
        await self._tasks.close()
        try:
            await self.write_snapshots()
        except Exception:
            log.exception("the last %d position snapshots could not be written", len(self._snapshots))
        if self._stream is not None:
            await self._stream.close()
        if self._updates is not None:
            self._updates.close()

    async def _consume_prices(self) -> None:
        assert self._stream is not None
        async for event in self._stream:
            if event.kind is PriceEventKind.BAR and event.bar is not None:
                try:
                    await self.on_bar(event.bar)
                except Exception:
                    log.exception("bar %s %s failed", event.symbol, event.timestamp)

    async def _consume_updates(self) -> None:
        assert self._updates is not None
        async for upd in self._updates:
            try:
                await self._record_update(upd)
            except Exception:
                log.exception("order update %s failed", upd.execution_id)

    async def pump_order_updates(self) -> int:
        """Handle every order update queued so far (for drivers that run without tasks)."""
        n = 0
        if self._updates is None:
            return 0
        while (upd := self._updates.get_nowait()) is not None:
            await self._record_update(upd)
            n += 1
        return n

    async def _record_update(self, upd: OrderUpdate | None = None) -> None:
        """Record ``upd`` after every earlier update still waiting for the database.

        A broker event the database cannot take now (locked, disk full, connection lost) is
        kept, in order, and tried again at the next update and on every tick: a fill is never
        dropped (fills are recorded once by execution id, so a retry cannot count one twice).
        Until all are recorded, new entries are refused with the reason (``order_records``).
        """
        if upd is not None:
            self._unrecorded.append(upd)
        while self._unrecorded:
            try:
                await self.on_order_update(self._unrecorded[0])
            except (OperationalError, InterfaceError) as exc:
                if self._unrecorded_reason is None:
                    log.warning("order updates wait for the database: %s", exc)
                self._unrecorded_reason = (
                    f"{len(self._unrecorded)} order updates from the broker are not recorded "
                    f"yet: {storage_problem(exc)}")
                return
            except Exception:
                self._unrecorded.popleft()  # not the database's doing: never block the rest
                raise
            self._unrecorded.popleft()
        if self._unrecorded_reason is not None:
            log.warning("every waiting order update is recorded; new entries allowed again")
            self._unrecorded_reason = None

    def trading_date(self, at: datetime | None = None) -> date:
        """Return the New York date of ``at`` (default: now)."""
        return (at or self.clock.now()).astimezone(NEW_YORK).date()

    # --------------------------------------------------------------- setups ----------

    async def ingest(self, msg: IncomingMessage) -> IngestResult:
        """Store a setup message (new or edited) and watch its signals if they are for today."""
        result = await self.setups.ingest(msg)
        await self._after_ingest(msg.discord_message_id, msg.channel_id, result)
        return result

    async def delete_message(self, discord_message_id: int, channel_id: int) -> IngestResult:
        """Invalidate a deleted message's signals and stop watching them."""
        result = await self.setups.delete(discord_message_id)
        for sid in result.invalidated_signal_ids:
            self.book.remove(sid)
        await self._resubscribe()
        self.bus.publish(SetupParsed(
            at=self.clock.now(), message_pk=result.message_pk,
            discord_message_id=discord_message_id, channel_id=channel_id,
            outcome=str(result.outcome), parse_status=None, symbols=(), signal_count=0,
            changes=tuple(f"invalidated signal {i}" for i in result.invalidated_signal_ids)))
        return result

    async def _after_ingest(self, discord_id: int, channel_id: int, result: IngestResult) -> None:
        if result.outcome in (IngestOutcome.UNCHANGED, IngestOutcome.UNKNOWN):
            return
        for sid in result.invalidated_signal_ids:
            self.book.remove(sid)
        parsed = result.parsed
        if parsed is not None and parsed.trading_date == self.trading_date():
            await self._load_signals(parsed.trading_date, force=True)
        symbols = tuple(s.symbol for s in parsed.setups) if parsed else ()
        self.bus.publish(SetupParsed(
            at=self.clock.now(), message_pk=result.message_pk, discord_message_id=discord_id,
            channel_id=channel_id, outcome=str(result.outcome),
            parse_status=str(result.status) if result.status else None, symbols=symbols,
            signal_count=sum(len(s.signals) for s in parsed.setups) if parsed else 0,
            warnings=tuple(parsed.warnings) if parsed else (),
            changes=tuple(f"{c.symbol}: {c.kind} {c.detail}" for c in result.changes)))

    async def _load_signals(self, trading_date: date, *, force: bool = False) -> None:
        """Put the live signals of ``trading_date`` in the trigger book and mark them watching."""
        if self._loaded_date == trading_date and not force:
            return
        self._loaded_date = trading_date
        now = self.clock.now()
        async with self.db.sessions.begin() as session:
            rows = (await session.execute(
                select(SignalRow).where(
                    SignalRow.trading_date == trading_date,
                    SignalRow.status.in_([SignalStatus.PENDING, SignalStatus.WATCHING]))
                .options(selectinload(SignalRow.targets))
                .order_by(SignalRow.id))).scalars().all()
            for row in rows:
                if row.id in self.book:
                    continue
                self.book.add(WatchedSignal(
                    signal_id=row.id, symbol=row.symbol, category=row.category,
                    aggressiveness=row.aggressiveness, comparison=row.comparison,
                    trigger_low=float(row.trigger_low),
                    trigger_high=float(row.trigger_high) if row.trigger_high is not None else None,
                    targets=tuple(float(t.price) for t in row.targets),
                    trading_date=trading_date))
                if row.status == SignalStatus.PENDING:
                    _transition(session, row, SignalStatus.WATCHING, now, None, "watching for the trigger")
            setups = (await session.execute(
                select(TickerSetupRow).where(TickerSetupRow.trading_date == trading_date,
                                             TickerSetupRow.active.is_(True))
                .options(selectinload(TickerSetupRow.bias)))).scalars().all()
            for srow in setups:
                b = srow.bias
                if b is not None and b.direction:
                    self.bias.set(srow.symbol, BiasSpec(
                        direction=b.direction, condition=b.condition,
                        price=float(b.price) if b.price is not None else None,
                        flip_direction=b.flip_direction,
                        flip_price=float(b.flip_price) if b.flip_price is not None else None))
        await self._resubscribe()

    async def _resubscribe(self) -> None:
        """Stream exactly the symbols watched or held."""
        if self._stream is None:
            return
        wanted = set(self.book.symbols()) | await self._held_underlyings()
        current = set(self._stream.symbols)
        if wanted - current:
            await self._stream.subscribe(wanted - current)
        if current - wanted:
            await self._stream.unsubscribe(current - wanted)

    async def _held_underlyings(self) -> set[str]:
        async with self.db.sessions() as session:
            rows = await session.execute(select(PositionRow.underlying).where(
                PositionRow.status != PositionStatus.CLOSED).distinct())
            return {r[0] for r in rows}

    # ----------------------------------------------------------------- bars ---------

    async def on_bar(self, bar: Bar) -> None:
        """Handle one completed underlying bar: bias flips, triggers, then exits."""
        self._last_bar[bar.symbol] = bar
        today = self.trading_date(bar.timestamp)
        if self._loaded_date != today:
            await self._load_signals(today)
        flipped_against: dict[str, BiasFlip] = {}
        tbar = TBar(symbol=bar.symbol, start=bar.timestamp, open=bar.open, high=bar.high,
                    low=bar.low, close=bar.close, volume=float(bar.volume))
        for flip in self.bias.on_bar(tbar):
            self.bus.publish(BiasFlipped(
                at=self.clock.now(), symbol=flip.symbol, from_direction=flip.from_direction,
                to_direction=flip.to_direction, price=Decimal(str(flip.price)), reason=flip.reason))
            flipped_against[flip.symbol] = flip
        watched = self.book.symbols()
        for decision in self.book.on_bar(tbar):
            await self._on_decision(decision)
        if self._exits_possible(bar.symbol):
            await self._check_exits(bar, flipped_against.get(bar.symbol))
        if self.book.symbols() != watched:  # no stream work (or DB read) on ordinary bars
            await self._resubscribe()

    async def _on_decision(self, decision: TriggerDecision) -> None:
        price = Decimal(str(decision.price))
        async with self.db.sessions.begin() as session:
            row = await session.get(SignalRow, decision.signal_id,
                                    options=[selectinload(SignalRow.targets)])
            if row is None or row.status not in (SignalStatus.PENDING, SignalStatus.WATCHING):
                return
            if decision.kind != "triggered":
                _transition(session, row, SignalStatus.INVALIDATED, decision.at, price, decision.reason)
                skipped = True
            else:
                _transition(session, row, SignalStatus.TRIGGERED, decision.at, price, decision.reason)
                skipped = False
            snapshot = _SignalView.of(row)
        if skipped:
            self.bus.publish(SignalSkipped(at=self.clock.now(), signal_id=decision.signal_id,
                                           symbol=decision.symbol, reason=decision.reason))
            return
        self.bus.publish(SignalTriggered(
            at=self.clock.now(), signal_id=snapshot.id, symbol=snapshot.symbol,
            category=snapshot.category, aggressiveness=snapshot.aggressiveness,
            direction=snapshot.direction, price=price, reason=decision.reason))
        verdict = self.bias.check(snapshot.symbol, snapshot.direction, self.config.bias_mode)
        if not verdict.allowed:
            self.bus.publish(SignalSkipped(at=self.clock.now(), signal_id=snapshot.id,
                                           symbol=snapshot.symbol, reason=verdict.reason))
            return
        self._proposals_open = True
        await self._propose(snapshot, price, verdict.warning)

    def _exits_possible(self, symbol: str | None) -> bool:
        """Tell whether an open position (of ``symbol``, or any) might need an exit check.

        False only when the mark pass's book of open and closing positions is current (no
        position written since it was read) and holds none, so idle bars read nothing.
        """
        book = self._open_book
        if book is None or book.version != self._positions_version:
            return True
        return bool(book.positions) if symbol is None else symbol in book.underlyings

    # -------------------------------------------------------------- timer -----------

    async def tick(self) -> None:
        """Do the time-driven work: expire proposals, work orders, mark, time stops, close."""
        if self._unrecorded:
            await self._record_update()
        now = self.clock.now()
        if self._proposals_open:
            async with self.db.sessions() as session:
                rows = (await session.execute(OPEN_PROPOSALS)).all()
            self._proposals_open = any(at > now for _, at in rows)
            for pid in [pid for pid, at in rows if at <= now]:
                async with self._proposal_locks[pid]:
                    await self._expire(pid, now)
        if self._orders_working:
            self._orders_working = await self._work_orders()
        interval = self.config.mark_interval_seconds
        if self._last_marks_at is None or (now - self._last_marks_at).total_seconds() >= interval:
            self._last_marks_at = now
            await self.mark_positions()
            await self._watch_daily_loss()
        if self._exits_possible(None):
            await self._check_exits(None, None)
        today = self.trading_date(now)
        close = self.calendar.session_close(today) if self.calendar.is_session(today) else None
        if close is not None and now >= close and today not in self._summarised:
            await self.end_of_day(today)

    async def end_of_day(self, day: date) -> None:
        """Expire the day's signals and publish the daily summary (once per day)."""
        self._summarised.add(day)
        now = self.clock.now()
        async with self.db.sessions.begin() as session:
            rows = (await session.execute(select(SignalRow).where(
                SignalRow.trading_date == day,
                SignalRow.status.in_([SignalStatus.PENDING, SignalStatus.WATCHING])))).scalars().all()
            for row in rows:
                _transition(session, row, SignalStatus.EXPIRED, now, None, "end of the trading day")
        self.book.expire_all(now)
        async with self.db.sessions() as session:
            closed = (await session.execute(select(PositionRow).where(
                PositionRow.trading_date == day, PositionRow.status == PositionStatus.CLOSED,
                PositionRow.qty_filled > 0))).scalars().all()
            still_open = (await session.execute(select(func.count()).select_from(PositionRow).where(
                PositionRow.status != PositionStatus.CLOSED))).scalar_one()
        pnls = [p.realized_pnl - p.fees for p in closed]
        self.bus.publish(DailySummary(
            at=now, trading_date=day.isoformat(), trades=len(pnls),
            wins=sum(1 for x in pnls if x > 0), losses=sum(1 for x in pnls if x <= 0),
            realized_pnl=_money(sum(pnls, Decimal(0))), open_positions=still_open))
        await self._resubscribe()

    async def session_open(self) -> None:
        """Start the trading day: watch today's signals and stream their symbols."""
        today = self.trading_date()
        if self.calendar.is_session(today):
            await self._load_signals(today, force=True)

    async def session_close(self) -> None:
        """Publish the end-of-day report if the timer has not already done it."""
        today = self.trading_date()
        if self.calendar.is_session(today) and today not in self._summarised:
            await self.end_of_day(today)

    async def daily_reset(self) -> None:
        """Forget per-day state of earlier days (locks, throttles, the loaded date, the loss halt)."""
        today = self.trading_date()
        self._summarised = {d for d in self._summarised if d >= today}
        self._proposal_locks = defaultdict(asyncio.Lock, {
            k: v for k, v in self._proposal_locks.items() if v.locked()})
        self._position_locks = defaultdict(asyncio.Lock, {
            k: v for k, v in self._position_locks.items() if v.locked()})
        self._last_mark_event.clear()
        self._last_bar.clear()
        self._order_ids.clear()  # an earlier day's order is looked up again if it reports
        if self._loaded_date != today:
            self.bias.clear()
        if self.loss_halt is not None and self.loss_halt.trading_date < today:
            await self._lift_loss_halt("scheduler", "daily_loss_reset",
                                       f"daily loss halt of {self.loss_halt.trading_date} lifted for {today}")
        release_free_memory()  # a bot running for months keeps yesterday's peak otherwise

    # -------------------------------------------------------- admin controls --------

    async def set_trading_state(self, state: TradingState, actor: str) -> None:
        """Pause (reducing), halt (kill switch) or resume; halting cancels working entries.

        Resuming also lifts today's daily loss halt (an explicit override; it is set again
        if the day's P&L is still at the limit at the next check).
        """
        now = self.clock.now()
        self.trading_state = state
        await self.state_store.save("trading_state", {"value": str(state)}, at=now, actor=actor,
                                    action=f"state_{state}", detail=f"trading state {state}")
        if state is TradingState.ACTIVE and self.loss_halt is not None:
            await self._lift_loss_halt(actor, "daily_loss_resume", "daily loss halt lifted by resume")
        if state is TradingState.HALTED:
            async with self.db.sessions() as session:
                rows = (await session.execute(select(OrderRow).where(
                    OrderRow.status.in_(OPEN_ORDER_STATES), OrderRow.broker_order_id.is_not(None)))).scalars().all()
            for row in rows:
                try:
                    await self.broker.cancel_order(row.broker_order_id or "")
                except BrokerError as exc:
                    log.warning("kill switch could not cancel %s: %s", row.client_order_id, exc)
        self.bus.publish(EngineStateChanged(at=now, actor=actor, what="trading_state", detail=str(state)))

    async def set_auto_confirm(self, on: bool, actor: str) -> None:
        """Turn auto-confirm on or off."""
        now = self.clock.now()
        self.auto_confirm = on
        await self.state_store.save("auto_confirm", {"value": on}, at=now, actor=actor,
                                    action="auto_confirm", detail=f"auto-confirm {'on' if on else 'off'}")
        self.bus.publish(EngineStateChanged(at=now, actor=actor, what="auto_confirm",
                                            detail="on" if on else "off"))

    async def set_limit(self, name: str, value: str, actor: str) -> RiskLimits:
        """Change one risk limit (validated) and keep it across restarts."""
        new = self.limits.with_value(name, value)
        now = self.clock.now()
        changed = {k: str(v) for k, v in new.model_dump().items()
                   if getattr(self.config.risk, k) != v}
        self.limits = new
        await self.state_store.save("risk_limits", changed, at=now, actor=actor, action="risk_set",
                                    detail=f"{name} = {getattr(new, name)}")
        self.bus.publish(EngineStateChanged(at=now, actor=actor, what=f"risk.{name}",
                                            detail=str(getattr(new, name))))
        return new

    # ------------------------------------------------------------ queries -----------

    async def portfolio_view(self) -> PortfolioView:
        """Return what the risk rules need to know now."""
        now = self.clock.now()
        today = self.trading_date(now)
        async with self.db.sessions() as session:
            live = self.with_live_marks(list((await session.execute(select(PositionRow).where(
                PositionRow.status != PositionStatus.CLOSED))).scalars().all()))
        by_symbol: dict[str, int] = defaultdict(int)
        for p in live:
            by_symbol[p.underlying] += 1
        premium = sum((p.avg_entry * p.qty_open * OPTION_MULTIPLIER for p in live), Decimal(0))
        day_pnl = await self.realized_today() + sum(
            (p.unrealized_pnl or Decimal(0) for p in live), Decimal(0))
        halt = await self._latch_daily_loss(day_pnl)
        account = await self.broker.get_account()
        return PortfolioView(
            trading_date=today, market_open=self.calendar.is_open(now),
            open_positions=len(live), open_by_symbol=dict(by_symbol), premium_at_risk=premium,
            day_pnl=day_pnl, buying_power=account.options_buying_power, equity=account.equity,
            signals_with_position=frozenset(p.signal_id for p in live if p.signal_id is not None),
            loss_halt=halt, unrecorded=self._unrecorded_reason)

    # ------------------------------------------------------- daily loss halt --------

    async def realized_today(self) -> Decimal:
        """Return the P&L realized by today's fills (New York date), net of their fees."""
        today = self.trading_date()
        cached = self._realized_today
        if cached is not None and cached[:2] == (today, self._positions_version):
            return cached[2]
        version = self._positions_version
        async with self.db.sessions() as session:
            daily, _ = await realized_by_day(session, today)
        value = daily.get(today, Decimal(0))
        self._realized_today = (today, version, value)
        return value

    async def _watch_daily_loss(self) -> None:
        """Check the daily loss limit after a mark pass (realized today + the live marks).

        Nothing is read while nothing is held and nothing filled since the last check.
        """
        if self.limits.daily_loss_limit <= 0 or self._loss_halted_today():
            return
        book = self._open_book
        cached = self._realized_today
        if (book is not None and not book.positions and book.version == self._positions_version
                and cached is not None and cached[:2] == (self.trading_date(), self._positions_version)):
            return
        unrealized = sum((m.unrealized for m in self.marks.values()), Decimal(0))
        await self._latch_daily_loss(await self.realized_today() + unrealized)

    def _loss_halted_today(self) -> DailyLossHalt | None:
        halt = self.loss_halt
        return halt if halt is not None and halt.trading_date == self.trading_date() else None

    async def _latch_daily_loss(self, day_pnl: Decimal) -> DailyLossHalt | None:
        """Set the daily loss halt when ``day_pnl`` reaches the limit; return today's halt.

        Set once per day: the audit row and the event say so once; later checks only read it.
        """
        halt = self._loss_halted_today()
        limit = self.limits.daily_loss_limit
        if halt is not None or limit <= 0 or day_pnl > -limit:
            return halt
        now = self.clock.now()
        halt = DailyLossHalt(self.trading_date(now), now, _money(day_pnl), limit)
        self.loss_halt = halt
        await self.state_store.save(LOSS_HALT_KEY, halt.to_json(), at=now, actor="risk",
                                    action="daily_loss_halt", detail=halt.reason)
        log.warning("daily loss halt: %s", halt.reason)
        self.bus.publish(EngineStateChanged(at=now, actor="risk", what="daily_loss_halt",
                                            detail=halt.reason))
        return halt

    async def _lift_loss_halt(self, actor: str, action: str, detail: str) -> None:
        now = self.clock.now()
        self.loss_halt = None
        await self.state_store.save(LOSS_HALT_KEY, {}, at=now, actor=actor, action=action,
                                    detail=detail)
        self.bus.publish(EngineStateChanged(at=now, actor=actor, what="daily_loss_halt",
                                            detail=detail))

    async def proposal(self, proposal_id: int) -> ProposalRow:
        """Return a stored proposal."""
        async with self.db.sessions() as session:
            prop = await session.get(ProposalRow, proposal_id)
        if prop is None:
            raise NotFoundError(f"there is no proposal #{proposal_id}")
        return prop

    async def positions(self, *, open_only: bool = True) -> list[PositionRow]:
        """Return positions, newest first."""
        async with self.db.sessions() as session:
            stmt = select(PositionRow).order_by(PositionRow.id.desc())
            if open_only:
                stmt = stmt.where(PositionRow.status != PositionStatus.CLOSED)
            return self.with_live_marks(list((await session.execute(stmt)).scalars().all()))

    async def orders(self, *, open_only: bool = False, limit: int = 50) -> list[OrderRow]:
        """Return our orders, newest first."""
        async with self.db.sessions() as session:
            stmt = select(OrderRow).order_by(OrderRow.id.desc()).limit(limit)
            if open_only:
                stmt = stmt.where(OrderRow.status.in_(OPEN_ORDER_STATES))
            return list((await session.execute(stmt)).scalars().all())

__all__ = ["ConfirmOutcome", "ConfirmResult", "EngineError", "Exposure", "ProposalPlan", "TradingEngine"]


