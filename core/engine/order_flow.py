"""Orders: record before sending, submit, record fills once, work limit orders, cancel."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
from core.db.base import Price
from core.db.models.trading import (
    FillRow,
    OrderPurpose,
    OrderRow,
    PositionRow,
    PositionStatus,
    ProposalRow,
    ProposalStatus,
)
from core.engine.base import EngineParts, _d, _money
from core.engine.risk import EntryIntent, check_entry
from core.engine.state import audit
from core.engine.statements import (
    FILL_BY_EXECUTION,
    ORDER_BY_IDS,
    OTHER_EXIT_WORKING,
    WORKING_ENTRY,
    WORKING_ORDERS,
)
from core.events import (
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRepriced,
    OrderSubmitted,
    PositionClosed,
    RiskRefused,
)
from core.marketdata.models import OptionContract

log = logging.getLogger(__name__)

_PRICE_PLACES = Decimal(1).scaleb(-(Price.scale or 0))  # a price column's smallest step


class OrderFlow(EngineParts):
    """Send orders and account for what the broker reports."""

    # -------------------------------------------------------------- orders ----------

    async def _submit(self, order_id: int) -> None:
        """Send a recorded order; on an unknown outcome, look it up by client order id."""
        self._orders_working = True
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
        ev = await self._apply_broker_order(order_id, order, now)
        self.bus.publish(OrderSubmitted(at=now, **ev))

    async def _order_failed(self, order_id: int, reason: str) -> None:
        now = self.clock.now()
        async with self._writing_positions() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            row.status = "rejected"
            row.last_error = reason
            row.updated_at = now
            await audit(session, now, "broker", "order_rejected", "order", order_id, reason=reason)
            fields = _event_fields(row)
            if row.purpose == OrderPurpose.ENTRY:
                await self._entry_done(session, row, now)
            elif row.position_id is not None:
                pos = await session.get(PositionRow, row.position_id)
                if pos is not None and pos.status == PositionStatus.CLOSING:
                    pos.status = PositionStatus.OPEN  # the exit rules will fire again
        self.bus.publish(OrderRejected(at=now, reason=reason, **fields))

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

    async def _apply_broker_order(self, order_id: int, order: Order, now: datetime) -> dict[str, Any]:
        """Record what the broker says of a sent order; return the order's event fields."""
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
            self._order_ids[row.client_order_id] = (row.id, row.position_id)
            return _event_fields(row)

    async def on_order_update(self, upd: OrderUpdate) -> None:
        """Record a broker order event: fills once each, cancels, rejects, replacements."""
        order = upd.order
        if upd.event is OrderEventType.REPLACED:
            return  # the replacement order's own events follow (it was recorded when sent)
        ids = self._order_ids.get(order.client_order_id)
        if ids is None:
            async with self.db.sessions() as session:
                row = (await session.execute(ORDER_BY_IDS, {
                    "client_order_id": order.client_order_id, "broker_order_id": order.id,
                })).scalars().first()
            if row is None:
                log.info("order event for an order we did not send: %s %s", order.client_order_id, upd.event)
                return
            ids = (row.id, row.position_id)
            if row.client_order_id == order.client_order_id:
                self._order_ids[row.client_order_id] = ids
        order_id, position_id = ids
        lock = self._position_locks[position_id or 0]
        async with lock:
            if upd.event.is_fill:
                await self._record_fill(order_id, upd)
            elif upd.event in (OrderEventType.CANCELED, OrderEventType.EXPIRED, OrderEventType.REJECTED):
                await self._record_end(order_id, upd)
            else:
                async with self.db.sessions.begin() as session:
                    r = await session.get(OrderRow, order_id)
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
        async with self._writing_positions() as session:
            seen = (await session.execute(FILL_BY_EXECUTION,
                                          {"execution_id": upd.execution_id})).first()
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
            fields = _event_fields(row)
            closed_info = (closed.id, closed.contract, _money(closed.realized_pnl - closed.fees),
                           closed.exit_reason or "closed") if closed is not None else None
        self.bus.publish(OrderFilled(at=now, fill_qty=qty, fill_price=price, filled_qty=filled_total,
                                     complete=complete, slippage=slip, **fields))
        if closed_info is not None:
            pid, contract, pnl, reason = closed_info
            self.bus.publish(PositionClosed(at=now, position_id=pid, contract=contract,
                                            realized_pnl=pnl, reason=reason))

    async def _other_exit_working(self, session: AsyncSession, position_id: int, order_id: int) -> bool:
        """Tell whether an exit order other than ``order_id`` works for the position.

        A scale-out canceled to make way for a user's close ends after the close was sent;
        its end must not reopen the position the close is closing.
        """
        row = (await session.execute(OTHER_EXIT_WORKING,
                                     {"position_id": position_id, "order_id": order_id})).first()
        return row is not None

    async def _working_entry(self, session: AsyncSession, position_id: int) -> bool:
        row = (await session.execute(WORKING_ENTRY, {"position_id": position_id})).first()
        return row is not None

    async def _record_end(self, order_id: int, upd: OrderUpdate) -> None:
        now = self.clock.now()
        async with self._writing_positions() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            if row.status in ("filled", "canceled", "expired", "rejected"):
                return
            if upd.order.id != row.broker_order_id and row.broker_order_id is not None:
                return  # an event of an order we already replaced
            # Our own cancel after the last reprice step, nothing filled: the contract is no
            # longer suitable at an acceptable price, so the best untried alternate is next.
            fallback = (row.purpose == OrderPurpose.ENTRY and row.filled_qty == 0
                        and row.status == "pending_cancel" and upd.event is OrderEventType.CANCELED)
            row.status = str(upd.event) if upd.event is not OrderEventType.REJECTED else "rejected"
            if upd.event is OrderEventType.REJECTED:
                row.last_error = upd.order.reject_reason or "rejected by the broker"
            row.updated_at = now
            if row.purpose == OrderPurpose.ENTRY and not fallback:
                await self._entry_done(session, row, now)
            elif row.purpose != OrderPurpose.ENTRY and row.position_id is not None:
                pos = await session.get(PositionRow, row.position_id)
                if (pos is not None and pos.status == PositionStatus.CLOSING
                        and not await self._other_exit_working(session, pos.id, row.id)):
                    pos.status = PositionStatus.OPEN  # the exit rules will fire again
            await audit(session, now, "broker", f"order_{row.status}", "order", row.id)
            status, error = row.status, row.last_error
            fields = _event_fields(row)
        if status == "rejected":
            self.bus.publish(OrderRejected(at=now, reason=error or "rejected", **fields))
        else:
            self.bus.publish(OrderCanceled(at=now, reason=status, **fields))
        if fallback and not await self._fall_back_to_alternate(order_id):
            async with self._writing_positions() as session:
                row = await session.get(OrderRow, order_id)
                assert row is not None
                await self._entry_done(session, row, now)

    async def _fall_back_to_alternate(self, order_id: int) -> bool:
        """Send the entry for the best untried alternate of the proposal; False if none fits.

        The alternate is re-quoted; its quantity keeps the cost within what was confirmed, and
        the risk rules are checked again. It goes out under a new client order id (the next
        attempt of the same proposal), so it can never be mistaken for the first order.
        """
        now = self.clock.now()
        async with self.db.sessions() as session:
            row = await session.get(OrderRow, order_id)
            prop = await session.get(ProposalRow, row.proposal_id) if row and row.proposal_id else None
        if row is None or prop is None or row.position_id is None:
            return False
        tried = list(prop.details.get("tried", [prop.contract]))
        for alt in prop.details.get("alternates", []):
            contract = alt["contract"]
            if contract in tried:
                continue
            tried.append(contract)
            try:
                snap = await self.market.option_quote(contract)
            except BrokerError:
                continue
            mid = _d(snap.mid)
            if mid is None or mid <= 0:
                continue
            limit = round_to_tick(mid, tick_for(contract, mid), OrderSide.BUY)
            qty = int(prop.est_cost // (limit * OPTION_MULTIPLIER)) if limit > 0 else 0
            qty = min(qty, prop.quantity)
            if qty <= 0:
                continue
            premium = limit * qty * OPTION_MULTIPLIER
            decision = check_entry(
                EntryIntent(underlying=prop.underlying, contract=contract,
                            expiry=OptionContract.parse(contract).expiry, quantity=qty,
                            premium=premium, signal_id=None),
                await self.portfolio_view(), self.limits, self.trading_state)
            if not decision.allowed:
                first = decision.first
                assert first is not None
                self.bus.publish(RiskRefused(at=now, rule=first.rule, reason=first.reason,
                                             proposal_id=prop.id, symbol=prop.underlying))
                return False
            async with self._writing_positions() as session:
                p = await session.get(ProposalRow, prop.id)
                pos = await session.get(PositionRow, row.position_id)
                assert p is not None and pos is not None
                p.details = {**p.details, "tried": tried}
                pos.contract = contract
                pos.updated_at = now
                new = OrderRow(
                    client_order_id=client_order_id_for("entry", prop.id, attempt=len(tried) - 1),
                    proposal_id=prop.id, position_id=pos.id, purpose=OrderPurpose.ENTRY,
                    symbol=contract, side=OrderSide.BUY, order_type=OrderType.LIMIT,
                    time_in_force=TimeInForce.DAY, qty=qty, limit_price=limit,
                    status="pending_submit", created_at=now, updated_at=now,
                    reason=f"alternate after {row.symbol} did not fill within the slippage limit")
                session.add(new)
                await session.flush()
                await audit(session, now, "engine", "entry_fallback", "proposal", prop.id,
                            from_contract=row.symbol, to_contract=contract, qty=qty, limit=limit)
                new_id = new.id
            await self._submit(new_id)
            return True
        async with self.db.sessions.begin() as session:
            p = await session.get(ProposalRow, prop.id)
            if p is not None:
                p.details = {**p.details, "tried": tried}
        return False

    # ---------------------------------------------------------- repricing -----------

    async def _work_orders(self) -> bool:
        """Step working limit orders toward the far side, then cancel (see ExecutionRules).

        Return whether any order was working (the timer skips the pass until a submit when not).
        """
        rules = self.config.execution
        now = self.clock.now()
        async with self.db.sessions() as session:
            rows = (await session.execute(WORKING_ORDERS)).scalars().all()
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
            self._order_ids.pop(row.client_order_id, None)
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
                # the new limit with the scale the database returns (as every order event has)
                fields = {**_event_fields(r), "limit_price": new_price.quantize(_PRICE_PLACES)}
            self._order_ids.pop(row.client_order_id, None)  # an event read meanwhile cached it
            self._order_ids[new_order.client_order_id] = (row.id, row.position_id)
            self.bus.publish(OrderRepriced(at=now, old_price=base, **fields))
        return bool(rows)

    async def _origin_price(self, row: OrderRow) -> Decimal:
        async with self.db.sessions() as session:
            if row.proposal_id is not None and row.purpose == OrderPurpose.ENTRY:
                prop = await session.get(ProposalRow, row.proposal_id)
                if prop is not None:
                    return prop.limit_price
        return row.limit_price or Decimal(0)


def _event_fields(row: OrderRow) -> dict[str, Any]:
    """Return the fields every order event carries, from the order's row."""
    return dict(order_id=row.id, proposal_id=row.proposal_id, position_id=row.position_id,
                symbol=row.symbol, side=row.side, purpose=row.purpose, qty=row.qty,
                limit_price=row.limit_price)
