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

Every order row is written before the broker is called (``pending_submit``, client order id
derived from our record), so a crash at any point is reconciled at the next start by client
order id. A confirm is idempotent: an in-process lock per proposal plus a compare-and-set on the
proposal's status in the database give one order or none, never two.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.brokers.base import Broker, Subscription
from core.brokers.errors import BrokerError, SubmitOutcomeUnknown
from core.brokers.models import (
    OPTION_MULTIPLIER,
    Order,
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    TimeInForce,
    client_order_id_for,
)
from core.brokers.ticks import round_to_tick, tick_for
from core.calendar import MarketCalendar
from core.clock import NEW_YORK, Clock
from core.db.models import SignalRow, SignalStatus, SignalTransition, TickerSetupRow
from core.db.models.trading import (
    FillRow,
    OrderPurpose,
    OrderRow,
    PositionRow,
    PositionSnapshot,
    PositionStatus,
    ProposalRow,
    ProposalStatus,
)
from core.db.session import Database
from core.engine.bias import BiasFlip, BiasSpec, BiasTracker
from core.engine.config import EngineConfig
from core.engine.exits import ExitDecision, ExitKind, PositionState, evaluate_exit, initial_stop
from core.engine.proposals import ProposalPlan, plan_proposal
from core.engine.risk import (
    EntryIntent,
    PortfolioView,
    RiskLimits,
    TradingState,
    check_entry,
    check_exit,
)
from core.engine.state import EngineStateStore, audit
from core.engine.triggers import Bar as TBar
from core.engine.triggers import TriggerBook, TriggerDecision, WatchedSignal
from core.errors import AplusError, NotFoundError
from core.events import (
    BiasFlipped,
    DailySummary,
    EngineStateChanged,
    EventBus,
    ExitTriggered,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRepriced,
    OrderSubmitted,
    PositionClosed,
    PositionMarked,
    ProposalConfirmed,
    ProposalCreated,
    ProposalExpired,
    ProposalRefreshed,
    ProposalRejected,
    Reconciliation,
    RiskRefused,
    SetupParsed,
    SignalSkipped,
    SignalTriggered,
)
from core.marketdata.base import MarketData, PriceStream
from core.marketdata.models import Bar, OptionContract, PriceEventKind
from core.setups import IncomingMessage, IngestOutcome, IngestResult, SetupStore
from core.tasks import TaskSupervisor

log = logging.getLogger(__name__)

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


