"""Alpaca market data: ``StockHistoricalDataClient``, ``OptionHistoricalDataClient`` and
``StockDataStream`` (run in its own thread), with polling of latest trades whenever the
stream is not connected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import (
    OptionChainRequest,
    OptionSnapshotRequest,
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.enums import ContractType

from core.brokers.alpaca.broker import _keys, make_rest
from core.brokers.alpaca.mapping import (
    bar_from_alpaca,
    quote_from_alpaca,
    snapshot_from_alpaca,
    trade_from_alpaca,
)
from core.brokers.alpaca.rest import AlpacaRest, disable_sdk_retries
from core.brokers.errors import BrokerError, UnknownSymbol
from core.config import Settings
from core.marketdata.base import MarketData, PriceStream
from core.marketdata.models import (
    Bar,
    ChainFilter,
    OptionRight,
    OptionSnapshot,
    PriceEvent,
    PriceEventKind,
    Quote,
    Trade,
    normalise_symbol,
)

log = logging.getLogger(__name__)


def _timeframe(minutes: int) -> TimeFrame:
    if minutes < 1:
        raise ValueError("timeframe must be at least one minute")
    if minutes < 60:
        return TimeFrame(minutes, TimeFrameUnit.Minute)
    if minutes % 1440 == 0:
        return TimeFrame(minutes // 1440, TimeFrameUnit.Day)
    if minutes % 60 == 0:
        return TimeFrame(minutes // 60, TimeFrameUnit.Hour)
    raise ValueError("timeframes over an hour must be whole hours or days")


def _sym(symbol: str) -> str:
    try:
        return normalise_symbol(symbol)
    except ValueError:
        raise UnknownSymbol(f"unknown symbol {symbol!r}") from None


class AlpacaMarketData(MarketData):
    """Market data from Alpaca."""

    def __init__(self, settings: Settings, *, rest: AlpacaRest | None = None, poll_interval: float = 2.0) -> None:
        key, secret = _keys(settings)
        self.settings = settings
        self._key, self._secret = key, secret
        self.stocks = StockHistoricalDataClient(key, secret, url_override=settings.alpaca_data_url)
        self.options = OptionHistoricalDataClient(key, secret, url_override=settings.alpaca_data_url)
        for client in (self.stocks, self.options):
            disable_sdk_retries(client, settings.alpaca_timeout_seconds)
        self.rest = rest or make_rest(settings)
        self.feed = DataFeed(settings.alpaca_data_feed)
        self.poll_interval = poll_interval

    async def latest_quote(self, symbol: str) -> Quote:
        """Return the latest stock quote."""
        s = _sym(symbol)
        out = await self.rest.call(self.stocks.get_stock_latest_quote,
                                   StockLatestQuoteRequest(symbol_or_symbols=s, feed=self.feed))
        if s not in out:
            raise UnknownSymbol(f"unknown symbol {s}")
        return quote_from_alpaca(s, out[s])

    async def latest_trade(self, symbol: str) -> Trade:
        """Return the latest stock trade."""
        s = _sym(symbol)
        out = await self.rest.call(self.stocks.get_stock_latest_trade,
                                   StockLatestTradeRequest(symbol_or_symbols=s, feed=self.feed))
        if s not in out:
            raise UnknownSymbol(f"unknown symbol {s}")
        return trade_from_alpaca(s, out[s])

    async def latest_trades(self, symbols: list[str]) -> dict[str, Trade]:
        """Return the latest trade of several symbols in one request."""
        out = await self.rest.call(self.stocks.get_stock_latest_trade,
                                   StockLatestTradeRequest(symbol_or_symbols=symbols, feed=self.feed))
        return {s: trade_from_alpaca(s, t) for s, t in out.items()}

    async def bars(self, symbol: str, start: datetime, end: datetime, timeframe_minutes: int = 1) -> list[Bar]:
        """Return bars in ``[start, end)``."""
        s = _sym(symbol)
        req = StockBarsRequest(symbol_or_symbols=s, start=start, end=end,
                               timeframe=_timeframe(timeframe_minutes), feed=self.feed)
        barset = await self.rest.call(self.stocks.get_stock_bars, req)
        return [bar_from_alpaca(s, b) for b in barset.data.get(s, []) if b.timestamp < end]

    async def option_chain(self, underlying: str, chain_filter: ChainFilter | None = None) -> list[OptionSnapshot]:
        """Return the chain snapshot (Alpaca has no open interest/volume in snapshots)."""
        f = chain_filter or ChainFilter()
        req = OptionChainRequest(
            underlying_symbol=_sym(underlying),
            expiration_date_gte=f.expiry_from, expiration_date_lte=f.expiry_to,
            strike_price_gte=f.strike_min, strike_price_lte=f.strike_max,
            type=None if f.right is None else (ContractType.CALL if f.right is OptionRight.CALL else ContractType.PUT),
        )
        out = await self.rest.call(self.options.get_option_chain, req)
        return sorted((snapshot_from_alpaca(s, snap) for s, snap in out.items()),
                      key=lambda x: (x.expiry, x.strike, x.right))

    async def option_quote(self, symbol: str) -> OptionSnapshot:
        """Return the snapshot of one contract."""
        s = symbol.strip().upper()
        out = await self.rest.call(self.options.get_option_snapshot, OptionSnapshotRequest(symbol_or_symbols=s))
        if s not in out:
            raise UnknownSymbol(f"no such contract: {s}")
        return snapshot_from_alpaca(s, out[s])

    def price_stream(self, symbols: Iterable[str] = (), *, bars: bool = False) -> AlpacaPriceStream:
        """Open a live stream of trades (or 1-minute bars) for ``symbols``."""
        return AlpacaPriceStream(self, symbols, bars=bars)


class _DataStream(StockDataStream):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connected = False

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self.connected = True

    async def close(self) -> None:
        self.connected = False
        await super().close()


class AlpacaPriceStream(PriceStream):
    """``StockDataStream`` in a worker thread; latest-trade polling while it is not connected."""

    def __init__(self, market: AlpacaMarketData, symbols: Iterable[str], *, bars: bool) -> None:
        self.market = market
        self.bars = bars
        self._symbols: set[str] = {_sym(s) for s in symbols}
        self._queue: asyncio.Queue[PriceEvent | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        s = market.settings
        self._stream = _DataStream(market._key, market._secret, feed=market.feed,
                                   url_override=s.alpaca_data_stream_url)
        self._stream._reconnect_min_backoff = 0.2
        self._thread: threading.Thread | None = None
        self._poller: asyncio.Task[None] | None = None
        self._last_poll: dict[str, datetime] = {}
        self._closed = False

    @property
    def symbols(self) -> frozenset[str]:
        """Return the symbols streamed."""
        return frozenset(self._symbols)

    @property
    def stream_connected(self) -> bool:
        """Tell whether the websocket is up (otherwise prices are polled)."""
        return self._stream.connected

    async def _on_trade(self, t: Any) -> None:
        ev = PriceEvent(t.symbol, float(t.price), t.timestamp, PriceEventKind.TRADE, int(t.size or 0))
        self._post(ev)

    async def _on_bar(self, b: Any) -> None:
        bar = bar_from_alpaca(b.symbol, b)
        self._post(PriceEvent(b.symbol, bar.close, bar.timestamp, PriceEventKind.BAR, bar.volume, bar))

    def _post(self, ev: PriceEvent) -> None:
        if self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, ev)

    def _register(self, symbols: list[str]) -> None:
        if self.bars:
            self._stream.subscribe_bars(self._on_bar, *symbols)
        else:
            self._stream.subscribe_trades(self._on_trade, *symbols)

    def _ensure_started(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._poller = self._loop.create_task(self._poll_loop(), name="alpaca-price-poller")
        if self._thread is None and self._symbols:
            self._register(sorted(self._symbols))
            self._thread = threading.Thread(target=self._stream.run, name="alpaca-data-stream", daemon=True)
            self._thread.start()

    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Add symbols."""
        new = sorted({_sym(s) for s in symbols} - self._symbols)
        self._symbols.update(new)
        if self._thread is not None and new:
            await asyncio.to_thread(self._register, new)
        self._ensure_started()

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Remove symbols."""
        gone = sorted({s.upper() for s in symbols} & self._symbols)
        self._symbols.difference_update(gone)
        if self._thread is not None and gone:
            fn = self._stream.unsubscribe_bars if self.bars else self._stream.unsubscribe_trades
            with contextlib.suppress(Exception):
                await asyncio.to_thread(fn, *gone)

    async def _poll_loop(self) -> None:
        while not self._closed:
            if self._symbols and not self._stream.connected:
                try:
                    trades = await self.market.latest_trades(sorted(self._symbols))
                except BrokerError as err:
                    log.warning("price polling failed: %s", err)
                    trades = {}
                for sym, tr in trades.items():
                    if sym in self._symbols and self._last_poll.get(sym) != tr.timestamp:
                        self._last_poll[sym] = tr.timestamp
                        self._queue.put_nowait(PriceEvent(sym, tr.price, tr.timestamp, PriceEventKind.TRADE, tr.size))
            await asyncio.sleep(self.market.poll_interval)

    def __aiter__(self) -> AsyncIterator[PriceEvent]:
        self._ensure_started()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PriceEvent]:
        while True:
            ev = await self._queue.get()
            if ev is None:
                return
            if ev.symbol in self._symbols:
                yield ev

    async def close(self) -> None:
        """Stop the stream thread and the poller."""
        self._closed = True
        if self._thread is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._stream.stop)
            await asyncio.to_thread(self._thread.join, 5.0)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._queue.put_nowait(None)
