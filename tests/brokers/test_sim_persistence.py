"""Durability of the simulated broker's group commit and ``submit_many``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from core.brokers.errors import InvalidOrder, OrderRejected
from core.brokers.models import Order, OrderRequest, OrderSide, OrderStatus, OrderType
from core.brokers.sim import SimBroker
from core.brokers.sim.store import SaveBatch, SimStore
from core.clock import FakeClock
from core.db.session import Database
from core.errors import StorageError
from core.marketdata.sim import SimMarketData
from tests.brokers.conftest import BARS


def buy(symbol: str, qty: int, cid: str, side: OrderSide = OrderSide.BUY) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, qty=Decimal(qty), side=side, type=OrderType.MARKET)


async def restarted(db: Database, clock: FakeClock) -> SimBroker:
    broker = SimBroker(db, clock, SimMarketData(clock, bars_dir=BARS), background=False)
    await broker.start()
    return broker


async def test_concurrent_submits_share_commits_and_every_acknowledged_order_survives_a_restart(
    db: Database, sim_clock: FakeClock, sim_market: SimMarketData
) -> None:
    broker = SimBroker(db, sim_clock, sim_market, background=False)
    await broker.start()
    before = broker.commits
    acked = await asyncio.gather(*(broker.submit_order(buy("NVDA", 1, f"gc-{i}")) for i in range(40)))
    assert all(o.status is OrderStatus.FILLED for o in acked)
    assert broker.commits - before < 40  # callers that arrived during a write shared the next one
    await broker.close()

    again = await restarted(db, sim_clock)
    for o in acked:
        stored = await again.get_order_by_client_id(o.client_order_id)
        assert stored is not None and (stored.id, stored.status) == (o.id, OrderStatus.FILLED)
    pos = await again.get_position("NVDA")
    assert pos is not None and pos.qty == Decimal(40)
    await again.close()


async def test_submit_many_commits_once_and_reports_each_refusal(
    db: Database, sim_clock: FakeClock, sim_market: SimMarketData
) -> None:
    broker = SimBroker(db, sim_clock, sim_market, background=False)
    await broker.start()
    sub = broker.order_updates()
    before = broker.commits
    out = await broker.submit_many([buy("NVDA", 1, "m-1"), buy("TSLA", 5, "m-2", OrderSide.SELL),
                                    buy("NVDA", 2, "m-3")])
    assert broker.commits == before + 1
    assert isinstance(out[0], Order) and isinstance(out[2], Order)
    assert isinstance(out[1], OrderRejected) and "short" in str(out[1])
    assert {e.order.client_order_id for e in sub.drain()} == {"m-1", "m-3"}
    await broker.close()

    again = await restarted(db, sim_clock)
    pos = await again.get_position("NVDA")
    assert pos is not None and pos.qty == Decimal(3)
    assert await again.get_order_by_client_id("m-2") is None
    await again.close()


class FailingStore(SimStore):
    """A store whose next write fails, as a full disk would."""

    fail = True

    async def save_batch(self, batch: SaveBatch) -> None:
        if self.fail and batch:
            self.fail = False
            raise StorageError("could not save the simulated account: OperationalError")
        await super().save_batch(batch)


async def test_a_failed_commit_fails_every_operation_in_it_and_publishes_nothing(
    db: Database, sim_clock: FakeClock, sim_market: SimMarketData
) -> None:
    broker = SimBroker(db, sim_clock, sim_market, background=False)
    await broker.start()
    broker.store = FailingStore(db.sessions)
    sub = broker.order_updates()
    results = await asyncio.gather(*(broker.submit_order(buy("NVDA", 1, f"f-{i}")) for i in range(10)),
                                   return_exceptions=True)
    failed = [r for r in results if isinstance(r, StorageError)]
    assert failed, "the failed write must reach its callers"
    acked = [r for r in results if isinstance(r, Order)]
    published = {e.order.client_order_id for e in sub.drain()}
    assert published == {o.client_order_id for o in acked}  # no event for an unacknowledged order
    await broker.close()

    again = await restarted(db, sim_clock)
    for o in acked:
        assert await again.get_order_by_client_id(o.client_order_id) is not None
    await again.close()


@pytest.mark.parametrize("n", [1, 25])
async def test_reads_wait_for_the_commit_of_what_they_see(
    db: Database, sim_clock: FakeClock, sim_market: SimMarketData, n: int
) -> None:
    broker = SimBroker(db, sim_clock, sim_market, background=False)
    await broker.start()
    submits = [asyncio.ensure_future(broker.submit_order(buy("NVDA", 1, f"r-{i}"))) for i in range(n)]
    await asyncio.sleep(0)  # let the submits take the exchange lock first
    positions = await broker.list_positions()
    seen = sum((p.qty for p in positions if p.symbol == "NVDA"), Decimal(0))
    await asyncio.gather(*submits)
    await broker.close()
    again = await restarted(db, sim_clock)
    pos = await again.get_position("NVDA")
    assert pos is not None and pos.qty >= seen  # whatever the read reported was already durable
    await again.close()


async def test_ended_orders_of_earlier_days_leave_memory_but_stay_answerable(
    db: Database, sim_clock: FakeClock, sim_market: SimMarketData
) -> None:
    broker = SimBroker(db, sim_clock, sim_market, background=False)
    await broker.start()
    filled = await broker.submit_order(buy("NVDA", 2, "day-1"))
    assert filled.status is OrderStatus.FILLED
    assert filled.id in broker.exchange.orders

    sim_clock.advance(timedelta(days=1))  # the next morning
    await broker.get_account()  # any call: the exchange moves to the new day
    assert filled.id not in broker.exchange.orders  # yesterday's ended order: on disk only
    assert (await broker.get_order(filled.id)).status is OrderStatus.FILLED
    by_cid = await broker.get_order_by_client_id("day-1")
    assert by_cid is not None and (by_cid.id, by_cid.filled_qty) == (filled.id, Decimal(2))
    with pytest.raises(InvalidOrder, match="already used"):  # a client order id is used once
        await broker.submit_order(buy("NVDA", 1, "day-1"))
    await broker.close()

    again = await restarted(db, sim_clock)  # a restart loads only what is open or recent
    assert filled.id not in again.exchange.orders
    assert (await again.get_order(filled.id)).status is OrderStatus.FILLED
    with pytest.raises(InvalidOrder, match="already used"):
        await again.submit_order(buy("NVDA", 1, "day-1"))
    await again.close()
