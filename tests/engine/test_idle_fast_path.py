"""The timer and the bars read nothing while nothing can be due (the replay's fast path)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import event

from core.clock import NEW_YORK
from core.engine.config import EngineConfig
from core.events import ExitTriggered, PositionClosed, ProposalExpired
from tests.engine.conftest import write_bars

SETUP = """A+ Scalp Trade Setups — Wed Jun 11

SPY
🔼 Aggressive Breakout 606.75 🔼 608.30, 610.20, 612.60

NVDA
🔼 Aggressive Breakout 150.55 🔼 151.30, 152.85, 153.60
"""


def count_selects(db) -> Counter[str]:
    seen: Counter[str] = Counter()

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, executemany) -> None:
        words = statement.split()
        if words[0] == "SELECT" and "FROM" in words:
            seen[words[words.index("FROM") + 1]] += 1

    return seen


async def test_quiet_minutes_read_no_positions_orders_or_proposals(rig_factory, tmp_path: Path) -> None:
    # SPY breaks out at 10:00 (a proposal nobody confirms, expired after 5 minutes), then drifts.
    write_bars(tmp_path / "bars", "SPY", [("09:30", 605.0), ("09:59", 605.0), ("10:00", 606.9),
                                          ("16:00", 606.5)])
    write_bars(tmp_path / "bars", "NVDA", [("09:30", 145.0), ("16:00", 145.5)])
    rig = await rig_factory(EngineConfig())
    await rig.post(SETUP)
    await rig.run_day(until="10:30")
    assert len(rig.of(ProposalExpired)) == 1
    selects = count_selects(rig.db)
    await rig.run_day(since="10:30", until="12:00", symbols=["NVDA", "SPY"])
    assert selects["orders"] == selects["proposals"] == 0
    # no exit check on any bar or tick; only the mark pass's re-read when snapshots are
    # written (every 5 minutes)
    assert selects["positions"] <= 90 // 5 + 1


async def test_held_positions_are_still_checked_every_bar(rig_factory, tmp_path: Path) -> None:
    # Bought at the 10:00 breakout; the stop is a close back under 606.14 at 11:00.
    write_bars(tmp_path / "bars", "SPY", [("09:30", 605.0), ("09:59", 605.0), ("10:00", 606.9),
                                          ("10:59", 607.2), ("11:00", 605.9), ("16:00", 605.5)])
    rig = await rig_factory(EngineConfig(auto_confirm=True))
    await rig.post(SETUP)
    await rig.run_day(until="10:30")
    assert not rig.of(PositionClosed)
    await rig.run_day(since="10:30", until="11:05", symbols=["SPY"])
    closed = rig.of(PositionClosed)
    assert len(closed) == 1 and "stop" in closed[0].reason
    # decided on the 11:00 bar itself, the first close under the stop
    (exit_,) = rig.of(ExitTriggered)
    assert exit_.at.astimezone(NEW_YORK).strftime("%H:%M") == "11:01" and "stop" in exit_.reason
