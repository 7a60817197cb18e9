"""The broker domain: order requests, orders, order events, account and positions.

Money and quantities are :class:`~decimal.Decimal`. Everything is an immutable pydantic model
validated on construction, so a malformed request never reaches a broker.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: An OCC option symbol as Alpaca spells it: root, YYMMDD, C/P, strike x 1000 (8 digits).
OCC_RE = re.compile(r"^(?P<root>[A-Z][A-Z0-9.]{0,5})(?P<ymd>\d{6})(?P<cp>[CP])(?P<strike>\d{8})$")
STOCK_RE = re.compile(r"^[A-Z]{1,5}([.][A-Z])?$")
#: Alpaca accepts client order ids up to 128 characters.
MAX_CLIENT_ORDER_ID = 128
#: Shares per option contract.
OPTION_MULTIPLIER = Decimal(100)


class OrderSide(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        """Return the other side."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    """Market or limit."""

    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """How long an order may rest."""

    DAY = "day"
    GTC = "gtc"


class AssetClass(StrEnum):
    """What is traded."""

    US_EQUITY = "us_equity"
    US_OPTION = "us_option"


class OrderStatus(StrEnum):
    """Lifecycle state of an order (Alpaca's vocabulary)."""

    PENDING_NEW = "pending_new"
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"
    DONE_FOR_DAY = "done_for_day"

    @property
    def is_terminal(self) -> bool:
        """Tell whether the order can no longer change."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED,
     OrderStatus.REPLACED}
)


class OrderEventType(StrEnum):
    """What happened to an order."""

    NEW = "new"
    ACCEPTED = "accepted"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"

    @property
    def is_fill(self) -> bool:
        """Tell whether the event carries a fill."""
        return self in (OrderEventType.FILL, OrderEventType.PARTIAL_FILL)


def asset_class_of(symbol: str) -> AssetClass:
    """Return the asset class a symbol belongs to (OCC option symbols are options)."""
    return AssetClass.US_OPTION if OCC_RE.match(symbol) else AssetClass.US_EQUITY


def client_order_id_for(kind: str, record_id: int | str, attempt: int = 0) -> str:
    """Derive the client order id of one of our records (stable across retries and restarts).

    The same record and attempt always give the same id, so a retried submit is recognised by
    the broker instead of creating a second order. ``attempt`` only changes when the trader
    deliberately sends a new order for the same record (for example after a cancel).
    """
    cid = f"aplus-{kind}-{record_id}-{attempt}"
    if len(cid) > MAX_CLIENT_ORDER_ID:
        raise ValueError("client order id too long")
    return cid


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class OrderLeg(_Frozen):
    """One leg of a multi-leg (spread) order."""

    symbol: str
    side: OrderSide
    ratio_qty: int = Field(1, ge=1)

    @field_validator("symbol")
    @classmethod
    def _option_symbol(cls, value: str) -> str:
        value = value.strip().upper()
        if not OCC_RE.match(value):
            raise ValueError(f"a leg must be an OCC option symbol, got {value!r}")
        return value


class OrderRequest(_Frozen):
    """An order we want placed, validated before any broker sees it.

    ``client_order_id`` must come from our own record (see :func:`client_order_id_for`); a
    broker that already knows the id returns the existing order instead of placing another.
    ``limit_price`` off the tick grid is rounded in the safe direction (down for buys, up for
    sells) when ``allow_price_rounding`` is set, otherwise refused with the reason.
    """

    client_order_id: str = Field(min_length=1, max_length=MAX_CLIENT_ORDER_ID)
    symbol: str | None = None
    qty: Decimal
    side: OrderSide | None = None
    type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    legs: tuple[OrderLeg, ...] | None = None
    allow_price_rounding: bool = False

    @field_validator("symbol")
    @classmethod
    def _norm_symbol(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None

    @model_validator(mode="after")
    def _rules(self) -> OrderRequest:
        if not self.qty.is_finite() or self.qty <= 0:
            raise ValueError(f"quantity must be positive, got {self.qty}")
        if self.type is OrderType.LIMIT and self.limit_price is None:
            raise ValueError("a limit order needs a limit price")
        if self.type is OrderType.MARKET and self.limit_price is not None:
            raise ValueError("a market order takes no limit price")
        if self.legs is not None:
            if len(self.legs) < 2:
                raise ValueError("a multi-leg order needs at least two legs")
            if self.qty != self.qty.to_integral_value():
                raise ValueError("option quantities are whole contracts")
            return self
        if not self.symbol or self.side is None:
            raise ValueError("a single-leg order needs a symbol and a side")
        if not (OCC_RE.match(self.symbol) or STOCK_RE.match(self.symbol)):
            raise ValueError(f"not a stock or OCC option symbol: {self.symbol!r}")
        if self.limit_price is not None and (not self.limit_price.is_finite() or self.limit_price <= 0):
            raise ValueError(f"limit price must be positive, got {self.limit_price}")
        if self.is_option and self.qty != self.qty.to_integral_value():
            raise ValueError("option quantities are whole contracts")
        return self

    @property
    def is_multileg(self) -> bool:
        """Tell whether this is a spread order."""
        return self.legs is not None

    @property
    def asset_class(self) -> AssetClass:
        """Return the asset class traded (multi-leg orders are options)."""
        if self.legs is not None or self.symbol is None:
            return AssetClass.US_OPTION
        return asset_class_of(self.symbol)

    @property
    def is_option(self) -> bool:
        """Tell whether options are traded."""
        return self.asset_class is AssetClass.US_OPTION


class Order(_Frozen):
    """A broker's view of one order at one moment."""

    id: str
    client_order_id: str
    symbol: str | None
    asset_class: AssetClass
    side: OrderSide | None
    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    limit_price: Decimal | None = None
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    legs: tuple[OrderLeg, ...] | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    reject_reason: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        if self.filled_qty < 0 or self.filled_qty > self.qty:
            raise ValueError(f"filled quantity {self.filled_qty} outside 0..{self.qty}")
        return self

    @property
    def remaining_qty(self) -> Decimal:
        """Return the quantity still to fill."""
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        """Tell whether the order may still fill or change."""
        return not self.status.is_terminal


class OrderUpdate(_Frozen):
    """One order event, as streamed by :meth:`Broker.order_updates`.

    ``execution_id`` is unique per event; consumers de-duplicate on it. For fills,
    ``fill_qty``/``fill_price`` are this execution's quantity and price, and ``order`` is the
    snapshot after it.
    """

    event: OrderEventType
    order: Order
    timestamp: datetime
    execution_id: str
    fill_qty: Decimal | None = None
    fill_price: Decimal | None = None

    @model_validator(mode="after")
    def _fill_fields(self) -> OrderUpdate:
        if self.event.is_fill:
            if self.fill_qty is None or self.fill_price is None or self.fill_qty <= 0:
                raise ValueError("a fill event needs a positive fill quantity and a price")
        elif self.fill_qty is not None:
            raise ValueError(f"a {self.event} event carries no fill")
        return self


class Account(_Frozen):
    """Balances of the trading account, USD."""

    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    options_buying_power: Decimal
    currency: str = "USD"


class Position(_Frozen):
    """An open position; ``qty`` is negative for shorts."""

    symbol: str
    asset_class: AssetClass
    qty: Decimal
    avg_entry_price: Decimal
    current_price: Decimal | None = None
    market_value: Decimal | None = None
    cost_basis: Decimal
    unrealized_pl: Decimal | None = None

    @property
    def side(self) -> OrderSide:
        """Return ``buy`` for a long position, ``sell`` for a short one."""
        return OrderSide.BUY if self.qty > 0 else OrderSide.SELL
