"""The real bot on the simulated exchange, connected to the fake Discord server.

``app`` builds :class:`~bot.app.AplusBot` exactly as ``python -m bot run`` does (settings →
services → bot), except that time is a :class:`~core.clock.FakeClock`, prices come from bar
CSVs written by the test, and the simulated exchange matches when told to. ``App.run_until``
plays the day's bars through the engine minute by minute and lets Discord catch up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import AplusBot, intents
from bot.services import Services, build_services
from core.brokers.sim.broker import SimBroker
from core.calendar import MarketCalendar
from core.clock import FakeClock
from core.config import Settings
from core.engine.config import EngineConfig
from core.marketdata.sim import SimMarketData
from tests.discord.conftest import make_harness, world  # noqa: F401 - fixtures used here
from tests.discord.harness import Harness
from tests.discord.world import World
from tests.engine.conftest import ny


@dataclass
class App:
    """The bot under test and the knobs a test turns."""

    h: Harness
    world: World
    settings: Settings
    clock: FakeClock
    bars_dir: Path
    config: EngineConfig
    bot: AplusBot
    cogs: tuple[str, ...] = ("cogs.setups", "cogs.proposals")
    outbox_window: float = 0

    @property
    def engine(self):  # the TradingEngine
        return self.bot.engine

    @property
    def services(self) -> Services:
        return self.bot.services

    async def step(self) -> None:
        """Let the exchange match, feed its events to the engine, run the timer, render."""
        broker = self.services.broker
        assert isinstance(broker, SimBroker)
        await broker.sync()
        await self.engine.pump_order_updates()
        await self.engine.tick()
        await broker.sync()
        await self.engine.pump_order_updates()
        await self.settle()

    async def settle(self) -> None:
        """Wait until the engine's events are rendered and posted."""
        await self.services.bus.drain()
        await self.bot.outbox.drain()
        await self.h.settle()

    async def run_until(self, until: str, since: str = "09:30",
                        symbols: Sequence[str] = ("SPY",)) -> None:
        """Play the bars of ``symbols`` from ``since`` to ``until`` (New York) through the bot."""
        market = self.services.market
        assert isinstance(market, SimMarketData)
        async for ev in market.replay(sorted(symbols), ny(since), ny(until), clock=self.clock):
            assert ev.bar is not None
            await self.engine.on_bar(ev.bar)
            await self.step()
        await self.settle()

    async def restart(self) -> AplusBot:
        """Stop the bot and start a new process on the same database and server."""
        self.bot = await build_bot(self.settings, self.clock, self.bars_dir, self.config,
                                   cogs=self.cogs, outbox_window=self.outbox_window)
        self.h.watch_database(self.bot.services.db.engine)
        await self.h.restart(self.bot)
        return self.bot


def make_settings(w: World, tmp_path: Path, **overrides: Any) -> Settings:
    """Return settings naming the test world's channels and roles."""
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "setup_channel_ids": [w.channel_id("setup")],
        "trader_role_ids": [w.role_id("trader")],
        "admin_role_ids": [w.role_id("admin")],
        "log_channel_id": w.channel_id("log"),
        "broker": "sim",
        "bars_dir": tmp_path / "bars",
        "command_cooldown_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def build_bot(settings: Settings, clock: FakeClock, bars_dir: Path,
                    config: EngineConfig,
                    cogs: tuple[str, ...] = ("cogs.setups", "cogs.proposals"),
                    outbox_window: float = 0, sync_commands: bool = False) -> AplusBot:
    """Build services and the bot the way ``python -m bot run`` does, on a fake clock.

    ``outbox_window`` is the outbox's batching window in seconds of the fake clock (0: every
    thread line is sent at once); ``sync_commands`` syncs the command tree at start-up.
    """
    market = SimMarketData(clock, bars_dir=bars_dir, calendar=MarketCalendar())

    def broker(db, clock_, market_):
        return SimBroker(db, clock_, market_, background=False)

    services = await build_services(settings, clock=clock, engine_config=config, market=market,
                                    broker_factory=broker, scheduler=False)
    # The members intent only lets the fake server's member list be cached for the test's
    # own look-ups; the bot reads members from interaction and message payloads.
    wanted = intents()
    wanted.members = True
    return AplusBot(services, cogs=cogs, sync_commands=sync_commands,
                    live=False, outbox_window=outbox_window, gateway_intents=wanted)


@pytest.fixture
async def app_factory(make_harness, world: World, tmp_path: Path) -> AsyncIterator:  # noqa: F811 - the fixture
    """Return ``await app_factory(config=None, start=ny("09:00"), cogs=App.cogs,
    outbox_window=0, sync_commands=False, **settings)``; the harness counts each interaction's SQL statements run
    before its first response (``record.answered_first``)."""

    async def build(config: EngineConfig | None = None, start: datetime | None = None,
                    cogs: tuple[str, ...] = App.cogs, outbox_window: float = 0,
                    sync_commands: bool = False, **overrides: Any) -> App:
        settings = make_settings(world, tmp_path, **overrides)
        clock = FakeClock(start or ny("09:00"))
        cfg = config or EngineConfig()
        bot = await build_bot(settings, clock, tmp_path / "bars", cfg, cogs, outbox_window,
                              sync_commands)
        h = await make_harness(bot, world, clock=clock.now)
        h.watch_database(bot.services.db.engine)
        return App(h, world, settings, clock, tmp_path / "bars", cfg, bot, cogs, outbox_window)

    yield build
