"""Alpaca market data: ``StockHistoricalDataClient``, ``OptionHistoricalDataClient`` and
``StockDataStream`` (on its own event loop in a worker thread, reconnecting with backoff), with
REST polling (latest trades, or the last minute bars) whenever the stream is not connected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
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

_MINUTE = timedelta(minutes=1)
#: how far back the first bar poll of a symbol looks
_BAR_LOOKBACK = timedelta(minutes=5)


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

    def __init__(
        self,
        settings: Settings,
        *,
        rest: AlpacaRest | None = None,
        poll_interval: float = 2.0,
        reconnect_backoff: tuple[float, float] = (1.0, 30.0),
    ) -> None:
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
        #: (first, longest) wait between websocket reconnects; alpaca-py adds equal jitter
        self.reconnect_backoff = reconnect_backoff

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

    async def minute_bars(self, symbols: list[str], start: datetime, end: datetime) -> list[Bar]:
        """Return the 1-minute bars of several symbols in ``[start, end)``, oldest first per symbol."""
        req = StockBarsRequest(symbol_or_symbols=symbols, start=start, end=end,
                               timeframe=TimeFrame(1, TimeFrameUnit.Minute), feed=self.feed)
        barset = await self.rest.call(self.stocks.get_stock_bars, req)
        return [bar_from_alpaca(s, b) for s in symbols for b in barset.data.get(s, []) if b.timestamp < end]

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
    """alpaca-py's stock stream, telling us when it is connected and changing symbols on its loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connected = False
        #: successful (re)connections so far
        self.connects = 0

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self.connected = True
        self.connects += 1

    async def close(self) -> None:
        self.connected = False
        await super().close()

    async def change(self, channel: str, handler: Callable[[Any], Awaitable[None]],
                     add: list[str], remove: list[str]) -> None:
        """Add and remove symbols of ``channel``; run on the stream's own loop.

        The handler table is what every (re)connect subscribes to, so it is updated first; the
        (un)subscribe message is sent only while a connection is up. If sending fails the
        connection is going away and the reconnect subscribes to the updated table.
        """
        table = self._handlers[channel]
        for s in remove:
            table.pop(s, None)
        for s in add:
            table[s] = handler
        if not (self._running and self._ws is not None):
            return
        try:
            if remove:
                await self._send_unsubscribe_msg(channel, remove)
            if add:
                await self._send_subscribe_msg()
        except Exception as exc:  # a dying connection; the reconnect resubscribes
            log.warning("could not change the %s subscription now (%s); the reconnect will", channel, exc)


