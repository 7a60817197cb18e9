"""The simulated broker: the :class:`~core.brokers.base.Broker` over :class:`SimExchange`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar

from core.brokers.base import Broker, EventHub, Subscription
from core.brokers.errors import BrokerError, OrderNotFound, OrderRejected
from core.brokers.models import (
    Account,
    Order,
    OrderRequest,
    OrderSide,
    OrderType,
    OrderUpdate,
    Position,
    TimeInForce,
)
from core.brokers.sim.engine import SimExchange
from core.brokers.sim.store import SaveBatch, SimStore
from core.clock import NEW_YORK, Clock
from core.db.session import Database
from core.marketdata.sim import SimMarketData

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class _Ticket:
    """The fate of one save batch, shared by every operation in it."""

    done: bool = False
    error: BaseException | None = None


class SimBroker(Broker):
    """The embedded paper exchange; its state lives in the project database.

    Every call first brings the exchange up to the clock's ``now`` (resting orders matched,
    day orders expired, options settled), then applies the operation; it returns only once the
    changes are committed to the database, and order events are published after that commit.
    A background task does the same every ``tick`` of clock time, so fills happen even when
    nobody asks.

    Group commit: operations that run while a save is in flight are gathered into the next
    batch and written together in one transaction, so concurrent callers share commits; each
    still returns only after its own changes are durable (a restart never loses an
    acknowledged order). :meth:`submit_many` places many orders with one commit.

    ``save_idle=False`` is for a throw-away database nothing restarts from: a batch that
    changes no order, fill, position or cash, only how far the exchange has processed, is not
    written; the next batch that changes something writes that too. ``persist=False`` (a
    replayed day, whose exchange lives and dies with the replay) writes nothing at all after
    the start and keeps every order of the run in memory.
    """

    name = "sim"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        market: SimMarketData,
        *,
        starting_cash: Decimal = Decimal(100_000),
        slippage: Decimal = Decimal("0.01"),
        fee_per_contract: Decimal = Decimal(0),
        tick: timedelta = timedelta(seconds=1),
        background: bool = True,
        save_idle: bool = True,
        persist: bool = True,
    ) -> None:
        self.clock = clock
        self.market = market
        self.store = SimStore(db.sessions)
        self.starting_cash = starting_cash
        self.slippage = slippage
        self.fee_per_contract = fee_per_contract
        self.tick = tick
        self.background = background
        self.save_idle = save_idle
        self.persist = persist
        self._saved_cash: Decimal | None = None  # the cash in the database, once known
        self._kept_since: datetime | None = None  # ended orders before this are on disk only
        self.exchange: SimExchange | None = None
        self._hub: EventHub[OrderUpdate] = EventHub()
        self._lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        #: changes applied in memory and not yet written, with their events
        self._batch = SaveBatch()
        self._batch_events: list[OrderUpdate] = []
        self._ticket = _Ticket()
        #: transactions written, and operations they carried (group-commit figures)
        self.commits = 0
        self.committed_operations = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Load the account from the database and start the matching loop."""
        now = self.clock.now()
        since = self._start_of_day(now)
        cash, until, orders, client_ids, positions = await self.store.load(
            self.starting_cash, now, since)
        self._saved_cash = cash
        ex = SimExchange(self.market, cash=cash, processed_until=until, slippage=self.slippage,
                         fee_per_contract=self.fee_per_contract)
        ex.load(orders, positions, client_ids)
        self._kept_since = since
        self.exchange = ex
        log.info("simulated exchange loaded: cash %s, %d open orders, %d positions",
                 cash, len(ex.open_ids), len(ex.positions))
        await self.sync()
        if self.background and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="sim-exchange-matching")

    async def close(self) -> None:
        """Stop the matching loop and end every order-update subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._hub.close()

    async def _loop(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + self.tick)
            try:
                await self.sync()
            except Exception:
                log.exception("simulated exchange: matching pass failed")

    def _ex(self) -> SimExchange:
        if self.exchange is None:
            raise RuntimeError("SimBroker.start() has not been awaited")
        return self.exchange

    async def _run(self, op: Callable[[SimExchange, datetime], R]) -> R:
        failure: BaseException | None = None
        async with self._lock:
            ex = self._ex()
            now = self.clock.now()
            ex.process(now)
            if self.persist and (today := self._start_of_day(now)) != self._kept_since:
                self._kept_since = today  # a new day: yesterday's ended orders live on disk only
                ex.forget_ended(today)
            try:
                result = op(ex, now)
            except BaseException as exc:  # still commit what process() changed, then raise
                failure = exc
            # capture the values now: later operations may change the same objects
            self._batch.add(ex.take_changes(), ex.cash, ex.processed_until)
            self._batch_events.extend(ex.take_events())
            ticket = self._ticket
        await self._commit(ticket)
        if failure is not None:
            raise failure
        return result

    async def _commit(self, ticket: _Ticket) -> None:
        """Return once the batch of ``ticket`` is written; raise its error if the write failed."""
        async with self._write_lock:
            if not ticket.done:
                # take everything applied so far: ours and whatever ran while we waited
                batch, events = self._batch, self._batch_events
                self._batch, self._batch_events, self._ticket = SaveBatch(), [], _Ticket()
                write = self.persist and bool(batch) and (self.save_idle or not self._idle(batch))
                try:
                    if write:
                        await self.store.save_batch(batch)
                except BaseException as exc:
                    ticket.error = exc
                finally:
                    ticket.done = True
                if ticket.error is None:
                    if write:
                        self.commits += 1
                        self._saved_cash = batch.cash
                    self.committed_operations += batch.operations
                    for event in events:
                        self._hub.publish(event)
        if ticket.error is not None:
            raise ticket.error

    def _idle(self, batch: SaveBatch) -> bool:
        """Tell whether ``batch`` only moves the exchange's processed time forward."""
        return not (batch.new_orders or batch.orders or batch.fills or batch.positions
                    or batch.cash != self._saved_cash)

    async def sync(self) -> None:
        """Bring the exchange up to the clock's now (match, expire, settle) and save."""
        await self._run(lambda ex, now: None)

    # ---- Broker ---------------------------------------------------------------------
    async def get_account(self) -> Account:
        """Return cash, equity and buying power."""
        return await self._run(lambda ex, now: ex.account(now))

    async def submit_order(self, request: OrderRequest) -> Order:
        """Place an order (idempotent on the client order id)."""
        return await self._run(lambda ex, now: ex.submit(request, now).snapshot())

    async def submit_many(self, requests: list[OrderRequest]) -> list[Order | BrokerError]:
        """Place several orders with one commit; return each order or the error that refused it.

        Every returned order is durable when this returns; a refused request does not stop
        the others.
        """
        def op(ex: SimExchange, now: datetime) -> list[Order | BrokerError]:
            out: list[Order | BrokerError] = []
            for r in requests:
                try:
                    out.append(ex.submit(r, now).snapshot())
                except BrokerError as err:
                    out.append(err)
            return out
        return await self._run(op)

    async def get_order(self, order_id: str) -> Order:
        """Return an order by id (one that ended on an earlier day, from the database)."""
        try:
            return await self._run(lambda ex, now: ex.get(order_id).snapshot())
        except OrderNotFound:
            stored = await self.store.order(order_id)
            if stored is None:
                raise
            return stored.snapshot()

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        """Return the order placed under ``client_order_id``, or None."""
        def op(ex: SimExchange, now: datetime) -> Order | str | None:
            oid = ex.by_cid.get(client_order_id)
            if oid is None:
                return None
            known = ex.orders.get(oid)
            return known.snapshot() if known is not None else oid
        found = await self._run(op)
        if isinstance(found, str):  # ended on an earlier day
            return await self.get_order(found)
        return found

    def _start_of_day(self, now: datetime) -> datetime:
        """Return midnight New York of ``now``'s day, in UTC."""
        day = now.astimezone(NEW_YORK).date()
        return datetime.combine(day, time(0), NEW_YORK).astimezone(UTC)

    async def cancel_order(self, order_id: str) -> None:
        """Cancel an open order."""
        await self._run(lambda ex, now: ex.cancel(order_id, now))

    async def replace_order(
        self,
        order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Replace an open order; the old one ends ``replaced``."""
        return await self._run(lambda ex, now: ex.replace(
            order_id, now, qty=qty, limit_price=limit_price, client_order_id=client_order_id).snapshot())

    async def list_open_orders(self) -> list[Order]:
        """Return the open orders, oldest first."""
        return await self._run(lambda ex, now: [ex.orders[i].snapshot() for i in ex.open_ids])

    async def list_positions(self) -> list[Position]:
        """Return the open positions with their current marks."""
        return await self._run(lambda ex, now: [ex.position_view(p, now) for p in ex.positions.values()])

    async def close_position(self, symbol: str, *, client_order_id: str | None = None) -> Order:
        """Flatten ``symbol`` with a market order."""
        symbol = symbol.upper()

        def op(ex: SimExchange, now: datetime) -> Order:
            pos = ex.positions.get(symbol)
            if pos is None:
                raise OrderRejected(f"no open position in {symbol}")
            cid = client_order_id or f"close-{symbol}-{int(now.timestamp() * 1000)}"
            req = OrderRequest(client_order_id=cid, symbol=symbol, qty=abs(pos.qty),
                               side=pos_side(pos.qty), type=OrderType.MARKET,
                               time_in_force=TimeInForce.DAY)
            return ex.submit(req, now).snapshot()
        return await self._run(op)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Subscribe to order events from now on."""
        return self._hub.subscribe()

    def subscribe(self) -> Subscription[OrderUpdate]:
        """Return a subscription (same as :meth:`order_updates`, typed)."""
        return self._hub.subscribe()


def pos_side(qty: Decimal) -> OrderSide:
    """Return the order side that flattens a position of ``qty``."""
    return OrderSide.SELL if qty > 0 else OrderSide.BUY
