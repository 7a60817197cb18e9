"""Replay one trading day through the real engine on the simulated exchange, as fast as possible.

:func:`run_replay` builds what ``python -m bot run`` builds, minus Discord: a fresh database, the
:class:`~core.brokers.sim.broker.SimBroker` over :class:`~core.marketdata.sim.SimMarketData`
reading the day's bar files, a :class:`~core.clock.FakeClock`, the event bus and
:class:`~core.engine.engine.TradingEngine` started with ``live=False``. It posts the setup
message at its time, then walks the session minute by minute: the clock moves to the minute's
end, each symbol's completed bar goes to :meth:`~TradingEngine.on_bar`, the bus is drained (so
the confirm policy answers new proposals at that minute), and the exchange and the timer run
once (:meth:`SimBroker.sync`, :meth:`~TradingEngine.pump_order_updates`,
:meth:`~TradingEngine.tick`). The last minute ends at the close, where the engine's own timer
publishes the daily summary.

The result keeps the day's events in publish order, the proposals as first shown, the closed
trades and the counts of the ``--json`` summary. Nothing is kept between days.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from core.brokers.sim.broker import SimBroker
from core.calendar import MarketCalendar
from core.clock import NEW_YORK, FakeClock
from core.db.models.trading import ProposalRow
from core.engine.config import EngineConfig
from core.engine.engine import TradingEngine
from core.errors import AplusError
from core.events import (
    Event,
    EventBus,
    OrderFilled,
    OrderSubmitted,
    ProposalCreated,
    SignalTriggered,
)
from core.marketdata.bars_csv import bars_path
from core.marketdata.sim import SimMarketData
from core.parsing import ParsedMessage, parse_message
from core.replay.database import ReplayDatabases
from core.replay.policy import ConfirmPolicy, ProposalDecider
from core.reporting.stats import TradeRecord
from core.reporting.trades import closed_trades
from core.setups import IncomingMessage

log = logging.getLogger(__name__)

PRE_MARKET = time(9, 0)
REPLAY_CHANNEL_ID = 0
REPLAY_AUTHOR_ID = 0


class ReplayError(AplusError):
    """A replay cannot run (no setup, no date, no bars); the message says why."""


@dataclass(frozen=True, slots=True)
class SetupSource:
    """A setup message to replay: its text, when it was posted, and where it came from."""

    text: str
    posted_at: datetime
    origin: str
    message_id: int = 1


@dataclass(frozen=True, slots=True)
class ReplayCounts:
    """The figures of the ``--json`` summary."""

    signals: int
    triggered: int
    proposals: int
    orders: int
    fills: int
    trades: int
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One replayed day."""

    trading_date: date
    setup: SetupSource
    parsed: ParsedMessage
    symbols: tuple[str, ...]  # replayed: the setup's tickers that have bars
    missing_bars: tuple[str, ...]  # the setup's tickers without bars (not replayed)
    bar_sources: Mapping[str, str]  # symbol -> the bar file's first comment, or its path
    synthetic: bool  # any replayed bars are synthetic
    events: tuple[Event, ...]
    proposals: Mapping[int, ProposalRow]  # as first shown, by id
    trades: tuple[TradeRecord, ...]
    open_positions: int
    counts: ReplayCounts
    config: EngineConfig
    policy: ConfirmPolicy
    bars_dir: Path


def _ny(day: date, at: time) -> datetime:
    return datetime.combine(day, at, NEW_YORK)


def bar_source(path: Path) -> tuple[str, bool]:
    """Return a bar file's provenance (its first comment line, else its path) and if synthetic."""
    comments = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            comments.append(line.lstrip("#").strip())
    text = " ".join(comments)
    return (comments[0] if comments else str(path)), "synthetic" in text.lower()


def parse_setup(setup: SetupSource, day: date | None = None) -> tuple[ParsedMessage, date]:
    """Parse the setup and settle its trading date (``day`` wins over the header's date)."""
    parsed = parse_message(setup.text, setup.posted_at)
    if not parsed.is_aplus or not parsed.setups:
        raise ReplayError(f"{setup.origin}: not an A+ setup post (nothing to replay)")
    trading_date = day or parsed.trading_date
    if trading_date is None:
        raise ReplayError(f"{setup.origin}: the post has no date; give --date")
    return parsed, trading_date


class _Counter:
    """Count the events the summary needs (kept separate from the event list)."""

    def __init__(self) -> None:
        self.by_type: Counter[type[Event]] = Counter()

    def __call__(self, event: Event) -> None:
        self.by_type[type(event)] += 1


