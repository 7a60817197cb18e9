"""Alpaca adapter: replace retried and reconciled by client order id; options refused unless day."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.brokers.alpaca import AlpacaBroker
from core.brokers.errors import InvalidOrder
from core.brokers.models import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from tests.brokers.conftest import OPTION
from tests.fakes.alpaca_server import FakeAlpaca


def resting_buy(cid: str, tif: TimeInForce = TimeInForce.DAY) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=OPTION, qty=Decimal(4), side=OrderSide.BUY,
                        type=OrderType.LIMIT, limit_price=Decimal("1.00"), time_in_force=tif)


def replacements(server: FakeAlpaca, old_id: str) -> list[dict[str, object]]:
    return [o for o in server.orders.values() if o.get("replaces") == old_id]


async def test_gtc_option_order_is_refused_before_sending(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    with pytest.raises(InvalidOrder, match="only day orders for options"):
        await alpaca_broker.submit_order(resting_buy("gtc-1", TimeInForce.GTC))
    assert ("POST", "/v2/orders") not in fake_alpaca.requests
    stock = OrderRequest(client_order_id="gtc-2", symbol="SPY", qty=Decimal(1), side=OrderSide.BUY,
                         type=OrderType.LIMIT, limit_price=Decimal("500.00"), time_in_force=TimeInForce.GTC)
    assert (await alpaca_broker.submit_order(stock)).time_in_force is TimeInForce.GTC


async def test_replace_is_retried_after_a_server_error(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    old = await alpaca_broker.submit_order(resting_buy("rep-1"))
    fake_alpaca.fail_next("PATCH", f"/v2/orders/{old.id}", 503)
    new = await alpaca_broker.replace_order(old.id, limit_price=Decimal("1.10"), client_order_id="rep-1-r")
    assert (new.client_order_id, new.limit_price, new.replaces) == ("rep-1-r", Decimal("1.10"), old.id)
    assert len(replacements(fake_alpaca, old.id)) == 1


async def test_replace_whose_answer_is_lost_is_found_by_client_order_id_not_sent_twice(
    alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca
) -> None:
    old = await alpaca_broker.submit_order(resting_buy("rep-2"))
    fake_alpaca.lose_next_response("PATCH", f"/v2/orders/{old.id}")
    new = await alpaca_broker.replace_order(old.id, qty=Decimal(2))  # no id given: one is generated
    assert new.qty == Decimal(2) and new.status is OrderStatus.NEW
    assert [o["id"] for o in replacements(fake_alpaca, old.id)] == [new.id]
    patches = sum(1 for m, p in fake_alpaca.requests if m == "PATCH" and p == f"/v2/orders/{old.id}")
    assert patches == 1
