"""The real bot trading through the Alpaca adapter against the fake Alpaca server.

Shared by the crash runner (the bot in its own process) and the fault tests (the bot in the
test's process): settings pointing Alpaca at the fake, a REST runner whose in-flight calls
can be waited for, the trade stream's tasks named so settling ignores them, and
:func:`build_alpaca_bot`, which builds services and ``AplusBot`` the way
``tests/cogs/conftest.py`` does, on the simulated market's bars and option quotes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.app import AplusBot, intents
from bot.services import build_services
from core.brokers.alpaca import AlpacaBroker, AlpacaRest, RetryPolicy
from core.calendar import MarketCalendar
from core.clock import FakeClock
from core.config import Settings
from core.engine.config import EngineConfig
from core.marketdata.sim import SimMarketData
from core.options.select import SelectionRules
from tests.discord.world import World

R = TypeVar("R")
CONFIG = EngineConfig(selection=SelectionRules(scalp_min_hours_left=31))
API_KEY = "crash-test-key"
SECRET_KEY = "crash-test-secret"
COGS = ("cogs.setups", "cogs.proposals", "cogs.health")


def settings_for(workdir: Path, alpaca_url: str, world: World, **overrides: Any) -> Settings:
    """Return the bot's settings: the test world's ids, Alpaca at the fake server."""
    ws = alpaca_url.replace("http", "ws")
    values: dict[str, Any] = dict(
        database_url=f"sqlite+aiosqlite:///{workdir / 'bot.db'}",
        setup_channel_ids=[world.channel_id("setup")],
        trader_role_ids=[world.role_id("trader")],
        admin_role_ids=[world.role_id("admin")],
        log_channel_id=world.channel_id("log"),
        broker="alpaca", alpaca_api_key=API_KEY, alpaca_secret_key=SECRET_KEY,
        alpaca_trading_url=alpaca_url, alpaca_data_url=alpaca_url,
        alpaca_trading_stream_url=ws + "/stream", alpaca_data_stream_url=ws + "/v2/iex",
        alpaca_timeout_seconds=10, alpaca_max_retries=2,
        bars_dir=workdir / "bars", command_cooldown_seconds=0,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class TrackedRest(AlpacaRest):
    """The adapter's REST runner, counting calls in flight (retries and their pauses included).

    A REST call waits on a worker thread under ``asyncio.wait_for``, which the harness's
    settling counts as idle; :meth:`quiet` lets a test wait for those calls too.
    """

    def __init__(self, timeout: float, max_retries: int = 2) -> None:
        super().__init__(requests_per_minute=6000, timeout=timeout,
                         policy=RetryPolicy(max_retries=max_retries, base=0.01, cap=0.05))
        self.in_flight = 0

    async def call(self, fn: Callable[..., R], *args: Any, retry: bool = True, **kwargs: Any) -> R:
        self.in_flight += 1
        try:
            return await super().call(fn, *args, retry=retry, **kwargs)
        finally:
            self.in_flight -= 1

    async def once(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        self.in_flight += 1
        try:
            return await super().once(fn, *args, **kwargs)
        finally:
            self.in_flight -= 1

    async def quiet(self) -> bool:
        """Wait until no call is in flight; return whether there was one."""
        waited = False
        while self.in_flight:
            waited = True
            await asyncio.sleep(0.005)
        return waited


def name_stream_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Name every task alpaca-py, websockets and aiohttp create, so settling ignores them.

    The trade stream's tasks (and, in the test's process, the fake Alpaca server's) are
    created inside those libraries without names and stay busy reading a socket for as long
    as it is open.
    """
    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        code = getattr(coro, "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if any(lib in filename for lib in ("/websockets/", "/alpaca/", "/aiohttp/")):
            task.set_name(f"alpaca-ws-{task.get_name()}")
        return task

    loop.set_task_factory(factory)  # type: ignore[arg-type]


async def build_alpaca_bot(
    settings: Settings, clock: FakeClock, rest: TrackedRest, *,
    broker_class: type[AlpacaBroker] = AlpacaBroker, config: EngineConfig = CONFIG,
    cogs: tuple[str, ...] = COGS, **broker_options: Any,
) -> AplusBot:
    """Build services and the bot as ``python -m bot run`` does, trading through Alpaca."""
    market = SimMarketData(clock, bars_dir=settings.bars_dir, calendar=MarketCalendar())

    def broker(db: Any, clock_: Any, market_: Any) -> AlpacaBroker:
        return broker_class(settings, clock_, rest=rest, reconnect_backoff=(0.05, 0.2),
                            poll_interval=0.2, **broker_options)

    services = await build_services(settings, clock=clock, engine_config=config, market=market,
                                    broker_factory=broker, scheduler=False)
    wanted = intents()
    wanted.members = True
    return AplusBot(services, cogs=cogs, sync_commands=False, live=False, outbox_window=0,
                    gateway_intents=wanted)
