"""Build everything the bot runs on, from the settings: the composition of ``core``.

:func:`build_services` opens (and migrates) the database, picks the broker and market data
(the simulated exchange unless Alpaca keys are configured or asked for), builds the engine
with its parameters and the scheduler, and returns them in one :class:`Services` object that
``bot.app.AplusBot`` receives. Tests build the same object with a fake clock and the
simulated exchange, so the bot under test is wired exactly as in production.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.brokers.base import Broker
from core.brokers.factory import make_broker, make_market_data
from core.calendar import MarketCalendar
from core.clock import Clock, SystemClock
from core.config import BrokerMode, Settings
from core.db.session import Database, open_database
from core.engine.config import EngineConfig, load_engine_config
from core.engine.engine import TradingEngine
from core.engine.health import BrokerHealthMonitor
from core.engine.scheduler import build_scheduler
from core.events import EventBus
from core.marketdata.base import MarketData

log = logging.getLogger(__name__)


def broker_description(settings: Settings) -> str:
    """Return the broker in use as a sentence for the status and the log."""
    mode = settings.effective_broker
    if mode is BrokerMode.ALPACA:
        return "Alpaca " + ("paper" if settings.alpaca_paper else "LIVE") + " account"
    if settings.broker is BrokerMode.AUTO:
        return "simulated exchange (no Alpaca keys configured)"
    return "simulated exchange"


def fees_of_the_exchange(config: EngineConfig, broker: Broker) -> EngineConfig:
    """Return ``config`` charging the fee the simulated exchange charges (one source of truth).

    On the simulated exchange the fee is ``SIM_FEE_PER_CONTRACT``: the exchange takes it from
    the account's cash, so the engine books the same fee on each fill and its realized P&L
    equals the account's cash change. A different ``fee_per_contract`` in the engine
    parameters is overridden (with a warning). On Alpaca the engine parameter is the fee.
    """
    from core.brokers.sim import SimBroker

    if not isinstance(broker, SimBroker):
        return config
    fee = broker.fee_per_contract
    if config.fee_per_contract not in (0, fee):
        log.warning("engine fee_per_contract %s ignored: the simulated exchange charges %s per "
                    "contract (SIM_FEE_PER_CONTRACT)", config.fee_per_contract, fee)
    return config.model_copy(update={"fee_per_contract": fee})


@dataclass
class Services:
    """The engine and its collaborators, owned by the bot for its lifetime."""

    settings: Settings
    db: Database
    clock: Clock
    calendar: MarketCalendar
    bus: EventBus
    market: MarketData
    broker: Broker
    engine: TradingEngine
    scheduler: AsyncIOScheduler | None = None
    health: BrokerHealthMonitor | None = None
    broker_mode: str = field(default="")
    started: bool = False
    closed: bool = False

    async def start(self, *, live: bool = True) -> None:
        """Start the broker, the market data, the engine and (live) the scheduler."""
        await self.market.start()
        await self.broker.start()
        await self.engine.start(live=live)
        if self.health is not None:
            self.health.start()
        if live and self.scheduler is not None:
            self.scheduler.start()
        self.started = True

    async def close(self) -> None:
        """Stop everything, in reverse order; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.health is not None:
            await self.health.close()
        if self.started:
            await self.engine.stop()
            self.started = False
        await self.bus.close()
        await self.broker.close()
        await self.market.close()
        await self.db.dispose()


async def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine_config: EngineConfig | None = None,
    market: MarketData | None = None,
    broker_factory: Callable[[Database, Clock, MarketData], Broker] | None = None,
    scheduler: bool = True,
) -> Services:
    """Open the database and build the engine with the broker the settings select.

    ``market`` and ``broker_factory`` replace the choice made from the settings (tests and
    the replay use the simulated exchange driven by a fake clock).
    """
    clock = clock or SystemClock()
    db = await open_database(settings.database_url)
    try:
        config = engine_config or load_engine_config(settings.engine_config_file)
        market = market or make_market_data(settings, clock)
        broker = (broker_factory or partial(make_broker, settings))(db, clock, market)
        config = fees_of_the_exchange(config, broker)
        calendar = MarketCalendar()
        bus = EventBus()
        # The engine trades through the health monitor, which pauses entries while the
        # broker does not answer (services.broker stays the broker itself).
        health = BrokerHealthMonitor(clock, bus)
        engine = TradingEngine(db=db, broker=health.watch(broker), market=market, clock=clock,
                               calendar=calendar, bus=bus, config=config)
        engine.health = health
    except BaseException:
        await db.dispose()
        raise
    return Services(settings=settings, db=db, clock=clock, calendar=calendar, bus=bus,
                    market=market, broker=broker, engine=engine, health=health,
                    scheduler=build_scheduler(engine) if scheduler else None,
                    broker_mode=broker_description(settings))