async def run_replay(
    setup: SetupSource,
    *,
    bars_dir: Path,
    config: EngineConfig | None = None,
    policy: ConfirmPolicy = ConfirmPolicy.ALL,
    day: date | None = None,
    calendar: MarketCalendar | None = None,
    databases: ReplayDatabases | None = None,
    starting_cash: Decimal = Decimal(100_000),
    seed: int = 42,
) -> ReplayResult:
    """Replay ``setup``'s trading day over the bar files in ``bars_dir``; return what happened.

    Only the setup's tickers with a bar file for the day are replayed (the rest are listed in
    ``missing_bars``); with none, :class:`ReplayError`. The setup is posted at its time (09:00
    New York when it came earlier) and the session runs from the next minute to the close.
    """
    config = config or EngineConfig()
    calendar = calendar or MarketCalendar()
    parsed, trading_date = parse_setup(setup, day)
    if not calendar.is_session(trading_date):
        raise ReplayError(f"{trading_date} is not a trading day")
    wanted = sorted({s.symbol for s in parsed.setups})
    symbols = [s for s in wanted if bars_path(bars_dir, s, trading_date).is_file()]
    missing = tuple(s for s in wanted if s not in symbols)
    if not symbols:
        raise ReplayError(f"no bars for {', '.join(wanted)} on {trading_date} under {bars_dir} "
                          f"(expected {bars_path(bars_dir, wanted[0], trading_date)})")
    open_at = calendar.session_open(trading_date)
    close_at = calendar.session_close(trading_date)
    start = max(setup.posted_at, _ny(trading_date, PRE_MARKET))
    if start >= close_at:
        raise ReplayError(f"{setup.origin} was posted after the close of {trading_date}")
    clock = FakeClock(start)
    market = SimMarketData(clock, bars_dir=bars_dir, calendar=calendar, seed=seed)
    sources: dict[str, str] = {}
    synthetic = False
    for s in symbols:
        path = bars_path(bars_dir, s, trading_date)
        try:
            market.day_bars(s, trading_date)  # read and checked here, kept for the session
        except (ValueError, OSError) as exc:
            raise ReplayError(f"bad bar file: {exc}") from None
        sources[s], fake = bar_source(path)
        synthetic = synthetic or fake

    own_databases = databases is None
    dbs = databases or ReplayDatabases()
    if own_databases:
        await dbs.__aenter__()
    db = await dbs.fresh()
    broker = SimBroker(db, clock, market, background=False, starting_cash=starting_cash,
                       fee_per_contract=config.fee_per_contract, save_idle=False, persist=False)
    bus = EventBus()
    events = bus.record()
    counter = _Counter()
    engine = TradingEngine(db=db, broker=broker, market=market, clock=clock, calendar=calendar,
                           bus=bus, config=config)
    decider = ProposalDecider(engine, policy)
    try:
        await broker.start()
        await engine.start(live=False)
        decider.attach(bus)
        await engine.ingest(IncomingMessage(
            discord_message_id=setup.message_id, channel_id=REPLAY_CHANNEL_ID,
            author_id=REPLAY_AUTHOR_ID, posted_at=setup.posted_at, content=setup.text))
        await bus.drain()
        first = max(open_at, start.replace(second=0, microsecond=0))
        await _run_session(engine, broker, bus, market, clock, symbols, first, close_at)
        trades = tuple(await closed_trades(db, since=trading_date, until=trading_date))
        open_positions = len(await engine.positions(open_only=True))
    finally:
        await engine.stop()
        await broker.close()
        await bus.close()
        await db.dispose()
        dbs.discard(db)
        if own_databases:
            await dbs.__aexit__(None, None, None)
    for e in events:
        counter(e)
    c = counter.by_type
    counts = ReplayCounts(
        signals=sum(len(s.signals) for s in parsed.setups if s.symbol in symbols),
        triggered=c[SignalTriggered], proposals=c[ProposalCreated], orders=c[OrderSubmitted],
        fills=c[OrderFilled], trades=len(trades),
        realized_pnl=sum((t.realized_pnl for t in trades), Decimal(0)))
    return ReplayResult(
        trading_date=trading_date, setup=setup, parsed=parsed, symbols=tuple(symbols),
        missing_bars=missing, bar_sources=sources, synthetic=synthetic, events=tuple(events),
        proposals=dict(decider.shown), trades=trades, open_positions=open_positions,
        counts=counts, config=config, policy=policy, bars_dir=bars_dir)


async def _run_session(engine: TradingEngine, broker: SimBroker, bus: EventBus,
                       market: SimMarketData, clock: FakeClock, symbols: list[str],
                       first: datetime, close_at: datetime) -> None:
    """Feed every completed bar from ``first`` to the close; step exchange and timer per minute."""

    async def step() -> None:
        await broker.sync()
        await engine.pump_order_updates()
        await engine.tick()
        await broker.sync()
        await engine.pump_order_updates()
        await bus.drain()

    minute: datetime | None = None
    async for ev in market.replay(symbols, first, close_at):
        if ev.bar is None:
            continue
        if ev.timestamp != minute:
            if minute is not None:
                await step()
            minute = ev.timestamp
            clock.set(minute)
        await engine.on_bar(ev.bar)
        await bus.drain()
    if minute is not None:
        await step()
    if clock.now() < close_at:  # bars ended early: still close the day
        clock.set(close_at)
        await step()
    clock.set(close_at + timedelta(minutes=1))
    await step()
