"""The scheduler's jobs fire at New York market times, and each job does its day's work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.engine.scheduler import build_scheduler
from core.events import DailySummary
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH


async def test_jobs_run_in_new_york_time(rig_factory, tmp_path: Path) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    rig = await rig_factory()
    sched = build_scheduler(rig.engine)
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == {"tick", "session_open", "session_close", "daily_reset"}
    friday_evening = datetime(2025, 6, 13, 22, 0, tzinfo=UTC)  # 18:00 New York, Friday
    nxt = jobs["session_open"].trigger.get_next_fire_time(None, friday_evening)
    assert nxt.strftime("%a %H:%M") == "Mon 09:25" and nxt.utcoffset() == timedelta(hours=-4)
    close = jobs["session_close"].trigger.get_next_fire_time(None, friday_evening)
    assert close.strftime("%a %H:%M") == "Mon 16:05"
    winter = datetime(2025, 12, 5, 22, 0, tzinfo=UTC)  # after the clocks change: UTC-5
    assert jobs["session_open"].trigger.get_next_fire_time(None, winter).utcoffset() == timedelta(hours=-5)


async def test_session_jobs_load_the_day_and_report_it_once(rig_factory, tmp_path: Path) -> None:
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    rig = await rig_factory(start=ny("08:00"))
    await rig.post(SETUP)
    rig.engine.book.expire_all(rig.clock.now())  # as if the bot started before the post day
    assert rig.engine.book.symbols() == frozenset()
    rig.clock.set(ny("09:25"))
    await rig.engine.session_open()
    assert rig.engine.book.symbols() == {"SPY", "NVDA"}
    rig.clock.set(ny("16:05"))
    await rig.engine.session_close()
    await rig.engine.session_close()
    await rig.engine.tick()
    await rig.bus.drain()
    assert [e.trading_date for e in rig.of(DailySummary)] == ["2025-06-11"]
