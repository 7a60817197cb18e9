"""A fake Alpaca (trading + market data REST, trade_updates websocket) on 127.0.0.1.

It keeps order, position and cash state, and answers with the real response shapes stored in
``shared/fixtures/alpaca`` (each body starts from a fixture and only the fields that carry
state are changed), so the real alpaca-py client parses them. Fault knobs:

- :meth:`FakeAlpaca.fail_next` - answer the next N matching requests with a status
  (429 with ``Retry-After``, 500...), optionally after a delay (timeouts);
- :meth:`FakeAlpaca.lose_next_response` - process the next matching request, then drop the
  connection without answering (a submit whose outcome is unknown);
- :meth:`FakeAlpaca.drop_streams` / ``stream_paused`` - cut the websocket(s) / lose events;
- :meth:`FakeAlpaca.fill` - fill (part of) a resting order; :meth:`FakeAlpaca.push_update` -
  send any trade update, e.g. duplicates or out-of-order events;
- :attr:`FakeAlpaca.market` - the stock market-data websocket (``/v2/iex``, ``/v2/sip``) in
  alpaca-py's msgpack protocol (see :mod:`tests.fakes.alpaca_data_stream`): publish trades and
  bars, take it down and up.

Run standalone: ``python -m tests.fakes.alpaca_server --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.alpaca_data_stream import FakeMarketStream

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "alpaca"
OCC_LEN = 15


def fixture(name: str) -> Any:
    """Return a parsed fixture body."""
    return json.loads((FIXTURES / name).read_text())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _num(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


@dataclass
class Fault:
    """One injected failure."""

    method: str
    path: str
    status: int = 500
    times: int = 1
    delay: float = 0.0
    retry_after: float | None = None
    lose_response: bool = False
    body: Any = None


class FakeAlpaca:
    """State and HTTP/websocket handlers of the fake Alpaca."""

    def __init__(self, *, cash: Decimal = Decimal(100_000)) -> None:
        self.cash = cash
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_cid: dict[str, str] = {}
        self.positions: dict[str, Decimal] = {}
        self.avg_price: dict[str, Decimal] = {}
        #: symbol -> (bid, ask); option symbols of known roots get a default quote
        self.quotes: dict[str, tuple[Decimal, Decimal]] = {
            "SPY": (Decimal("603.05"), Decimal("603.11")),
            "AAPL": (Decimal("199.98"), Decimal("200.02")),
            "TSLA": (Decimal("330.10"), Decimal("330.20")),
            "NVDA": (Decimal("143.01"), Decimal("143.03")),
        }
        self.option_default = (Decimal("3.70"), Decimal("3.80"))
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.streams: set[web.WebSocketResponse] = set()
        self.stream_paused = False
        self.connections = 0
        #: the stock market-data websocket
        self.market = FakeMarketStream()
        self.runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------
    def app(self) -> web.Application:
        """Build the aiohttp application."""
        app = web.Application(middlewares=[self._faults_mw])
        r = app.router
        r.add_get("/v2/account", self.h_account)
        r.add_post("/v2/orders", self.h_submit)
        r.add_get("/v2/orders", self.h_list)
        r.add_get("/v2/orders:by_client_order_id", self.h_by_cid)
        r.add_get("/v2/orders/{id}", self.h_get)
        r.add_delete("/v2/orders/{id}", self.h_cancel)
        r.add_patch("/v2/orders/{id}", self.h_replace)
        r.add_get("/v2/positions", self.h_positions)
        r.add_delete("/v2/positions/{symbol}", self.h_close_position)
        r.add_get("/v2/stocks/trades/latest", self.h_latest_trade)
        r.add_get("/v2/stocks/quotes/latest", self.h_latest_quote)
        r.add_get("/v2/stocks/bars", self.h_bars)
        r.add_get("/v1beta1/options/snapshots/{underlying}", self.h_chain)
        r.add_get("/v1beta1/options/snapshots", self.h_snapshots)
        r.add_get("/stream", self.h_stream)
        r.add_get("/v2/iex", self.market.handler)
        r.add_get("/v2/sip", self.market.handler)
        return app

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (ephemeral port by default) and return the base URL."""
        self.runner = web.AppRunner(self.app())
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    @property
    def url(self) -> str:
        """Return the REST base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        """Return the trade_updates websocket URL."""
        return f"ws://127.0.0.1:{self.port}/stream"

    @property
    def data_stream_url(self) -> str:
        """Return the stock market-data websocket URL (IEX feed)."""
        return f"ws://127.0.0.1:{self.port}/v2/iex"

    async def stop(self) -> None:
        """Close websockets and stop serving."""
        await self.drop_streams()
        await self.market.drop()
        if self.runner is not None:
            await self.runner.cleanup()

    # ---- fault injection -------------------------------------------------------------
    def fail_next(self, method: str, path: str, status: int = 500, *, times: int = 1,
                  delay: float = 0.0, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests to ``method path`` (prefix) with ``status``."""
        self.faults.append(Fault(method, path, status, times, delay, retry_after))

    def lose_next_response(self, method: str, path: str) -> None:
        """Process the next matching request but drop the connection instead of answering."""
        self.faults.append(Fault(method, path, lose_response=True))

    @web.middleware
    async def _faults_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        for f in self.faults:
            if f.times > 0 and f.method == request.method and request.path.startswith(f.path):
                f.times -= 1
                if f.lose_response:
                    await handler(request)
                    request.transport.close()  # type: ignore[union-attr]
                    raise asyncio.CancelledError
                if f.delay:
                    await asyncio.sleep(f.delay)
                headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
                body = f.body or {"code": 50010000, "message": f"injected HTTP {f.status}"}
                return web.json_response(body, status=f.status, headers=headers)
        return await handler(request)

    # ---- helpers ---------------------------------------------------------------------
    def quote(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        """Return the (bid, ask) of a known stock or an option on a known root."""
        if symbol in self.quotes:
            return self.quotes[symbol]
        if len(symbol) >= OCC_LEN and symbol[:-OCC_LEN] in self.quotes:
            return self.option_default
        return None

    @staticmethod
    def _err(status: int, name: str | None = None, **body: Any) -> web.Response:
        payload = fixture(name) if name else body
        return web.json_response(payload, status=status)

    def _order_json(self, o: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(o)

    def _mult(self, symbol: str) -> Decimal:
        return Decimal(100) if len(symbol) >= OCC_LEN else Decimal(1)

    # ---- trading REST ------------------------------------------------------------------
    async def h_account(self, request: web.Request) -> web.Response:
        body = fixture("account.json")
        reserved = sum((Decimal(o["qty"]) - Decimal(o["filled_qty"])) * Decimal(o["limit_price"] or 0)
                       * self._mult(o["symbol"]) for o in self.orders.values()
                       if o["status"] in ("new", "accepted", "partially_filled") and o["side"] == "buy")
        value = sum((q * (self.quote(s) or (Decimal(0), Decimal(0)))[0] * self._mult(s)
                     for s, q in self.positions.items()), Decimal(0))
        bp = self.cash - reserved
        body.update(cash=_num(self.cash), buying_power=_num(bp), options_buying_power=_num(bp),
                    non_marginable_buying_power=_num(bp), equity=_num(self.cash + value),
                    portfolio_value=_num(self.cash + value), long_market_value=_num(value), multiplier="1")
        return web.json_response(body)

    async def h_submit(self, request: web.Request) -> web.Response:
        req = await request.json()
        cid = req.get("client_order_id") or str(uuid.uuid4())
        if cid in self.by_cid:
            return self._err(422, code=40010001, message="client_order_id must be unique")
        symbol = req.get("symbol") or ""
        q = self.quote(symbol)
        if q is None:
            return self._err(422, code=40010001, message=f"asset {symbol} not found")
        qty = Decimal(str(req["qty"]))
        side = req["side"]
        limit = Decimal(str(req["limit_price"])) if req.get("limit_price") is not None else None
        mult = self._mult(symbol)
        if side == "buy":
            price = limit if limit is not None else q[1]
            bp = self.cash - sum((Decimal(o["qty"]) - Decimal(o["filled_qty"])) * Decimal(o["limit_price"] or 0)
                                 * self._mult(o["symbol"]) for o in self.orders.values()
                                 if o["status"] in ("new", "accepted", "partially_filled") and o["side"] == "buy")
            if qty * price * mult > bp:
                return self._err(403, "error_insufficient_buying_power.json")
        else:
            have = self.positions.get(symbol, Decimal(0))
            if qty > have:
                if have == 0 and mult == 1:
                    return self._err(403, "error_not_allowed_to_short.json")
                return self._err(403, code=40310000, message=(
                    f"insufficient qty available for order (requested: {qty}, available: {have})"))
        body = fixture("order_option_limit_pending_new.json")
        now = _now()
        oid = str(uuid.uuid4())
        body.update(
            id=oid, client_order_id=cid, created_at=now, updated_at=now, submitted_at=now, symbol=symbol,
            asset_class="us_option" if mult == 100 else "us_equity", qty=_num(qty), filled_qty="0",
            order_type=req["type"], type=req["type"], side=side, time_in_force=req["time_in_force"],
            limit_price=_num(limit), status="new", asset_id=str(uuid.uuid4()),
        )
        self.orders[oid] = body
        self.by_cid[cid] = oid
        await self._event("new", body)
        marketable = limit is None or (side == "buy" and q[1] <= limit) or (side == "sell" and q[0] >= limit)
        if marketable:
            await self.fill(oid, qty, q[1] if side == "buy" else q[0])
        return web.json_response(self._order_json(self.orders[oid]))

    async def h_list(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "open")
        out = [o for o in self.orders.values()
               if status == "all" or (status == "open") == (o["status"] in ("new", "accepted", "partially_filled"))]
        if symbols := [x for x in request.query.get("symbols", "").split(",") if x]:
            out = [o for o in out if o.get("symbol") in symbols]
        if after := request.query.get("after"):
            since = datetime.fromisoformat(after.replace("Z", "+00:00"))
            out = [o for o in out
                   if datetime.fromisoformat(str(o["created_at"]).replace("Z", "+00:00")[:26] +
                                             ("+00:00" if str(o["created_at"]).endswith("Z") else "")) > since]
        out.sort(key=lambda o: str(o["created_at"]), reverse=True)  # newest first, as Alpaca
        return web.json_response([self._order_json(o) for o in out])

    async def h_by_cid(self, request: web.Request) -> web.Response:
        oid = self.by_cid.get(request.query.get("client_order_id", ""))
        if oid is None:
            return self._err(404, "error_order_not_found.json")
        return web.json_response(self._order_json(self.orders[oid]))

    async def h_get(self, request: web.Request) -> web.Response:
        o = self.orders.get(request.match_info["id"])
        if o is None:
            return self._err(404, "error_order_not_found.json")
        return web.json_response(self._order_json(o))

    async def h_cancel(self, request: web.Request) -> web.Response:
        o = self.orders.get(request.match_info["id"])
        if o is None:
            return self._err(404, "error_order_not_found.json")
        if o["status"] not in ("new", "accepted", "partially_filled"):
            return self._err(422, code=42210000, message="order is not cancelable")
        o.update(status="canceled", canceled_at=_now(), updated_at=_now())
        await self._event("canceled", o)
        return web.Response(status=204)

    async def h_replace(self, request: web.Request) -> web.Response:
        old = self.orders.get(request.match_info["id"])
        if old is None:
            return self._err(404, "error_order_not_found.json")
        if old["status"] not in ("new", "accepted"):
            return self._err(422, code=42210000, message="order is not replaceable")
        req = await request.json()
        new = copy.deepcopy(old)
        now = _now()
        nid = str(uuid.uuid4())
        cid = req.get("client_order_id") or str(uuid.uuid4())
        new.update(id=nid, client_order_id=cid, created_at=now, updated_at=now, replaces=old["id"],
                   qty=str(req.get("qty") or old["qty"]),
                   limit_price=str(req["limit_price"]) if req.get("limit_price") is not None else old["limit_price"])
        old.update(status="replaced", replaced_by=nid, replaced_at=now, updated_at=now)
        self.orders[nid] = new
        self.by_cid[cid] = nid
        await self._event("replaced", old)
        await self._event("new", new)
        return web.json_response(self._order_json(new))

    async def h_positions(self, request: web.Request) -> web.Response:
        out = []
        template = fixture("position_stock.json")
        for sym, qty in self.positions.items():
            p = copy.deepcopy(template)
            mult = self._mult(sym)
            bid = (self.quote(sym) or (Decimal(0), Decimal(0)))[0]
            avg = self.avg_price[sym]
            p.update(symbol=sym, qty=_num(qty), qty_available=_num(qty), side="long",
                     asset_class="us_option" if mult == 100 else "us_equity",
                     avg_entry_price=_num(avg), cost_basis=_num(avg * qty * mult),
                     market_value=_num(bid * qty * mult), current_price=_num(bid),
                     unrealized_pl=_num((bid - avg) * qty * mult))
            out.append(p)
        return web.json_response(out)

    async def h_close_position(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"]
        qty = self.positions.get(sym)
        if not qty:
            return self._err(404, code=40410000, message="position does not exist")
        bid = (self.quote(sym) or (Decimal(0), Decimal(0)))[0]
        body = fixture("order_close_position.json")
        now = _now()
        oid = str(uuid.uuid4())
        cid = str(uuid.uuid4())
        body.update(id=oid, client_order_id=cid, symbol=sym, qty=_num(qty), filled_qty="0", side="sell",
                    created_at=now, updated_at=now, submitted_at=now, status="new",
                    asset_class="us_option" if self._mult(sym) == 100 else "us_equity")
        self.orders[oid] = body
        self.by_cid[cid] = oid
        await self._event("new", body)
        await self.fill(oid, qty, bid)
        return web.json_response(self._order_json(self.orders[oid]))

    # ---- market data REST ------------------------------------------------------------------
    async def h_latest_trade(self, request: web.Request) -> web.Response:
        body = fixture("stock_latest_trade.json")
        template = body["trades"]["AAPL"]
        trades = {}
        for s in request.query.get("symbols", "").split(","):
            published = self.market.latest_trade_json(s, template)
            q = self.quotes.get(s)
            if published is not None:
                trades[s] = published
            elif q is not None:
                trades[s] = dict(template, p=float((q[0] + q[1]) / 2), t=_now())
        return web.json_response({"trades": trades})

    async def h_latest_quote(self, request: web.Request) -> web.Response:
        body = fixture("stock_latest_quote.json")
        template = next(iter(body["quotes"].values()))
        quotes = {}
        for s in request.query.get("symbols", "").split(","):
            q = self.quotes.get(s)
            if q is not None:
                quotes[s] = dict(template, bp=float(q[0]), ap=float(q[1]), t=_now())
        return web.json_response({"quotes": quotes})

    async def h_bars(self, request: web.Request) -> web.Response:
        body = fixture("stock_bars.json")
        want = request.query.get("symbols", "").split(",")
        if request.query.get("timeframe") == "1Min":  # minute bars: what the market stream published
            start = request.query.get("start")
            since = datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return web.json_response({"bars": self.market.bars_json(want, since), "next_page_token": None})
        body["bars"] = {k: v for k, v in body["bars"].items() if k in want}
        body["next_page_token"] = None
        return web.json_response(body)

    async def h_chain(self, request: web.Request) -> web.Response:
        body = fixture("option_chain_snapshots.json")
        u = request.match_info["underlying"]
        snaps = {k: v for k, v in body["snapshots"].items() if k.startswith(u)}
        return web.json_response({"snapshots": snaps, "next_page_token": None})

    async def h_snapshots(self, request: web.Request) -> web.Response:
        body = fixture("option_chain_snapshots.json")
        template = next(iter(body["snapshots"].values()))
        snaps = {}
        for s in request.query.get("symbols", "").split(","):
            q = self.quote(s)
            if q is not None and len(s) >= OCC_LEN:
                snap = copy.deepcopy(template)
                snap["latestQuote"].update(bp=float(q[0]), ap=float(q[1]))
                snaps[s] = snap
        return web.json_response({"snapshots": snaps, "next_page_token": None})

    # ---- order execution and stream --------------------------------------------------------
    async def fill(self, order_id: str, qty: Decimal, price: Decimal) -> dict[str, Any]:
        """Fill ``qty`` of an order at ``price``, update cash/positions and stream the event."""
        o = self.orders[order_id]
        sym = o["symbol"]
        mult = self._mult(sym)
        prev = Decimal(o["filled_qty"])
        qty = min(qty, Decimal(o["qty"]) - prev)
        new = prev + qty
        avg_prev = Decimal(o["filled_avg_price"]) if o.get("filled_avg_price") else Decimal(0)
        avg = (avg_prev * prev + price * qty) / new
        done = new >= Decimal(o["qty"])
        now = _now()
        o.update(filled_qty=_num(new), filled_avg_price=_num(avg), updated_at=now,
                 status="filled" if done else "partially_filled", filled_at=now if done else None)
        sign = Decimal(1) if o["side"] == "buy" else Decimal(-1)
        self.cash -= sign * qty * price * mult
        pos = self.positions.get(sym, Decimal(0))
        if sign > 0:
            self.avg_price[sym] = (self.avg_price.get(sym, Decimal(0)) * pos + price * qty) / (pos + qty)
        pos += sign * qty
        if pos == 0:
            self.positions.pop(sym, None)
            self.avg_price.pop(sym, None)
        else:
            self.positions[sym] = pos
        await self._event("fill" if done else "partial_fill", o, qty=qty, price=price, position_qty=pos)
        return o

    def trade_update(self, event: str, order: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Build a trade_updates frame in the documented shape."""
        frame = fixture("trade_update_fill.json")
        data = {"event": event, "order": copy.deepcopy(order), "timestamp": _now()}
        if event in ("fill", "partial_fill"):
            data.update(execution_id=str(uuid.uuid4()), price=_num(extra["price"]), qty=_num(extra["qty"]),
                        position_qty=_num(extra.get("position_qty", Decimal(0))))
        frame["data"] = data
        return frame

    async def _event(self, event: str, order: dict[str, Any], **extra: Any) -> None:
        await self.push_update(self.trade_update(event, order, **extra))

    async def push_update(self, frame: dict[str, Any]) -> None:
        """Send a trade_updates frame to every listener (lost while ``stream_paused``)."""
        if self.stream_paused:
            return
        data = json.dumps(frame).encode()
        for ws in list(self.streams):
            with contextlib.suppress(Exception):
                await ws.send_bytes(data)

    async def drop_streams(self) -> None:
        """Close every websocket connection (clients should reconnect)."""
        for ws in list(self.streams):
            with contextlib.suppress(Exception):
                await ws.close()
        self.streams.clear()

    async def h_stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            body = json.loads(msg.data)
            action = body.get("action")
            if action == "authenticate":
                await ws.send_bytes(json.dumps(fixture("stream_authorized.json")).encode())
            elif action == "listen":
                await ws.send_bytes(json.dumps(fixture("stream_listening.json")).encode())
                self.streams.add(ws)
        self.streams.discard(ws)
        return ws


async def _serve(port: int) -> None:
    server = FakeAlpaca()
    url = await server.start(port)
    print(f"fake Alpaca on {url} (stream {server.stream_url}); Ctrl-C to stop", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    """Run the fake server standalone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
