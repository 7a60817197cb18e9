"""Fixtures of the broker tests: the simulated broker, the fake Alpaca and the contract venue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.brokers.alpaca import AlpacaBroker, AlpacaRest, RetryPolicy
from core.brokers.base import Broker
from core.brokers.models import Order, OrderUpdate
from core.brokers.sim import SimBroker
from core.clock import FakeClock
from core.config import Settings
from core.db.session import Database
from core.marketdata.sim import SimMarketData
from tests.fakes.alpaca_server import FakeAlpaca

REPO = Path(__file__).resolve().parents[2]
BARS = REPO / "data" / "bars"
#: 11:00 New York on the sample day: the market is open.
MARKET_OPEN_AT = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)
#: A listed SPY call (penny ticks at every price) in both venues.
OPTION = "SPY250613C00602000"


@pytest.fixture
def sim_clock() -> FakeClock:
    """A fake clock during regular hours on 2025-06-11."""
    return FakeClock(MARKET_OPEN_AT)


@pytest.fixture
def sim_market(sim_clock: FakeClock) -> SimMarketData:
    """The simulated market replaying the sample bars."""
    return SimMarketData(sim_clock, bars_dir=BARS, seed=7)


@pytest.fixture
async def sim_broker(db: Database, sim_clock: FakeClock, sim_market: SimMarketData) -> AsyncIterator[SimBroker]:
    """A started simulated broker with $100,000."""
    broker = SimBroker(db, sim_clock, sim_market, background=False)
    await broker.start()
    yield broker
    await broker.close()


@pytest.fixture
async def fake_alpaca() -> AsyncIterator[FakeAlpaca]:
    """The fake Alpaca server on an ephemeral port."""
    server = FakeAlpaca()
    await server.start()
    yield server
    await server.stop()


def alpaca_settings(server: FakeAlpaca, **overrides: Any) -> Settings:
    """Settings pointing every Alpaca endpoint at the fake server."""
    values: dict[str, Any] = {
        "broker": "alpaca", "alpaca_api_key": "test-key", "alpaca_secret_key": "test-secret",
        "alpaca_trading_url": server.url, "alpaca_data_url": server.url,
        "alpaca_trading_stream_url": server.stream_url,
        "alpaca_data_stream_url": f"ws://127.0.0.1:{server.port}/no-data-stream",
        "alpaca_timeout_seconds": 0.5, "alpaca_max_retries": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fast_rest(settings: Settings) -> AlpacaRest:
    """A REST runner with millisecond backoffs so fault tests stay fast."""
    return AlpacaRest(requests_per_minute=6000, timeout=settings.alpaca_timeout_seconds,
                      policy=RetryPolicy(max_retries=settings.alpaca_max_retries, base=0.01, cap=0.05))


async def wait_connected(broker: AlpacaBroker, server: FakeAlpaca, before: int = 0) -> None:
    """Wait until the broker's trade stream has (re)connected and listens to trade updates."""
    for _ in range(400):
        if broker.stream_connected and server.connections > before and server.streams:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the trade stream did not connect")


@pytest.fixture
async def alpaca_broker(fake_alpaca: FakeAlpaca) -> AsyncIterator[AlpacaBroker]:
    """A started Alpaca broker talking to the fake server, stream connected."""
    settings = alpaca_settings(fake_alpaca)
    broker = AlpacaBroker(settings, rest=fast_rest(settings), reconnect_backoff=(0.05, 0.1), poll_interval=0.05)
    await broker.start()
    await wait_connected(broker, fake_alpaca)
    yield broker
    await broker.close()


async def next_event(sub: Any, pred: Callable[[OrderUpdate], bool], wait_s: float = 3.0) -> OrderUpdate:
    """Return the next event matching ``pred`` (fails after ``wait_s`` seconds)."""
    async def scan() -> OrderUpdate:
        async for ev in sub:
            if pred(ev):
                return ev
        raise AssertionError("subscription ended")
    return await asyncio.wait_for(scan(), wait_s)


@dataclass
class Venue:
    """What the contract suite needs from one broker implementation."""

    name: str
    broker: Broker
    quote_fn: Callable[[str], tuple[Decimal, Decimal]]
    settle_fn: Callable[[], Any]

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Return the venue's current (bid, ask)."""
        return self.quote_fn(symbol)

    async def settle(self) -> None:
        """Let the venue process what is pending (sim: a matching pass; alpaca: a moment)."""
        await self.settle_fn()

    async def order(self, order_id: str, done: Callable[[Order], bool]) -> Order:
        """Return the order once ``done`` holds for it."""
        for _ in range(200):
            o = await self.broker.get_order(order_id)
            if done(o):
                return o
            await self.settle()
        raise AssertionError(f"order {order_id} never reached the expected state: {o}")


def _sim_quote(market: SimMarketData, clock: FakeClock) -> Callable[[str], tuple[Decimal, Decimal]]:
    def quote(symbol: str) -> tuple[Decimal, Decimal]:
        if len(symbol) > 6:
            q = market.option_quote_at(symbol, clock.now())
            return Decimal(str(q.bid)), Decimal(str(q.ask))
        s = market.quote_at(symbol, clock.now())
        return Decimal(str(s.bid)), Decimal(str(s.ask))
    return quote


@pytest.fixture(params=["sim", "alpaca"])
async def venue(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[Venue]:
    """Each broker implementation in turn, behind the same helper."""
    if request.param == "sim":
        clock = FakeClock(MARKET_OPEN_AT)
        market = SimMarketData(clock, bars_dir=BARS, seed=7)
        broker = SimBroker(db, clock, market, background=False)
        await broker.start()
        yield Venue("sim", broker, _sim_quote(market, clock), broker.sync)
        await broker.close()
        return
    server = FakeAlpaca()
    await server.start()
    settings = alpaca_settings(server)
    abroker = AlpacaBroker(settings, rest=fast_rest(settings), reconnect_backoff=(0.05, 0.1), poll_interval=0.05)
    await abroker.start()
    await wait_connected(abroker, server)

    def quote(symbol: str) -> tuple[Decimal, Decimal]:
        q = server.quote(symbol)
        assert q is not None
        return q

    yield Venue("alpaca", abroker, quote, lambda: asyncio.sleep(0.01))
    await abroker.close()
    await server.stop()
