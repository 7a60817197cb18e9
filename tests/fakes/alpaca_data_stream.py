"""The fake Alpaca stock market-data websocket (``wss://stream.data.alpaca.markets/v2/{feed}``).

It speaks the protocol alpaca-py's ``StockDataStream`` uses (``alpaca/data/live/websocket.py``):
msgpack in binary frames, each frame a list of messages.

1. on connect the server sends ``[{"T": "success", "msg": "connected"}]``;
2. the client sends ``{"action": "auth", "key": ..., "secret": ...}`` and gets
   ``[{"T": "success", "msg": "authenticated"}]`` (or ``[{"T": "error", "code": 402, ...}]``);
3. ``{"action": "subscribe", "trades": [...], "bars": [...], ...}`` adds symbols and
   ``{"action": "unsubscribe", ...}`` removes them; both are answered with the full current
   subscription ``[{"T": "subscription", "trades": [...], "quotes": [], "bars": [...], ...}]``;
4. market data: trades ``{"T": "t", "S", "i", "x", "p", "s", "c", "z", "t"}`` and minute bars
   ``{"T": "b", "S", "o", "h", "l", "c", "v", "t", "n", "vw"}``, with ``t`` a msgpack
   ``Timestamp`` (ext type -1), exactly as alpaca-py's own websocket tests build them.

Only subscribed symbols (or ``*``) are sent to a connection, as the real server does.
:meth:`FakeMarketStream.go_down` refuses new connections (HTTP 503 on the upgrade) and cuts the
open ones; :meth:`go_up` accepts them again. A published trade also becomes the "latest trade"
served by the REST fake, so polling sees what the stream would have carried.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

#: the channels a subscription message lists (``corrections``/``cancelErrors`` come with trades)
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")


@dataclass
class StreamClient:
    """One connected websocket and what it subscribed to."""

    ws: web.WebSocketResponse
    authenticated: bool = False
    subs: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})

    def wants(self, channel: str, symbol: str) -> bool:
        """Tell whether this client subscribed to ``symbol`` on ``channel``."""
        chosen = self.subs[channel]
        return self.authenticated and (symbol in chosen or "*" in chosen)


@dataclass(frozen=True)
class LastTrade:
    """The latest trade of a symbol (what ``/v2/stocks/trades/latest`` returns)."""

    price: float
    size: int
    timestamp: datetime


def _pack(messages: list[dict[str, Any]]) -> bytes:
    return msgpack.packb(messages, datetime=False)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeMarketStream:
    """State and websocket handler of the fake stock data stream."""

    def __init__(self, *, key: str = "test-key") -> None:
        self.key = key
        self.available = True
        self.clients: list[StreamClient] = []
        #: every control message received, in order (``{"action": ..., ...}`` without secrets)
        self.actions: list[dict[str, Any]] = []
        self.connections = 0
        self.last_trades: dict[str, LastTrade] = {}
        #: symbol -> minute bars published so far, in the REST shape (``/v2/stocks/bars``)
        self.minute_bars: dict[str, list[dict[str, Any]]] = {}
        self._trade_ids = itertools.count(1)

    # ---- what the tests look at ---------------------------------------------------------
    def subscribed(self, channel: str = "trades") -> frozenset[str]:
        """Return the symbols some authenticated client receives on ``channel``."""
        out: set[str] = set()
        for c in self.clients:
            if c.authenticated:
                out |= c.subs[channel]
        return frozenset(out)

    @property
    def connected(self) -> int:
        """Return the number of authenticated connections."""
        return sum(1 for c in self.clients if c.authenticated)

    # ---- faults ----------------------------------------------------------------------------
    async def go_down(self) -> None:
        """Refuse new connections (HTTP 503) and close the open ones."""
        self.available = False
        await self.drop()

    def go_up(self) -> None:
        """Accept connections again."""
        self.available = True

    async def drop(self) -> None:
        """Close every open connection (clients should reconnect and resubscribe)."""
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                await c.ws.close()
        self.clients.clear()

    # ---- market data -----------------------------------------------------------------------
    async def publish_trade(self, symbol: str, price: float, size: int = 100,
                            timestamp: datetime | None = None) -> datetime:
        """Print a trade: stream it to subscribers and make it the REST latest trade."""
        t = timestamp or datetime.now(UTC)
        self.last_trades[symbol] = LastTrade(price, size, t)
        msg = {"T": "t", "S": symbol, "i": next(self._trade_ids), "x": "V", "p": price, "s": size,
               "c": ["@"], "z": "C", "t": msgpack.Timestamp.from_datetime(t)}
        await self._send("trades", symbol, msg)
        return t

    async def publish_bar(self, symbol: str, o: float, h: float, low: float, c: float, v: int,
                          timestamp: datetime) -> None:
        """Stream a completed minute bar to subscribers (and keep it for the REST bars)."""
        self.minute_bars.setdefault(symbol, []).append(
            {"t": _iso(timestamp).replace(".000000Z", "Z"), "o": o, "h": h, "l": low, "c": c, "v": v,
             "n": max(1, v // 100), "vw": round((h + low + c) / 3, 4)})
        msg = {"T": "b", "S": symbol, "o": o, "h": h, "l": low, "c": c, "v": v,
               "t": msgpack.Timestamp.from_datetime(timestamp), "n": max(1, v // 100),
               "vw": round((h + low + c) / 3, 4)}
        await self._send("bars", symbol, msg)

    def bars_json(self, symbols: list[str], start: datetime | None) -> dict[str, list[dict[str, Any]]]:
        """Return the published minute bars of ``symbols`` starting at or after ``start``."""
        out = {}
        for s in symbols:
            bars = [b for b in self.minute_bars.get(s, [])
                    if start is None or datetime.fromisoformat(b["t"]) >= start]
            if bars:
                out[s] = bars
        return out

    def latest_trade_json(self, symbol: str, template: dict[str, Any]) -> dict[str, Any] | None:
        """Return the REST latest-trade body of ``symbol`` if a trade was published."""
        last = self.last_trades.get(symbol)
        if last is None:
            return None
        return dict(template, p=last.price, s=last.size, t=_iso(last.timestamp))

    async def _send(self, channel: str, symbol: str, msg: dict[str, Any]) -> None:
        frame = _pack([msg])
        for c in list(self.clients):
            if c.wants(channel, symbol):
                with contextlib.suppress(Exception):
                    await c.ws.send_bytes(frame)

    # ---- protocol --------------------------------------------------------------------------
    def _subscription(self, c: StreamClient) -> dict[str, Any]:
        body: dict[str, Any] = {"T": "subscription"}
        body.update({ch: sorted(c.subs[ch]) for ch in CHANNELS})
        body["corrections"] = sorted(c.subs["trades"])
        body["cancelErrors"] = sorted(c.subs["trades"])
        return body

    async def handler(self, request: web.Request) -> web.StreamResponse:
        """Serve one market-data websocket connection."""
        if not self.available:
            return web.json_response({"message": "service unavailable"}, status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        client = StreamClient(ws)
        self.clients.append(client)
        await ws.send_bytes(_pack([{"T": "success", "msg": "connected"}]))
        try:
            async for raw in ws:
                if raw.type is not WSMsgType.BINARY and raw.type is not WSMsgType.TEXT:
                    break
                data = raw.data if isinstance(raw.data, bytes) else raw.data.encode()
                await self._on_message(client, msgpack.unpackb(data))
        finally:
            if client in self.clients:
                self.clients.remove(client)
        return ws

    async def _on_message(self, c: StreamClient, body: dict[str, Any]) -> None:
        action = body.get("action")
        self.actions.append({k: v for k, v in body.items() if k != "secret"})
        if action == "auth":
            if body.get("key") == self.key and body.get("secret"):
                c.authenticated = True
                await c.ws.send_bytes(_pack([{"T": "success", "msg": "authenticated"}]))
            else:
                await c.ws.send_bytes(_pack([{"T": "error", "code": 402, "msg": "auth failed"}]))
                await c.ws.close()
            return
        if not c.authenticated:
            await c.ws.send_bytes(_pack([{"T": "error", "code": 401, "msg": "not authenticated"}]))
            return
        if action in ("subscribe", "unsubscribe"):
            for ch in CHANNELS:
                symbols = set(body.get(ch) or [])
                if action == "subscribe":
                    c.subs[ch] |= symbols
                else:
                    c.subs[ch] -= symbols
            await c.ws.send_bytes(_pack([self._subscription(c)]))
            return
        await c.ws.send_bytes(_pack([{"T": "error", "code": 400, "msg": "invalid syntax"}]))
