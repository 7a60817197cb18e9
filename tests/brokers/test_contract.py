"""One contract, two brokers: every test runs against the simulated exchange and against the
Alpaca adapter talking to the fake Alpaca server (alpaca-py unpatched)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.brokers.errors import (
    InsufficientBuyingPower,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    UnknownSymbol,
)
from core.brokers.models import (
    OrderEventType,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id_for,
)
from tests.brokers.conftest import OPTION, Venue, next_event

CENT = Decimal("0.01")


def buy(symbol: str, qty: int, price: Decimal | None, cid: str, **kw: object) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, qty=Decimal(qty), side=OrderSide.BUY,
                        type=OrderType.LIMIT if price is not None else OrderType.MARKET,
                        limit_price=price, **kw)


async def test_account_reports_cash_and_buying_power(venue: Venue) -> None:
    acct = await venue.broker.get_account()
    assert acct.cash > 0
    assert acct.buying_power > 0
    assert acct.options_buying_power > 0
    assert acct.equity > 0


async def test_marketable_option_limit_buy_fills_at_limit_or_better_and_opens_a_position(venue: Venue) -> None:
    sub = venue.broker.order_updates()
    _bid, ask = venue.quote(OPTION)
    limit = ask + Decimal("0.05")
    order = await venue.broker.submit_order(buy(OPTION, 1, limit, client_order_id_for("proposal", 1)))
    fill = await next_event(sub, lambda e: e.event is OrderEventType.FILL and e.order.id == order.id)
    assert fill.fill_qty == 1
    assert fill.fill_price is not None and fill.fill_price <= limit
    done = await venue.order(order.id, lambda o: o.status is OrderStatus.FILLED)
    assert done.filled_qty == 1
    pos = await venue.broker.get_position(OPTION)
    assert pos is not None and pos.qty == 1


async def test_resting_limit_order_is_listed_and_can_be_canceled(venue: Venue) -> None:
    sub = venue.broker.order_updates()
    bid, _ = venue.quote(OPTION)
    low = max(CENT, (bid / 2).quantize(CENT))
    order = await venue.broker.submit_order(buy(OPTION, 2, low, "aplus-rest-1"))
    await venue.settle()
    assert order.id in {o.id for o in await venue.broker.list_open_orders()}
    await venue.broker.cancel_order(order.id)
    ev = await next_event(sub, lambda e: e.event is OrderEventType.CANCELED)
    assert ev.order.id == order.id
    assert order.id not in {o.id for o in await venue.broker.list_open_orders()}
    assert (await venue.broker.get_order(order.id)).status is OrderStatus.CANCELED


async def test_resubmitting_the_same_client_order_id_returns_the_same_order(venue: Venue) -> None:
    bid, _ = venue.quote(OPTION)
    req = buy(OPTION, 1, max(CENT, (bid / 2).quantize(CENT)), "aplus-proposal-7-0")
    first = await venue.broker.submit_order(req)
    second = await venue.broker.submit_order(req)
    assert second.id == first.id
    open_ids = [o.id for o in await venue.broker.list_open_orders() if o.client_order_id == req.client_order_id]
    assert open_ids == [first.id]
    found = await venue.broker.get_order_by_client_id(req.client_order_id)
    assert found is not None and found.id == first.id


async def test_unknown_client_order_id_is_none_and_unknown_order_id_raises(venue: Venue) -> None:
    assert await venue.broker.get_order_by_client_id("aplus-never-sent-0") is None
    with pytest.raises(OrderNotFound):
        await venue.broker.get_order("00000000-0000-4000-8000-000000000000")


async def test_unknown_symbol_and_unknown_contract_are_refused(venue: Venue) -> None:
    with pytest.raises(UnknownSymbol):
        await venue.broker.submit_order(buy("ZZZZ", 1, Decimal("1.00"), "aplus-unknown-1"))
    with pytest.raises(UnknownSymbol):
        await venue.broker.submit_order(buy("ZZZZ250613C00010000", 1, Decimal("1.00"), "aplus-unknown-2"))


async def test_order_larger_than_buying_power_is_refused(venue: Venue) -> None:
    _, ask = venue.quote(OPTION)
    with pytest.raises(InsufficientBuyingPower):
        await venue.broker.submit_order(buy(OPTION, 5000, ask, "aplus-too-big-1"))
    assert await venue.broker.get_order_by_client_id("aplus-too-big-1") is None


async def test_selling_contracts_not_held_is_rejected_with_the_reason(venue: Venue) -> None:
    _, ask = venue.quote(OPTION)
    req = OrderRequest(client_order_id="aplus-naked-1", symbol=OPTION, qty=Decimal(3), side=OrderSide.SELL,
                       type=OrderType.LIMIT, limit_price=ask)
    with pytest.raises(OrderRejected) as info:
        await venue.broker.submit_order(req)
    assert "insufficient qty" in info.value.reason


async def test_off_grid_limit_is_refused_unless_rounding_is_allowed(venue: Venue) -> None:
    bid, _ = venue.quote("NVDA")
    off = (bid / 2).quantize(CENT) + Decimal("0.003")
    with pytest.raises(InvalidOrder, match="tick"):
        await venue.broker.submit_order(buy("NVDA", 1, off, "aplus-grid-1"))
    rounded = await venue.broker.submit_order(buy("NVDA", 1, off, "aplus-grid-2", allow_price_rounding=True))
    assert rounded.limit_price == off.quantize(CENT, rounding="ROUND_FLOOR")


async def test_replace_moves_the_limit_and_retires_the_old_order(venue: Venue) -> None:
    sub = venue.broker.order_updates()
    bid, _ = venue.quote(OPTION)
    low = max(CENT, (bid / 2).quantize(CENT))
    old = await venue.broker.submit_order(buy(OPTION, 1, low, "aplus-replace-1"))
    new = await venue.broker.replace_order(old.id, limit_price=low + CENT, client_order_id="aplus-replace-1-r")
    assert new.id != old.id
    assert new.limit_price == low + CENT
    ev = await next_event(sub, lambda e: e.event is OrderEventType.REPLACED)
    assert ev.order.id == old.id
    assert (await venue.broker.get_order(old.id)).status is OrderStatus.REPLACED


async def test_close_position_flattens_it(venue: Venue) -> None:
    _, ask = venue.quote(OPTION)
    order = await venue.broker.submit_order(buy(OPTION, 2, ask, "aplus-open-1"))
    await venue.order(order.id, lambda o: o.status is OrderStatus.FILLED)
    close = await venue.broker.close_position(OPTION)
    assert close.side is OrderSide.SELL
    await venue.order(close.id, lambda o: o.status is OrderStatus.FILLED)
    assert await venue.broker.get_position(OPTION) is None


async def test_buying_reduces_cash_by_the_premium_paid(venue: Venue) -> None:
    before = await venue.broker.get_account()
    _, ask = venue.quote(OPTION)
    order = await venue.broker.submit_order(buy(OPTION, 2, ask, "aplus-cash-1"))
    filled = await venue.order(order.id, lambda o: o.status is OrderStatus.FILLED)
    after = await venue.broker.get_account()
    assert filled.filled_avg_price is not None
    assert before.cash - after.cash == filled.filled_avg_price * 2 * 100
