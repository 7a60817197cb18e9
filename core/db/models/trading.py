"""Tables of the trading engine: proposals, orders, fills, positions, marks, audit, state.

Every order row is written *before* the broker call (status ``pending_submit``, with the
client order id derived from its primary key) and updated after, so a crash at any point can
be reconciled against the broker by client order id. Fills carry the broker's execution id
(unique), so a fill replayed by a reconnecting stream is recorded once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, UTCDateTime


class ProposalStatus(StrEnum):
    """Lifecycle of a proposal."""

    OPEN = "open"  # waiting for a trader's decision
    CONFIRMED = "confirmed"  # an order was sent
    REJECTED = "rejected"
    EXPIRED = "expired"
    REFUSED = "refused"  # a risk rule refused the order at confirm time
    FAILED = "failed"  # the entry order could not be filled


class OrderPurpose(StrEnum):
    """Why an order was sent."""

    ENTRY = "entry"
    SCALE_OUT = "scale_out"
    STOP = "stop"
    EXIT = "exit"


class PositionStatus(StrEnum):
    """Lifecycle of a position."""

    OPENING = "opening"  # entry order working, maybe partly filled
    OPEN = "open"
    CLOSING = "closing"  # an exit order is working
    CLOSED = "closed"


class ProposalRow(Base):
    """A proposed option trade for a triggered signal."""

    __tablename__ = "proposals"
    __table_args__ = (Index("ix_proposals_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))
    trading_date: Mapped[date] = mapped_column(Date, index=True)
    underlying: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=ProposalStatus.OPEN)
    contract: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    limit_price: Mapped[Decimal]
    bid: Mapped[Decimal]
    ask: Mapped[Decimal]
    underlying_price: Mapped[Decimal]
    est_cost: Mapped[Decimal]
    max_loss: Mapped[Decimal]
    stop_price: Mapped[Decimal | None]
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # greeks, alternates...
    version: Mapped[int] = mapped_column(Integer, default=1)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_note: Mapped[str | None] = mapped_column(String(255))
    chat_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    chat_message_id: Mapped[int | None] = mapped_column(BigInteger)
    chat_thread_id: Mapped[int | None] = mapped_column(BigInteger)


class PositionRow(Base):
    """An option position opened from a proposal."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), index=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="SET NULL"))
    trading_date: Mapped[date] = mapped_column(Date, index=True)
    contract: Mapped[str] = mapped_column(String(32), index=True)
    underlying: Mapped[str] = mapped_column(String(16), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PositionStatus.OPENING, index=True)
    qty_open: Mapped[int] = mapped_column(Integer, default=0)
    qty_filled: Mapped[int] = mapped_column(Integer, default=0)
    qty_closed: Mapped[int] = mapped_column(Integer, default=0)
    avg_entry: Mapped[Decimal] = mapped_column(default=Decimal(0))
    avg_exit: Mapped[Decimal | None]
    realized_pnl: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    stop_price: Mapped[Decimal | None]
    entry_trigger: Mapped[Decimal | None]
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    targets_hit: Mapped[int] = mapped_column(Integer, default=0)
    stop_at_entry: Mapped[bool] = mapped_column(Boolean, default=False)
    last_mark: Mapped[Decimal | None]
    last_underlying: Mapped[Decimal | None]
    unrealized_pnl: Mapped[Decimal | None]
    greeks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    exit_reason: Mapped[str | None] = mapped_column(String(255))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    orders: Mapped[list[OrderRow]] = relationship(back_populates="position", order_by="OrderRow.id")


class OrderRow(Base):
    """Our record of a broker order, written before the broker is called."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"), index=True)
    position_id: Mapped[int | None] = mapped_column(ForeignKey("positions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(16))
    time_in_force: Mapped[str] = mapped_column(String(8))
    qty: Mapped[int] = mapped_column(Integer)
    limit_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), index=True)
    filled_qty: Mapped[int] = mapped_column(Integer, default=0)
    avg_fill_price: Mapped[Decimal | None]
    reprices: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    position: Mapped[PositionRow | None] = relationship(back_populates="orders")
    fills: Mapped[list[FillRow]] = relationship(back_populates="order", order_by="FillRow.id")


class FillRow(Base):
    """One execution of an order (de-duplicated by the broker's execution id)."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    execution_id: Mapped[str] = mapped_column(String(96), unique=True)
    qty: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal]
    fee: Mapped[Decimal] = mapped_column(default=Decimal(0))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    order: Mapped[OrderRow] = relationship(back_populates="fills")


class PositionSnapshot(Base):
    """A mark-to-market of a position at a moment."""

    __tablename__ = "position_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    mark: Mapped[Decimal]
    underlying_price: Mapped[Decimal | None]
    unrealized_pnl: Mapped[Decimal]
    greeks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditEntry(Base):
    """Every state change: who caused it, what, and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EngineStateRow(Base):
    """Runtime state that must survive a restart: pause, kill switch, changed limits."""

    __tablename__ = "engine_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
