"""Persistence of the simulated exchange in the project database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.brokers.models import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from core.brokers.sim.engine import Changes, SimFill, SimOrder, SimPosition
from core.db.models.sim import SimAccountRow, SimFillRow, SimOrderRow, SimPositionRow
from core.errors import StorageError

ACCOUNT_ID = 1


def _order_values(o: SimOrder) -> dict[str, object]:
    return {
        "id": o.id, "client_order_id": o.client_order_id, "symbol": o.symbol,
        "asset_class": o.asset_class.value, "side": o.side.value, "type": o.type.value,
        "time_in_force": o.time_in_force.value, "qty": o.qty, "filled_qty": o.filled_qty,
        "filled_avg_price": o.filled_avg_price, "limit_price": o.limit_price,
        "status": o.status.value, "reject_reason": o.reject_reason, "replaces": o.replaces,
        "replaced_by": o.replaced_by, "legs": o.legs, "last_fill_minute": o.last_fill_minute,
        "created_at": o.created_at, "updated_at": o.updated_at,
    }


def _fill_values(f: SimFill) -> dict[str, object]:
    return {"id": f.id, "order_id": f.order_id, "symbol": f.symbol, "side": f.side.value,
            "qty": f.qty, "price": f.price, "fee": f.fee, "filled_at": f.filled_at}


def _position_values(p: SimPosition) -> dict[str, object]:
    return {"symbol": p.symbol, "asset_class": p.asset_class.value, "qty": p.qty,
            "avg_entry_price": p.avg_entry_price, "realized_pl": p.realized_pl,
            "updated_at": p.updated_at}


class SimStore:
    """Reads and writes the simulated account, one transaction per exchange operation."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def load(
        self, starting_cash: Decimal, now: datetime
    ) -> tuple[Decimal, datetime, list[SimOrder], list[SimPosition]]:
        """Return (cash, processed_until, orders, positions), creating the account if new."""
        try:
            async with self.sessions.begin() as s:
                acct = await s.get(SimAccountRow, ACCOUNT_ID)
                if acct is None:
                    acct = SimAccountRow(id=ACCOUNT_ID, cash=starting_cash, starting_cash=starting_cash,
                                         processed_until=now, created_at=now, updated_at=now)
                    s.add(acct)
                orders = [
                    SimOrder(
                        id=r.id, client_order_id=r.client_order_id, symbol=r.symbol or "",
                        asset_class=AssetClass(r.asset_class), side=OrderSide(r.side or "buy"),
                        type=OrderType(r.type), time_in_force=TimeInForce(r.time_in_force),
                        qty=r.qty, limit_price=r.limit_price, status=OrderStatus(r.status),
                        created_at=r.created_at, updated_at=r.updated_at, filled_qty=r.filled_qty,
                        filled_avg_price=r.filled_avg_price, reject_reason=r.reject_reason,
                        replaces=r.replaces, replaced_by=r.replaced_by, legs=r.legs,
                        last_fill_minute=r.last_fill_minute,
                    )
                    for r in (await s.scalars(select(SimOrderRow).order_by(SimOrderRow.created_at))).all()
                ]
                positions = [
                    SimPosition(r.symbol, AssetClass(r.asset_class), r.qty, r.avg_entry_price,
                                r.realized_pl, r.updated_at)
                    for r in (await s.scalars(select(SimPositionRow))).all()
                ]
                return acct.cash, acct.processed_until, orders, positions
        except SQLAlchemyError as exc:
            raise StorageError(f"could not load the simulated account: {exc.__class__.__name__}") from exc

    async def save(self, ch: Changes, cash: Decimal, processed_until: datetime) -> None:
        """Write one batch of changes atomically."""
        if not ch:
            return
        try:
            async with self.sessions.begin() as s:
                if ch.new_orders:
                    await s.execute(insert(SimOrderRow), [_order_values(o) for o in ch.new_orders.values()])
                updated = [o for oid, o in ch.orders.items() if oid not in ch.new_orders]
                if updated:
                    await s.execute(update(SimOrderRow), [_order_values(o) for o in updated])
                if ch.fills:
                    await s.execute(insert(SimFillRow), [_fill_values(f) for f in ch.fills])
                if ch.positions:
                    await s.execute(delete(SimPositionRow).where(SimPositionRow.symbol.in_(list(ch.positions))))
                    live = [_position_values(p) for p in ch.positions.values() if p is not None]
                    if live:
                        await s.execute(insert(SimPositionRow), live)
                await s.execute(
                    update(SimAccountRow).where(SimAccountRow.id == ACCOUNT_ID)
                    .values(cash=cash, processed_until=processed_until, updated_at=processed_until)
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"could not save the simulated account: {exc.__class__.__name__}") from exc
