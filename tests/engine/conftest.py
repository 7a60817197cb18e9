"""A small harness: the real engine on the simulated exchange, over bars we write ourselves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from core.brokers.sim.broker import SimBroker
from core.calendar import MarketCalendar
from core.clock import NEW_YORK, FakeClock
from core.db.session import Database
from core.engine.config import EngineConfig
from core.engine.engine import TradingEngine
from core.events import Event, EventBus
from core.marketdata.sim import SimMarketData
from core.setups import IncomingMessage

DAY = date(2025, 6, 11)


def ny(hhmm: str, day: date = DAY) -> datetime:
    """Return the UTC time of a New York wall-clock time on ``day``."""
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(day, time(h, m), NEW_YORK).astimezone(UTC)


def write_bars(folder: Path, symbol: str, waypoints: Sequence[tuple[str, float]], *,
               day: date = DAY, wick: float = 0.03) -> None:
    """Write a day of 1-minute bars that walk linearly between ``(HH:MM, close)`` waypoints.

    Each bar opens at the previous close and closes at the path's value; its high and low are
    the open/close extremes widened by ``wick``. Before the first waypoint the price is flat.
    """
    points = [(ny(t, day), p) for t, p in waypoints]
    start, end = ny("09:30", day), ny("16:00", day)
    rows = ["timestamp,open,high,low,close,volume"]
    prev = points[0][1]
    t = start
    while t < end:
        if t <= points[0][0]:
            close = points[0][1]
        elif t >= points[-1][0]:
            close = points[-1][1]
        else:
            for (t0, p0), (t1, p1) in pairwise(points):
                if t0 <= t <= t1:
                    close = p0 + (p1 - p0) * (t - t0).total_seconds() / max((t1 - t0).total_seconds(), 1)
                    break
        o, c = round(prev, 2), round(close, 2)
        hi, lo = round(max(o, c) + wick, 2), round(min(o, c) - wick, 2)
        rows.append(f"{t:%Y-%m-%dT%H:%M:%SZ},{o:.2f},{hi:.2f},{lo:.2f},{c:.2f},100000")
        prev = close
        t += timedelta(minutes=1)
    out = folder / symbol
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{day.isoformat()}.csv").write_text("\n".join(rows) + "\n")


@dataclass
class Rig:
    """The engine and everything around it."""

    db: Database
    clock: FakeClock
    market: SimMarketData
    broker: SimBroker
    bus: EventBus
    engine: TradingEngine
    events: list[Event] = field(default_factory=list)

    async def post(self, text: str, message_id: int = 1001, at: str = "09:00") -> None:
        await self.engine.ingest(IncomingMessage(
            discord_message_id=message_id, channel_id=77, author_id=5,
            posted_at=ny(at), content=text))

    async def use_broker(self, kind: type[SimBroker]) -> None:
        """Trade on ``kind`` (a SimBroker with a fault of a test's) instead of the plain one."""
        await self.broker.close()
        self.broker = kind(self.db, self.clock, self.market, background=False)
        await self.broker.start()
        self.engine.broker = self.broker
        self.engine._updates = self.broker.order_updates()

    async def step(self) -> None:
        """Let the exchange match, hand its events to the engine, and run the timer."""
        await self.broker.sync()
        await self.engine.pump_order_updates()
        await self.engine.tick()
        await self.broker.sync()
        await self.engine.pump_order_updates()

    async def run_day(self, until: str = "16:01", symbols: Sequence[str] | None = None,
                      since: str = "09:30") -> None:
        """Replay the day's bars through the engine, minute by minute, as fast as possible."""
        syms = sorted(symbols or self.engine.book.symbols())
        async for ev in self.market.replay(syms, ny(since), ny(until), clock=self.clock):
            assert ev.bar is not None
            await self.engine.on_bar(ev.bar)
            await self.step()
        await self.bus.drain()

    def of(self, kind: type[Event]) -> list:
        return [e for e in self.events if isinstance(e, kind)]


async def make_rig(db: Database, bars_dir: Path, config: EngineConfig,
                   start: datetime | None = None) -> Rig:
    clock = FakeClock(start or ny("09:00"))
    calendar = MarketCalendar()
    market = SimMarketData(clock, bars_dir=bars_dir, calendar=calendar)
    broker = SimBroker(db, clock, market, background=False)
    await broker.start()
    bus = EventBus()
    events = bus.record()
    engine = TradingEngine(db=db, broker=broker, market=market, clock=clock, calendar=calendar,
                           bus=bus, config=config)
    await engine.start(live=False)
    return Rig(db, clock, market, broker, bus, engine, events)


@pytest.fixture
async def rig_factory(db: Database, tmp_path: Path) -> AsyncIterator:
    rigs: list[Rig] = []

    async def build(config: EngineConfig | None = None, start: datetime | None = None) -> Rig:
        rig = await make_rig(db, tmp_path / "bars", config or EngineConfig(), start)
        rigs.append(rig)
        return rig

    yield build
    for rig in rigs:
        await rig.engine.stop()
        await rig.broker.close()
        await rig.bus.close()
