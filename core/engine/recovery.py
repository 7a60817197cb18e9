"""Start-up reconciliation with the broker: report what differs, never guess."""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select

from core.brokers.errors import BrokerError
from core.brokers.models import (
    OrderEventType,
    OrderStatus,
    OrderUpdate,
)
from core.db.models.trading import (
    OrderRow,
)
from core.engine.base import OPEN_ORDER_STATES, EngineParts
from core.events import (
    Reconciliation,
)

log = logging.getLogger(__name__)


class Recovery(EngineParts):
    """Bring our records in line with the broker after a restart."""

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
