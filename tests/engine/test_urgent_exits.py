"""A stop or a bias flip while a scale-out is working takes over at once, and is never lost.

T1 is reached at 10:30 and a third goes out as a limit at mid, repriced toward the bid each
minute; the fall comes on the next bar, while that order works. Without the take-over the stop
would wait for the scale-out to be repriced down and filled, and the bias flip, which happens
on one bar only, would be forgotten until the 15:50 time stop.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from core.db.models.trading import AuditEntry, OrderRow, PositionRow
from core.engine.config import EngineConfig
from core.engine.exits import ExitRules
from core.events import BiasFlipped, ExitTriggered, PositionClosed
from core.options.select import SelectionRules
from tests.engine.conftest import Rig, ny, write_bars

SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60
"""
# Breakout at 10:00, T1 at 10:30, then the fall on the 10:31 bar.
UP_TO_T1 = [("09:30", 605.00), ("09:59", 605.00), ("10:00", 606.90), ("10:29", 607.90),
            ("10:30", 608.40)]
FLIP = "⚠️ Bias: Bullish above 602.55, flips bearish if 604.50 breaks\n"


def config(**exits: object) -> EngineConfig:
    return EngineConfig(auto_confirm=True, selection=SelectionRules(scalp_min_hours_left=31),
                        exits=ExitRules(**exits))


async def trade(rig_factory, tmp_path: Path, setup: str, fall_to: float, **exits: object) -> Rig:
    write_bars(tmp_path / "bars", "SPY", [*UP_TO_T1, ("10:31", fall_to), ("16:00", fall_to)])
    rig = await rig_factory(config(**exits))
    await rig.post(setup)
    await rig.run_day(until="10:40")
    await rig.bus.drain()
    return rig


async def orders_and_position(rig: Rig) -> tuple[list[OrderRow], PositionRow]:
    async with rig.db.sessions() as s:
        orders = list((await s.execute(select(OrderRow).order_by(OrderRow.id))).scalars().all())
        (pos,) = (await s.execute(select(PositionRow))).scalars().all()
    return orders, pos


async def preempted(rig: Rig) -> list[AuditEntry]:
    async with rig.db.sessions() as s:
        return list((await s.execute(select(AuditEntry).where(
            AuditEntry.action == "scale_out_preempted"))).scalars().all())


def at_most(when: datetime | None, hhmm: str) -> bool:
    return when is not None and when <= ny(hhmm)


async def test_a_stop_while_a_scale_out_works_cancels_it_and_sells_everything_at_once(
    rig_factory, tmp_path: Path
) -> None:
    rig = await trade(rig_factory, tmp_path, SETUP, fall_to=606.00)  # stop: the entry, 606.90

    orders, pos = await orders_and_position(rig)
    entry, scale_out, stop = orders  # nothing else was sent
    assert (entry.purpose, scale_out.purpose, stop.purpose) == ("entry", "scale_out", "stop")
    assert scale_out.status == "canceled" and scale_out.filled_qty == 0
    assert stop.qty == entry.filled_qty and stop.status == "filled"
    assert at_most(stop.created_at, "10:32")  # on the bar that closed below the stop
    assert pos.status == "closed" and pos.qty_closed == entry.filled_qty
    assert pos.exit_reason.startswith("underlying closed") and "below stop" in pos.exit_reason
    assert len(await preempted(rig)) == 1
    assert [e.qty for e in rig.of(ExitTriggered)] == [1, entry.filled_qty]


async def test_a_bias_flip_while_a_scale_out_works_is_remembered_until_the_position_is_out(
    rig_factory, tmp_path: Path
) -> None:
    # The stop stays 0.5 % under the trigger (603.72), so only the flip can end the trade.
    rig = await trade(rig_factory, tmp_path, SETUP + FLIP, fall_to=604.20,
                      move_stop_to_entry_after_t1=False, stop_margin_pct=0.5)

    assert [e.to_direction for e in rig.of(BiasFlipped)] == ["bearish"]
    orders, pos = await orders_and_position(rig)
    entry, scale_out, exit_ = orders
    assert scale_out.status == "canceled" and scale_out.filled_qty == 0
    assert exit_.purpose == "exit" and exit_.qty == entry.filled_qty and exit_.status == "filled"
    assert at_most(exit_.created_at, "10:32")  # not the 15:50 time stop
    assert pos.status == "closed" and pos.exit_reason.startswith("bias flipped")
    (closed,) = rig.of(PositionClosed)
    assert closed.reason.startswith("bias flipped")
    assert len(await preempted(rig)) == 1
