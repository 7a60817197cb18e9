"""A user's close or flatten while a scale-out order is still working at the broker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.brokers.models import OrderStatus
from core.brokers.sim.broker import SimBroker
from core.db.models.trading import FillRow, OrderRow, PositionRow
from core.engine.config import EngineConfig
from core.engine.risk import TradingState
from core.errors import AplusError
from core.events import ExitTriggered, OrderRejected
from core.options.select import SelectionRules
from tests.engine.conftest import Rig, write_bars
from tests.engine.test_full_day import SPY_PATH

SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60
"""


class SlowToCancel(SimBroker):
    """The simulated exchange, taking cancel requests without acting on them while ``slow``."""

    slow = False

    async def cancel_order(self, order_id: str) -> None:
        if not self.slow:
            await super().cancel_order(order_id)


async def scale_out_working(rig_factory, tmp_path: Path) -> tuple[Rig, PositionRow, OrderRow]:
    """Return a rig at 10:31: 3 SPY calls held, the T1 scale-out of 1 working at mid."""
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    rig = await rig_factory(EngineConfig(auto_confirm=True,
                                         selection=SelectionRules(scalp_min_hours_left=31)))
    await rig.use_broker(SlowToCancel)
    await rig.post(SETUP)
    await rig.run_day(until="10:31")
    pos, orders = await book(rig)
    (scale_out,) = [o for o in orders if o.purpose == "scale_out"]
    assert pos.status == "open" and pos.qty_open == 3
    assert scale_out.qty == 1 and scale_out.status == "new"
    assert [o.id for o in await rig.broker.list_open_orders()] == [scale_out.broker_order_id]
    return rig, pos, scale_out


async def book(rig: Rig) -> tuple[PositionRow, list[OrderRow]]:
    async with rig.db.sessions() as s:
        (pos,) = (await s.execute(select(PositionRow))).scalars().all()
        orders = list((await s.execute(select(OrderRow).order_by(OrderRow.id))).scalars().all())
    return pos, orders


async def sold(rig: Rig) -> int:
    async with rig.db.sessions() as s:
        return sum(f.qty for f, o in (await s.execute(select(FillRow, OrderRow).join(OrderRow))).all()
                   if o.side == "sell")


async def settle(rig: Rig, minutes: int = 3) -> None:
    for _ in range(minutes):
        rig.clock.advance(timedelta(minutes=1))
        await rig.step()
    await rig.bus.drain()


async def test_close_while_a_scale_out_works_cancels_it_then_sells_all_that_is_held(
    rig_factory, tmp_path: Path
) -> None:
    rig, pos, scale_out = await scale_out_working(rig_factory, tmp_path)

    said = await rig.engine.close_position(pos.id, "alice")
    await settle(rig)

    assert said == f"closing 3 {pos.contract}"
    pos, orders = await book(rig)
    assert pos.status == "closed" and pos.qty_open == 0 and pos.qty_closed == 3
    assert pos.exit_reason == "closed by alice"
    by_id = {o.id: o for o in orders}
    assert by_id[scale_out.id].status == "canceled" and by_id[scale_out.id].filled_qty == 0
    (close,) = [o for o in orders if o.reason == "closed by alice"]
    assert close.qty == 3 and close.status == "filled"
    assert await sold(rig) == 3
    assert await rig.broker.list_positions() == []
    assert await rig.broker.list_open_orders() == []
    assert not rig.of(OrderRejected)
    assert [e.qty for e in rig.of(ExitTriggered) if e.reason == "closed by alice"] == [3]


async def test_a_scale_out_that_filled_before_the_cancel_is_not_sold_again(
    rig_factory, tmp_path: Path
) -> None:
    rig, pos, scale_out = await scale_out_working(rig_factory, tmp_path)
    # The exchange fills the scale-out; its fill event has not reached the engine yet.
    for _ in range(5):
        rig.clock.advance(timedelta(minutes=1))
        await rig.broker.sync()
        if (await rig.broker.get_order(scale_out.broker_order_id)).status is OrderStatus.FILLED:
            break
    assert (await rig.broker.get_order(scale_out.broker_order_id)).status is OrderStatus.FILLED
    assert (await book(rig))[0].qty_open == 3  # the engine still believes 3 are held

    said = await rig.engine.close_position(pos.id, "alice")
    await settle(rig)

    assert said == f"closing 2 {pos.contract}"
    pos, orders = await book(rig)
    assert pos.status == "closed" and pos.qty_open == 0 and pos.qty_closed == 3
    assert {o.id: o.status for o in orders}[scale_out.id] == "filled"
    assert await sold(rig) == 3  # 1 by the scale-out, 2 by the close: never more than held
    assert await rig.broker.list_positions() == []
    assert not rig.of(OrderRejected)


async def test_flatten_while_a_scale_out_works_closes_the_position(rig_factory, tmp_path: Path) -> None:
    rig, pos, scale_out = await scale_out_working(rig_factory, tmp_path)

    done = await rig.engine.flatten("admin")
    await settle(rig)

    assert done == [f"closing 3 {pos.contract}"]
    pos, orders = await book(rig)
    assert pos.status == "closed" and pos.qty_closed == 3
    assert {o.id: o.status for o in orders}[scale_out.id] == "canceled"
    assert await sold(rig) == 3
    assert await rig.broker.list_positions() == []


async def test_close_under_the_kill_switch_says_so_and_sends_nothing(
    rig_factory, tmp_path: Path
) -> None:
    rig, pos, _ = await scale_out_working(rig_factory, tmp_path)
    await rig.engine.set_trading_state(TradingState.HALTED, "admin")  # cancels working orders
    await rig.broker.sync()
    await rig.engine.pump_order_updates()

    try:
        said = await rig.engine.close_position(pos.id, "alice")
    except AplusError as exc:
        said = str(exc)
    assert "kill switch" in said and "closing" not in said
    pos, _ = await book(rig)
    assert pos.status == "open" and pos.qty_open == 3
    assert await sold(rig) == 0


async def test_a_cancel_the_broker_does_not_confirm_in_time_sends_nothing_and_says_so(
    rig_factory, tmp_path: Path
) -> None:
    rig, pos, scale_out = await scale_out_working(rig_factory, tmp_path)
    rig.broker.slow = True
    closing = asyncio.create_task(rig.engine.close_position(pos.id, "alice"))
    waited = 0
    while not closing.done():
        await asyncio.sleep(0)  # let the close run until it waits on the clock
        if rig.clock._sleepers:  # the close waits for the broker's word: a second passes
            rig.clock.advance(timedelta(seconds=1))
            waited += 1
    assert waited == 10
    with pytest.raises(AplusError, match="has not confirmed the cancel"):
        closing.result()
    assert [o.id for o in await rig.broker.list_open_orders()] == [scale_out.broker_order_id]
    assert [o.reason for o in (await book(rig))[1] if o.reason == "closed by alice"] == []

    rig.broker.slow = False  # the exchange catches up; the trader clicks Close again
    said = await rig.engine.close_position(pos.id, "alice")
    await settle(rig)
    assert said == f"closing 3 {pos.contract}"
    pos, _ = await book(rig)
    assert pos.status == "closed" and await sold(rig) == 3
    assert not rig.of(OrderRejected)
