"""Fault tests of the Alpaca adapter against the fake server (real alpaca-py, short backoffs)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from core.brokers.alpaca import AlpacaBroker
from core.brokers.errors import BrokerUnavailable, RateLimited, SubmitOutcomeUnknown
from core.brokers.models import OrderEventType, OrderRequest, OrderSide, OrderType
from tests.brokers.conftest import OPTION, alpaca_settings, fast_rest, next_event, wait_connected
from tests.fakes.alpaca_server import FakeAlpaca


def resting_buy(cid: str) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=OPTION, qty=Decimal(4), side=OrderSide.BUY,
                        type=OrderType.LIMIT, limit_price=Decimal("1.00"))


def count(server: FakeAlpaca, method: str, path: str) -> int:
    return sum(1 for m, p in server.requests if m == method and p == path)


async def test_rate_limited_read_is_retried_after_retry_after(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("GET", "/v2/account", 429, times=2, retry_after=0.01)
    acct = await alpaca_broker.get_account()
    assert acct.cash == Decimal(100_000)
    assert count(fake_alpaca, "GET", "/v2/account") == 3


async def test_persistent_rate_limit_surfaces_as_rate_limited(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("GET", "/v2/account", 429, times=10, retry_after=0.01)
    with pytest.raises(RateLimited):
        await alpaca_broker.get_account()
    assert count(fake_alpaca, "GET", "/v2/account") == 4  # one try + max_retries (3)


async def test_server_errors_are_retried_then_succeed(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("GET", "/v2/positions", 500, times=2)
    assert await alpaca_broker.list_positions() == []


async def test_outage_longer_than_the_retries_raises_broker_unavailable(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("GET", "/v2/positions", 503, times=10)
    with pytest.raises(BrokerUnavailable):
        await alpaca_broker.list_positions()


async def test_a_call_that_times_out_is_retried(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("GET", "/v2/account", 200, delay=1.2)
    acct = await alpaca_broker.get_account()
    assert acct.buying_power > 0
    assert count(fake_alpaca, "GET", "/v2/account") == 2


async def test_submit_whose_response_is_lost_exists_exactly_once(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.lose_next_response("POST", "/v2/orders")
    order = await alpaca_broker.submit_order(resting_buy("aplus-lost-1-0"))
    assert order.client_order_id == "aplus-lost-1-0"
    same = [o for o in fake_alpaca.orders.values() if o["client_order_id"] == "aplus-lost-1-0"]
    assert len(same) == 1 and same[0]["id"] == order.id
    assert count(fake_alpaca, "POST", "/v2/orders") == 1  # found by its id, never re-sent


async def test_submit_failing_before_processing_is_resent_once_after_lookup(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("POST", "/v2/orders", 502)
    order = await alpaca_broker.submit_order(resting_buy("aplus-retry-1-0"))
    assert [o["id"] for o in fake_alpaca.orders.values() if o["client_order_id"] == "aplus-retry-1-0"] == [order.id]
    assert count(fake_alpaca, "GET", "/v2/orders:by_client_order_id") == 1


async def test_submit_during_an_outage_reports_unknown_outcome_not_failure(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next("POST", "/v2/orders", 500, times=10)
    fake_alpaca.fail_next("GET", "/v2/orders:by_client_order_id", 500, times=10)
    with pytest.raises(SubmitOutcomeUnknown) as info:
        await alpaca_broker.submit_order(resting_buy("aplus-outage-1-0"))
    assert info.value.client_order_id == "aplus-outage-1-0"


async def test_fill_during_a_stream_gap_is_recovered_by_resync(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    sub = alpaca_broker.order_updates()
    order = await alpaca_broker.submit_order(resting_buy("aplus-gap-1-0"))
    before = fake_alpaca.connections
    fake_alpaca.stream_paused = True
    await fake_alpaca.drop_streams()
    await fake_alpaca.fill(order.id, Decimal(4), Decimal("0.95"))  # its event is lost
    fake_alpaca.stream_paused = False
    await wait_connected(alpaca_broker, fake_alpaca, before)
    ev = await next_event(sub, lambda e: e.event is OrderEventType.FILL)
    assert ev.order.id == order.id
    assert ev.fill_qty == 4 and ev.fill_price == Decimal("0.95")


async def test_duplicate_and_out_of_order_events_are_reported_once(alpaca_broker: AlpacaBroker, fake_alpaca: FakeAlpaca) -> None:
    sub = alpaca_broker.order_updates()
    order = await alpaca_broker.submit_order(resting_buy("aplus-dup-1-0"))
    await next_event(sub, lambda e: e.event is OrderEventType.NEW)
    raw = fake_alpaca.orders[order.id]
    stale_new = fake_alpaca.trade_update("new", raw)
    fake_alpaca.stream_paused = True
    await fake_alpaca.fill(order.id, Decimal(1), Decimal("0.90"))
    partial = fake_alpaca.trade_update("partial_fill", raw, qty=Decimal(1), price=Decimal("0.90"))
    await fake_alpaca.fill(order.id, Decimal(3), Decimal("0.90"))
    full = fake_alpaca.trade_update("fill", raw, qty=Decimal(3), price=Decimal("0.90"))
    fake_alpaca.stream_paused = False
    for frame in (full, full, partial, stale_new, full):  # fill first, a duplicate, then stale ones
        await fake_alpaca.push_update(frame)
    await asyncio.sleep(0.2)
    events = [e for e in sub.drain() if e.order.id == order.id]
    fills = [e for e in events if e.event.is_fill]
    assert sum(e.fill_qty for e in fills) == 4
    assert [e.event for e in events] == [OrderEventType.FILL]


async def test_alpaca_py_own_429_retry_loop_is_disabled(fake_alpaca: FakeAlpaca) -> None:
    settings = alpaca_settings(fake_alpaca, alpaca_max_retries=0)
    broker = AlpacaBroker(settings, rest=fast_rest(settings), stream=False)
    fake_alpaca.fail_next("GET", "/v2/account", 429, times=5, retry_after=0.01)
    with pytest.raises(RateLimited):
        await broker.get_account()
    assert count(fake_alpaca, "GET", "/v2/account") == 1  # alpaca-py did not retry on its own
    await broker.close()


async def test_closing_never_hangs_on_background_work_that_will_not_stop(
        alpaca_broker: AlpacaBroker, caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:  # a library task that swallows its cancellation
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    alpaca_broker._spawn(stubborn(), "stubborn-task")
    alpaca_broker.close_timeout = 0.2
    loop = asyncio.get_running_loop()
    started = loop.time()
    await alpaca_broker.close()
    assert loop.time() - started < 2  # bounded: the shutdown goes on
    assert "stubborn-task" in caplog.text
    alpaca_broker._schedule_resync()  # asked for after close: never started
    (left,) = alpaca_broker._tasks
    assert left.get_name() == "stubborn-task"
    release.set()
    left.cancel()  # now it stops
    await asyncio.wait([left])
