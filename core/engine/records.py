"""Read-only look-ups the chat layer needs to place and summarise a trade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from core.db.models import SetupMessage, SignalRow, TickerSetupRow
from core.db.models.trading import FillRow, OrderRow, PositionRow, PositionStatus, ProposalRow
from core.db.session import Database


@dataclass(frozen=True, slots=True)
class SetupOrigin:
    """The chat message a signal was read from."""

    channel_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class FillView:
    """One fill of a trade, with the order's purpose."""

    at: datetime
    purpose: str
    side: str
    qty: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A position with its proposal and every fill, oldest first."""

    position: PositionRow
    proposal: ProposalRow | None
    fills: tuple[FillView, ...]


async def setup_origin(db: Database, signal_id: int) -> SetupOrigin | None:
    """Return where the signal's setup post is, or None for a deleted or unknown signal."""
    async with db.sessions() as session:
        row = (await session.execute(
            select(SetupMessage.channel_id, SetupMessage.discord_message_id)
            .join(TickerSetupRow, TickerSetupRow.message_id == SetupMessage.id)
            .join(SignalRow, SignalRow.setup_id == TickerSetupRow.id)
            .where(SignalRow.id == signal_id))).first()
    return SetupOrigin(int(row[0]), int(row[1])) if row else None


async def proposal_of(db: Database, *, position_id: int | None = None,
                      order_id: int | None = None) -> int | None:
    """Return the proposal a position or an order belongs to."""
    async with db.sessions() as session:
        if order_id is not None:
            order = await session.get(OrderRow, order_id)
            if order is None:
                return None
            if order.proposal_id is not None:
                return order.proposal_id
            position_id = position_id or order.position_id
        if position_id is None:
            return None
        pos = await session.get(PositionRow, position_id)
        return pos.proposal_id if pos is not None else None


async def trade_record(db: Database, position_id: int) -> TradeRecord | None:
    """Return a position with its proposal and fills."""
    async with db.sessions() as session:
        pos = await session.get(PositionRow, position_id)
        if pos is None:
            return None
        prop = await session.get(ProposalRow, pos.proposal_id) if pos.proposal_id else None
        rows = (await session.execute(
            select(FillRow, OrderRow.purpose, OrderRow.side)
            .join(OrderRow, FillRow.order_id == OrderRow.id)
            .where(OrderRow.position_id == position_id)
            .order_by(FillRow.at, FillRow.id))).all()
    fills = tuple(FillView(f.at, purpose, side, f.qty, f.price) for f, purpose, side in rows)
    return TradeRecord(pos, prop, fills)


@dataclass(frozen=True, slots=True)
class OrderStory:
    """One order of a proposal with its fills (oldest first), for a thread's catch-up."""

    order_id: int
    purpose: str
    side: str
    symbol: str
    qty: int
    limit_price: Decimal | None
    status: str
    last_error: str | None
    fills: tuple[FillView, ...]


@dataclass(frozen=True, slots=True)
class ThreadStory:
    """What a proposal's thread should show: its decision, orders, fills and closure."""

    proposal: ProposalRow
    orders: tuple[OrderStory, ...]
    closed_position_id: int | None


async def thread_story(db: Database, proposal_id: int) -> ThreadStory | None:
    """Return the proposal's orders and fills as recorded, or None for an unknown proposal."""
    async with db.sessions() as session:
        prop = await session.get(ProposalRow, proposal_id)
        if prop is None:
            return None
        orders = (await session.execute(select(OrderRow).where(
            OrderRow.proposal_id == proposal_id).order_by(OrderRow.id))).scalars().all()
        fills = (await session.execute(
            select(FillRow).join(OrderRow, FillRow.order_id == OrderRow.id)
            .where(OrderRow.proposal_id == proposal_id).order_by(FillRow.id))).scalars().all()
        closed = (await session.execute(select(PositionRow.id).where(
            PositionRow.proposal_id == proposal_id, PositionRow.status == PositionStatus.CLOSED,
            PositionRow.qty_filled > 0))).scalars().first()
    by_order: dict[int, list[FillView]] = {}
    for f in fills:
        order = next(o for o in orders if o.id == f.order_id)
        by_order.setdefault(f.order_id, []).append(
            FillView(f.at, order.purpose, order.side, f.qty, f.price))
    return ThreadStory(prop, tuple(OrderStory(
        o.id, o.purpose, o.side, o.symbol, o.qty, o.limit_price, o.status, o.last_error,
        tuple(by_order.get(o.id, ()))) for o in orders), closed)
