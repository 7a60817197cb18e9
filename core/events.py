"""Typed domain events and the bus that fans them out.

The engine publishes an immutable event for each thing a trader would want to see; the
Discord cogs and the offline replay are both plain subscribers. Every subscriber has its own
queue and worker task, so a slow or failing sink (a Discord outage, say) neither blocks the
engine nor the other sinks; a handler's exception is logged and the next event still comes.
:meth:`EventBus.drain` waits until every queue is empty, which makes replays and tests
deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.tasks import TaskSupervisor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every domain event."""

    at: datetime


# --- setups and signals ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupParsed(Event):
    """A setup message was stored (created, edited or deleted)."""

    message_pk: int | None
    discord_message_id: int
    channel_id: int
    outcome: str  # created / updated / deleted / unchanged
    parse_status: str | None
    symbols: tuple[str, ...]
    signal_count: int
    warnings: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalTriggered(Event):
    """A watched level fired."""

    signal_id: int
    symbol: str
    category: str
    aggressiveness: str
    direction: str
    price: Decimal
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalSkipped(Event):
    """A level fired but no proposal follows (suppressed, blocked by bias, no contract)."""

    signal_id: int
    symbol: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BiasFlipped(Event):
    """A stated flip level was crossed."""

    symbol: str
    from_direction: str | None
    to_direction: str
    price: Decimal
    reason: str


# --- proposals ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalEvent(Event):
    """Something happened to a proposal; ``proposal_id`` is the key to render it."""

    proposal_id: int
    symbol: str
    contract: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalCreated(ProposalEvent):
    """A new proposal awaits a decision."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalRefreshed(ProposalEvent):
    """The price moved past the slippage guard; the proposal must be confirmed again."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalConfirmed(ProposalEvent):
    """A trader (or auto-confirm) confirmed; an order follows."""

    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalRejected(ProposalEvent):
    """A trader rejected the proposal."""

    actor: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalExpired(ProposalEvent):
    """Nobody decided in time."""


# --- orders ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent(Event):
    """Something happened to one of our orders."""

    order_id: int
    proposal_id: int | None
    position_id: int | None
    symbol: str
    side: str
    purpose: str
    qty: int
    limit_price: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(OrderEvent):
    """The broker accepted the order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRepriced(OrderEvent):
    """A working limit order was moved toward the far side."""

    old_price: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(OrderEvent):
    """A fill (partial or complete)."""

    fill_qty: int
    fill_price: Decimal
    filled_qty: int
    complete: bool
    slippage: Decimal | None  # per contract against the proposal/limit, positive = worse


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCanceled(OrderEvent):
    """The order was canceled or expired with quantity unfilled."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(OrderEvent):
    """The broker refused the order."""

    reason: str


# --- positions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionMarked(Event):
    """A throttled mark-to-market of an open position."""

    position_id: int
    contract: str
    mark: Decimal
    unrealized_pnl: Decimal
    underlying_price: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitTriggered(Event):
    """An exit rule fired for a position."""

    position_id: int
    contract: str
    qty: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionClosed(Event):
    """A position is flat."""

    position_id: int
    contract: str
    realized_pnl: Decimal
    reason: str


# --- risk and the day -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskRefused(Event):
    """A risk rule refused an order."""

    rule: str
    reason: str
    proposal_id: int | None = None
    symbol: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStateChanged(Event):
    """Paused, resumed, kill switch, a limit changed, auto-confirm toggled."""

    actor: str
    what: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DailySummary(Event):
    """End-of-day figures."""

    trading_date: str
    trades: int
    wins: int
    losses: int
    realized_pnl: Decimal
    open_positions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciliation(Event):
    """Start-up reconciliation found something that does not match; nothing was guessed."""

    problem: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerHealthChanged(Event):
    """The broker became degraded (new entries paused) or recovered (entries allowed again)."""

    healthy: bool
    reason: str


Handler = Callable[[Event], Awaitable[None]]


@dataclass(slots=True)
class _Subscriber:
    name: str
    handler: Handler
    types: tuple[type[Event], ...]
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    failures: int = 0
    task: asyncio.Task[None] | None = None


class EventBus:
    """Fan events out to isolated subscribers."""

    def __init__(self) -> None:
        self._subs: list[_Subscriber] = []
        self._tasks = TaskSupervisor("events")
        self._history: list[Event] | None = None

    def subscribe(
        self, name: str, handler: Handler, types: Sequence[type[Event]] = (Event,)
    ) -> None:
        """Deliver events of ``types`` (and subclasses) to ``handler``, in order."""
        sub = _Subscriber(name, handler, tuple(types))
        self._subs.append(sub)
        sub.task = self._tasks.spawn(self._worker(sub), name)

    async def unsubscribe(self, name: str) -> None:
        """Stop delivering to the subscriber ``name`` (events still queued for it are dropped)."""
        for sub in [s for s in self._subs if s.name == name]:
            self._subs.remove(sub)
            if sub.task is not None:
                sub.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sub.task

    def record(self) -> list[Event]:
        """Start keeping every published event in a list (for tests and replay) and return it."""
        if self._history is None:
            self._history = []
        return self._history

    def publish(self, event: Event) -> None:
        """Queue ``event`` for every interested subscriber; never blocks, never raises."""
        if self._history is not None:
            self._history.append(event)
        for sub in self._subs:
            if isinstance(event, sub.types):
                sub.queue.put_nowait(event)

    async def _worker(self, sub: _Subscriber) -> None:
        while True:
            event = await sub.queue.get()
            try:
                await sub.handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                sub.failures += 1
                log.exception("event subscriber %s failed on %s", sub.name, type(event).__name__)
            finally:
                sub.queue.task_done()

    async def drain(self) -> None:
        """Wait until every subscriber has handled every event published so far."""
        for sub in list(self._subs):
            await sub.queue.join()

    def failures(self) -> dict[str, int]:
        """Return how many events each subscriber failed on."""
        return {s.name: s.failures for s in self._subs}

    async def close(self) -> None:
        """Stop every subscriber worker."""
        await self._tasks.close()


def describe(event: Event) -> dict[str, Any]:
    """Return an event as a plain mapping (type name plus fields), for logs and reports."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for name in event.__dataclass_fields__:
        out[name] = getattr(event, name)
    return out
