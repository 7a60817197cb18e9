"""Persistence of the simulated exchange in the project database.

Changes are written as plain Core ``executemany`` statements (no ORM unit of work), one
transaction per :class:`SaveBatch`. A batch holds the row values captured when each operation
finished, so a batch that merges several operations writes exactly the state they left, even if
later operations have changed the engine's objects since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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


def _order_from_row(r: SimOrderRow) -> SimOrder:
    return SimOrder(
        id=r.id, client_order_id=r.client_order_id, symbol=r.symbol or "",
        asset_class=AssetClass(r.asset_class), side=OrderSide(r.side or "buy"),
        type=OrderType(r.type), time_in_force=TimeInForce(r.time_in_force),
        qty=r.qty, limit_price=r.limit_price, status=OrderStatus(r.status),
        created_at=r.created_at, updated_at=r.updated_at, filled_qty=r.filled_qty,
        filled_avg_price=r.filled_avg_price, reject_reason=r.reject_reason,
        replaces=r.replaces, replaced_by=r.replaced_by, legs=r.legs,
        last_fill_minute=r.last_fill_minute,
    )


def _fill_values(f: SimFill) -> dict[str, object]:
    return {"id": f.id, "order_id": f.order_id, "symbol": f.symbol, "side": f.side.value,
            "qty": f.qty, "price": f.price, "fee": f.fee, "filled_at": f.filled_at}


def _position_values(p: SimPosition) -> dict[str, object]:
    return {"symbol": p.symbol, "asset_class": p.asset_class.value, "qty": p.qty,
            "avg_entry_price": p.avg_entry_price, "realized_pl": p.realized_pl,
            "updated_at": p.updated_at}


@dataclass
class SaveBatch:
    """Row values of one or more operations, written in one transaction."""

    new_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    cash: Decimal | None = None
    processed_until: datetime | None = None
    operations: int = 0

    def __bool__(self) -> bool:
        return self.cash is not None

    def add(self, ch: Changes, cash: Decimal, processed_until: datetime) -> None:
        """Capture the values of one operation's changes (later values win)."""
        self.operations += 1
        if not ch:
            return
        for oid, o in ch.new_orders.items():
            self.new_orders[oid] = _order_values(o)
        for oid, o in ch.orders.items():
            if oid in ch.new_orders:
                continue
            values = _order_values(o)
            if oid in self.new_orders:
                self.new_orders[oid] = values  # inserted by this batch: insert the newest state
            else:
                self.orders[oid] = values
        self.fills.extend(_fill_values(f) for f in ch.fills)
        for sym, p in ch.positions.items():
            self.positions[sym] = _position_values(p) if p is not None else None
        self.cash, self.processed_until = cash, processed_until


_ORDER_UPDATE = (
    update(SimOrderRow.__table__)
    .where(SimOrderRow.__table__.c.id == bindparam("_id"))
)


_ACCOUNT_UPDATE = (
    update(SimAccountRow.__table__)
    .where(SimAccountRow.__table__.c.id == ACCOUNT_ID)
    .values(cash=bindparam("cash"), processed_until=bindparam("processed_until"),
            updated_at=bindparam("updated_at"))
)


def _write(conn: Connection, b: SaveBatch) -> None:
    if b.new_orders:
        conn.execute(insert(SimOrderRow.__table__), list(b.new_orders.values()))
    if b.orders:
        rows = [{**{k: v for k, v in o.items() if k != "id"}, "_id": o["id"]} for o in b.orders.values()]
        conn.execute(_ORDER_UPDATE, rows)
    if b.fills:
        conn.execute(insert(SimFillRow.__table__), b.fills)
    if b.positions:
        conn.execute(delete(SimPositionRow.__table__).where(
            SimPositionRow.__table__.c.symbol.in_(list(b.positions))))
        live = [p for p in b.positions.values() if p is not None]
        if live:
            conn.execute(insert(SimPositionRow.__table__), live)
    conn.execute(_ACCOUNT_UPDATE, {"cash": b.cash, "processed_until": b.processed_until,
                                   "updated_at": b.processed_until})


class SimStore:
    """Reads and writes the simulated account, one transaction per save batch."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.engine: AsyncEngine = sessions.kw["bind"]  # the batch writes skip the ORM

    async def load(
        self, starting_cash: Decimal, now: datetime, since: datetime
    ) -> tuple[Decimal, datetime, list[SimOrder], dict[str, str], list[SimPosition]]:
        """Return (cash, processed_until, orders, client order ids, positions).

        The orders are those still open and those changed since ``since``; the older ended
        ones stay in the database (:meth:`order`), only their client order ids are loaded.
        The account is created if new.
        """
        try:
            async with self.sessions.begin() as s:
                acct = await s.get(SimAccountRow, ACCOUNT_ID)
                if acct is None:
                    acct = SimAccountRow(id=ACCOUNT_ID, cash=starting_cash, starting_cash=starting_cash,
                                         processed_until=now, created_at=now, updated_at=now)
                    s.add(acct)
                ended = [str(st) for st in OrderStatus if st.is_terminal]
                recent = select(SimOrderRow).where(
                    SimOrderRow.status.not_in(ended) | (SimOrderRow.updated_at >= since))
                orders = [_order_from_row(r) for r in
                          (await s.scalars(recent.order_by(SimOrderRow.created_at))).all()]
                client_ids = {cid: oid for cid, oid in (await s.execute(select(
                    SimOrderRow.client_order_id, SimOrderRow.id))).all()}
                positions = [
                    SimPosition(r.symbol, AssetClass(r.asset_class), r.qty, r.avg_entry_price,
                                r.realized_pl, r.updated_at)
                    for r in (await s.scalars(select(SimPositionRow))).all()
                ]
                return acct.cash, acct.processed_until, orders, client_ids, positions
        except SQLAlchemyError as exc:
            raise StorageError(f"could not load the simulated account: {exc.__class__.__name__}") from exc

    async def order(self, order_id: str) -> SimOrder | None:
        """Return a stored order by id (an ended one the exchange no longer keeps in memory)."""
        try:
            async with self.sessions() as s:
                row = await s.get(SimOrderRow, order_id)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not read order {order_id}: {exc.__class__.__name__}") from exc
        return _order_from_row(row) if row is not None else None

    async def save(self, ch: Changes, cash: Decimal, processed_until: datetime) -> None:
        """Write one operation's changes atomically."""
        if not ch:
            return
        batch = SaveBatch()
        batch.add(ch, cash, processed_until)
        await self.save_batch(batch)

    async def save_batch(self, batch: SaveBatch) -> None:
        """Write a batch atomically (one transaction, one ``executemany`` per table)."""
        if not batch:
            return
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_write, batch)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not save the simulated account: {exc.__class__.__name__}") from exc
