"""Positions: exit rules into exit orders, manual close, flatten, marks and exposure."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.brokers.errors import BrokerError
from core.brokers.models import (
    OrderSide,
    OrderType,
    TimeInForce,
    client_order_id_for,
)
from core.brokers.ticks import round_to_tick, tick_for
from core.clock import NEW_YORK
from core.db.models.trading import (
    OrderPurpose,
    OrderRow,
    PositionRow,
    PositionStatus,
)
from core.engine.base import (
    OPEN_ORDER_STATES,
    EngineError,
    EngineParts,
    Exposure,
    _d,
    _position_state,
)
from core.engine.bias import BiasFlip
from core.engine.exits import ExitDecision, ExitKind, evaluate_exit
from core.engine.marks import HeldPosition, MarkPass, OpenBook, Snapshot
from core.engine.risk import (
    check_exit,
)
from core.engine.state import audit
from core.engine.statements import (
    HELD_BOOK,
    HELD_POSITIONS,
    INSERT_SNAPSHOTS,
    MARK_POSITION,
    OPEN_EXITS,
    ORDERS_OF_POSITION,
    POSITION_GREEKS,
)
from core.errors import NotFoundError
from core.events import (
    ExitTriggered,
    PositionMarked,
)
from core.marketdata.models import Bar

log = logging.getLogger(__name__)

CANCEL_CONFIRM_SECONDS = 10  # how long a close waits for the broker to end a working exit
CANCEL_POLL_SECONDS = 0.5


class PositionFlow(EngineParts):
    """Manage open positions to the close."""

    def mark_of(self, pos: PositionRow) -> Decimal | None:
        """Return the latest mark of a position (in memory, else the stored one)."""
        live = self.marks.get(pos.id)
        return live.mark if live is not None else pos.last_mark

    def with_live_marks(self, rows: list[PositionRow]) -> list[PositionRow]:
        """Overlay the in-memory marks on detached position rows (for display and risk)."""
        for row in rows:
            live = self.marks.get(row.id)
            if live is not None and row.status != PositionStatus.CLOSED:
                row.last_mark = live.mark
                row.unrealized_pnl = live.unrealized
                row.last_underlying = live.underlying
                row.greeks = {**row.greeks, **live.greeks, "iv": live.iv}
        return rows

    # --------------------------------------------------------------- exits ----------

    async def _check_exits(self, bar: Bar | None, flip: BiasFlip | None) -> None:
        """Evaluate the exit rules of open and closing positions and send what is due.

        A closing position (its last scale-out or an exit working) is only checked for the
        urgent exits (stops, time stop, expiry, bias flip): they take over from a working
        scale-out. An urgent exit that waits for a scale-out's cancel is remembered and sent
        at the next check once the cancel is done, even if its cause (a flip bar) has passed.
        """
        positions = await self._exit_candidates()
        if bar is not None:
            positions = [p for p in positions if p.underlying == bar.symbol]
        now = self.clock.now()
        today = now.astimezone(NEW_YORK).date()
        close = (self.calendar.session_close(today).astimezone(NEW_YORK).time()
                 if self.calendar.is_session(today) else None)
        for pos in positions:
            flipped = flip.exit_reason(pos.direction) if flip is not None else None
            state = _position_state(pos)
            decision = evaluate_exit(
                state, self.config.exits, now=now,
                underlying_close=_d(bar.close) if bar else None,
                underlying_high=_d(bar.high) if bar else None,
                underlying_low=_d(bar.low) if bar else None,
                option_mark=self.mark_of(pos), bias_against=flipped, session_close=close)
            waiting = self._urgent_exits.get(pos.id)
            if waiting is not None and (decision is None or decision.kind is ExitKind.TARGET):
                decision = waiting
            if decision is None or (
                pos.status == PositionStatus.CLOSING and decision.kind is ExitKind.TARGET
            ):
                continue
            await self._exit(pos.id, decision)

    async def _exit_candidates(self) -> list[PositionRow]:
        """Return the open and closing positions (detached rows; read only).

        Read once per positions version: every transaction that writes a position moves the
        version on (``_writing_positions``), so bars and ticks between two writes share one
        read instead of a query each. ``_exit`` reads the position again before acting.
        """
        cached = self._exit_rows
        if cached is not None and cached[0] == self._positions_version:
            return cached[1]
        version = self._positions_version
        async with self.db.sessions() as session:
            rows = list((await session.execute(HELD_POSITIONS)).scalars().all())
        self._exit_rows = (version, rows)
        return rows

    async def _exit(self, position_id: int, decision: ExitDecision, *,
                    cancel_working: bool = False) -> tuple[int, str | None]:
        """Send the exit order of ``decision``; return the quantity sent and, if none, why.

        An exit order already working for the position holds a new one back, unless
        ``cancel_working`` (a user's close or flatten): then the working exits are canceled
        first, the broker's word on each is awaited, and the close sells only what is still
        held (a fill of the canceled order that is still on its way is not sold twice).
        """
        async with self._position_locks[position_id]:
            halted = not check_exit(self.trading_state).allowed
            confirmed: dict[str, int] = {}
            if cancel_working and decision.qty > 0 and not halted:
                confirmed = await self._cancel_working_exits(position_id)
            elif decision.kind is not ExitKind.TARGET and decision.qty > 0 and not halted:
                waiting = await self._preempt_scale_outs(position_id, decision)
                if waiting is not None:
                    return 0, waiting
            now = self.clock.now()
            async with self._writing_positions() as session:
                pos = await session.get(PositionRow, position_id)
                if pos is None or pos.status != PositionStatus.OPEN:
                    return 0, f"the position is {pos.status if pos else 'gone'}"
                if decision.new_stop is not None:
                    pos.stop_price = decision.new_stop
                    pos.stop_at_entry = True
                pos.targets_hit = max(pos.targets_hit, decision.targets_hit)
                if decision.qty <= 0:
                    return 0, None
                if halted:
                    log.warning("exit of position %s held: kill switch", position_id)
                    return 0, "the kill switch is on: no orders go out"
                exits = (await session.execute(OPEN_EXITS, {"position_id": pos.id})).scalars().all()
                # A canceled order's fills the broker reported but we have not recorded yet.
                in_flight = sum(max(confirmed[o.broker_order_id] - o.filled_qty, 0)
                                for o in exits if o.broker_order_id in confirmed)
                if any(o.broker_order_id not in confirmed for o in exits):
                    return 0, "an exit order is already working"
                held = pos.qty_open - in_flight
                qty = min(decision.qty, held)
                if qty <= 0:
                    return 0, "nothing is left to sell: the working exit order filled it"
                seq = (await session.execute(ORDERS_OF_POSITION, {"position_id": pos.id})).scalar_one()
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
                if decision.qty >= held:
                    pos.status = PositionStatus.CLOSING
                    pos.exit_reason = decision.reason[:255]
                pos.updated_at = now
                await session.flush()
                await audit(session, now, "engine", "exit", "position", pos.id, kind=str(decision.kind),
                            qty=qty, reason=decision.reason,
                            canceled_first=sorted(confirmed), in_flight=in_flight)
                order_id, contract = order.id, pos.contract
            if decision.kind is not ExitKind.TARGET:
                self._urgent_exits.pop(position_id, None)
            self.bus.publish(ExitTriggered(at=now, position_id=position_id, contract=contract, qty=qty,
                                           reason=decision.reason))
            await self._submit(order_id)
            return qty, None

    async def _preempt_scale_outs(self, position_id: int, decision: ExitDecision) -> str | None:
        """Make way for an urgent exit: cancel the scale-outs working for the position.

        Return why the exit waits (the cancels are asked for, not awaited: the timer is not
        held up; the exit is remembered and sent at the next check once they ended), or None
        when nothing is in the way. An urgent exit already working is left to finish.
        """
        async with self.db.sessions() as session:
            working = (await session.execute(OPEN_EXITS, {"position_id": position_id})).scalars().all()
        if not working:
            self._urgent_exits.pop(position_id, None)
            return None
        if any(o.purpose != OrderPurpose.SCALE_OUT for o in working):
            self._urgent_exits.pop(position_id, None)
            return "an exit order is already working"
        self._urgent_exits[position_id] = decision
        for row in working:
            if row.status == "pending_cancel" or row.broker_order_id is None:
                continue  # already asked, or not acknowledged yet: asked at the next check
            try:
                await self.broker.cancel_order(row.broker_order_id)
            except BrokerError as exc:  # it may have filled or ended meanwhile
                log.info("cancel of scale-out %s for an urgent exit: %s", row.client_order_id, exc)
                continue
            async with self.db.sessions.begin() as session:
                r = await session.get(OrderRow, row.id)
                if r is not None and r.status in OPEN_ORDER_STATES:
                    r.status = "pending_cancel"
                    r.updated_at = self.clock.now()
                    await audit(session, r.updated_at, "engine", "scale_out_preempted", "order",
                                r.id, by=str(decision.kind), reason=decision.reason)
        return f"waiting for the working scale-out to be canceled before: {decision.reason}"

    async def _cancel_working_exits(self, position_id: int) -> dict[str, int]:
        """Cancel the exit orders working for a position and wait for the broker to end each.

        Return the broker's filled quantity of each ended order, by broker order id (an order
        that filled before the cancel reached it counts as ended too). Raise
        :class:`EngineError` when the broker does not confirm within
        ``CANCEL_CONFIRM_SECONDS``: nothing more is sent then.
        """
        async with self.db.sessions() as session:
            rows = (await session.execute(OPEN_EXITS, {"position_id": position_id})).scalars().all()
        if any(r.broker_order_id is None for r in rows):
            raise EngineError("an exit order of this position is not acknowledged by the broker "
                              "yet; nothing else was sent; try again in a moment")
        ended: dict[str, int] = {}
        for row in rows:
            broker_id, what = row.broker_order_id or "", f"{row.purpose} order of {row.qty}"
            try:
                await self.broker.cancel_order(broker_id)
            except BrokerError as exc:  # it may have filled or ended meanwhile: ask below
                log.info("cancel of %s before a close: %s", broker_id, exc)
            else:
                async with self.db.sessions.begin() as session:
                    r = await session.get(OrderRow, row.id)
                    if r is not None and r.status in OPEN_ORDER_STATES:
                        r.status = "pending_cancel"  # no more reprices; the broker's event ends it
                        r.updated_at = self.clock.now()
            deadline = self.clock.now() + timedelta(seconds=CANCEL_CONFIRM_SECONDS)
            while True:
                try:
                    order = await self.broker.get_order(broker_id)
                except BrokerError as exc:
                    raise EngineError(f"could not confirm the cancel of the working {what}: {exc}; "
                                      "nothing else was sent") from exc
                if order.status.is_terminal:
                    ended[broker_id] = int(order.filled_qty)
                    break
                if self.clock.now() >= deadline:
                    raise EngineError(f"the broker has not confirmed the cancel of the working {what} "
                                      "yet; nothing else was sent; try again in a moment")
                await self.clock.sleep_until(self.clock.now() + timedelta(seconds=CANCEL_POLL_SECONDS))
        return ended

    async def close_position(self, position_id: int, actor: str) -> str:
        """Close a position now (a user asked), with the same execution logic as any exit.

        A scale-out order still working is canceled first (see :meth:`_exit`); when the close
        cannot be sent, :class:`EngineError` says why.
        """
        async with self.db.sessions() as session:
            pos = await session.get(PositionRow, position_id)
        if pos is None:
            raise NotFoundError(f"there is no position #{position_id}")
        if pos.status not in (PositionStatus.OPEN,):
            raise EngineError(f"position #{position_id} is {pos.status}; nothing to close")
        qty, why = await self._exit(position_id, ExitDecision(ExitKind.MANUAL, pos.qty_open,
                                                              f"closed by {actor}", pos.targets_hit),
                                    cancel_working=True)
        if qty == 0:
            raise EngineError(f"position #{position_id} was not closed: {why}")
        return f"closing {qty} {pos.contract}"

    async def flatten(self, actor: str) -> list[str]:
        """Close every open position and cancel working entries (and exits in the way)."""
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
                try:
                    qty, why = await self._exit(pid, ExitDecision(
                        ExitKind.FLATTEN, pos.qty_open, f"flatten by {actor}", pos.targets_hit),
                        cancel_working=True)
                except EngineError as exc:
                    qty, why = 0, str(exc)
                done.append(f"closing {qty} {pos.contract}" if qty else
                            f"could not close {pos.contract}: {why}")
        async with self.db.sessions.begin() as session:
            await audit(session, self.clock.now(), actor, "flatten", "engine", None, actions=done)
        return done

    async def _held_positions(self, *, reread: bool = False) -> OpenBook:
        """Return the open and closing positions, from the cache unless a position was written.

        The book is read again when the engine has written a position since (see
        ``_writing_positions``), and when ``reread`` (each time the snapshots are written), so a
        change made behind the engine's back is seen within ``snapshot_write_seconds``.
        """
        book = self._open_book
        if book is not None and not reread and book.version == self._positions_version:
            return book
        version = self._positions_version
        async with self.db.sessions() as session:
            rows = (await session.execute(HELD_BOOK)).all()  # plain rows, not ORM entities
        book = OpenBook([HeldPosition(*r) for r in rows], version)
        self._open_book = book
        return book

    async def mark_positions(self) -> Exposure:
        """Mark open positions from option quotes (mid; last when one side is missing).

        The latest marks are kept in memory (:attr:`marks`), where the exit rules and the
        queries read them. Every ``snapshot_interval_seconds`` a snapshot of each marked
        position (its mark, P&L, Greeks) joins a buffer in memory; every
        ``snapshot_write_seconds`` the buffer is written, one row per snapshot, with the latest
        marks on the position rows, in one transaction (and at :meth:`stop`).

        The positions come from a cache the engine keeps current (:meth:`_held_positions`), the
        quotes are fetched together, and the portfolio's exposure, the sum over positions of
        Greek × contracts × 100 (delta in shares, theta and vega in dollars), is one numpy sum.
        A position's mark is computed exactly (``Decimal``) when it is read, stored or
        published.
        """
        now = self.clock.now()
        snapshot_due = (self._last_snapshot_at is None or
                        (now - self._last_snapshot_at).total_seconds() >= self.config.snapshot_interval_seconds)
        write_due = (self._last_write_at is None or
                     (now - self._last_write_at).total_seconds() >= self.config.snapshot_write_seconds)
        book = await self._held_positions(reread=write_due)
        quotes = await self.market.option_quotes(list(book.contracts)) if book.contracts else {}
        if book.version != self._positions_version:  # a fill or close landed while quoting
            book = await self._held_positions()
        under_now = {u: Decimal(str(bar.close)) for u in book.underlyings
                     if (bar := self._last_bar.get(u)) is not None}
        marks = MarkPass(book, quotes, now, under_now)
        self.marks.record(marks)
        marked = marks.marked_indices()
        events = self._mark_events(marks, marked, now)
        if snapshot_due and marked:
            self._keep_snapshots(marks, marked, now)
            self._last_snapshot_at = now  # the interval runs from the last snapshot taken
        if write_due:
            self._last_write_at = now
            await self.write_snapshots()
        self.exposure = marks.exposure
        for event in events:
            self.bus.publish(event)
        return marks.exposure

    def _mark_events(self, marks: MarkPass, marked: list[int], now: datetime) -> list[PositionMarked]:
        """Return the throttled events: a position's first mark, then at most one per
        ``mark_event_min_seconds`` and only on a change of ``mark_event_min_change_pct`` of
        its cost.

        Positions whose float P&L is clearly under the threshold (by more than a cent) are
        skipped without the exact Decimal P&L; the rest are decided on the exact figure.
        """
        events: list[PositionMarked] = []
        cutoff = now - timedelta(seconds=self.config.mark_event_min_seconds)
        min_change = Decimal(str(self.config.mark_event_min_change_pct))
        share = float(min_change) / 100 * (1 - 1e-9)
        last_events = self._last_mark_event
        book = marks.book
        estimate = marks.pnl_estimate
        for i in marked:
            pos = book.positions[i]
            last = last_events.get(pos.id)
            if last is not None:
                if last[0] > cutoff:
                    continue
                if abs(estimate[i] - float(last[1])) + 0.01 < share * book.cost_float[i]:
                    continue
            live = marks.mark_at(i)
            assert live is not None
            if last is not None and abs(live.unrealized - last[1]) / book.cost(i) * 100 < min_change:
                continue
            last_events[pos.id] = (now, live.unrealized)
            events.append(PositionMarked(at=now, position_id=pos.id, contract=pos.contract,
                                         mark=live.mark, unrealized_pnl=live.unrealized,
                                         underlying_price=live.underlying))
        return events

    def _keep_snapshots(self, marks: MarkPass, marked: list[int], now: datetime) -> None:
        """Add a snapshot of each ``marked`` position to the buffer :meth:`write_snapshots` empties."""
        book = marks.book
        for i in marked:
            pos = book.positions[i]
            live = marks.mark_at(i)
            assert live is not None
            self._snapshots.append(Snapshot(
                pos.id, now, live.mark, live.underlying, live.unrealized, live.greeks, live.iv))
            book.last_underlying[i] = live.underlying  # the latest seen; stored at the next write

    async def write_snapshots(self) -> None:
        """Write the buffered snapshots, and the latest of each on its position, in one transaction.

        A position no longer open or closing keeps its stored mark (it was closed since, by
        the engine or behind its back); its snapshots taken while it was held are written. The
        Greeks written on a position are its stored ones (``entry_underlying``...), read in the
        same transaction, with the latest on top.
        """
        if not self._snapshots:
            return
        taken = self._snapshots
        self._snapshots = []
        latest = {s.position_id: s for s in taken}
        try:
            async with self.db.sessions.begin() as session:
                stored = dict((await session.execute(POSITION_GREEKS, {"ids": list(latest)})).all())
                await session.execute(
                    MARK_POSITION,
                    [{"pid": s.position_id, "m": s.mark, "u": s.unrealized, "up": s.underlying,
                      "g": {**(stored.get(s.position_id) or {}), **s.greeks, "iv": s.iv}}
                     for s in latest.values()])
                await session.execute(INSERT_SNAPSHOTS, [
                    {"position_id": s.position_id, "at": s.at, "mark": s.mark,
                     "underlying_price": s.underlying, "unrealized_pnl": s.unrealized,
                     "greeks": s.greeks} for s in taken])
        except Exception:
            self._snapshots = taken + self._snapshots  # kept for the next write
            raise
