"""The Alpaca (paper) broker, built on alpaca-py's ``TradingClient`` and ``TradingStream``.

- REST calls go through :class:`~core.brokers.alpaca.rest.AlpacaRest` (rate limit, thread,
  timeout, typed errors, retries of temporary failures only).
- A submit is never retried blindly: after a temporary failure the order is looked up by its
  client order id and re-sent only if Alpaca does not have it; a duplicate-id refusal returns
  the existing order. If nothing can be confirmed, :class:`SubmitOutcomeUnknown` is raised.
- Order updates come from the trade_updates websocket. Every (re)connect, and every
  ``poll_interval`` while the stream is down, order state is re-synced by polling and missed
  fills are published as synthetic events. Events are de-duplicated by execution id and by
  filled quantity, and stale (out-of-order) snapshots are dropped, so each filled contract is
  reported exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import GetOrdersRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream

from core.brokers.alpaca.mapping import (
    account_from_alpaca,
    order_from_alpaca,
    position_from_alpaca,
    request_to_alpaca,
    update_from_alpaca,
)
from core.brokers.alpaca.rest import AlpacaRest, RetryPolicy, disable_sdk_retries
from core.brokers.base import Broker, EventHub
from core.brokers.errors import (
    BrokerError,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    SubmitOutcomeUnknown,
)
from core.brokers.models import (
    Account,
    AssetClass,
    Order,
    OrderEventType,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    TimeInForce,
)
from core.brokers.ticks import checked_limit_price
from core.clock import Clock, SystemClock
from core.config import Settings

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 10.0  # the longest close() waits for the stream and background tasks

_TERMINAL_EVENTS = {
    OrderStatus.CANCELED: OrderEventType.CANCELED,
    OrderStatus.EXPIRED: OrderEventType.EXPIRED,
    OrderStatus.REJECTED: OrderEventType.REJECTED,
    OrderStatus.REPLACED: OrderEventType.REPLACED,
}


def _keys(settings: Settings) -> tuple[str, str]:
    key = settings.alpaca_api_key.get_secret_value() if settings.alpaca_api_key else ""
    secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
    return key, secret


def make_rest(settings: Settings, policy: RetryPolicy | None = None) -> AlpacaRest:
    """Build the shared REST runner from the settings."""
    return AlpacaRest(
        requests_per_minute=settings.alpaca_rate_limit_per_minute,
        timeout=settings.alpaca_timeout_seconds,
        policy=policy or RetryPolicy(max_retries=settings.alpaca_max_retries),
    )


class _Stream(TradingStream):
    """alpaca-py's trade stream, telling us when it connects and disconnects."""

    def __init__(self, *args: Any, on_connect: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_connect = on_connect
        self.connected = False

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self.connected = True
        self._on_connect()

    async def close(self) -> None:
        self.connected = False
        await super().close()


class AlpacaBroker(Broker):
    """Alpaca paper trading behind the :class:`Broker` interface."""

    name = "alpaca"

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        rest: AlpacaRest | None = None,
        reconnect_backoff: tuple[float, float] = (1.0, 30.0),
        poll_interval: float = 5.0,
        stream: bool = True,
    ) -> None:
        key, secret = _keys(settings)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.trading = TradingClient(key, secret, paper=settings.alpaca_paper,
                                     url_override=settings.alpaca_trading_url)
        disable_sdk_retries(self.trading, settings.alpaca_timeout_seconds)
        self.rest = rest or make_rest(settings)
        self._hub: EventHub[OrderUpdate] = EventHub()
        #: the last state of each order reported to subscribers (or its baseline)
        self._published: dict[str, Order] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._use_stream = stream
        self._stream = _Stream(key, secret, paper=settings.alpaca_paper,
                               url_override=settings.alpaca_trading_stream_url,
                               on_connect=self._schedule_resync)
        self._stream._reconnect_min_backoff, self._stream._reconnect_max_backoff = reconnect_backoff
        self._poll_interval = poll_interval
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.close_timeout = CLOSE_TIMEOUT_SECONDS
        self._resync_lock = asyncio.Lock()
        self.resyncs = 0

    # ---- lifecycle ---------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        if self._closing:  # a reconnect or resync asked for while closing: not started
            if asyncio.iscoroutine(coro):
                coro.close()
            return
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alpaca background task %s failed", task.get_name(), exc_info=task.exception())

    async def start(self) -> None:
        """Load recent orders, then connect the trade-updates stream and the poller."""
        await self.resync(baseline=True)
        if self._use_stream:
            self._stream.subscribe_trade_updates(self._on_trade_update)
            self._spawn(self._stream._run_forever(), "alpaca-trade-stream")
        self._spawn(self._poll_loop(), "alpaca-order-poller")

    async def close(self) -> None:
        """Stop the stream, the poller and any resync, waiting at most :attr:`close_timeout`.

        Background work asked for while closing is not started at all. A task that does not
        end within ``close_timeout`` of being cancelled (a library swallowing the
        cancellation) is left behind with a warning naming it, rather than holding up the
        shutdown.
        """
        timeout = self.close_timeout
        self._closing = True
        with contextlib.suppress(Exception):
            await self._stream.stop_ws()
            await asyncio.wait_for(self._stream.close(), timeout)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout)
            if stuck:
                log.warning("alpaca broker closed with background work still running: %s",
                            ", ".join(sorted(t.get_name() for t in stuck)))
        self._hub.close()

    @property
    def stream_connected(self) -> bool:
        """Tell whether the trade-updates websocket is up."""
        return self._stream.connected

    # ---- event handling ------------------------------------------------------------------
    async def _on_trade_update(self, update: TradeUpdate) -> None:
        mapped = update_from_alpaca(update)
        if mapped is not None:
            self._accept(mapped)

    def _remember(self, order: Order) -> Order:
        """Note an order seen through REST: events about it are reported from its start.

        The baseline is "nothing reported yet" (pending_new, nothing filled), so the stream's
        events - or, if the stream missed them, the next re-sync - still report every fill.
        """
        if order.id not in self._published:
            self._published[order.id] = order.model_copy(update={
                "status": OrderStatus.PENDING_NEW, "filled_qty": Decimal(0), "filled_avg_price": None,
                "updated_at": order.created_at,
            })
        return order

    def _accept(self, up: OrderUpdate) -> None:
        """Publish an event unless it is a duplicate or older than what we know."""
        if up.execution_id in self._seen:
            return
        self._seen[up.execution_id] = None
        if len(self._seen) > 10_000:
            self._seen.popitem(last=False)
        o = up.order
        known = self._published.get(o.id)
        if known is not None:
            if up.event.is_fill:
                if o.filled_qty <= known.filled_qty:
                    return  # already counted (a replay, or a fill recovered by a re-sync)
                delta = o.filled_qty - known.filled_qty
                if delta != up.fill_qty:
                    price = up.fill_price
                    if o.filled_avg_price is not None and (known.filled_avg_price or known.filled_qty == 0):
                        price = ((o.filled_avg_price * o.filled_qty
                                  - (known.filled_avg_price or Decimal(0)) * known.filled_qty) / delta
                                 ).quantize(Decimal("0.0001"))
                    up = up.model_copy(update={"fill_qty": delta, "fill_price": price})
            else:
                if known.status.is_terminal or o.filled_qty < known.filled_qty or o.updated_at < known.updated_at:
                    return  # stale: the order has moved on
                if o.status == known.status and up.event in (OrderEventType.NEW, OrderEventType.ACCEPTED):
                    return  # the same state again
        self._published[o.id] = o
        self._hub.publish(up)

    def _schedule_resync(self) -> None:
        self._spawn(self._safe_resync(), "alpaca-order-resync")

    async def _safe_resync(self) -> None:
        try:
            await self.resync()
        except BrokerError as err:
            log.warning("order re-sync failed (%s); the poller will retry", err)

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            if not (self._use_stream and self._stream.connected):
                await self._safe_resync()

    async def resync(self, *, baseline: bool = False) -> None:
        """Poll every recent order and publish what the stream missed.

        With ``baseline`` (at start-up) orders not seen before are taken as already reported.
        """
        async with self._resync_lock:
            req = GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, nested=True,
                                   after=self.clock.now() - timedelta(days=3))
            orders = await self.rest.call(self.trading.get_orders, req)
            self.resyncs += 1
            for a in orders:
                self._reconcile(order_from_alpaca(a), baseline=baseline)

    def _reconcile(self, o: Order, *, baseline: bool) -> None:
        known = self._published.get(o.id)
        if known is None:
            if baseline:
                self._published[o.id] = o  # state before we started: nothing to report
            else:
                self._remember(o)
                known = self._published[o.id]
        if known is None:
            return
        if o.filled_qty > known.filled_qty:
            event = OrderEventType.FILL if o.status is OrderStatus.FILLED else OrderEventType.PARTIAL_FILL
            self._accept(OrderUpdate(
                event=event, order=o, timestamp=o.updated_at,
                execution_id=f"resync:{o.id}:{o.filled_qty}",
                fill_qty=o.filled_qty - known.filled_qty,
                fill_price=o.filled_avg_price or known.filled_avg_price or Decimal(0),
            ))
        elif o.status in _TERMINAL_EVENTS and not known.status.is_terminal:
            self._accept(OrderUpdate(event=_TERMINAL_EVENTS[o.status], order=o, timestamp=o.updated_at,
                                     execution_id=f"resync:{o.id}:{o.status.value}"))

    async def refresh(self) -> None:
        """Poll every recent order and publish what the stream missed (see :meth:`resync`)."""
        await self.resync()

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Subscribe to order events from now on."""
        return self._hub.subscribe()

    # ---- REST operations -------------------------------------------------------------
    async def get_account(self) -> Account:
        """Return the account balances."""
        return account_from_alpaca(await self.rest.call(self.trading.get_account))

    async def _lookup(self, client_order_id: str) -> Order | None:
        try:
            a = await self.rest.call(self.trading.get_order_by_client_id, client_order_id)
        except OrderNotFound:
            return None
        return self._remember(order_from_alpaca(a))

    async def submit_order(self, request: OrderRequest) -> Order:
        """Place an order; reconcile by client order id instead of blind retries."""
        if request.asset_class is AssetClass.US_OPTION and request.time_in_force is not TimeInForce.DAY:
            raise InvalidOrder(f"Alpaca accepts only day orders for options, not {request.time_in_force.value}; "
                               "nothing was sent")
        limit = request.limit_price
        if limit is not None and request.symbol is not None and not request.is_multileg:
            limit = checked_limit_price(request.symbol, limit, request.side,  # type: ignore[arg-type]
                                        allow_rounding=request.allow_price_rounding)
        areq = request_to_alpaca(request, limit)
        cid = request.client_order_id
        return await self._reconciled(cid, lambda: self.rest.once(self.trading.submit_order, areq))

    async def get_order(self, order_id: str) -> Order:
        """Return an order by id."""
        try:
            a = await self.rest.call(self.trading.get_order_by_id, order_id)
        except ValueError as exc:  # alpaca-py validates the UUID itself
            raise OrderNotFound(f"order {order_id} not found") from exc
        return self._remember(order_from_alpaca(a))

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        """Return the order placed under ``client_order_id``, or None."""
        return await self._lookup(client_order_id)

    async def cancel_order(self, order_id: str) -> None:
        """Request a cancel (safe to retry)."""
        await self.rest.call(self.trading.cancel_order_by_id, order_id)

    async def replace_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Replace an open order; retried like a submit, reconciled by the new client order id.

        Without ``client_order_id`` one is generated, so a replace whose answer was lost is
        found again instead of being sent twice.
        """
        if limit_price is not None:
            current = await self.get_order(order_id)
            if current.symbol and current.side:
                limit_price = checked_limit_price(current.symbol, limit_price, current.side, allow_rounding=False)
        cid = client_order_id or str(uuid.uuid4())
        req = ReplaceOrderRequest(
            qty=int(qty) if qty is not None else None,
            limit_price=float(limit_price) if limit_price is not None else None,
            client_order_id=cid,
        )
        return await self._reconciled(cid, lambda: self.rest.once(self.trading.replace_order_by_id, order_id, req))

    async def _reconciled(self, cid: str, send: Callable[[], Awaitable[Any]]) -> Order:
        """Send a request that creates the order ``cid``; after a temporary failure, look it up
        by ``cid`` and re-send only if Alpaca does not have it."""
        policy = self.rest.policy
        attempt = 0
        while True:
            try:
                return self._remember(order_from_alpaca(await send()))
            except OrderRejected as err:
                # Alpaca refuses a client order id it already knows: that order is ours.
                if "client_order_id" in err.reason.lower() or "unique" in err.reason.lower():
                    existing = await self._lookup(cid)
                    if existing is not None:
                        return existing
                raise
            except BrokerError as err:
                if not err.temporary:
                    raise
                attempt += 1
                log.warning("request for %s: outcome unknown (%s); reconciling (attempt %d)", cid, err, attempt)
                if attempt > policy.max_retries:
                    raise SubmitOutcomeUnknown(cid) from err
                await self.rest._sleep(policy.delay(attempt, getattr(err, "retry_after", None)))
                try:
                    existing = await self._lookup(cid)
                except BrokerError as lookup_err:
                    if not lookup_err.temporary:
                        raise
                    raise SubmitOutcomeUnknown(cid) from lookup_err
                if existing is not None:
                    return existing

    async def list_open_orders(self) -> list[Order]:
        """Return the open orders."""
        req = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500, nested=True)
        return [self._remember(order_from_alpaca(a)) for a in await self.rest.call(self.trading.get_orders, req)]

    async def list_positions(self) -> list[Position]:
        """Return the open positions."""
        return [position_from_alpaca(p) for p in await self.rest.call(self.trading.get_all_positions)]

    async def close_position(self, symbol: str, *, client_order_id: str | None = None) -> Order:
        """Flatten a position with Alpaca's close-position call, retried without closing twice.

        The call takes no client order id, so a blind retry could send two closing orders. A
        429 (refused, nothing done) is retried as is; after any other temporary failure the
        open orders are searched for a closing order on the symbol placed since the first
        attempt, and the call is sent again only when there is none.
        """
        symbol = symbol.upper()
        policy = self.rest.policy
        started = datetime.now(UTC) - timedelta(seconds=5)
        attempt = 0
        while True:
            attempt += 1
            try:
                a = await self.rest.once(self.trading.close_position, symbol)
                return self._remember(order_from_alpaca(a))
            except BrokerError as exc:
                if not exc.temporary or attempt > policy.max_retries:
                    raise
                if not isinstance(exc, RateLimited):
                    recent = await self.rest.call(self.trading.get_orders, GetOrdersRequest(
                        status=QueryOrderStatus.ALL, after=started, symbols=[symbol]))
                    if recent:
                        order = order_from_alpaca(recent[0])
                        log.warning("close of %s: answer lost, found its order %s", symbol, order.id)
                        return self._remember(order)
                delay = policy.delay(attempt, getattr(exc, "retry_after", None))
                log.warning("alpaca close_position %s failed (%s); retry %d/%d in %.2fs",
                            symbol, exc, attempt, policy.max_retries, delay)
                await self.rest._sleep(delay)
