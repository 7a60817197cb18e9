"""Tables of the simulated exchange: its account, orders, fills and positions.

The matching engine keeps its working state in memory and writes every change here in the
same unit of work as the operation that caused it, so a restart continues where it stopped.
``processed_until`` records how far in (simulated) time the exchange has matched, expired and
settled, so nothing is done twice after a restart.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base


class SimAccountRow(Base):
    """The one simulated account (id 1)."""

    __tablename__ = "sim_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cash: Mapped[Decimal]
    starting_cash: Mapped[Decimal]
    processed_until: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SimOrderRow(Base):
    """One order of the simulated exchange."""

    __tablename__ = "sim_orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(128), unique=True)
    symbol: Mapped[str | None] = mapped_column(String(32), index=True)
    asset_class: Mapped[str] = mapped_column(String(16))
    side: Mapped[str | None] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(8))
    time_in_force: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    filled_qty: Mapped[Decimal]
    filled_avg_price: Mapped[Decimal | None]
    limit_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(255))
    replaces: Mapped[str | None] = mapped_column(String(36))
    replaced_by: Mapped[str | None] = mapped_column(String(36))
    legs: Mapped[list[Any] | None] = mapped_column(JSON)
    #: Minute (epoch // 60) of the displayed quote last traded against, for partial fills.
    last_fill_minute: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]


class SimFillRow(Base):
    """One execution against an order."""

    __tablename__ = "sim_fills"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sim_orders.id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    filled_at: Mapped[datetime] = mapped_column(index=True)


class SimPositionRow(Base):
    """An open position (rows with zero quantity are deleted)."""

    __tablename__ = "sim_positions"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    asset_class: Mapped[str] = mapped_column(String(16))
    qty: Mapped[Decimal]
    avg_entry_price: Mapped[Decimal]
    realized_pl: Mapped[Decimal]
    updated_at: Mapped[datetime]
