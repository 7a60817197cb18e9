"""Crash and restart at each step of the order flow: every order once, every fill once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.brokers.models import Order, OrderRequest, OrderSide
from core.brokers.sim.broker import SimBroker
from core.db.models.trading import FillRow, OrderRow, PositionRow
from core.engine.config import EngineConfig
from core.engine.engine import ConfirmOutcome, TradingEngine
from core.events import EventBus, ProposalCreated, Reconciliation
from core.options.select import SelectionRules
from tests.engine.conftest import Rig, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH


class ProcessKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs in the dying process."""


class FaultyBroker(SimBroker):
    """The simulated broker, dying at a chosen point of a submit."""

    die: str | None = None  # "before_submit" | "after_submit"
    side: OrderSide | None = None

    async def submit_order(self, request: OrderRequest) -> Order:
        if self.die and (self.side is None or request.side is self.side):
            if self.die == "before_submit":
                raise ProcessKilled
            await super().submit_order(request)
            raise ProcessKilled
        return await super().submit_order(request)


CONFIG = EngineConfig(selection=SelectionRules(scalp_min_hours_left=31))


# After the 10:00 breakout SPY eases back (above the stop), so a resting buy at mid fills.
DIP_PATH = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:12", 606.30),
            ("16:00", 606.50)]


async def start_rig(rig_factory, tmp_path: Path, spy_path=SPY_PATH) -> tuple[Rig, int]:
    write_bars(tmp_path / "bars", "SPY", spy_path)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(CONFIG)
    await rig.use_broker(FaultyBroker)
    await rig.post(SETUP)
    await rig.run_day(until="10:02")
    pid = rig.of(ProposalCreated)[0].proposal_id
    return rig, pid


async def restart(rig: Rig) -> tuple[TradingEngine, SimBroker, list]:
    """A new process: new broker object over the same database, new engine, same clock."""
    await rig.engine.stop()
    broker = SimBroker(rig.db, rig.clock, rig.market, background=False)
    await broker.start()
    bus = EventBus()
    events = bus.record()
    engine = TradingEngine(db=rig.db, broker=broker, market=rig.market, clock=rig.clock,
                           calendar=rig.engine.calendar, bus=bus, config=CONFIG)
    await engine.start(live=False)
    return engine, broker, events


async def our_orders(rig: Rig) -> list[OrderRow]:
    async with rig.db.sessions() as s:
        return list((await s.execute(select(OrderRow).order_by(OrderRow.id))).scalars())


async def test_killed_before_the_submit_reports_the_order_as_never_sent(rig_factory, tmp_path: Path) -> None:
    rig, pid = await start_rig(rig_factory, tmp_path)
    rig.broker.die = "before_submit"
    with pytest.raises(ProcessKilled):
        await rig.engine.confirm(pid, "alice")
    assert [o.status for o in await our_orders(rig)] == ["pending_submit"]

    engine, broker, events = await restart(rig)
    assert [e.problem for e in events if isinstance(e, Reconciliation)] == ["order_never_sent"]
    assert [o.status for o in await our_orders(rig)] == ["rejected"]
    assert await broker.list_open_orders() == [] and await broker.list_positions() == []
    assert (await engine.proposal(pid)).status == "failed"
    await broker.close()


async def test_killed_after_the_submit_finds_the_order_and_trades_it_once(rig_factory, tmp_path: Path) -> None:
    rig, pid = await start_rig(rig_factory, tmp_path)
    rig.broker.die = "after_submit"
    with pytest.raises(ProcessKilled):
        await rig.engine.confirm(pid, "alice")

    engine, broker, _ = await restart(rig)
    [order] = await our_orders(rig)
    assert order.broker_order_id is not None  # found by client order id, not re-sent
    broker_order = await broker.get_order_by_client_id(order.client_order_id)
    assert broker_order is not None and broker_order.id == order.broker_order_id
    # The order fills after the restart; the new process records it.
    for _ in range(10):
        rig.clock.advance(timedelta(minutes=1))
        await broker.sync()
        await engine.pump_order_updates()
        await engine.tick()
        await broker.sync()
        await engine.pump_order_updates()
    [order] = await our_orders(rig)
    assert order.status == "filled"
    async with rig.db.sessions() as s:
        [pos] = (await s.execute(select(PositionRow))).scalars().all()
    held = {p.symbol: int(p.qty) for p in await broker.list_positions()}
    assert held == {pos.contract: pos.qty_open} and pos.qty_open == order.qty
    await broker.close()


async def test_fills_while_the_bot_was_down_are_recovered_once(rig_factory, tmp_path: Path) -> None:
    rig, pid = await start_rig(rig_factory, tmp_path, DIP_PATH)
    assert (await rig.engine.confirm(pid, "alice")).outcome is ConfirmOutcome.SUBMITTED
    await rig.engine.stop()  # the bot is down; the exchange keeps trading
    for _ in range(10):
        rig.clock.advance(timedelta(minutes=1))
        await rig.broker.sync()
    broker_pos = {p.symbol: p for p in await rig.broker.list_positions()}
    assert broker_pos, "the entry should have filled while the bot was down"

    engine, broker, events = await restart(rig)
    assert "fills_recovered" in [e.problem for e in events if isinstance(e, Reconciliation)]
    async with rig.db.sessions() as s:
        [pos] = (await s.execute(select(PositionRow))).scalars().all()
        fills = (await s.execute(select(func.count()).select_from(FillRow))).scalar_one()
    theirs = broker_pos[pos.contract]
    assert pos.qty_open == int(theirs.qty) and pos.status == "open"
    assert pos.avg_entry.quantize(theirs.avg_entry_price) == theirs.avg_entry_price
    # A second restart finds nothing new to recover.
    _engine2, broker2, events2 = await restart(Rig(rig.db, rig.clock, rig.market, broker, rig.bus, engine))
    assert [e for e in events2 if isinstance(e, Reconciliation)] == []
    async with rig.db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(FillRow))).scalar_one() == fills
    for b in (broker, broker2):
        await b.close()


async def test_killed_while_sending_an_exit_the_exit_fires_again_after_restart(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await start_rig(rig_factory, tmp_path)
    await rig.engine.confirm(pid, "alice")
    for _ in range(5):
        rig.clock.advance(timedelta(minutes=1))
        await rig.step()
    rig.broker.die, rig.broker.side = "before_submit", OrderSide.SELL
    with pytest.raises(ProcessKilled):
        await rig.engine.close_position(1, "alice")

    engine, broker, events = await restart(rig)
    assert "order_never_sent" in [e.problem for e in events if isinstance(e, Reconciliation)]
    async with rig.db.sessions() as s:
        pos = await s.get(PositionRow, 1)
    assert pos.status == "open" and pos.qty_open > 0
    await engine.close_position(1, "alice")
    for _ in range(10):
        rig.clock.advance(timedelta(minutes=1))
        await broker.sync()
        await engine.pump_order_updates()
        await engine.tick()
    async with rig.db.sessions() as s:
        pos = await s.get(PositionRow, 1)
    assert pos.status == "closed" and pos.qty_open == 0
    assert await broker.list_positions() == []
    await broker.close()
