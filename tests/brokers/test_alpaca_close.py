"""Alpaca close-position: retried on temporary failures, never closing twice."""

from __future__ import annotations

from decimal import Decimal

from core.brokers.alpaca import AlpacaBroker
from tests.fakes.alpaca_server import FakeAlpaca

SYMBOL = "AAPL"


def closing_orders(server: FakeAlpaca) -> list[dict[str, object]]:
    return [o for o in server.orders.values() if o.get("symbol") == SYMBOL and o.get("side") == "sell"]


async def test_a_rate_limited_close_is_retried_and_closes_once(
    alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca
) -> None:
    fake_alpaca.positions[SYMBOL] = Decimal(10)
    fake_alpaca.fail_next("DELETE", f"/v2/positions/{SYMBOL}", 429, retry_after=0.01)
    order = await alpaca_broker.close_position(SYMBOL)
    assert order.symbol == SYMBOL and order.qty == Decimal(10)
    assert len(closing_orders(fake_alpaca)) == 1
    assert SYMBOL not in fake_alpaca.positions


async def test_a_close_whose_answer_is_lost_is_found_not_sent_twice(
    alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca
) -> None:
    fake_alpaca.positions[SYMBOL] = Decimal(10)
    fake_alpaca.lose_next_response("DELETE", f"/v2/positions/{SYMBOL}")
    order = await alpaca_broker.close_position(SYMBOL)
    [sent] = closing_orders(fake_alpaca)
    assert order.id == sent["id"]
    deletes = sum(1 for m, p in fake_alpaca.requests if m == "DELETE" and p == f"/v2/positions/{SYMBOL}")
    assert deletes == 1
