"""Tables for A+ setup messages and what was read from them.

A Discord message is stored once (unique message id). Each edit adds a
:class:`MessageRevision` and updates the signals in place, recording every change as a
:class:`SignalTransition`; a deleted message keeps its rows and marks its signals invalidated.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, UTCDateTime


class ParseStatus(StrEnum):
    """How a stored message was understood."""

    PARSED = "parsed"  # setups with signals, no warnings
    PARTIAL = "partial"  # setups read, with warnings about some lines
    NO_SIGNALS = "no_signals"  # an A+ post in which no level could be read
    NOT_APLUS = "not_aplus"  # chatter; stored so it is not re-read, never watched


class SignalStatus(StrEnum):
    """Lifecycle of a signal (later issues drive the transitions)."""

    PENDING = "pending"
    WATCHING = "watching"
    TRIGGERED = "triggered"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"


class SetupMessage(Base):
    """One Discord message read from a setup channel."""

    __tablename__ = "setup_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discord_message_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    channel_id: Mapped[int] = mapped_column(BigInteger, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigInteger)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    raw_text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    trading_date: Mapped[date | None] = mapped_column(Date, index=True)
    parse_status: Mapped[str] = mapped_column(String(16))
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    setups: Mapped[list[TickerSetupRow]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="TickerSetupRow.id"
    )
    revisions: Mapped[list[MessageRevision]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="MessageRevision.revision"
    )


class MessageRevision(Base):
    """The text of a message as it was at one revision, and what changed from the last."""

    __tablename__ = "message_revisions"
    __table_args__ = (UniqueConstraint("message_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("setup_messages.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    raw_text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    message: Mapped[SetupMessage] = relationship(back_populates="revisions")


class TickerSetupRow(Base):
    """One ticker's block in a message."""

    __tablename__ = "ticker_setups"
    __table_args__ = (UniqueConstraint("message_id", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("setup_messages.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(16), index=True)
    trading_date: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(default=True)

    message: Mapped[SetupMessage] = relationship(back_populates="setups")
    signals: Mapped[list[SignalRow]] = relationship(
        back_populates="setup", cascade="all, delete-orphan", order_by="SignalRow.ordinal"
    )
    bias: Mapped[BiasRow | None] = relationship(
        back_populates="setup", cascade="all, delete-orphan", uselist=False
    )


class SignalRow(Base):
    """A level to watch, with its lifecycle status."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("setup_id", "key"),
        Index("ix_signals_date_status", "trading_date", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    setup_id: Mapped[int] = mapped_column(ForeignKey("ticker_setups.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(16), index=True)
    trading_date: Mapped[date | None] = mapped_column(Date)
    key: Mapped[str] = mapped_column(String(64))
    ordinal: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    aggressiveness: Mapped[str] = mapped_column(String(16))
    comparison: Mapped[str] = mapped_column(String(16))
    trigger_low: Mapped[Decimal]
    trigger_high: Mapped[Decimal | None]
    source_line: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=SignalStatus.PENDING)
    status_reason: Mapped[str | None] = mapped_column(String(255))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    setup: Mapped[TickerSetupRow] = relationship(back_populates="signals")
    targets: Mapped[list[TargetRow]] = relationship(
        back_populates="signal", cascade="all, delete-orphan", order_by="TargetRow.position"
    )
    transitions: Mapped[list[SignalTransition]] = relationship(
        back_populates="signal", cascade="all, delete-orphan", order_by="SignalTransition.id"
    )


class TargetRow(Base):
    """A price target of a signal, in message order (T1 is position 1)."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("signal_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal]

    signal: Mapped[SignalRow] = relationship(back_populates="targets")


class BiasRow(Base):
    """The stated bias of a ticker setup."""

    __tablename__ = "biases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    setup_id: Mapped[int] = mapped_column(
        ForeignKey("ticker_setups.id", ondelete="CASCADE"), unique=True
    )
    direction: Mapped[str | None] = mapped_column(String(16))
    condition: Mapped[str | None] = mapped_column(String(16))
    price: Mapped[Decimal | None]
    flip_direction: Mapped[str | None] = mapped_column(String(16))
    flip_price: Mapped[Decimal | None]
    text: Mapped[str] = mapped_column(Text)

    setup: Mapped[TickerSetupRow] = relationship(back_populates="bias")


class SignalTransition(Base):
    """One change of a signal: a status move or an edit of its levels, with when and why."""

    __tablename__ = "signal_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    price: Mapped[Decimal | None]
    reason: Mapped[str] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(64), default="system")

    signal: Mapped[SignalRow] = relationship(back_populates="transitions")
