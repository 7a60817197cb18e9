"""Positions: exit rules into exit orders, manual close, flatten, marks and exposure."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from core.brokers.errors import BrokerError
from core.brokers.models import (
    OPTION_MULTIPLIER,
    OrderSide,
    OrderType,
    TimeInForce,
    client_order_id_for,
)
from core.brokers.ticks import round_to_tick, tick_for
from core.db.models.trading import (
    OrderPurpose,
    OrderRow,
    PositionRow,
    PositionSnapshot,
    PositionStatus,
)
from core.engine.base import (
    OPEN_ORDER_STATES,
    EngineError,
    EngineParts,
    Exposure,
    LiveMark,
    _d,
    _money,
    _position_state,
)
from core.engine.bias import BiasFlip
from core.engine.exits import ExitDecision, ExitKind, evaluate_exit
from core.engine.risk import (
    check_exit,
)
from core.engine.state import audit
from core.errors import NotFoundError
from core.events import (
    ExitTriggered,
    PositionMarked,
)
from core.marketdata.models import Bar

log = logging.getLogger(__name__)


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
                option_mark=self.mark_of(pos), bias_against=flipped)
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

    async def mark_positions(self) -> Exposure:
        """Mark open positions from option quotes (mid; last when one side is missing).

        The latest marks are kept in memory (:attr:`marks`), where the exit rules and the
        queries read them; the database gets them, with a snapshot row per position, every
        ``snapshot_interval_seconds``.

        One read, the quotes fetched together, one write for every position (and a snapshot
        row each when one is due); the portfolio's exposure is the sum over positions of
        Greek × contracts × 100 (delta in shares, theta and vega in dollars).
        """
        now = self.clock.now()
        snapshot_due = (self._last_snapshot_at is None or
                        (now - self._last_snapshot_at).total_seconds() >= self.config.snapshot_interval_seconds)
        P = PositionRow
        async with self.db.sessions() as session:
            # The stored Greeks (JSON) are only merged when a snapshot is written.
            cols = [P.id, P.contract, P.underlying, P.qty_open, P.avg_entry, P.last_underlying]
            if snapshot_due:
                cols.append(P.greeks)
            positions = (await session.execute(select(*cols).where(
                P.status.in_((PositionStatus.OPEN, PositionStatus.CLOSING))))).all()
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
            self.marks[pos.id] = LiveMark(mark, unreal, under_px, greeks, snap.iv, now)
            if snapshot_due:
                updates.append({"pid": pos.id, "m": mark, "u": unreal, "up": under_px,
                                "g": {**pos.greeks, **greeks, "iv": snap.iv}})
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
        if snapshot_due and updates:
            self._last_snapshot_at = now  # the interval runs from the last snapshot written
        self.exposure = exposure
        for event in events:
            self.bus.publish(event)
        return exposure
