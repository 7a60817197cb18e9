"""The matching engine of the simulated exchange (synchronous, in memory, deterministic).

Behaviour, as a trader would see it:

- limit orders rest until marketable against the simulated bid/ask, then fill at the limit or
  better (at the ask for buys, the bid for sells), at most the displayed size per quote update
  (a new quote every minute), so large orders fill in parts;
- market orders fill at the far side plus the configured slippage, walking one tick further
  for every displayed size they take; they are taken only while the market is open;
- limit orders sent while the market is closed are ``accepted`` and wait for the open;
- day orders expire at the session close (13:00 on half days); GTC orders stay;
- options expire at the close of their expiry day: in the money they are settled in cash at
  intrinsic value against the underlying's closing price, out of the money they lapse;
- a cash account: buys need cash not already reserved by open buy orders; sells need the
  position (no short stock, no uncovered options). Multi-leg orders are not simulated yet.

Every change is recorded in :class:`Changes` for the store to persist, and every order event
is queued for publication.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from core.brokers.errors import (
    InsufficientBuyingPower,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
)
from core.brokers.models import (
    OPTION_MULTIPLIER,
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
)
from core.brokers.ticks import checked_limit_price, tick_for
from core.calendar import MarketCalendar
from core.marketdata.models import OptionContract, OptionRight
from core.marketdata.sim import SimMarketData

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal(0)


def _d(x: float) -> Decimal:
    return Decimal(str(round(x, 4)))


@dataclass(slots=True)
class SimOrder:
    """The engine's mutable record of one order."""

    id: str
    client_order_id: str
    symbol: str
    asset_class: AssetClass
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    reject_reason: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    legs: list[dict[str, object]] | None = None
    last_fill_minute: int | None = None

    @property
    def remaining(self) -> Decimal:
        """Return the quantity still to fill."""
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        """Tell whether the order can still fill."""
        return not self.status.is_terminal

    @property
    def multiplier(self) -> Decimal:
        """Return the contract multiplier (100 for options)."""
        return OPTION_MULTIPLIER if self.asset_class is AssetClass.US_OPTION else Decimal(1)

    def snapshot(self) -> Order:
        """Return the immutable view of the order.

        Built without re-validation (``model_construct``): the engine only holds values that
        passed the request's validation and keeps ``0 <= filled_qty <= qty`` itself. This is the
        hot path of every event.
        """
        return Order.model_construct(
            id=self.id, client_order_id=self.client_order_id, symbol=self.symbol,
            asset_class=self.asset_class, side=self.side, type=self.type,
            time_in_force=self.time_in_force, qty=self.qty, filled_qty=self.filled_qty,
            filled_avg_price=self.filled_avg_price, limit_price=self.limit_price,
            status=self.status, created_at=self.created_at, updated_at=self.updated_at,
            legs=tuple(OrderLeg(**leg) for leg in self.legs) if self.legs else None,  # type: ignore[arg-type]
            replaces=self.replaces, replaced_by=self.replaced_by, reject_reason=self.reject_reason,
        )


@dataclass(slots=True)
class SimPosition:
    """The engine's mutable record of one position."""

    symbol: str
    asset_class: AssetClass
    qty: Decimal
    avg_entry_price: Decimal
    realized_pl: Decimal
    updated_at: datetime

    @property
    def multiplier(self) -> Decimal:
        """Return the contract multiplier."""
        return OPTION_MULTIPLIER if self.asset_class is AssetClass.US_OPTION else Decimal(1)


@dataclass(slots=True)
class SimFill:
    """One execution."""

    id: str
    order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    filled_at: datetime


@dataclass
class Changes:
    """What changed since the last save."""

    new_orders: dict[str, SimOrder] = field(default_factory=dict)
    orders: dict[str, SimOrder] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    positions: dict[str, SimPosition | None] = field(default_factory=dict)
    account: bool = False

    def __bool__(self) -> bool:
        return bool(self.new_orders or self.orders or self.fills or self.positions or self.account)


