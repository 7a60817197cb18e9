"""Declarative base, shared column types and naming conventions.

Nothing here is SQLite-specific: timestamps are stored through :class:`UTCDateTime` (aware
UTC in and out on every backend), prices are ``Numeric``, JSON uses the generic type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Prices and money: 18 digits, 6 after the point (option prices, fractional cents).
Price = Numeric(18, 6, asdecimal=True)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (UTC).

    SQLite has no time zones and returns naive values; PostgreSQL returns aware ones. This
    type hides the difference and refuses naive input so no local time sneaks in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        Decimal: Price,
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        list[str]: JSON(),
        int: BigInteger().with_variant(BigInteger(), "postgresql"),
        str: String(255),
    }

    def __repr__(self) -> str:
        cols = [c.key for c in self.__table__.primary_key.columns]  # type: ignore[attr-defined]
        ident = ", ".join(f"{c}={getattr(self, c, None)!r}" for c in cols)
        return f"<{type(self).__name__} {ident}>"
