"""Broker health: pause new entries while the broker does not answer, resume when it does.

:class:`BrokerHealthMonitor` watches every broker call the engine makes (through
:class:`MonitoredBroker`, a decorator around any :class:`~core.brokers.base.Broker`) and every
order update that arrives. It declares the broker *degraded*, with a reason a trader can read,
when

* ``failures_to_degrade`` calls in a row failed with a temporary error (rate limited after the
  adapter's own retries, 5xx, timeouts, network), or
* the order stream missed updates: when orders are working and no update came from the
  stream for ``stream_silence_seconds``, the monitor asks the broker to
  :meth:`~core.brokers.base.Broker.refresh` (a poll of order state, repeated every
  ``probe_interval_seconds`` while the silence lasts). A resting order is quiet by nature, so
  silence alone says nothing; a poll that finds an update the stream never delivered (a fill,
  a cancel) says the stream is connected but losing events.

While degraded the entry risk check refuses new entries (rule ``broker_health``); exits, stops
and closes still go out. The monitor probes the broker (one account call) whenever it has not
answered for ``probe_interval_seconds``, so an idle bot notices an outage too, and recovers on
its own after ``successes_to_recover`` answers in a row (or, for the stream, at the next update
the stream delivers). Each change is published once as
:class:`~core.events.BrokerHealthChanged`. The flag is separate from the trading state, so
recovering never lifts a pause or a kill switch an admin set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from core.brokers.base import Broker
from core.brokers.errors import BrokerError
from core.brokers.models import Account, Order, OrderRequest, OrderUpdate, Position
from core.clock import Clock
from core.events import BrokerHealthChanged, EventBus
from core.tasks import TaskSupervisor

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Execution ids of updates that did not come from the stream (recovered by polling).
POLLED_PREFIXES = ("resync:", "reconcile-")


class HealthRules(BaseModel):
    """When the broker counts as degraded, and when as recovered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failures_to_degrade: int = Field(2, ge=1, le=100, description="Failed calls in a row (after retries).")
    successes_to_recover: int = Field(2, ge=1, le=100, description="Answers in a row to recover.")
    stream_silence_seconds: float = Field(
        120, gt=0, description="No order update for this long while orders work: degraded.")
    probe_interval_seconds: float = Field(30, gt=0, description="How often a degraded broker is probed.")
    check_interval_seconds: float = Field(15, gt=0, description="How often the monitor looks.")


class BrokerHealthMonitor:
    """Judge the broker's health from call outcomes and order updates; see the module doc."""

    def __init__(self, clock: Clock, bus: EventBus, rules: HealthRules | None = None) -> None:
        self.clock = clock
        self.bus = bus
        self.rules = rules or HealthRules()
        self.broker: MonitoredBroker | None = None
        self._problems: dict[str, str] = {}
        self._failures = 0
        self._successes = 0
        self._working: set[str] = set()
        self._heard_at: datetime | None = None
        self._expecting_since: datetime | None = None
        self._probed_at: datetime | None = None
        self._answered_at: datetime | None = None
        self._refreshed_at: datetime | None = None
        self._polling_silence = False  # a refresh was asked for because the stream was silent
        self._tasks = TaskSupervisor("health")
        self.changes = 0

    def watch(self, broker: Broker) -> MonitoredBroker:
        """Return ``broker`` wrapped so that every call and update is seen by this monitor."""
        self.broker = MonitoredBroker(broker, self)
        return self.broker

    # ---------------------------------------------------------------- state -----
    @property
    def degraded(self) -> bool:
        """Tell whether new entries should wait."""
        return bool(self._problems)

    def reason(self) -> str | None:
        """Return why the broker is degraded (None when healthy)."""
        return "; ".join(self._problems.values()) or None

    def _set(self, key: str, problem: str | None) -> None:
        was = self.degraded
        if problem is None:
            self._problems.pop(key, None)
        else:
            self._problems[key] = problem
        if was != self.degraded:
            self.changes += 1
            now = self.clock.now()
            if self.degraded:
                detail = self.reason() or ""
                log.warning("broker degraded: %s; new entries paused", detail)
            else:
                detail = "the broker answers again"
                log.warning("broker recovered; new entries allowed again")
            self.bus.publish(BrokerHealthChanged(at=now, healthy=not self.degraded, reason=detail))

    # ------------------------------------------------------------- observations -----
    def call_succeeded(self, result: Any = None) -> None:
        """Record a call the broker answered (a refusal is an answer too)."""
        self._failures = 0
        self._successes += 1
        self._answered_at = self.clock.now()
        for order in result if isinstance(result, list) else [result]:
            if isinstance(order, Order):
                self._track(order)
        if "calls" in self._problems and self._successes >= self.rules.successes_to_recover:
            self._set("calls", None)

    def call_failed(self, what: str, error: BrokerError) -> None:
        """Record a call that failed; only temporary failures say the broker is unwell."""
        if not error.temporary:
            self.call_succeeded()  # a refusal is an answer
            return
        self._successes = 0
        self._failures += 1
        if self._failures >= self.rules.failures_to_degrade:
            self._set("calls", f"{self._failures} broker calls failed in a row "
                               f"(last: {what}: {error})")

    def heard(self, update: OrderUpdate) -> None:
        """Record an order update; one from the stream proves the stream is alive.

        One found by a poll the silence asked for is an update the stream lost.
        """
        self._track(update.order)
        if not update.execution_id.startswith(POLLED_PREFIXES):
            self._heard_at = self.clock.now()
            self._polling_silence = False
            self._set("stream", None)
        elif self._polling_silence:
            silent = self._silence(self.clock.now())
            self._set("stream", f"the order stream missed an update ({update.event} of "
                                f"{update.order.symbol}, found by polling after "
                                f"{silent / 60:.0f} min without a streamed update)")
        if not self._working:
            self._polling_silence = False
            self._set("stream", None)  # nothing left to hear about

    def _track(self, order: Order) -> None:
        if order.status.is_terminal:
            self._working.discard(order.id)
        else:
            if not self._working:
                self._expecting_since = self.clock.now()
            self._working.add(order.id)

    # ----------------------------------------------------------------- checks -----
    async def check(self) -> None:
        """Look for a silent stream; probe the broker when it has not answered for a while.

        Called on a timer. A probe is one cheap call (the account), plus a refresh of order
        state while the stream is silent.
        """
        now = self.clock.now()
        silent = self._working and self._silence(now) >= self.rules.stream_silence_seconds
        if self.broker is None:
            return
        if (silent or "stream" in self._problems) and self._due(now, self._refreshed_at):
            self._refreshed_at = now
            self._polling_silence = True
            try:
                await self.broker.refresh()  # fetch what the stream did not deliver
            except BrokerError as exc:
                log.info("order refresh failed: %s", exc)
        if self._due(now, self._probed_at, self._answered_at):
            self._probed_at = now
            try:
                await self.broker.get_account()
            except BrokerError as exc:
                log.info("broker probe failed: %s", exc)

    def _silence(self, now: datetime) -> float:
        """Return the seconds since the stream last spoke, counted while orders work."""
        if self._expecting_since is None:
            return 0.0
        last = max(self._heard_at or self._expecting_since, self._expecting_since)
        return (now - last).total_seconds()

    def _due(self, now: datetime, *last: datetime | None) -> bool:
        since = max((t for t in last if t is not None), default=None)
        return since is None or (now - since).total_seconds() >= self.rules.probe_interval_seconds

    async def _run(self) -> None:
        step = timedelta(seconds=self.rules.check_interval_seconds)
        while True:
            await self.clock.sleep_until(self.clock.now() + step)
            try:
                await self.check()
            except Exception:
                log.exception("broker health check failed")

    def start(self) -> None:
        """Check on a timer (the injected clock) until :meth:`close`."""
        if not self._tasks.running:
            self._tasks.spawn(self._run(), "broker-health")

    async def close(self) -> None:
        """Stop the timer."""
        await self._tasks.close()