class TradingEngine:
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
        self.book = TriggerBook(self.config.triggers)
        self.bias = BiasTracker()
        self._proposal_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._position_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last_bar: dict[str, Bar] = {}
        self._last_mark_event: dict[int, tuple[datetime, Decimal]] = {}
        self._last_marks_at: datetime | None = None
        self._last_snapshot_at: datetime | None = None
        self._summarised: set[date] = set()
        self._loaded_date: date | None = None
        self._stream: PriceStream | None = None
        self._updates: Subscription[OrderUpdate] | None = None
        self._tasks = TaskSupervisor("engine")
        self.exposure = Exposure()

    # ------------------------------------------------------------------ lifecycle ----

    async def start(self, *, live: bool = True) -> None:
        """Load state, reconcile with the broker, and resume watching today's signals.

        With ``live`` the engine also consumes the broker's order updates and the price stream
        in background tasks; without it the caller drives :meth:`on_bar`,
        :meth:`pump_order_updates` and :meth:`tick` (the offline replay does).
        """
        self.trading_state, self.auto_confirm, self.limits = await self.state_store.load(
            self.config.risk, self.config.auto_confirm)
        self._updates = self.broker.order_updates()  # type: ignore[assignment]
        await self.reconcile()
        await self._load_signals(self.trading_date())
        if live:
            self._stream = self.market.price_stream(self.book.symbols(), bars=True)
            self._tasks.spawn(self._consume_prices(), "prices")
            self._tasks.spawn(self._consume_updates(), "order-updates")

    async def stop(self) -> None:
        """Stop background work (open orders stay with the broker and are reconciled later)."""
        await self._tasks.close()
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
                await self.on_order_update(upd)
            except Exception:
                log.exception("order update %s failed", upd.execution_id)

    async def pump_order_updates(self) -> int:
        """Handle every order update queued so far (for drivers that run without tasks)."""
        n = 0
        if self._updates is None:
            return 0
        while (upd := self._updates.get_nowait()) is not None:
            await self.on_order_update(upd)
            n += 1
        return n

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
        for decision in self.book.on_bar(tbar):
            await self._on_decision(decision)
        await self._check_exits(bar, flipped_against.get(bar.symbol))
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
        await self._propose(snapshot, price, verdict.warning)

    # ------------------------------------------------------------- proposals --------

    async def _propose(self, sig: _SignalView, price: Decimal, warning: str | None) -> None:
        now = self.clock.now()
        try:
            account = await self.broker.get_account()
            plan = await plan_proposal(
                market=self.market, config=self.config, limits=self.limits, now=now,
                symbol=sig.symbol, direction=sig.direction, trigger=sig.trigger,
                targets=sig.targets, spot=float(price), equity=account.equity,
            )
        except (BrokerError, AplusError) as exc:
            self.bus.publish(SignalSkipped(at=now, signal_id=sig.id, symbol=sig.symbol,
                                           reason=f"no proposal: {exc}"))
            return
        if isinstance(plan, str):
            self.bus.publish(SignalSkipped(at=now, signal_id=sig.id, symbol=sig.symbol, reason=plan))
            return
        stop = initial_stop(sig.direction, sig.trigger, self.config.exits)
        details = dict(plan.details)
        if warning:
            details["bias_warning"] = warning
        async with self.db.sessions.begin() as session:
            prop = ProposalRow(
                signal_id=sig.id, trading_date=self.trading_date(now), underlying=sig.symbol,
                direction=sig.direction, category=sig.category, status=ProposalStatus.OPEN,
                contract=plan.contract, quantity=plan.quantity, limit_price=plan.limit_price,
                bid=plan.bid, ask=plan.ask, underlying_price=price, est_cost=plan.est_cost,
                max_loss=plan.max_loss, stop_price=stop, targets=[str(t) for t in sig.targets],
                details=details, version=1,
                expires_at=now + timedelta(seconds=self.config.proposal_ttl_seconds),
                created_at=now)
            session.add(prop)
            await session.flush()
            await audit(session, now, "engine", "proposal_created", "proposal", prop.id,
                        contract=plan.contract, qty=plan.quantity, limit=plan.limit_price)
            pid = prop.id
        self.bus.publish(ProposalCreated(at=now, proposal_id=pid, symbol=sig.symbol,
                                         contract=plan.contract))
        if self.auto_confirm:
            await self.confirm(pid, "auto-confirm")

    async def confirm(self, proposal_id: int, actor: str) -> ConfirmResult:
        """Confirm a proposal: re-quote, check risk, then send exactly one order.

        Two confirms of one proposal (a double click, two traders, a confirm racing the
        expiry) give one order or none: a lock per proposal in this process and a
        compare-and-set on the stored status across processes.
        """
        async with self._proposal_locks[proposal_id]:
            return await self._confirm_locked(proposal_id, actor)

    async def _confirm_locked(self, proposal_id: int, actor: str) -> ConfirmResult:
        now = self.clock.now()
        async with self.db.sessions() as session:
            prop = await session.get(ProposalRow, proposal_id)
        if prop is None:
            raise NotFoundError(f"there is no proposal #{proposal_id}")
        if prop.status == ProposalStatus.EXPIRED:
            return ConfirmResult(ConfirmOutcome.EXPIRED,
                                 f"proposal #{proposal_id} expired at {prop.expires_at:%H:%M} UTC; "
                                 "nothing was sent", proposal_id)
        if prop.status != ProposalStatus.OPEN:
            who = f" by {prop.decided_by}" if prop.decided_by else ""
            return ConfirmResult(ConfirmOutcome.ALREADY_DECIDED,
                                 f"proposal #{proposal_id} is already {prop.status}{who}", proposal_id)
        if now >= prop.expires_at:
            await self._expire(prop.id, now)
            return ConfirmResult(ConfirmOutcome.EXPIRED, f"proposal #{proposal_id} expired", proposal_id)
        # The signal may have been invalidated (message edited or deleted) since.
        if prop.signal_id is not None:
            async with self.db.sessions() as session:
                sig = await session.get(SignalRow, prop.signal_id)
            if sig is not None and sig.status == SignalStatus.INVALIDATED:
                await self._close_proposal(prop.id, ProposalStatus.REFUSED, now, actor,
                                           f"signal invalidated: {sig.status_reason}")
                return ConfirmResult(ConfirmOutcome.REFUSED,
                                     f"not sent: the signal was invalidated ({sig.status_reason})",
                                     proposal_id)
        # Underlying already at T1: the move happened without us.
        last = self._last_bar.get(prop.underlying)
        if last is not None and prop.targets:
            t1 = Decimal(prop.targets[0])
            reached = last.close >= t1 if prop.direction == "bullish" else last.close <= t1
            if reached:
                await self._close_proposal(prop.id, ProposalStatus.REFUSED, now, actor,
                                           f"underlying already reached T1 {t1}")
                return ConfirmResult(ConfirmOutcome.REFUSED,
                                     f"not sent: {prop.underlying} already reached T1 {t1} "
                                     f"(last {last.close})", proposal_id)
        # Re-quote at click time.
        try:
            snap = await self.market.option_quote(prop.contract)
        except BrokerError as exc:
            return ConfirmResult(ConfirmOutcome.REFUSED, f"not sent: could not re-quote ({exc})",
                                 proposal_id)
        mid = _d(snap.mid)
        if mid is None or mid <= 0:
            return ConfirmResult(ConfirmOutcome.REFUSED,
                                 f"not sent: {prop.contract} has no two-sided quote right now",
                                 proposal_id)
        ref_mid = Decimal(str(prop.details.get("ref_mid", prop.limit_price)))
        moved = abs(mid - ref_mid) / ref_mid * 100
        if moved > Decimal(str(self.config.slippage_guard_pct)):
            new_limit = round_to_tick(mid, tick_for(prop.contract, mid), OrderSide.BUY)
            async with self.db.sessions.begin() as session:
                row = await session.get(ProposalRow, prop.id)
                assert row is not None
                row.limit_price = new_limit
                row.bid = _d(snap.bid) or row.bid
                row.ask = _d(snap.ask) or row.ask
                row.est_cost = _money(new_limit * row.quantity * OPTION_MULTIPLIER)
                row.max_loss = row.est_cost
                row.details = {**row.details, "ref_mid": str(mid)}
                row.version += 1
                row.expires_at = now + timedelta(seconds=self.config.proposal_ttl_seconds)
                await audit(session, now, actor, "proposal_refreshed", "proposal", row.id,
                            old=str(prop.limit_price), new=str(new_limit))
            reason = (f"mid moved {moved:.1f}% ({ref_mid:.2f} → {mid:.3f}); "
                      f"refreshed at {new_limit:.2f}, confirm again")
            self.bus.publish(ProposalRefreshed(at=now, proposal_id=prop.id, symbol=prop.underlying,
                                               contract=prop.contract, reason=reason))
            return ConfirmResult(ConfirmOutcome.REFRESHED, reason, proposal_id)
        # Risk.
        decision = check_entry(
            EntryIntent(underlying=prop.underlying, contract=prop.contract,
                        expiry=OptionContract.parse(prop.contract).expiry, quantity=prop.quantity,
                        premium=prop.est_cost, signal_id=prop.signal_id),
            await self.portfolio_view(), self.limits, self.trading_state)
        if not decision.allowed:
            first = decision.first
            assert first is not None
            self.bus.publish(RiskRefused(at=now, rule=first.rule, reason=first.reason,
                                         proposal_id=prop.id, symbol=prop.underlying))
            return ConfirmResult(ConfirmOutcome.REFUSED, f"not sent: {first.reason}", proposal_id)
        # Compare-and-set the status and write the order record before calling the broker.
        async with self.db.sessions.begin() as session:
            res = await session.execute(
                update(ProposalRow)
                .where(ProposalRow.id == prop.id, ProposalRow.status == ProposalStatus.OPEN,
                       ProposalRow.version == prop.version)
                .values(status=ProposalStatus.CONFIRMED, decided_at=now, decided_by=actor))
            if res.rowcount != 1:
                return ConfirmResult(ConfirmOutcome.ALREADY_DECIDED,
                                     f"proposal #{proposal_id} was decided by someone else", proposal_id)
            pos = PositionRow(
                proposal_id=prop.id, signal_id=prop.signal_id, trading_date=prop.trading_date,
                contract=prop.contract, underlying=prop.underlying, direction=prop.direction,
                status=PositionStatus.OPENING, stop_price=prop.stop_price,
                entry_trigger=Decimal(str(prop.details.get("trigger", prop.underlying_price))),
                targets=list(prop.targets), updated_at=now)
            session.add(pos)
            await session.flush()
            order = OrderRow(
                client_order_id=client_order_id_for("entry", prop.id), proposal_id=prop.id,
                position_id=pos.id, purpose=OrderPurpose.ENTRY, symbol=prop.contract,
                side=OrderSide.BUY, order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY,
                qty=prop.quantity, limit_price=prop.limit_price, status="pending_submit",
                reason=f"entry for proposal #{prop.id}", created_at=now, updated_at=now)
            session.add(order)
            await session.flush()
            await audit(session, now, actor, "proposal_confirmed", "proposal", prop.id,
                        order=order.client_order_id)
            order_id = order.id
        self.bus.publish(ProposalConfirmed(at=now, proposal_id=prop.id, symbol=prop.underlying,
                                           contract=prop.contract, actor=actor))
        await self._submit(order_id)
        return ConfirmResult(ConfirmOutcome.SUBMITTED,
                             f"order sent: buy {prop.quantity} {prop.contract} limit {prop.limit_price}",
                             proposal_id, order_id)

    async def reject(self, proposal_id: int, actor: str, reason: str = "rejected") -> ConfirmResult:
        """Reject an open proposal."""
        async with self._proposal_locks[proposal_id]:
            now = self.clock.now()
            async with self.db.sessions.begin() as session:
                prop = await session.get(ProposalRow, proposal_id)
                if prop is None:
                    raise NotFoundError(f"there is no proposal #{proposal_id}")
                if prop.status != ProposalStatus.OPEN:
                    who = f" by {prop.decided_by}" if prop.decided_by else ""
                    return ConfirmResult(ConfirmOutcome.ALREADY_DECIDED,
                                         f"proposal #{proposal_id} is already {prop.status}{who}",
                                         proposal_id)
                prop.status = ProposalStatus.REJECTED
                prop.decided_at = now
                prop.decided_by = actor
                prop.decision_note = reason[:255]
                await audit(session, now, actor, "proposal_rejected", "proposal", prop.id, reason=reason)
                sym, contract = prop.underlying, prop.contract
            self.bus.publish(ProposalRejected(at=now, proposal_id=proposal_id, symbol=sym,
                                              contract=contract, actor=actor, reason=reason))
            return ConfirmResult(ConfirmOutcome.REFUSED, f"proposal #{proposal_id} rejected", proposal_id)

    async def _close_proposal(self, pid: int, status: ProposalStatus, now: datetime, actor: str,
                              note: str) -> None:
        async with self.db.sessions.begin() as session:
            res = await session.execute(
                update(ProposalRow).where(ProposalRow.id == pid, ProposalRow.status == ProposalStatus.OPEN)
                .values(status=status, decided_at=now, decided_by=actor, decision_note=note[:255]))
            if res.rowcount:
                await audit(session, now, actor, f"proposal_{status}", "proposal", pid, note=note)

    async def _expire(self, pid: int, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            prop = await session.get(ProposalRow, pid)
            if prop is None or prop.status != ProposalStatus.OPEN:
                return
            prop.status = ProposalStatus.EXPIRED
            prop.decided_at = now
            prop.decision_note = "nobody confirmed in time"
            await audit(session, now, "engine", "proposal_expired", "proposal", pid)
            sym, contract = prop.underlying, prop.contract
        self.bus.publish(ProposalExpired(at=now, proposal_id=pid, symbol=sym, contract=contract))

    # -------------------------------------------------------------- orders ----------

    async def _submit(self, order_id: int) -> None:
        """Send a recorded order; on an unknown outcome, look it up by client order id."""
        async with self.db.sessions() as session:
            row = await session.get(OrderRow, order_id)
        assert row is not None
        request = OrderRequest(
            client_order_id=row.client_order_id, symbol=row.symbol, qty=Decimal(row.qty),
            side=OrderSide(row.side), type=OrderType(row.order_type),
            time_in_force=TimeInForce(row.time_in_force), limit_price=row.limit_price,
            allow_price_rounding=True)
        now = self.clock.now()
        try:
            order = await self.broker.submit_order(request)
        except SubmitOutcomeUnknown:
            order = await self.broker.get_order_by_client_id(row.client_order_id)
            if order is None:
                await self._order_failed(order_id, "the broker did not confirm the order and has no "
                                                   "record of it; nothing was sent")
                return
        except BrokerError as exc:
            await self._order_failed(order_id, str(exc))
            return
        await self._apply_broker_order(order_id, order, now)
        ev = await self._order_event_fields(order_id)
        self.bus.publish(OrderSubmitted(at=now, **ev))

    async def _order_failed(self, order_id: int, reason: str) -> None:
        now = self.clock.now()
        async with self.db.sessions.begin() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            row.status = "rejected"
            row.last_error = reason
            row.updated_at = now
            await audit(session, now, "broker", "order_rejected", "order", order_id, reason=reason)
            if row.purpose == OrderPurpose.ENTRY:
                await self._entry_done(session, row, now)
            elif row.position_id is not None:
                pos = await session.get(PositionRow, row.position_id)
                if pos is not None and pos.status == PositionStatus.CLOSING:
                    pos.status = PositionStatus.OPEN  # the exit rules will fire again
        self.bus.publish(OrderRejected(at=now, reason=reason, **(await self._order_event_fields(order_id))))

    async def _entry_done(self, session: AsyncSession, row: OrderRow, now: datetime) -> None:
        """An entry order ended: close the position if nothing filled, fail the proposal."""
        if row.position_id is None:
            return
        pos = await session.get(PositionRow, row.position_id)
        if pos is None:
            return
        if pos.qty_filled == 0:
            pos.status = PositionStatus.CLOSED
            pos.closed_at = now
            pos.exit_reason = f"entry not filled ({row.status})"
            if row.proposal_id is not None:
                prop = await session.get(ProposalRow, row.proposal_id)
                if prop is not None:
                    prop.status = ProposalStatus.FAILED
                    prop.decision_note = (row.last_error or f"entry {row.status}")[:255]
        elif pos.status == PositionStatus.OPENING:
            pos.status = PositionStatus.OPEN

    async def _apply_broker_order(self, order_id: int, order: Order, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            row.broker_order_id = order.id
            if row.status in ("pending_submit",):
                row.status = "submitted"
            if order.status is not OrderStatus.FILLED or row.filled_qty == int(order.filled_qty):
                row.status = str(order.status) if order.status.is_terminal else row.status
            row.submitted_at = row.submitted_at or now
            row.updated_at = now

    async def _order_event_fields(self, order_id: int) -> dict[str, Any]:
        async with self.db.sessions() as session:
            row = await session.get(OrderRow, order_id)
        assert row is not None
        return dict(order_id=row.id, proposal_id=row.proposal_id, position_id=row.position_id,
                    symbol=row.symbol, side=row.side, purpose=row.purpose, qty=row.qty,
                    limit_price=row.limit_price)

    async def on_order_update(self, upd: OrderUpdate) -> None:
        """Record a broker order event: fills once each, cancels, rejects, replacements."""
        order = upd.order
        async with self.db.sessions() as session:
            row = (await session.execute(select(OrderRow).where(
                (OrderRow.client_order_id == order.client_order_id)
                | (OrderRow.broker_order_id == order.id)))).scalars().first()
        if row is None:
            log.info("order event for an order we did not send: %s %s", order.client_order_id, upd.event)
            return
        lock = self._position_locks[row.position_id or 0]
        async with lock:
            if upd.event.is_fill:
                await self._record_fill(row.id, upd)
            elif upd.event in (OrderEventType.CANCELED, OrderEventType.EXPIRED, OrderEventType.REJECTED):
                await self._record_end(row.id, upd)
            elif upd.event is OrderEventType.REPLACED:
                return  # the replacement order's own events follow
            else:
                async with self.db.sessions.begin() as session:
                    r = await session.get(OrderRow, row.id)
                    if r is not None and r.status in ("pending_submit", "submitted"):
                        r.status = str(order.status)
                        r.broker_order_id = order.id
                        r.updated_at = upd.timestamp

    async def _record_fill(self, order_id: int, upd: OrderUpdate) -> None:
        assert upd.fill_qty is not None and upd.fill_price is not None
        now = self.clock.now()
        qty = int(upd.fill_qty)
        price = upd.fill_price
        fee = self.config.fee_per_contract * qty
        async with self.db.sessions.begin() as session:
            seen = (await session.execute(select(FillRow.id).where(
                FillRow.execution_id == upd.execution_id))).first()
            if seen is not None:
                return  # a replayed event: recorded once already
            row = await session.get(OrderRow, order_id)
            assert row is not None
            if row.filled_qty + qty > row.qty:
                log.warning("fill over order quantity on %s ignored", row.client_order_id)
                return
            session.add(FillRow(order_id=row.id, execution_id=upd.execution_id, qty=qty, price=price,
                                fee=fee, at=upd.timestamp))
            prev = row.filled_qty
            row.filled_qty = prev + qty
            row.avg_fill_price = ((row.avg_fill_price or Decimal(0)) * prev + price * qty) / row.filled_qty
            row.status = "filled" if row.filled_qty == row.qty else "partially_filled"
            row.broker_order_id = upd.order.id
            row.updated_at = now
            closed: PositionRow | None = None
            pos = await session.get(PositionRow, row.position_id) if row.position_id else None
            if pos is not None:
                if row.side == OrderSide.BUY:
                    total = pos.avg_entry * pos.qty_filled + price * qty
                    pos.qty_filled += qty
                    pos.qty_open += qty
                    pos.avg_entry = total / pos.qty_filled
                    pos.status = PositionStatus.OPEN if row.filled_qty == row.qty else PositionStatus.OPENING
                    pos.opened_at = pos.opened_at or upd.timestamp
                    last = self._last_bar.get(pos.underlying)
                    if pos.last_underlying is None and last is not None:
                        pos.last_underlying = Decimal(str(last.close))
                        pos.greeks = {**pos.greeks, "entry_underlying": str(last.close)}
                    if pos.status == PositionStatus.OPEN and pos.qty_open == 0:
                        pos.status = PositionStatus.CLOSED
                else:
                    exit_total = (pos.avg_exit or Decimal(0)) * pos.qty_closed + price * qty
                    pos.qty_open -= qty
                    pos.qty_closed += qty
                    pos.avg_exit = exit_total / pos.qty_closed
                    pos.realized_pnl += (price - pos.avg_entry) * qty * OPTION_MULTIPLIER
                    if pos.qty_open == 0 and not await self._working_entry(session, pos.id):
                        pos.status = PositionStatus.CLOSED
                        pos.closed_at = upd.timestamp
                        closed = pos
                pos.fees += fee
                pos.updated_at = now
            await audit(session, now, "broker", "fill", "order", row.id, qty=qty, price=price,
                        execution_id=upd.execution_id)
            limit = row.limit_price
            slip = None
            if limit is not None:
                slip = (price - limit) if row.side == OrderSide.BUY else (limit - price)
            complete = row.filled_qty == row.qty
            filled_total = row.filled_qty
            closed_info = (closed.id, closed.contract, _money(closed.realized_pnl - closed.fees),
                           closed.exit_reason or "closed") if closed is not None else None
        fields = await self._order_event_fields(order_id)
        self.bus.publish(OrderFilled(at=now, fill_qty=qty, fill_price=price, filled_qty=filled_total,
                                     complete=complete, slippage=slip, **fields))
        if closed_info is not None:
            pid, contract, pnl, reason = closed_info
            self.bus.publish(PositionClosed(at=now, position_id=pid, contract=contract,
                                            realized_pnl=pnl, reason=reason))

    async def _working_entry(self, session: AsyncSession, position_id: int) -> bool:
        row = (await session.execute(select(OrderRow.id).where(
            OrderRow.position_id == position_id, OrderRow.purpose == OrderPurpose.ENTRY,
            OrderRow.status.in_(OPEN_ORDER_STATES)))).first()
        return row is not None

    async def _record_end(self, order_id: int, upd: OrderUpdate) -> None:
        now = self.clock.now()
        async with self.db.sessions.begin() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            if row.status in ("filled", "canceled", "expired", "rejected"):
                return
            if upd.order.id != row.broker_order_id and row.broker_order_id is not None:
                return  # an event of an order we already replaced
            row.status = str(upd.event) if upd.event is not OrderEventType.REJECTED else "rejected"
            if upd.event is OrderEventType.REJECTED:
                row.last_error = upd.order.reject_reason or "rejected by the broker"
            row.updated_at = now
            if row.purpose == OrderPurpose.ENTRY:
                await self._entry_done(session, row, now)
            elif row.position_id is not None:
                pos = await session.get(PositionRow, row.position_id)
                if pos is not None and pos.status == PositionStatus.CLOSING:
                    pos.status = PositionStatus.OPEN
            await audit(session, now, "broker", f"order_{row.status}", "order", row.id)
            status, error = row.status, row.last_error
        fields = await self._order_event_fields(order_id)
        if status == "rejected":
            self.bus.publish(OrderRejected(at=now, reason=error or "rejected", **fields))
        else:
            self.bus.publish(OrderCanceled(at=now, reason=status, **fields))

    # ---------------------------------------------------------- repricing -----------

    async def _work_orders(self) -> None:
        """Step working limit orders toward the far side, then cancel (see ExecutionRules)."""
        rules = self.config.execution
        now = self.clock.now()
        async with self.db.sessions() as session:
            rows = (await session.execute(select(OrderRow).where(
                OrderRow.status.in_(("submitted", "new", "accepted", "pending_new", "partially_filled")),
                OrderRow.broker_order_id.is_not(None)))).scalars().all()
        for row in rows:
            last = row.updated_at if row.reprices else (row.submitted_at or row.updated_at)
            if (now - last).total_seconds() < rules.reprice_after_seconds:
                continue
            if row.reprices >= rules.reprice_steps:
                if rules.cancel_after_last_step:
                    try:
                        await self.broker.cancel_order(row.broker_order_id or "")
                    except BrokerError as exc:
                        log.warning("cancel of %s failed: %s", row.client_order_id, exc)
                    async with self.db.sessions.begin() as session:
                        r = await session.get(OrderRow, row.id)
                        if r is not None and r.status not in ("filled", "canceled"):
                            r.status = "pending_cancel"
                            r.updated_at = now
                continue
            try:
                snap = await self.market.option_quote(row.symbol)
            except BrokerError:
                continue
            side = OrderSide(row.side)
            far = _d(snap.ask if side is OrderSide.BUY else snap.bid)
            base = row.limit_price
            if far is None or base is None:
                continue
            steps_left = rules.reprice_steps - row.reprices
            target = base + (far - base) / steps_left
            cap_pct = Decimal(str(rules.max_slippage_pct)) / 100
            origin = await self._origin_price(row)
            cap = origin * (1 + cap_pct) if side is OrderSide.BUY else origin * (1 - cap_pct)
            target = min(target, cap) if side is OrderSide.BUY else max(target, cap)
            new_price = round_to_tick(target, tick_for(row.symbol, target), side)
            if new_price == base:
                async with self.db.sessions.begin() as session:
                    r = await session.get(OrderRow, row.id)
                    if r is not None:
                        r.reprices += 1
                        r.updated_at = now
                continue
            try:
                new_order = await self.broker.replace_order(
                    row.broker_order_id or "", limit_price=new_price,
                    client_order_id=f"{row.client_order_id.rsplit('-r', 1)[0]}-r{row.reprices + 1}")
            except BrokerError as exc:
                log.info("reprice of %s not done: %s", row.client_order_id, exc)
                continue
            async with self.db.sessions.begin() as session:
                r = await session.get(OrderRow, row.id)
                assert r is not None
                old = r.limit_price
                r.limit_price = new_price
                r.broker_order_id = new_order.id
                r.client_order_id = new_order.client_order_id
                r.reprices += 1
                r.updated_at = now
                await audit(session, now, "engine", "order_repriced", "order", r.id,
                            old=old, new=new_price)
            fields = await self._order_event_fields(row.id)
            self.bus.publish(OrderRepriced(at=now, old_price=base, **fields))

    async def _origin_price(self, row: OrderRow) -> Decimal:
        async with self.db.sessions() as session:
            if row.proposal_id is not None and row.purpose == OrderPurpose.ENTRY:
                prop = await session.get(ProposalRow, row.proposal_id)
                if prop is not None:
                    return prop.limit_price
        return row.limit_price or Decimal(0)

    # --------------------------------------------------------------- exits ----------

    async def _check_exits(self, bar: Bar | None, flip: BiasFlip | None) -> None:
        async with self.db.sessions() as session:
            stmt = select(PositionRow).where(PositionRow.status == PositionStatus.OPEN)
            if bar is not None:
                stmt = stmt.where(PositionRow.underlying == bar.symbol)
            positions = (await session.execute(stmt)).scalars().all()
        now = self.clock.now()
        for pos in positions:
            flipped = flip.exit_reason(pos.direction) if flip is not None else None
            state = _position_state(pos)
            decision = evaluate_exit(
                state, self.config.exits, now=now,
                underlying_close=_d(bar.close) if bar else None,
                underlying_high=_d(bar.high) if bar else None,
                underlying_low=_d(bar.low) if bar else None,
                option_mark=pos.last_mark, bias_against=flipped)
            if decision is not None:
                await self._exit(pos.id, decision)

    async def _exit(self, position_id: int, decision: ExitDecision) -> None:
        now = self.clock.now()
        async with self._position_locks[position_id]:
            async with self.db.sessions.begin() as session:
                pos = await session.get(PositionRow, position_id)
                if pos is None or pos.status != PositionStatus.OPEN:
                    return
                if decision.new_stop is not None:
                    pos.stop_price = decision.new_stop
                    pos.stop_at_entry = True
                pos.targets_hit = max(pos.targets_hit, decision.targets_hit)
                if decision.qty <= 0:
                    return
                if not check_exit(self.trading_state).allowed:
                    log.warning("exit of position %s held: kill switch", position_id)
                    return
                working = (await session.execute(select(func.count()).select_from(OrderRow).where(
                    OrderRow.position_id == pos.id, OrderRow.purpose != OrderPurpose.ENTRY,
                    OrderRow.status.in_(OPEN_ORDER_STATES)))).scalar_one()
                if working:
                    return
                qty = min(decision.qty, pos.qty_open)
                seq = (await session.execute(select(func.count()).select_from(OrderRow).where(
                    OrderRow.position_id == pos.id))).scalar_one()
                try:
                    snap = await self.market.option_quote(pos.contract)
                except BrokerError:
                    snap = None
                urgent = decision.kind is not ExitKind.TARGET
                ref = None
                if snap is not None:
                    ref = _d(snap.bid) if urgent else _d(snap.mid)
                    if ref is None or ref <= 0:
                        ref = _d(snap.last) or pos.last_mark
                if ref is None or ref <= 0:
                    ref = pos.last_mark or Decimal("0.01")
                limit = round_to_tick(ref, tick_for(pos.contract, ref), OrderSide.SELL)
                purpose = {ExitKind.TARGET: OrderPurpose.SCALE_OUT, ExitKind.STOP: OrderPurpose.STOP,
                           ExitKind.OPTION_STOP: OrderPurpose.STOP}.get(decision.kind, OrderPurpose.EXIT)
                order = OrderRow(
                    client_order_id=client_order_id_for("exit", f"{pos.id}-{seq}"), position_id=pos.id,
                    proposal_id=pos.proposal_id, purpose=purpose, symbol=pos.contract,
                    side=OrderSide.SELL, order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY,
                    qty=qty, limit_price=max(limit, Decimal("0.01")), status="pending_submit",
                    reason=decision.reason[:255], created_at=now, updated_at=now)
                session.add(order)
                if decision.qty >= pos.qty_open:
                    pos.status = PositionStatus.CLOSING
                    pos.exit_reason = decision.reason[:255]
                pos.updated_at = now
                await session.flush()
                await audit(session, now, "engine", "exit", "position", pos.id, kind=str(decision.kind),
                            qty=qty, reason=decision.reason)
                order_id, contract = order.id, pos.contract
            self.bus.publish(ExitTriggered(at=now, position_id=position_id, contract=contract, qty=qty,
                                           reason=decision.reason))
            await self._submit(order_id)

    async def close_position(self, position_id: int, actor: str) -> str:
        """Close a position now (a user asked), with the same execution logic as any exit."""
        async with self.db.sessions() as session:
            pos = await session.get(PositionRow, position_id)
        if pos is None:
            raise NotFoundError(f"there is no position #{position_id}")
        if pos.status not in (PositionStatus.OPEN,):
            raise EngineError(f"position #{position_id} is {pos.status}; nothing to close")
        await self._exit(position_id, ExitDecision(ExitKind.MANUAL, pos.qty_open,
                                                   f"closed by {actor}", pos.targets_hit))
        return f"closing {pos.qty_open} {pos.contract}"

    async def flatten(self, actor: str) -> list[str]:
        """Close every open position and cancel working entries."""
        done = []
        async with self.db.sessions() as session:
            open_ids = [r[0] for r in await session.execute(select(PositionRow.id).where(
                PositionRow.status == PositionStatus.OPEN))]
            entries = (await session.execute(select(OrderRow).where(
                OrderRow.purpose == OrderPurpose.ENTRY, OrderRow.status.in_(OPEN_ORDER_STATES),
                OrderRow.broker_order_id.is_not(None)))).scalars().all()
        for o in entries:
            try:
                await self.broker.cancel_order(o.broker_order_id or "")
                done.append(f"canceled entry {o.symbol}")
            except BrokerError as exc:
                done.append(f"could not cancel {o.symbol}: {exc}")
        for pid in open_ids:
            async with self.db.sessions() as session:
                pos = await session.get(PositionRow, pid)
            if pos is not None and pos.qty_open > 0:
                await self._exit(pid, ExitDecision(ExitKind.FLATTEN, pos.qty_open,
                                                   f"flatten by {actor}", pos.targets_hit))
                done.append(f"closing {pos.qty_open} {pos.contract}")
        async with self.db.sessions.begin() as session:
            await audit(session, self.clock.now(), actor, "flatten", "engine", None, actions=done)
        return done

    # -------------------------------------------------------------- timer -----------

    async def tick(self) -> None:
        """Do the time-driven work: expire proposals, work orders, mark, time stops, close."""
        now = self.clock.now()
        async with self.db.sessions() as session:
            stale = [r[0] for r in await session.execute(select(ProposalRow.id).where(
                ProposalRow.status == ProposalStatus.OPEN, ProposalRow.expires_at <= now))]
        for pid in stale:
            async with self._proposal_locks[pid]:
                await self._expire(pid, now)
        await self._work_orders()
        interval = self.config.mark_interval_seconds
        if self._last_marks_at is None or (now - self._last_marks_at).total_seconds() >= interval:
            self._last_marks_at = now
            await self.mark_positions()
        await self._check_exits(None, None)
        today = self.trading_date(now)
        close = self.calendar.session_close(today) if self.calendar.is_session(today) else None
        if close is not None and now >= close and today not in self._summarised:
            await self.end_of_day(today)

    async def mark_positions(self) -> Exposure:
        """Mark open positions from option quotes (mid; last when one side is missing).

        One read, the quotes fetched together, one write for every position (and a snapshot
        row each when one is due); the portfolio's exposure is the sum over positions of
        Greek × contracts × 100 (delta in shares, theta and vega in dollars).
        """
        now = self.clock.now()
        snapshot_due = (self._last_snapshot_at is None or
                        (now - self._last_snapshot_at).total_seconds() >= self.config.snapshot_interval_seconds)
        P = PositionRow
        async with self.db.sessions() as session:
            positions = (await session.execute(
                select(P.id, P.contract, P.underlying, P.qty_open, P.avg_entry, P.greeks,
                       P.last_underlying)
                .where(P.status.in_((PositionStatus.OPEN, PositionStatus.CLOSING))))).all()
        by_contract = await self.market.option_quotes(sorted({p.contract for p in positions}))
        exposure = Exposure()
        updates: list[dict[str, Any]] = []
        snapshots: list[dict[str, Any]] = []
        events: list[PositionMarked] = []
        hundred = OPTION_MULTIPLIER
        for pos in positions:
            snap = by_contract.get(pos.contract)
            if snap is None:
                continue
            px = snap.mid if snap.mid is not None else snap.last
            if px is None:
                continue
            mark = Decimal(str(px))
            units = pos.qty_open * hundred
            unreal = _money((mark - pos.avg_entry) * units)
            greeks: dict[str, float] = {}
            if snap.greeks is not None:
                g = snap.greeks
                greeks = {"delta": g.delta, "gamma": g.gamma, "theta": g.theta, "vega": g.vega}
                exposure = exposure.add(greeks, float(units))
            under = self._last_bar.get(pos.underlying)
            under_px = Decimal(str(under.close)) if under is not None else pos.last_underlying
            updates.append({"pid": pos.id, "m": mark, "u": unreal, "up": under_px,
                            "g": {**pos.greeks, **greeks, "iv": snap.iv}})
            if snapshot_due:
                snapshots.append({"position_id": pos.id, "at": now, "mark": mark,
                                  "underlying_price": under_px, "unrealized_pnl": unreal,
                                  "greeks": greeks})
            last = self._last_mark_event.get(pos.id)
            cost = pos.avg_entry * units or Decimal(1)
            change = abs(unreal - (last[1] if last else Decimal(0))) / cost * 100
            if (last is None or ((now - last[0]).total_seconds() >= self.config.mark_event_min_seconds
                                 and change >= Decimal(str(self.config.mark_event_min_change_pct)))):
                self._last_mark_event[pos.id] = (now, unreal)
                events.append(PositionMarked(at=now, position_id=pos.id, contract=pos.contract,
                                             mark=mark, unrealized_pnl=unreal,
                                             underlying_price=under_px))
        if updates or snapshots:
            table = PositionRow.__table__
            async with self.db.sessions.begin() as session:
                if updates:
                    await session.execute(
                        update(table).where(table.c.id == bindparam("pid")).values(
                            last_mark=bindparam("m"), unrealized_pnl=bindparam("u"),
                            last_underlying=bindparam("up"), greeks=bindparam("g")),
                        updates)
                if snapshots:
                    await session.execute(insert(PositionSnapshot.__table__), snapshots)
        if snapshot_due:
            self._last_snapshot_at = now
        self.exposure = exposure
        for event in events:
            self.bus.publish(event)
        return exposure

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
        """Forget per-day state of earlier days (locks, throttles, the loaded date)."""
        today = self.trading_date()
        self._summarised = {d for d in self._summarised if d >= today}
        self._proposal_locks = defaultdict(asyncio.Lock, {
            k: v for k, v in self._proposal_locks.items() if v.locked()})
        self._last_mark_event.clear()
        self._last_bar.clear()
        if self._loaded_date != today:
            self.bias.clear()

    # -------------------------------------------------------- admin controls --------

    async def set_trading_state(self, state: TradingState, actor: str) -> None:
        """Pause (reducing), halt (kill switch) or resume; halting cancels working entries."""
        now = self.clock.now()
        self.trading_state = state
        await self.state_store.save("trading_state", {"value": str(state)}, at=now, actor=actor,
                                    action=f"state_{state}", detail=f"trading state {state}")
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
            live = (await session.execute(select(PositionRow).where(
                PositionRow.status != PositionStatus.CLOSED))).scalars().all()
            closed_today = (await session.execute(select(PositionRow).where(
                PositionRow.status == PositionStatus.CLOSED, PositionRow.trading_date == today))).scalars().all()
        by_symbol: dict[str, int] = defaultdict(int)
        for p in live:
            by_symbol[p.underlying] += 1
        premium = sum((p.avg_entry * p.qty_open * OPTION_MULTIPLIER for p in live), Decimal(0))
        day_pnl = sum((p.realized_pnl - p.fees for p in closed_today), Decimal(0))
        day_pnl += sum((p.realized_pnl - p.fees + (p.unrealized_pnl or 0) for p in live
                        if p.trading_date == today), Decimal(0))
        account = await self.broker.get_account()
        return PortfolioView(
            trading_date=today, market_open=self.calendar.is_open(now),
            open_positions=len(live), open_by_symbol=dict(by_symbol), premium_at_risk=premium,
            day_pnl=day_pnl, buying_power=account.options_buying_power, equity=account.equity,
            signals_with_position=frozenset(p.signal_id for p in live if p.signal_id is not None))

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
            return list((await session.execute(stmt)).scalars().all())

    async def orders(self, *, open_only: bool = False, limit: int = 50) -> list[OrderRow]:
        """Return our orders, newest first."""
        async with self.db.sessions() as session:
            stmt = select(OrderRow).order_by(OrderRow.id.desc()).limit(limit)
            if open_only:
                stmt = stmt.where(OrderRow.status.in_(OPEN_ORDER_STATES))
            return list((await session.execute(stmt)).scalars().all())

    # ------------------------------------------------------- reconciliation ---------

    async def reconcile(self) -> list[Reconciliation]:
        """Bring our records in line with the broker after a restart; report what differs.

        Orders we wrote but whose submit never reached the broker are marked rejected (nothing
        is re-sent on a guess); orders the broker knows are brought up to date, missing fills
        included; positions that differ from the broker's are reported, not changed.
        """
        reports: list[Reconciliation] = []
        now = self.clock.now()
        async with self.db.sessions() as session:
            rows = (await session.execute(select(OrderRow).where(
                OrderRow.status.in_(OPEN_ORDER_STATES)))).scalars().all()
        for row in rows:
            try:
                order = await self.broker.get_order_by_client_id(row.client_order_id)
            except BrokerError as exc:
                reports.append(Reconciliation(at=now, problem="broker_unreachable",
                                              detail=f"order {row.client_order_id}: {exc}"))
                continue
            if order is None:
                if row.status == "pending_submit":
                    await self._order_failed(row.id, "not sent: the bot stopped before the broker "
                                                     "received the order")
                    reports.append(Reconciliation(at=now, problem="order_never_sent",
                                                  detail=f"{row.client_order_id} ({row.symbol})"))
                else:
                    reports.append(Reconciliation(at=now, problem="order_unknown_to_broker",
                                                  detail=f"{row.client_order_id} ({row.symbol})"))
                continue
            missing = int(order.filled_qty) - row.filled_qty
            if missing > 0 and order.filled_avg_price is not None:
                # Price the missing quantity so the order's average matches the broker's.
                known = (row.avg_fill_price or Decimal(0)) * row.filled_qty
                price = (order.filled_avg_price * int(order.filled_qty) - known) / missing
                await self._record_fill(row.id, OrderUpdate(
                    event=OrderEventType.FILL if order.status is OrderStatus.FILLED else OrderEventType.PARTIAL_FILL,
                    order=order, timestamp=order.updated_at,
                    execution_id=f"reconcile-{order.id}-{int(order.filled_qty)}",
                    fill_qty=Decimal(missing), fill_price=price.quantize(Decimal("0.0001"))))
                reports.append(Reconciliation(at=now, problem="fills_recovered",
                                              detail=f"{missing} filled on {row.symbol} while we were away"))
            await self._apply_broker_order(row.id, order, now)
            if order.status.is_terminal and order.status is not OrderStatus.FILLED:
                await self._record_end(row.id, OrderUpdate(
                    event=OrderEventType(str(order.status)) if str(order.status) in
                    {"canceled", "expired", "rejected"} else OrderEventType.CANCELED,
                    order=order, timestamp=order.updated_at,
                    execution_id=f"reconcile-end-{order.id}"))
        try:
            broker_positions = {p.symbol: p for p in await self.broker.list_positions()}
        except BrokerError as exc:
            broker_positions = None
            reports.append(Reconciliation(at=now, problem="broker_unreachable", detail=str(exc)))
        if broker_positions is not None:
            ours: dict[str, int] = defaultdict(int)
            for p in await self.positions():
                ours[p.contract] += p.qty_open
            for sym in set(ours) | set(broker_positions):
                theirs = int(broker_positions[sym].qty) if sym in broker_positions else 0
                if ours.get(sym, 0) != theirs:
                    reports.append(Reconciliation(
                        at=now, problem="position_mismatch",
                        detail=f"{sym}: ours {ours.get(sym, 0)}, broker {theirs}"))
        for r in reports:
            log.warning("reconciliation: %s %s", r.problem, r.detail)
            self.bus.publish(r)
        return reports


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
    entry_under = Decimal(str(pos.greeks.get("entry_underlying"))) if pos.greeks.get(
        "entry_underlying") else (pos.entry_trigger or Decimal(0))
    return PositionState(
        direction=pos.direction, qty_initial=pos.qty_filled, qty_open=pos.qty_open,
        avg_entry=pos.avg_entry, entry_trigger=pos.entry_trigger or Decimal(0),
        entry_underlying=entry_under, targets=tuple(Decimal(t) for t in pos.targets),
        targets_hit=pos.targets_hit, stop_price=pos.stop_price or Decimal(0),
        expiry=OptionContract.parse(pos.contract).expiry)


__all__ = ["ConfirmOutcome", "ConfirmResult", "EngineError", "Exposure", "ProposalPlan", "TradingEngine"]