class AlpacaPriceStream(PriceStream):
    """``StockDataStream`` on its own event loop in a worker thread, with a polling fallback.

    - The websocket reconnects by itself with exponential backoff and jitter
      (``AlpacaMarketData.reconnect_backoff``) and resubscribes to the current symbols.
    - Symbols can be added and removed at any time; the change is applied on the stream's loop
      (never blocking ours) and survives reconnects.
    - While the websocket is not connected, the REST API is polled every ``poll_interval``:
      latest trades for a trade stream, the last completed minute bars for a bar stream
      (from the last bar delivered, so an outage loses no bar).
    - A polled price (and a streamed bar) is delivered only if it is newer than the last one
      delivered for its symbol, so switching between stream and polling does not repeat prices;
      streamed trades are all delivered (several trades can share a timestamp).
    """

    def __init__(self, market: AlpacaMarketData, symbols: Iterable[str], *, bars: bool) -> None:
        self.market = market
        self.bars = bars
        self._channel = "bars" if bars else "trades"
        self._symbols: set[str] = {_sym(s) for s in symbols}
        self._queue: asyncio.Queue[PriceEvent | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        s = market.settings
        self._stream = _DataStream(market._key, market._secret, feed=market.feed,
                                   url_override=s.alpaca_data_stream_url)
        self._stream._reconnect_min_backoff, self._stream._reconnect_max_backoff = market.reconnect_backoff
        self._stream_loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._poller: asyncio.Task[None] | None = None
        self._last: dict[str, datetime] = {}
        self._closed = False

    @property
    def symbols(self) -> frozenset[str]:
        """Return the symbols streamed."""
        return frozenset(self._symbols)

    @property
    def stream_connected(self) -> bool:
        """Tell whether the websocket is up (otherwise prices are polled)."""
        return self._stream.connected

    @property
    def stream_connects(self) -> int:
        """Return how many times the websocket has (re)connected."""
        return self._stream.connects

    # ---- events ---------------------------------------------------------------------------
    async def _on_trade(self, t: Any) -> None:
        try:
            ev = PriceEvent(t.symbol, float(t.price), t.timestamp, PriceEventKind.TRADE, int(t.size or 0))
        except (TypeError, ValueError):
            log.warning("dropped a malformed trade from the stream: %r", t)
            return
        self._post(ev)

    async def _on_bar(self, b: Any) -> None:
        try:
            bar = bar_from_alpaca(b.symbol, b)
        except (TypeError, ValueError) as exc:
            log.warning("dropped a malformed bar from the stream: %s", exc)
            return
        self._post(PriceEvent(b.symbol, bar.close, bar.timestamp, PriceEventKind.BAR, bar.volume, bar))

    def _post(self, ev: PriceEvent) -> None:
        """Hand a streamed event to our loop (called on the stream thread)."""
        if self._loop is not None and not self._closed:
            with contextlib.suppress(RuntimeError):  # our loop is closing
                self._loop.call_soon_threadsafe(self._deliver, ev, False)

    def _deliver(self, ev: PriceEvent, polled: bool) -> None:
        if ev.symbol not in self._symbols or self._closed:
            return
        last = self._last.get(ev.symbol)
        if last is not None and ev.timestamp <= last and (polled or self.bars):
            return  # already delivered (by the stream or an earlier poll)
        if last is None or ev.timestamp > last:
            self._last[ev.symbol] = ev.timestamp
        self._queue.put_nowait(ev)

    # ---- the websocket thread -------------------------------------------------------------
    def _handler(self) -> Callable[[Any], Awaitable[None]]:
        return self._on_bar if self.bars else self._on_trade

    def _ensure_started(self) -> None:
        if self._closed:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._poller = self._loop.create_task(self._poll_loop(), name="alpaca-price-poller")
        if self._thread is None and self._symbols:
            table = self._stream._handlers[self._channel]
            for s in sorted(self._symbols):
                table[s] = self._handler()
            loop = asyncio.new_event_loop()
            self._stream_loop = loop
            self._runner = loop.create_task(self._run_stream(), name="alpaca-data-stream")
            self._thread = threading.Thread(target=self._thread_main, name="alpaca-data-stream", daemon=True)
            self._thread.start()

    async def _run_stream(self) -> None:
        try:
            await self._stream._run_forever()
        except asyncio.CancelledError:
            pass
        finally:
            with contextlib.suppress(Exception):
                await self._stream.close()

    def _thread_main(self) -> None:
        loop = self._stream_loop
        assert loop is not None and self._runner is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._runner)
        except asyncio.CancelledError:
            pass  # closed before it started
        except Exception:
            log.exception("the market-data stream stopped")
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _change(self, add: list[str], remove: list[str]) -> None:
        if self._thread is None or self._stream_loop is None:
            return  # not started: _ensure_started subscribes to self._symbols
        coro = self._stream.change(self._channel, self._handler(), add, remove)
        try:
            fut = asyncio.run_coroutine_threadsafe(coro, self._stream_loop)
        except RuntimeError:  # the stream loop is closed (we are closing)
            coro.close()
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(fut), self.market.settings.alpaca_timeout_seconds + 1)
        except TimeoutError:
            log.warning("changing the stream's symbols timed out; the next reconnect applies it")

    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Add symbols (applied to the running websocket and to every reconnect)."""
        new = sorted({_sym(s) for s in symbols} - self._symbols)
        self._symbols.update(new)
        if new:
            await self._change(new, [])
        self._ensure_started()

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Remove symbols; their prices stop at once, even ones already queued."""
        gone = sorted({s.strip().upper() for s in symbols} & self._symbols)
        self._symbols.difference_update(gone)
        for s in gone:
            self._last.pop(s, None)
        if gone:
            await self._change([], gone)

    # ---- polling fallback ------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        while not self._closed:
            if self._symbols and not self._stream.connected:
                try:
                    await (self._poll_bars() if self.bars else self._poll_trades())
                except BrokerError as err:
                    log.warning("price polling failed: %s", err)
                except Exception:
                    log.exception("price polling failed unexpectedly")
            await asyncio.sleep(self.market.poll_interval)

    async def _poll_trades(self) -> None:
        trades = await self.market.latest_trades(sorted(self._symbols))
        for sym, tr in trades.items():
            self._deliver(PriceEvent(sym, tr.price, tr.timestamp, PriceEventKind.TRADE, tr.size), True)

    async def _poll_bars(self) -> None:
        now = datetime.now(UTC)
        symbols = sorted(self._symbols)
        since = min(self._last.get(s, now - _BAR_LOOKBACK) for s in symbols)
        for bar in await self.market.minute_bars(symbols, since, now):
            if bar.timestamp + _MINUTE <= now:  # completed bars only
                self._deliver(PriceEvent(bar.symbol, bar.close, bar.timestamp, PriceEventKind.BAR,
                                         bar.volume, bar), True)

    def __aiter__(self) -> AsyncIterator[PriceEvent]:
        self._ensure_started()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PriceEvent]:
        while True:
            ev = await self._queue.get()
            if ev is None or self._closed:
                return
            if ev.symbol in self._symbols:
                yield ev

    async def close(self) -> None:
        """Stop the websocket thread and the poller; iteration ends."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None and self._stream_loop is not None and self._runner is not None:
            with contextlib.suppress(RuntimeError):
                self._stream_loop.call_soon_threadsafe(self._runner.cancel)
            await asyncio.to_thread(self._thread.join, 5.0)
            if self._thread.is_alive():
                log.warning("the market-data stream thread did not stop in time")
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._queue.put_nowait(None)
