"""The one broker interface the trading engine talks to.

Two implementations exist: :class:`core.brokers.sim.SimBroker` (embedded, offline, default)
and :class:`core.brokers.alpaca.AlpacaBroker` (Alpaca paper). A single contract suite
(``tests/brokers/test_contract.py``) runs against both, so the engine never needs to know which
one it has.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Generic, TypeVar

from core.brokers.models import Account, Order, OrderRequest, OrderUpdate, Position

log = logging.getLogger(__name__)

T = TypeVar("T")


class Subscription(Generic[T]):
    """An async iterator over the events published to a hub after it was created."""

    def __init__(self, hub: EventHub[T]) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[T | None] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self.closed = True
            raise StopAsyncIteration
        return item

    def get_nowait(self) -> T | None:
        """Return the next queued event, or None when none is waiting."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is None:
            self.closed = True
        return item

    def drain(self) -> list[T]:
        """Return every event queued so far without waiting."""
        out: list[T] = []
        while (item := self.get_nowait()) is not None:
            out.append(item)
        return out

    def _put(self, item: T | None) -> None:
        self._queue.put_nowait(item)

    def close(self) -> None:
        """Stop receiving events; iteration ends once the queue is drained."""
        self._hub.unsubscribe(self)
        self._put(None)


class EventHub(Generic[T]):
    """Fan events out to every subscriber; each has its own queue, so none can block another."""

    def __init__(self) -> None:
        self._subs: list[Subscription[T]] = []

    def subscribe(self) -> Subscription[T]:
        """Register a subscriber now (events published from here on are delivered)."""
        sub = Subscription(self)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[T]) -> None:
        """Forget a subscriber."""
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, item: T) -> None:
        """Deliver ``item`` to every subscriber."""
        for sub in list(self._subs):
            sub._put(item)

    def close(self) -> None:
        """End every subscription."""
        for sub in list(self._subs):
            sub.close()


class Broker(ABC):
    """Operations every broker offers.

    Submits are idempotent on ``client_order_id``: submitting a request whose id the broker
    already knows returns the existing order, it never creates a second one. A submit whose
    outcome cannot be confirmed raises :class:`~core.brokers.errors.SubmitOutcomeUnknown`;
    reconcile it with :meth:`get_order_by_client_id`.
    """

    name: str = "broker"

    async def start(self) -> None:  # noqa: B027 - optional override
        """Connect, load state and start background work (streams, the matching loop)."""

    async def close(self) -> None:  # noqa: B027 - optional override
        """Stop background work and release connections."""

    async def refresh(self) -> None:  # noqa: B027 - optional override
        """Re-read order state from the broker and publish any update a stream missed."""

    @abstractmethod
    async def get_account(self) -> Account:
        """Return equity, cash, buying power and options buying power."""

    @abstractmethod
    async def submit_order(self, request: OrderRequest) -> Order:
        """Place an order (or return the existing one with the same client order id)."""

    @abstractmethod
    async def get_order(self, order_id: str) -> Order:
        """Return an order by broker id; raise ``OrderNotFound`` if there is none."""

    @abstractmethod
    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        """Return the order placed under ``client_order_id``, or None."""

    @abstractmethod
    async def cancel_order(self, order_id: str) -> None:
        """Ask for an open order to be canceled (the ``canceled`` event confirms it)."""

    @abstractmethod
    async def replace_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Replace an open order's quantity and/or limit price; return the new order."""

    @abstractmethod
    async def list_open_orders(self) -> list[Order]:
        """Return every order that may still fill."""

    @abstractmethod
    async def list_positions(self) -> list[Position]:
        """Return every open position."""

    async def get_position(self, symbol: str) -> Position | None:
        """Return the position in ``symbol``, or None."""
        symbol = symbol.upper()
        for pos in await self.list_positions():
            if pos.symbol == symbol:
                return pos
        return None

    @abstractmethod
    async def close_position(self, symbol: str, *, client_order_id: str | None = None) -> Order:
        """Send a market order that flattens the position in ``symbol``."""

    @abstractmethod
    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Subscribe to order events (typed, de-duplicated, in order per order).

        The subscription starts when this is called, not at the first ``__anext__``, so no
        event published in between is lost. Close it with ``.close()`` when done.
        """
