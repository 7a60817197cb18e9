"""A fill the database cannot take right now is kept, recorded once it can, and never lost.

While it waits, new entries are refused with the reason: the book the risk rules read would
be missing a fill, and the bot does not trade blind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from core.brokers.models import OrderStatus
from core.db.models.trading import FillRow, OrderRow, PositionRow
from core.engine.config import EngineConfig
from core.events import RiskRefused
from core.options.select import SelectionRules
from tests.engine.conftest import Rig, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH


@contextmanager
def fills_refused(rig: Rig) -> Iterator[None]:
    """Make every ``INSERT INTO fills`` fail as a full disk does (on any backend)."""
    def fail(conn: Any, cursor: Any, sql: str, params: Any, *args: Any) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO FILLS"):
            raise OperationalError(sql, params, sqlite3.OperationalError("database or disk is full"))

    engine = rig.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


async def fills(rig: Rig) -> tuple[int, int]:
    async with rig.db.sessions() as s:
        count, qty = (await s.execute(select(func.count(), func.coalesce(func.sum(FillRow.qty), 0))
                                      .select_from(FillRow))).one()
    return int(count), int(qty)


async def order(rig: Rig, order_id: int) -> OrderRow:
    async with rig.db.sessions() as s:
        row = await s.get(OrderRow, order_id)
    assert row is not None
    return row


async def test_a_fill_the_database_refused_is_recorded_once_it_can_and_entries_wait_meanwhile(
    rig_factory, tmp_path: Path
) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(EngineConfig(auto_confirm=True,
                                         selection=SelectionRules(scalp_min_hours_left=31)))
    await rig.post(SETUP)
    await rig.run_day(until="10:01")  # SPY broke out at 10:00: its entry is working
    async with rig.db.sessions() as s:
        (entry,) = (await s.execute(select(OrderRow))).scalars().all()
    assert entry.status != "filled"

    with fills_refused(rig):
        # the exchange fills the entry; the engine cannot write the fill
        await rig.run_day(since="10:01", until="10:14")
        entry = await order(rig, entry.id)  # repriced: the broker's id is the last replacement's
        assert (await rig.broker.get_order(entry.broker_order_id)).status is OrderStatus.FILLED
        assert await fills(rig) == (0, 0)
        view = await rig.engine.portfolio_view()
        assert view.unrecorded is not None and "database or disk is full" in view.unrecorded
        # NVDA breaks out at 10:15: its entry is refused, with the reason
        await rig.run_day(since="10:14", until="10:17")
        await rig.bus.drain()
        refused = [e for e in rig.of(RiskRefused) if e.symbol == "NVDA"]
        assert refused and refused[0].rule == "order_records"
        assert "not recorded yet" in refused[0].reason
        async with rig.db.sessions() as s:
            assert [o.symbol[:3] for o in (await s.execute(select(OrderRow))).scalars()] == ["SPY"]

    rig.clock.advance(timedelta(seconds=5))
    await rig.step()  # the database takes writes again: the waiting fill goes in, once
    filled_qty = int((await rig.broker.get_order(entry.broker_order_id)).filled_qty)
    count, qty = await fills(rig)
    assert qty == filled_qty == entry.qty and count >= 1
    async with rig.db.sessions() as s:
        (pos,) = (await s.execute(select(PositionRow))).scalars().all()
    assert pos.qty_open == entry.qty
    assert (await rig.engine.portfolio_view()).unrecorded is None
    await rig.step()
    assert await fills(rig) == (count, qty)  # never twice
