"""Alpaca market data against the fake server (real alpaca-py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.brokers.alpaca import AlpacaMarketData
from core.brokers.errors import UnknownSymbol
from core.marketdata.models import PriceEventKind
from tests.brokers.conftest import alpaca_settings, fast_rest
from tests.fakes.alpaca_server import FakeAlpaca


@pytest.fixture
async def md() -> AsyncIterator[tuple[AlpacaMarketData, FakeAlpaca]]:
    server = FakeAlpaca()
    await server.start()
    settings = alpaca_settings(server)
    yield AlpacaMarketData(settings, rest=fast_rest(settings), poll_interval=0.02), server
    await server.stop()


async def test_latest_quote_and_trade_are_mapped(md: tuple[AlpacaMarketData, FakeAlpaca]) -> None:
    m, _ = md
    q = await m.latest_quote("SPY")
    assert (q.bid, q.ask) == (603.05, 603.11)
    assert (await m.latest_trade("spy")).price == pytest.approx(603.08)
    with pytest.raises(UnknownSymbol):
        await m.latest_quote("ZZZZ")


async def test_option_chain_carries_iv_and_greeks(md: tuple[AlpacaMarketData, FakeAlpaca]) -> None:
    m, _ = md
    chain = await m.option_chain("AAPL")
    assert [c.symbol for c in chain] == ["AAPL240503P00155000"]
    c = chain[0]
    assert (c.bid, c.ask) == (0.32, 0.35) and c.greeks.delta == pytest.approx(-0.0696, abs=1e-4)
    assert c.iv == pytest.approx(0.458, abs=1e-3)


async def test_bars_come_from_the_data_api(md: tuple[AlpacaMarketData, FakeAlpaca]) -> None:
    from datetime import UTC, datetime

    m, _ = md
    bars = await m.bars("AAPL", datetime(2021, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC), 1440)
    assert bars and all(b.symbol == "AAPL" and b.low <= b.close <= b.high for b in bars)


async def test_price_stream_falls_back_to_polling_when_the_websocket_is_unavailable(md: tuple[AlpacaMarketData, FakeAlpaca]) -> None:
    from decimal import Decimal

    m, server = md
    stream = m.price_stream(["NVDA"])
    it = aiter(stream)
    first = await asyncio.wait_for(anext(it), 3)
    assert first.symbol == "NVDA" and first.kind is PriceEventKind.TRADE
    assert not stream.stream_connected
    server.quotes["NVDA"] = (Decimal("150.00"), Decimal("150.02"))
    while True:
        ev = await asyncio.wait_for(anext(it), 3)
        if ev.price == pytest.approx(150.01):
            break
    await stream.close()