class SimExchange:
    """Orders, fills, cash and positions of the simulated account."""

    def __init__(
        self,
        market: SimMarketData,
        *,
        cash: Decimal,
        processed_until: datetime,
        slippage: Decimal = CENT,
        fee_per_contract: Decimal = ZERO,
        calendar: MarketCalendar | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.market = market
        self.calendar = calendar or market.calendar
        self.cash = cash
        self.processed_until = processed_until
        self.slippage = slippage
        self.fee_per_contract = fee_per_contract
        self.new_id = new_id
        self.orders: dict[str, SimOrder] = {}
        self.by_cid: dict[str, str] = {}
        self.open_ids: dict[str, None] = {}  # insertion-ordered set
        self.positions: dict[str, SimPosition] = {}
        self.changes = Changes()
        self.events: list[OrderUpdate] = []
        self._seq = 0

    # ---- loading -----------------------------------------------------------------
    def load(self, orders: Iterable[SimOrder], positions: Iterable[SimPosition],
             client_ids: dict[str, str] | None = None) -> None:
        """Install state read from the store (``client_ids``: every order's, ended ones too)."""
        self.by_cid.update(client_ids or {})
        for o in orders:
            self.orders[o.id] = o
            self.by_cid[o.client_order_id] = o.id
            if o.is_open:
                self.open_ids[o.id] = None
        for p in positions:
            self.positions[p.symbol] = p

    def take_changes(self) -> Changes:
        """Return and reset the pending changes."""
        ch, self.changes = self.changes, Changes()
        return ch

    def take_events(self) -> list[OrderUpdate]:
        """Return and reset the pending order events."""
        ev, self.events = self.events, []
        return ev

    # ---- helpers -------------------------------------------------------------------
    def _touch(self, o: SimOrder, now: datetime) -> None:
        o.updated_at = now
        if o.id not in self.changes.new_orders:
            self.changes.orders[o.id] = o

    def _emit(self, event: OrderEventType, o: SimOrder, now: datetime, *,
              fill: SimFill | None = None) -> None:
        self._seq += 1
        self.events.append(OrderUpdate.model_construct(  # the engine's events are consistent by construction
            event=event, order=o.snapshot(), timestamp=now,
            execution_id=fill.id if fill else f"{o.id}:{event.value}:{self._seq}",
            fill_qty=fill.qty if fill else None, fill_price=fill.price if fill else None,
        ))

    def _quote(self, symbol: str, asset_class: AssetClass, t: datetime) -> tuple[Decimal, Decimal, int, int]:
        if asset_class is AssetClass.US_OPTION:
            q = self.market.option_quote_at(symbol, t)
            return _d(q.bid or 0.0), _d(q.ask or 0.0), q.bid_size or 0, q.ask_size or 0
        sq = self.market.quote_at(symbol, t)
        return _d(sq.bid), _d(sq.ask), sq.bid_size, sq.ask_size

    def _reserved(self, exclude: str | None = None) -> Decimal:
        total = ZERO
        for oid in self.open_ids:
            o = self.orders[oid]
            if o.side is OrderSide.BUY and oid != exclude:
                total += o.remaining * (o.limit_price or self._est_price(o)) * o.multiplier + self._fee(o, o.remaining)
        return total

    def _est_price(self, o: SimOrder) -> Decimal:
        try:
            _, ask, _, _ = self._quote(o.symbol, o.asset_class, self.processed_until)
        except Exception:
            return ZERO
        return ask + self.slippage

    def _fee(self, o: SimOrder, qty: Decimal) -> Decimal:
        return self.fee_per_contract * qty if o.asset_class is AssetClass.US_OPTION else ZERO

    def _held_for_sells(self, symbol: str, exclude: str | None = None) -> Decimal:
        return sum((self.orders[i].remaining for i in self.open_ids
                    if self.orders[i].symbol == symbol and self.orders[i].side is OrderSide.SELL
                    and i != exclude), ZERO)

    # ---- orders ----------------------------------------------------------------------
    def submit(self, req: OrderRequest, now: datetime) -> SimOrder:
        """Validate and place an order; return the existing one for a known client order id."""
        existing = self.by_cid.get(req.client_order_id)
        if existing is not None:
            known = self.orders.get(existing)
            if known is None:  # ended on an earlier day: a client order id is used once
                raise InvalidOrder(f"client order id {req.client_order_id} was already used "
                                   f"by order {existing}, which has ended")
            return known
        if req.is_multileg:
            raise InvalidOrder("multi-leg orders are not supported by the simulated exchange yet")
        assert req.symbol is not None and req.side is not None
        asset = req.asset_class
        bid, ask, _, _ = self._quote(req.symbol, asset, now)  # raises UnknownSymbol
        limit = req.limit_price
        if limit is not None:
            limit = checked_limit_price(req.symbol, limit, req.side, allow_rounding=req.allow_price_rounding)
        market_open = self.calendar.is_open(now)
        if req.type is OrderType.MARKET and not market_open:
            raise MarketClosed(
                f"the market is closed ({now:%Y-%m-%d %H:%M} UTC); market orders are taken only "
                "during regular hours"
            )
        order = SimOrder(
            id=self.new_id(), client_order_id=req.client_order_id, symbol=req.symbol,
            asset_class=asset, side=req.side, type=req.type, time_in_force=req.time_in_force,
            qty=req.qty, limit_price=limit, status=OrderStatus.NEW if market_open else OrderStatus.ACCEPTED,
            created_at=now, updated_at=now,
        )
        self._check_funds(order, bid, ask)
        self.orders[order.id] = order
        self.by_cid[order.client_order_id] = order.id
        self.open_ids[order.id] = None
        self.changes.new_orders[order.id] = order
        self._emit(OrderEventType.NEW if market_open else OrderEventType.ACCEPTED, order, now)
        if market_open:
            self._match(order, now)
        return order

    def _check_funds(self, o: SimOrder, bid: Decimal, ask: Decimal, exclude: str | None = None) -> None:
        if o.side is OrderSide.SELL:
            pos = self.positions.get(o.symbol)
            have = pos.qty if pos is not None and pos.qty > 0 else ZERO
            available = have - self._held_for_sells(o.symbol, exclude)
            if o.qty > available:
                if have == 0 and o.asset_class is AssetClass.US_EQUITY:
                    raise OrderRejected("account is not allowed to short")
                raise OrderRejected(
                    f"insufficient qty available for order (requested: {o.qty.normalize():f}, "
                    f"available: {max(available, ZERO).normalize():f})"
                )
            return
        price = o.limit_price if o.limit_price is not None else ask + self.slippage
        cost = o.qty * price * o.multiplier + self._fee(o, o.qty)
        available = self.cash - self._reserved(exclude)
        if cost > available:
            raise InsufficientBuyingPower(
                f"insufficient buying power: the order needs ${cost:,.2f}, "
                f"${max(available, ZERO):,.2f} is available"
            )

    def forget_ended(self, before: datetime) -> int:
        """Drop from memory the ended orders last changed before ``before``; return how many.

        The store keeps them (``SimStore.order`` answers for them) and their client order ids
        stay known here, so a process trading day after day holds only its recent orders.
        """
        old = [oid for oid, o in self.orders.items() if not o.is_open and o.updated_at < before]
        for oid in old:
            del self.orders[oid]
        return len(old)

    def get(self, order_id: str) -> SimOrder:
        """Return an order by id."""
        try:
            return self.orders[order_id]
        except KeyError:
            raise OrderNotFound(f"order {order_id} not found") from None

    def cancel(self, order_id: str, now: datetime) -> SimOrder:
        """Cancel an open order."""
        o = self.get(order_id)
        if not o.is_open:
            raise OrderRejected(f"order is {o.status.value} and can no longer be canceled")
        self._close(o, OrderStatus.CANCELED, OrderEventType.CANCELED, now)
        return o

    def _close(self, o: SimOrder, status: OrderStatus, event: OrderEventType, now: datetime) -> None:
        o.status = status
        self.open_ids.pop(o.id, None)
        self._touch(o, now)
        self._emit(event, o, now)

    def replace(self, order_id: str, now: datetime, *, qty: Decimal | None, limit_price: Decimal | None,
                client_order_id: str | None) -> SimOrder:
        """Replace an open order by a new one with another quantity and/or limit price."""
        old = self.get(order_id)
        if not old.is_open:
            raise OrderRejected(f"order is {old.status.value} and can no longer be replaced")
        if old.filled_qty > 0:
            raise OrderRejected("a partially filled order cannot be replaced; cancel it instead")
        new_qty = qty if qty is not None else old.qty
        if new_qty <= 0:
            raise InvalidOrder(f"quantity must be positive, got {new_qty}")
        new_limit = limit_price if limit_price is not None else old.limit_price
        if old.type is OrderType.LIMIT and new_limit is not None:
            new_limit = checked_limit_price(old.symbol, new_limit, old.side, allow_rounding=False)
        cid = client_order_id or f"{old.client_order_id}-r"[-128:]
        if cid in self.by_cid:
            raise InvalidOrder(f"client order id {cid} is already used")
        new = SimOrder(
            id=self.new_id(), client_order_id=cid, symbol=old.symbol, asset_class=old.asset_class,
            side=old.side, type=old.type, time_in_force=old.time_in_force, qty=new_qty,
            limit_price=new_limit, status=old.status, created_at=now, updated_at=now, replaces=old.id,
        )
        bid, ask, _, _ = self._quote(old.symbol, old.asset_class, now)
        self._check_funds(new, bid, ask, exclude=old.id)
        old.replaced_by = new.id
        self._close(old, OrderStatus.REPLACED, OrderEventType.REPLACED, now)
        self.orders[new.id] = new
        self.by_cid[cid] = new.id
        self.open_ids[new.id] = None
        self.changes.new_orders[new.id] = new
        self._emit(OrderEventType.NEW, new, now)
        if self.calendar.is_open(now):
            self._match(new, now)
        return new

    # ---- matching ----------------------------------------------------------------------
    def _match(self, o: SimOrder, now: datetime) -> None:
        minute = int(now.timestamp()) // 60
        if o.type is OrderType.LIMIT and o.last_fill_minute == minute:
            return  # the displayed size of this quote was already taken
        try:
            bid, ask, bid_size, ask_size = self._quote(o.symbol, o.asset_class, now)
        except Exception:
            return
        buy = o.side is OrderSide.BUY
        far, size = (ask, ask_size) if buy else (bid, bid_size)
        if far <= 0 or size <= 0:
            return
        size_d = Decimal(size)
        if o.type is OrderType.LIMIT:
            assert o.limit_price is not None
            if (buy and far > o.limit_price) or (not buy and far < o.limit_price):
                return
            self._fill(o, min(o.remaining, size_d), far, now)
            o.last_fill_minute = minute
            return
        tick = tick_for(o.symbol, far)
        level = 0
        while o.remaining > 0:
            step = tick * level
            price = far + step + self.slippage if buy else far - step - self.slippage
            if price < tick:
                return  # nothing to sell into; the market order rests
            self._fill(o, min(o.remaining, size_d), price, now)
            level += 1

    def _fill(self, o: SimOrder, qty: Decimal, price: Decimal, now: datetime) -> None:
        fee = self._fee(o, qty)
        fill = SimFill(self.new_id(), o.id, o.symbol, o.side, qty, price, fee, now)
        prev = o.filled_qty
        o.filled_qty = prev + qty
        o.filled_avg_price = (((o.filled_avg_price or ZERO) * prev + price * qty) / o.filled_qty).quantize(
            Decimal("0.000001"))
        sign = Decimal(1) if o.side is OrderSide.BUY else Decimal(-1)
        self.cash -= sign * qty * price * o.multiplier + fee
        self.changes.account = True
        self._position(o.symbol, o.asset_class, sign * qty, price, now)
        self.changes.fills.append(fill)
        if o.filled_qty >= o.qty:
            o.status = OrderStatus.FILLED
            self.open_ids.pop(o.id, None)
            event = OrderEventType.FILL
        else:
            o.status = OrderStatus.PARTIALLY_FILLED
            event = OrderEventType.PARTIAL_FILL
        self._touch(o, now)
        self._emit(event, o, now, fill=fill)

    def _position(self, symbol: str, asset: AssetClass, delta: Decimal, price: Decimal, now: datetime) -> None:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = SimPosition(symbol, asset, ZERO, ZERO, ZERO, now)
            self.positions[symbol] = pos
        old = pos.qty
        new = old + delta
        if old == 0 or (old > 0) == (delta > 0):
            pos.avg_entry_price = ((pos.avg_entry_price * abs(old) + price * abs(delta)) / abs(new)).quantize(
                Decimal("0.000001"))
        else:
            closed = min(abs(delta), abs(old))
            direction = Decimal(1) if old > 0 else Decimal(-1)
            pos.realized_pl += (price - pos.avg_entry_price) * closed * direction * pos.multiplier
            if new != 0 and (new > 0) != (old > 0):
                pos.avg_entry_price = price
        pos.qty = new
        pos.updated_at = now
        if new == 0:
            del self.positions[symbol]
            self.changes.positions[symbol] = None
        else:
            self.changes.positions[symbol] = pos

    # ---- time --------------------------------------------------------------------------
    def process(self, now: datetime) -> None:
        """Advance to ``now``: match resting orders, expire day orders, settle expiries."""
        if now <= self.processed_until:
            return
        for day in self.calendar.closes_between(self.processed_until, now):
            close = self.calendar.session_close(day)
            last = close - timedelta(seconds=1)
            if last > self.processed_until:
                self._match_all(last)
            self._end_of_day(day, close)
        if self.calendar.is_open(now):
            self._match_all(now)
        self.processed_until = now
        self.changes.account = True

    def _match_all(self, t: datetime) -> None:
        for oid in list(self.open_ids):
            o = self.orders[oid]
            if o.status is OrderStatus.ACCEPTED:
                o.status = OrderStatus.NEW
                self._touch(o, t)
                self._emit(OrderEventType.NEW, o, t)
            self._match(o, t)

    def _end_of_day(self, day: date, close: datetime) -> None:
        for oid in list(self.open_ids):
            o = self.orders[oid]
            expiring_contract = (o.asset_class is AssetClass.US_OPTION
                                 and OptionContract.parse(o.symbol).expiry <= day)
            if (o.time_in_force is TimeInForce.DAY and o.created_at < close) or expiring_contract:
                self._close(o, OrderStatus.EXPIRED, OrderEventType.EXPIRED, close)
        for sym, pos in list(self.positions.items()):
            if pos.asset_class is not AssetClass.US_OPTION:
                continue
            c = OptionContract.parse(sym)
            if c.expiry > day:
                continue
            spot = _d(self.market.settlement_price(c.underlying, c.expiry))
            strike = _d(c.strike)
            intrinsic = max(spot - strike, ZERO) if c.right is OptionRight.CALL else max(strike - spot, ZERO)
            self.cash += pos.qty * intrinsic * OPTION_MULTIPLIER
            pos.realized_pl += (intrinsic - pos.avg_entry_price) * pos.qty * OPTION_MULTIPLIER
            log.info("sim expiry %s: %s contracts settled at intrinsic %s (underlying %s)",
                     sym, pos.qty, intrinsic, spot)
            del self.positions[sym]
            self.changes.positions[sym] = None
            self.changes.account = True

    # ---- views -------------------------------------------------------------------------
    def mark(self, pos: SimPosition, t: datetime) -> Decimal | None:
        """Return the mark price of a position (mid for options, last for stocks)."""
        try:
            if pos.asset_class is AssetClass.US_OPTION:
                q = self.market.option_quote_at(pos.symbol, t)
                return _d(q.mid) if q.mid is not None else None
            return _d(self.market.price_at(pos.symbol, t))
        except Exception:
            return None

    def position_view(self, pos: SimPosition, t: datetime) -> Position:
        """Return the immutable view of a position with its current value."""
        mark = self.mark(pos, t)
        cost = pos.qty * pos.avg_entry_price * pos.multiplier
        value = pos.qty * mark * pos.multiplier if mark is not None else None
        return Position(
            symbol=pos.symbol, asset_class=pos.asset_class, qty=pos.qty,
            avg_entry_price=pos.avg_entry_price, current_price=mark, market_value=value,
            cost_basis=cost, unrealized_pl=(value - cost) if value is not None else None,
        )

    def account(self, t: datetime) -> Account:
        """Return the balances: a cash account, buying power = cash not reserved by buys."""
        equity = self.cash
        for pos in self.positions.values():
            view = self.position_view(pos, t)
            equity += view.market_value if view.market_value is not None else view.cost_basis
        bp = max(self.cash - self._reserved(), ZERO).quantize(CENT)
        return Account(equity=equity.quantize(CENT), cash=self.cash.quantize(CENT),
                       buying_power=bp, options_buying_power=bp)