class _Updates:
    """An order-update subscription that reports each update to the monitor."""

    def __init__(self, inner: Any, health: BrokerHealthMonitor) -> None:
        self._inner = inner
        self._health = health

    def __aiter__(self) -> _Updates:
        return self

    async def __anext__(self) -> OrderUpdate:
        item: OrderUpdate = await self._inner.__anext__()
        self._health.heard(item)
        return item

    def get_nowait(self) -> OrderUpdate | None:
        """Return the next queued update, or None."""
        item: OrderUpdate | None = self._inner.get_nowait()
        if item is not None:
            self._health.heard(item)
        return item

    def close(self) -> None:
        """Stop receiving updates."""
        self._inner.close()

    @property
    def closed(self) -> bool:
        """Tell whether the subscription ended."""
        return bool(self._inner.closed)


class MonitoredBroker(Broker):
    """A broker whose every call outcome and order update is reported to a health monitor."""

    def __init__(self, inner: Broker, health: BrokerHealthMonitor) -> None:
        self.inner = inner
        self.health = health
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:  # the wrapped broker's own extras (sync, resync...)
        return getattr(self.inner, name)

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        try:
            result = await call
        except BrokerError as exc:
            self.health.call_failed(what, exc)
            raise
        self.health.call_succeeded(result)
        return result

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def refresh(self) -> None:
        await self._call("refresh", self.inner.refresh())

    async def get_account(self) -> Account:
        return await self._call("get_account", self.inner.get_account())

    async def submit_order(self, request: OrderRequest) -> Order:
        return await self._call("submit_order", self.inner.submit_order(request))

    async def get_order(self, order_id: str) -> Order:
        return await self._call("get_order", self.inner.get_order(order_id))

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        return await self._call("get_order_by_client_id",
                                self.inner.get_order_by_client_id(client_order_id))

    async def cancel_order(self, order_id: str) -> None:
        await self._call("cancel_order", self.inner.cancel_order(order_id))

    async def replace_order(self, order_id: str, *, qty: Decimal | None = None,
                            limit_price: Decimal | None = None,
                            client_order_id: str | None = None) -> Order:
        return await self._call("replace_order", self.inner.replace_order(
            order_id, qty=qty, limit_price=limit_price, client_order_id=client_order_id))

    async def list_open_orders(self) -> list[Order]:
        return await self._call("list_open_orders", self.inner.list_open_orders())

    async def list_positions(self) -> list[Position]:
        return await self._call("list_positions", self.inner.list_positions())

    async def close_position(self, symbol: str, *, client_order_id: str | None = None) -> Order:
        return await self._call("close_position",
                                self.inner.close_position(symbol, client_order_id=client_order_id))

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return _Updates(self.inner.order_updates(), self.health)


__all__ = ["BrokerHealthMonitor", "HealthRules", "MonitoredBroker"]
