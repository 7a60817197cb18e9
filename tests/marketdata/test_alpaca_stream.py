"""The Alpaca price stream against the fake market-data websocket (real alpaca-py ``StockDataStream``).

Every wait polls a condition with a short step and a generous upper bound; nothing relies on a
fixed sleep being long enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.brokers.alpaca import AlpacaMarketData
from core.brokers.alpaca.market import AlpacaPriceStream
from core.marketdata.models import PriceEvent, PriceEventKind
from tests.brokers.conftest import alpaca_settings, fast_rest
from tests.fakes.alpaca_server import FakeAlpaca

BOUND = 5.0


async def until(cond: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    """Wait until ``cond()`` holds (checked every 5 ms), failing after ``bound`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def next_event(it: AsyncIterator[PriceEvent], pred: Callable[[PriceEvent], bool] = lambda e: True,
                     bound: float = BOUND) -> PriceEvent:
    """Return the next event matching ``pred``."""
    async def scan() -> PriceEvent:
        while True:
            ev = await anext(it)
            if pred(ev):
                return ev
    return await asyncio.wait_for(scan(), bound)


@pytest.fixture
async def server() -> AsyncIterator[FakeAlpaca]:
    s = FakeAlpaca()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def market(server: FakeAlpaca) -> AlpacaMarketData:
    settings = alpaca_settings(server, alpaca_data_stream_url=server.data_stream_url)
    return AlpacaMarketData(settings, rest=fast_rest(settings), poll_interval=0.02, reconnect_backoff=(0.02, 0.1))


@pytest.fixture
async def streams() -> AsyncIterator[list[AlpacaPriceStream]]:
    opened: list[AlpacaPriceStream] = []
    yield opened
    for s in opened:
        await s.close()


def _open(market: AlpacaMarketData, streams: list[AlpacaPriceStream], symbols: list[str],
          *, bars: bool = False) -> tuple[AlpacaPriceStream, AsyncIterator[PriceEvent]]:
    stream = market.price_stream(symbols, bars=bars)
    streams.append(stream)
    return stream, aiter(stream)


def _latest_trade_polls(server: FakeAlpaca) -> int:
    return sum(1 for r in server.requests if r == ("GET", "/v2/stocks/trades/latest"))


async def test_streamed_trades_arrive_in_order_as_price_events(
    server: FakeAlpaca, market: AlpacaMarketData, streams: list[AlpacaPriceStream]
) -> None:
    stream, it = _open(market, streams, ["SPY"])
    await until(lambda: "SPY" in server.market.subscribed("trades"), "the SPY trade subscription")
    assert stream.stream_connected
    t0 = datetime(2025, 6, 11, 15, 0, 1, 250_000, tzinfo=UTC)
    for i, price in enumerate((604.10, 604.12, 604.05)):
        await server.market.publish_trade("SPY", price, size=10_000 + i, timestamp=t0 + timedelta(seconds=i))
    got = [await next_event(it, lambda e: e.size >= 10_000) for _ in range(3)]
    # the two intermediate trades are never the REST "latest trade": they came over the websocket
    assert [(e.symbol, e.price, e.size, e.kind) for e in got] == [
        ("SPY", 604.10, 10_000, PriceEventKind.TRADE),
        ("SPY", 604.12, 10_001, PriceEventKind.TRADE),
        ("SPY", 604.05, 10_002, PriceEventKind.TRADE),
    ]
    assert got[0].timestamp == t0
    auth = next(a for a in server.market.actions if a["action"] == "auth")
    assert auth["key"] == "test-key"


async def test_streamed_minute_bars_carry_ohlcv(
    server: FakeAlpaca, market: AlpacaMarketData, streams: list[AlpacaPriceStream]
) -> None:
    _, it = _open(market, streams, ["AAPL"], bars=True)
    await until(lambda: "AAPL" in server.market.subscribed("bars"), "the AAPL bar subscription")
    assert server.market.subscribed("trades") == frozenset()
    ts = datetime(2025, 6, 11, 15, 1, tzinfo=UTC)
    await server.market.publish_bar("AAPL", 200.0, 200.5, 199.8, 200.3, 12_000, ts)
    ev = await next_event(it, lambda e: e.timestamp == ts)
    assert ev.kind is PriceEventKind.BAR and ev.price == 200.3 and ev.bar is not None
    assert (ev.bar.open, ev.bar.high, ev.bar.low, ev.bar.close, ev.bar.volume) == (200.0, 200.5, 199.8, 200.3, 12_000)


async def test_symbols_added_and_removed_while_running_change_what_arrives(
    server: FakeAlpaca, market: AlpacaMarketData, streams: list[AlpacaPriceStream]
) -> None:
    stream, it = _open(market, streams, ["SPY"])
    await until(lambda: server.market.subscribed("trades") == {"SPY"}, "the SPY subscription")

    await stream.subscribe(["nvda"])
    await until(lambda: server.market.subscribed("trades") == {"SPY", "NVDA"}, "NVDA added on the open socket")
    await server.market.publish_trade("NVDA", 143.5, size=10_300)
    ev = await next_event(it, lambda e: e.size == 10_300)
    assert (ev.symbol, ev.price) == ("NVDA", 143.5)

    await stream.unsubscribe(["SPY"])
    assert stream.symbols == {"NVDA"}
    await until(lambda: server.market.subscribed("trades") == {"NVDA"}, "SPY removed on the open socket")
    assert any(a["action"] == "unsubscribe" and a.get("trades") == ["SPY"] for a in server.market.actions)
    await server.market.publish_trade("SPY", 605.0, size=10_400)
    await server.market.publish_trade("NVDA", 143.6, size=10_500)
    ev = await next_event(it, lambda e: e.size >= 10_300)
    assert (ev.symbol, ev.size) == ("NVDA", 10_500)  # the SPY trade never arrived
    assert server.market.connections == 1  # changes went over the same connection


async def test_stream_down_at_start_polls_latest_trades_then_switches_to_the_stream(
    server: FakeAlpaca, market: AlpacaMarketData, streams: list[AlpacaPriceStream]
) -> None:
    await server.market.go_down()
    stream, it = _open(market, streams, ["NVDA"])
    first = await next_event(it)
    assert first.symbol == "NVDA" and not stream.stream_connected
    server.quotes["NVDA"] = (Decimal("150.00"), Decimal("150.02"))
    polled = await next_event(it, lambda e: e.price == pytest.approx(150.01))
    assert polled.kind is PriceEventKind.TRADE

    server.market.go_up()
    await until(lambda: "NVDA" in server.market.subscribed("trades"), "the stream coming back")
    assert stream.stream_connected
    polls = _latest_trade_polls(server)
    for i in range(3):
        await server.market.publish_trade("NVDA", 151.0 + i / 100, size=10_700 + i)
    got = [await next_event(it, lambda e: e.size >= 10_700) for _ in range(3)]
    assert [e.size for e in got] == [10_700, 10_701, 10_702]
    assert _latest_trade_polls(server) - polls <= 1  # polling stopped (one request may have been in flight)


async def test_a_dropped_stream_falls_back_to_polling_and_resubscribes_the_current_symbols(
    server: FakeAlpaca, market: AlpacaMarketData, streams: list[AlpacaPriceStream]
) -> None:
    stream, it = _open(market, streams, ["SPY"])
    await until(lambda: "SPY" in server.market.subscribed("trades"), "the first connection")
    await stream.subscribe(["NVDA"])
    await until(lambda: server.market.subscribed("trades") == {"SPY", "NVDA"}, "NVDA subscribed")

    await server.market.go_down()  # cut the socket and refuse reconnects for now
    await until(lambda: not stream.stream_connected, "the drop to be noticed")
    t = await server.market.publish_trade("NVDA", 144.25, size=10_900)  # nobody is connected: REST only
    ev = await next_event(it, lambda e: e.size == 10_900)
    assert (ev.symbol, ev.price, ev.timestamp) == ("NVDA", 144.25, t)
    await stream.unsubscribe(["SPY"])  # while disconnected

    server.market.go_up()
    await until(lambda: server.market.connected == 1 and server.market.subscribed("trades") == {"NVDA"},
                "the reconnect to subscribe to the current symbols")
    assert server.market.connections >= 2 and stream.stream_connects == 2
    await server.market.publish_trade("NVDA", 144.5, size=10_901)
    ev = await next_event(it, lambda e: e.size >= 10_900)
    assert (ev.price, ev.size) == (144.5, 10_901)  # the polled trade was not repeated


async def test_bar_stream_polls_minute_bars_while_down_and_loses_none(
    server: FakeAlpaca, market: AlpacaMarketData, streams: list[AlpacaPriceStream]
) -> None:
    stream, it = _open(market, streams, ["AAPL"], bars=True)
    await until(lambda: "AAPL" in server.market.subscribed("bars"), "the bar subscription")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=4)
    await server.market.publish_bar("AAPL", 200.0, 200.2, 199.9, 200.1, 1_000, minute)
    assert (await next_event(it)).timestamp == minute

    await server.market.go_down()
    await until(lambda: not stream.stream_connected, "the drop to be noticed")
    for k in (1, 2):  # two bars close during the outage
        await server.market.publish_bar("AAPL", 200.0, 202.5, 199.9, 200.1 + k, 1_000 + k,
                                        minute + k * timedelta(minutes=1))
    got = [await next_event(it) for _ in range(2)]
    assert [(e.kind, e.timestamp, e.price) for e in got] == [
        (PriceEventKind.BAR, minute + timedelta(minutes=1), 201.1),
        (PriceEventKind.BAR, minute + timedelta(minutes=2), 202.1),
    ]
    assert stream.stream_connected is False


async def test_close_ends_iteration_and_stops_the_stream_thread(
    server: FakeAlpaca, market: AlpacaMarketData
) -> None:
    stream = market.price_stream(["SPY"])
    it = aiter(stream)
    await until(lambda: server.market.connected == 1, "the connection")
    await asyncio.wait_for(stream.close(), 2.0)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(it), 1.0)
    assert stream._thread is not None and not stream._thread.is_alive()
    await until(lambda: server.market.connected == 0, "the socket to close")
