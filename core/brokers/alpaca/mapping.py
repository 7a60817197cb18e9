"""Translation between alpaca-py's models and ours; nothing else in ``core`` sees alpaca."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from alpaca.data.models import Bar as ABar
from alpaca.data.models import Quote as AQuote
from alpaca.data.models import Trade as ATrade
from alpaca.trading.enums import AssetClass as AAssetClass
from alpaca.trading.enums import OrderClass, PositionSide
from alpaca.trading.enums import OrderSide as AOrderSide
from alpaca.trading.enums import TimeInForce as ATimeInForce
from alpaca.trading.models import Order as AOrder
from alpaca.trading.models import Position as APosition
from alpaca.trading.models import TradeAccount, TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, OptionLegRequest

from core.brokers.models import (
    Account,
    AssetClass,
    Order,
    OrderEventType,
    OrderLeg,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    TimeInForce,
    asset_class_of,
)
from core.marketdata.models import Bar, Greeks, OptionContract, OptionSnapshot, Quote, Trade

ZERO = Decimal(0)

EVENT_MAP: dict[str, OrderEventType] = {
    "new": OrderEventType.NEW,
    "accepted": OrderEventType.ACCEPTED,
    "pending_new": OrderEventType.ACCEPTED,
    "partial_fill": OrderEventType.PARTIAL_FILL,
    "fill": OrderEventType.FILL,
    "canceled": OrderEventType.CANCELED,
    "expired": OrderEventType.EXPIRED,
    "rejected": OrderEventType.REJECTED,
    "replaced": OrderEventType.REPLACED,
}


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _enum_value(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def order_from_alpaca(o: AOrder) -> Order:
    """Map an alpaca-py order."""
    symbol = o.symbol or None
    ac = _enum_value(o.asset_class)
    if ac == AAssetClass.US_OPTION.value or o.order_class == OrderClass.MLEG:
        asset = AssetClass.US_OPTION
    elif ac == AAssetClass.US_EQUITY.value:
        asset = AssetClass.US_EQUITY
    else:
        asset = asset_class_of(symbol) if symbol else AssetClass.US_OPTION
    legs = None
    if o.legs:
        legs = tuple(
            OrderLeg(symbol=leg.symbol or "", side=OrderSide(_enum_value(leg.side)),
                     ratio_qty=int(Decimal(str(leg.ratio_qty or 1))))
            for leg in o.legs
        )
    tif = _enum_value(o.time_in_force)
    otype = _enum_value(o.order_type or o.type)
    return Order(
        id=str(o.id),
        client_order_id=o.client_order_id,
        symbol=symbol,
        asset_class=asset,
        side=OrderSide(_enum_value(o.side)) if o.side else None,
        type=OrderType(otype) if otype in ("market", "limit") else OrderType.LIMIT,
        time_in_force=TimeInForce(tif) if tif in ("day", "gtc") else TimeInForce.DAY,
        qty=_dec(o.qty) or ZERO,
        filled_qty=_dec(o.filled_qty) or ZERO,
        filled_avg_price=_dec(o.filled_avg_price),
        limit_price=_dec(o.limit_price),
        status=OrderStatus(_enum_value(o.status)),
        created_at=o.created_at,
        updated_at=o.updated_at,
        legs=legs,
        replaces=str(o.replaces) if o.replaces else None,
        replaced_by=str(o.replaced_by) if o.replaced_by else None,
    )


def update_from_alpaca(u: TradeUpdate) -> OrderUpdate | None:
    """Map a trade update; None for events we do not model (pending_cancel, restated...)."""
    event = EVENT_MAP.get(_enum_value(u.event) or "")
    if event is None:
        return None
    order = order_from_alpaca(u.order)
    fill_qty = _dec(u.qty) if event.is_fill else None
    fill_price = _dec(u.price) if event.is_fill else None
    exec_id = str(u.execution_id) if u.execution_id else f"{order.id}:{event.value}:{u.timestamp.isoformat()}"
    return OrderUpdate(event=event, order=order, timestamp=u.timestamp, execution_id=exec_id,
                       fill_qty=fill_qty, fill_price=fill_price)


def account_from_alpaca(a: TradeAccount) -> Account:
    """Map the account."""
    return Account(
        equity=_dec(a.equity) or ZERO,
        cash=_dec(a.cash) or ZERO,
        buying_power=_dec(a.buying_power) or ZERO,
        options_buying_power=_dec(a.options_buying_power) or _dec(a.buying_power) or ZERO,
        currency=a.currency or "USD",
    )


def position_from_alpaca(p: APosition) -> Position:
    """Map a position (short quantities negative)."""
    qty = _dec(p.qty) or ZERO
    if p.side == PositionSide.SHORT and qty > 0:
        qty = -qty
    ac = _enum_value(p.asset_class)
    return Position(
        symbol=p.symbol,
        asset_class=AssetClass.US_OPTION if ac == "us_option" else AssetClass.US_EQUITY,
        qty=qty,
        avg_entry_price=_dec(p.avg_entry_price) or ZERO,
        current_price=_dec(p.current_price),
        market_value=_dec(p.market_value),
        cost_basis=_dec(p.cost_basis) or ZERO,
        unrealized_pl=_dec(p.unrealized_pl),
    )


def request_to_alpaca(req: OrderRequest, limit_price: Decimal | None) -> MarketOrderRequest | LimitOrderRequest:
    """Build the alpaca-py request of one of our order requests."""
    common: dict[str, Any] = {
        "qty": float(req.qty),
        "time_in_force": ATimeInForce(req.time_in_force.value),
        "client_order_id": req.client_order_id,
    }
    if req.legs is not None:
        common["order_class"] = OrderClass.MLEG
        common["legs"] = [OptionLegRequest(symbol=leg.symbol, side=AOrderSide(leg.side.value),
                                           ratio_qty=leg.ratio_qty) for leg in req.legs]
    else:
        common["symbol"] = req.symbol
        common["side"] = AOrderSide(req.side.value) if req.side else None
    if req.type is OrderType.MARKET:
        return MarketOrderRequest(**common)
    return LimitOrderRequest(limit_price=float(limit_price) if limit_price is not None else None, **common)


def quote_from_alpaca(symbol: str, q: AQuote) -> Quote:
    """Map a stock quote."""
    return Quote(symbol, float(q.bid_price or 0.0), float(q.ask_price or 0.0),
                 int(q.bid_size or 0), int(q.ask_size or 0), q.timestamp)


def trade_from_alpaca(symbol: str, t: ATrade) -> Trade:
    """Map a trade."""
    return Trade(symbol, float(t.price), int(t.size or 0), t.timestamp)


def bar_from_alpaca(symbol: str, b: ABar) -> Bar:
    """Map a bar."""
    return Bar(symbol, b.timestamp, float(b.open), float(b.high), float(b.low), float(b.close),
               int(b.volume or 0))


def snapshot_from_alpaca(symbol: str, s: Any) -> OptionSnapshot:
    """Map an options snapshot (Alpaca gives no open interest or volume here)."""
    c = OptionContract.parse(symbol)
    q = s.latest_quote
    t = s.latest_trade
    g = s.greeks
    return OptionSnapshot(
        symbol=c.symbol, underlying=c.underlying, expiry=c.expiry, right=c.right, strike=c.strike,
        bid=float(q.bid_price) if q else None, ask=float(q.ask_price) if q else None,
        bid_size=int(q.bid_size) if q else None, ask_size=int(q.ask_size) if q else None,
        last=float(t.price) if t else None, volume=None, open_interest=None,
        iv=float(s.implied_volatility) if s.implied_volatility is not None else None,
        greeks=Greeks(g.delta, g.gamma, g.theta, g.vega, g.rho) if g is not None else None,
        timestamp=(q.timestamp if q else (t.timestamp if t else None)),
    )
