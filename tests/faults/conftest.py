"""The real bot on the fake Discord server, trading through the Alpaca adapter against the
fake Alpaca server (both in the test's process), on a fake clock: faults are injected at the
fake servers and the bot's answers read from the channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.app import AplusBot
from core.brokers.alpaca import AlpacaBroker
from core.clock import FakeClock
from core.engine.config import EngineConfig
from core.engine.health import BrokerHealthMonitor
from core.marketdata.sim import SimMarketData
from tests.cogs.conftest import app_factory  # noqa: F401 - the simulated-exchange bot
from tests.crash.alpaca_bot import (
    CONFIG,
    TrackedRest,
    build_alpaca_bot,
    name_stream_tasks,
    settings_for,
)
from tests.discord.conftest import make_harness, world  # noqa: F401 - fixtures used here
from tests.discord.harness import Harness
from tests.discord.records import Posted
from tests.discord.world import World
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH
from tests.fakes.alpaca_server import FakeAlpaca

#: Proposals that stay open for an hour, so a test can wait out an outage and then confirm.
LONG_PROPOSALS = CONFIG.model_copy(update={"proposal_ttl_seconds": 3600})


@dataclass
class AlpacaApp:
    """The bot under test, its fake Alpaca, and the knobs a test turns."""

    h: Harness
    world: World
    clock: FakeClock
    bot: AplusBot
    alpaca: FakeAlpaca
    rest: TrackedRest

    @property
    def services(self):  # the bot's Services
        return self.bot.services

    @property
    def engine(self):  # the TradingEngine
        return self.bot.engine

    @property
    def health(self) -> BrokerHealthMonitor:
        assert self.services.health is not None
        return self.services.health

    @property
    def broker(self) -> AlpacaBroker:
        broker = self.services.broker
        assert isinstance(broker, AlpacaBroker)
        return broker

    async def settle(self) -> None:
        """Wait until events are rendered and posted and no broker call is in flight."""
        busy = True
        while busy:
            await self.services.bus.drain()
            await self.bot.outbox.drain()
            await self.h.settle()
            busy = await self.rest.quiet()

    async def step(self) -> None:
        """Apply the broker's order events, then render."""
        await self.settle()
        await self.engine.pump_order_updates()
        await self.settle()

    async def run_until(self, until: str, since: str = "09:30",
                        symbols: Sequence[str] = ("SPY",)) -> None:
        """Play bars from ``since`` to ``until`` (New York) through the engine."""
        market = self.services.market
        assert isinstance(market, SimMarketData)
        async for ev in market.replay(sorted(symbols), ny(since), ny(until), clock=self.clock):
            assert ev.bar is not None
            await self.engine.on_bar(ev.bar)
            await self.step()

    async def advance(self, seconds: float) -> None:
        """Move the fake clock on in the health monitor's steps, letting it look each time."""
        step = self.health.rules.check_interval_seconds
        left = seconds
        while left > 0:
            self.clock.advance(timedelta(seconds=min(step, left)))
            left -= step
            await self.step()

    async def proposal(self, symbol: str = "SPY", until: str = "10:02") -> Posted:
        """Post the setup, play the bars until ``symbol``'s proposal; return its message."""
        await self.h.post(SETUP, at=ny("08:45"))
        await self.run_until(until, symbols=(symbol,))
        posts = [m for m in self.h.channel_messages("setup")
                 if m.author_id == self.world.bot_id and m.embeds
                 and (m.embeds[0].footer.text or "").startswith("proposal #")]
        assert len(posts) == 1, [m.text() for m in posts]
        return posts[0]

    async def until(self, done: Callable[[], Awaitable[bool]], what: str,
                    within: float = 15.0) -> None:
        """Apply order events until ``done()`` holds (events cross a real websocket)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not await done():
            if loop.time() > deadline:
                raise AssertionError(f"{what}: not seen within {within}s")
            await asyncio.sleep(0.02)
            await self.step()

    def log_lines(self) -> list[str]:
        """Return what the bot said in the log channel."""
        return [m.text() for m in self.h.channel_messages("log")]


def confirm_id(post: Posted) -> str:
    return next(c for c in post.custom_ids if c.startswith("proposal:confirm:"))


@pytest.fixture
async def fake_alpaca() -> AsyncIterator[FakeAlpaca]:
    server = FakeAlpaca()
    await server.start()
    # Entries rest until the test fills them (the fake's ask is above any proposal's limit).
    server.option_default = (Decimal("40.00"), Decimal("40.10"))
    yield server
    await server.stop()


@pytest.fixture
async def alpaca_app(make_harness, world: World, tmp_path: Path,  # noqa: F811 - the fixture
                     fake_alpaca: FakeAlpaca) -> AsyncIterator[Any]:
    """Return ``await alpaca_app(config=..., **settings)``: the bot connected at 09:00."""
    name_stream_tasks(asyncio.get_running_loop())
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)

    async def build(config: EngineConfig = LONG_PROPOSALS, **overrides: Any) -> AlpacaApp:
        settings = settings_for(tmp_path, fake_alpaca.url, world, **overrides)
        clock = FakeClock(ny("09:00"))
        rest = TrackedRest(settings.alpaca_timeout_seconds, settings.alpaca_max_retries)
        bot = await build_alpaca_bot(settings, clock, rest, config=config)
        h = await make_harness(bot, world, clock=clock.now, ignore_tasks=("alpaca-",),
                               settle_timeout=30)
        app = AlpacaApp(h, world, clock, bot, fake_alpaca, rest)
        await app.settle()
        return app

    yield build
