"""Soak: trading days at full speed through the real engine on the simulated exchange.

One long-lived engine (one database, one broker, one event bus, like one bot process) trades
``days`` consecutive sessions. Each day a setup post with two levels (breakout and
breakdown) for each of ``symbols`` made-up tickers is ingested, and a price for every symbol
is fed every second of the session (each to the trigger book, as a trade would be); every
minute the completed bars go to the engine and the simulated exchange matches; the engine's
timer runs every ``mark_interval_seconds`` as the scheduler would. Prices drift away from the
open in one direction per symbol, so one level of each fires early and the positions stay
open until the time stop: the risk limit of ``max_open`` open positions is what stops more.
Every event is rendered to the line a Discord thread would show. After each day the resident
memory is read from ``/proc/self/statm`` (after a garbage collection).

``python -m tests.soak.soak --days 30`` runs it on its own and prints the figures;
``tests/soak/test_soak.py`` runs it in ``make soak`` (and a short variant in ``make test``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import tempfile
import time as wall
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from cogs.render.events import event_line
from core.brokers.sim.broker import SimBroker
from core.calendar import MarketCalendar
from core.clock import NEW_YORK, FakeClock
from core.db.models.trading import PositionRow, PositionStatus
from core.db.session import open_database
from core.engine.config import EngineConfig
from core.engine.engine import TradingEngine
from core.engine.risk import RiskLimits
from core.events import (
    Event,
    EventBus,
    PositionClosed,
    ProposalCreated,
    RiskRefused,
    SignalSkipped,
    SignalTriggered,
)
from core.marketdata.models import Bar
from core.marketdata.sim import SimMarketData
from core.options.select import SelectionRules
from core.setups import IncomingMessage

LETTERS = "BCDFGHJKLMNPRSTVWXZ"
FIRST_DAY = date(2025, 6, 2)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class SoakPlan:
    """How long and how wide the soak is."""

    days: int = 30
    symbols: int = 100
    max_open: int = 50
    session: tuple[time, time] = (time(9, 30), time(16, 0))
    seed: int = 7
    #: The engine's timer (marks, exits, order work). Live it runs every 5 s; each run prices
    #: every held contract on the simulated market (~1 ms each, see benchmarks/engine.py), so
    #: the soak runs it once a simulated minute to keep 30 days near an hour.
    mark_interval_seconds: int = 60


@dataclass(frozen=True)
class DayFigures:
    """What one day did, and the process's memory after it."""

    day: date
    rss_mb: float
    signals: int
    triggered: int
    proposals: int
    most_open: int
    closed: int
    price_updates: int
    lines: int
    wall_seconds: float


@dataclass
class SoakResult:
    """Every day's figures and every error seen."""

    days: list[DayFigures] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bus_failures: dict[str, int] = field(default_factory=dict)

    def growth_mb(self, first_day: int = 2) -> float:
        """Return the resident memory growth from the end of day ``first_day`` to the last."""
        return self.days[-1].rss_mb - self.days[first_day - 1].rss_mb


def rss_mb() -> float:
    """Return this process's resident memory in MB (after a full garbage collection)."""
    gc.collect()
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def tickers(n: int) -> list[str]:
    """Return ``n`` made-up three-letter tickers (consonants only: never a word)."""
    out = [f"{a}{b}{c}" for a in LETTERS for b in LETTERS for c in LETTERS]
    return out[:n]


def config(plan: SoakPlan) -> EngineConfig:
    """Auto-confirm, next-day expiries, and risk limits where open positions are the limit.

    The levels fire in the first minutes of the session, when the simulated chain has traded
    only a few contracts, so the volume rule is off (the soak is about load, not selection).
    Scalps take an expiry at least 31 h away (never the same day's, which would be sold by
    15:30), so on Thursdays and Fridays that is the next week's Friday: up to 10 days.
    """
    limits = RiskLimits(max_open_positions=plan.max_open, max_per_symbol=1,
                        max_portfolio_premium=Decimal(10**7), daily_loss_limit=Decimal(10**7))
    return EngineConfig(auto_confirm=True, risk=limits,
                        mark_interval_seconds=plan.mark_interval_seconds,
                        selection=SelectionRules(scalp_min_hours_left=31, scalp_max_dte=10,
                                                   min_volume=0))


def ny(day: date, at: time) -> datetime:
    """Return the UTC time of a New York wall-clock time."""
    return datetime.combine(day, at, NEW_YORK).astimezone(UTC)


class ErrorLog(logging.Handler):
    """Collect every ERROR logged anywhere."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


class Day:
    """One day's prices (every second), bars (every minute) and setup post."""

    def __init__(self, day: date, symbols: list[str], opens: np.ndarray, plan: SoakPlan,
                 rng: np.random.Generator) -> None:
        self.day = day
        self.symbols = symbols
        self.start = ny(day, plan.session[0])
        seconds = int((ny(day, plan.session[1]) - self.start).total_seconds())
        up = np.where(np.arange(len(symbols)) % 2 == 0, 1.0, -1.0)  # half rise, half fall
        t = np.arange(1, seconds + 1)[:, None] / seconds
        noise = np.cumsum(rng.normal(0.0, 1.3e-5, (seconds, len(symbols))), axis=0)
        self.prices = np.round(opens * np.exp(up * 0.02 * t + noise), 2)
        self.opens = opens

    def post(self) -> str:
        """Return the day's setup: a breakout and a breakdown level per ticker, 0.1 % away."""
        lines = [f"A+ Scalp Trade Setups — {self.day:%a %b} {self.day.day} {self.day.year}", ""]
        for sym, p in zip(self.symbols, self.opens, strict=True):
            up = [p * (1 + k) for k in (0.001, 0.03, 0.04, 0.05)]
            dn = [p * (1 - k) for k in (0.001, 0.03, 0.04, 0.05)]
            lines += [sym,
                      f"🔼 Aggressive Breakout {up[0]:.2f} 🔼 {up[1]:.2f}, {up[2]:.2f}, {up[3]:.2f}",
                      f"🔻 Aggressive Breakdown {dn[0]:.2f} 🔻 {dn[1]:.2f}, {dn[2]:.2f}, {dn[3]:.2f}",
                      ""]
        return "\n".join(lines)

    def bars(self, minute: int) -> list[Bar]:
        """Return the completed 1-minute bars of every symbol for ``minute`` of the session."""
        chunk = self.prices[minute * 60:(minute + 1) * 60]
        first = self.prices[minute * 60 - 1] if minute else self.opens
        at = self.start + timedelta(minutes=minute)
        return [Bar(sym, at, float(first[j]), float(max(first[j], chunk[:, j].max())),
                    float(min(first[j], chunk[:, j].min())), float(chunk[-1, j]), 1000)
                for j, sym in enumerate(self.symbols)]

    def write_bars(self, folder: Path) -> None:
        """Write the day's bar files, which the simulated market prices options from."""
        minutes = len(self.prices) // 60
        rows: dict[str, list[str]] = {s: ["timestamp,open,high,low,close,volume"] for s in self.symbols}
        for m in range(minutes):
            for b in self.bars(m):
                rows[b.symbol].append(f"{b.timestamp:%Y-%m-%dT%H:%M:%SZ},{b.open:.2f},"
                                      f"{b.high:.2f},{b.low:.2f},{b.close:.2f},{b.volume}")
        for sym, text in rows.items():
            (folder / sym).mkdir(parents=True, exist_ok=True)
            (folder / sym / f"{self.day.isoformat()}.csv").write_text("\n".join(text) + "\n")


async def soak(plan: SoakPlan, workdir: Path, say: Callable[[str], None] = print) -> SoakResult:
    """Run the soak in ``workdir`` and return the figures (``say`` prints each day's)."""
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    result = SoakResult()
    calendar = MarketCalendar()
    days = calendar.sessions_between(FIRST_DAY, FIRST_DAY + timedelta(days=plan.days * 2))[:plan.days]
    symbols = tickers(plan.symbols)
    rng = np.random.default_rng(plan.seed)
    opens = np.round(rng.uniform(40, 400, plan.symbols), 2)
    clock = FakeClock(ny(days[0], time(0, 1)))
    db = await open_database(f"sqlite+aiosqlite:///{workdir / 'soak.db'}")
    market_dir = workdir / "bars"
    market = SimMarketData(clock, bars_dir=market_dir, calendar=calendar)
    for sym, price in zip(symbols, opens.tolist(), strict=True):
        market.add_symbol(sym, price)  # its bars come from the files written each day
    broker = SimBroker(db, clock, market, background=False, starting_cash=Decimal(10**7))
    await broker.start()
    bus = EventBus()
    skipped: list[str] = []
    counts = {"lines": 0, "triggered": 0, "proposals": 0, "closed": 0}

    async def render(event: Event) -> None:  # what the Discord threads would show
        counts["lines"] += event_line(event) is not None
        counts["triggered"] += isinstance(event, SignalTriggered)
        counts["proposals"] += isinstance(event, ProposalCreated)
        counts["closed"] += isinstance(event, PositionClosed)
        if isinstance(event, SignalSkipped | RiskRefused) and len(skipped) < 5:
            skipped.append(event_line(event) or "")

    bus.subscribe("render", render)
    engine = TradingEngine(db=db, broker=broker, market=market, clock=clock, calendar=calendar,
                           bus=bus, config=config(plan))
    await engine.start(live=False)
    step = engine.config.mark_interval_seconds

    async def open_now() -> int:
        async with db.sessions() as s:
            return int((await s.execute(select(func.count()).select_from(PositionRow).where(
                PositionRow.status != PositionStatus.CLOSED))).scalar_one())

    try:
        for n, day in enumerate(days, start=1):
            began = wall.perf_counter()
            for key in counts:
                counts[key] = 0
            today = Day(day, symbols, opens, plan, rng)
            today.write_bars(market_dir)
            clock.set(ny(day, time(0, 5)))
            await engine.daily_reset()
            clock.set(ny(day, time(8, 45)))
            result_ingest = await engine.ingest(IncomingMessage(
                discord_message_id=10_000 + n, channel_id=1, author_id=1,
                posted_at=clock.now(), content=today.post()))
            clock.set(ny(day, time(9, 25)))
            await engine.session_open()
            most_open = updates = 0
            on_trade = engine.book.on_trade
            for i, row in enumerate(today.prices.tolist()):
                at = today.start + timedelta(seconds=i + 1)
                clock.set(at)
                for sym, price in zip(symbols, row, strict=True):
                    on_trade(sym, price, at)
                updates += len(row)
                if (i + 1) % 60 == 0:
                    for bar in today.bars(i // 60):
                        await engine.on_bar(bar)
                    await broker.sync()
                    await engine.pump_order_updates()
                    await bus.drain()
                    if (i + 1) % 900 == 0:
                        most_open = max(most_open, await open_now())
                if (i + 1) % step == 0:
                    await engine.tick()
                    await broker.sync()
                    await engine.pump_order_updates()
            clock.set(ny(day, time(16, 5)))
            await engine.tick()
            await engine.session_close()
            await bus.drain()
            parsed = result_ingest.parsed
            figures = DayFigures(
                day=day, rss_mb=rss_mb(),
                signals=sum(len(s.signals) for s in parsed.setups) if parsed else 0,
                triggered=counts["triggered"], proposals=counts["proposals"],
                most_open=most_open, closed=counts["closed"], price_updates=updates,
                lines=counts["lines"], wall_seconds=wall.perf_counter() - began)
            result.days.append(figures)
            say(f"day {n:2d} {day}: RSS {figures.rss_mb:6.1f} MB · {figures.signals} signals, "
                f"{figures.triggered} triggered, {figures.proposals} proposals, "
                f"{figures.most_open} open at once, {figures.closed} closed, "
                f"{figures.price_updates:,} price updates, {figures.lines:,} lines · "
                f"{figures.wall_seconds:.0f} s")
            for line in skipped:
                say(f"    e.g. {line}")
            skipped.clear()
    finally:
        result.bus_failures = bus.failures()
        result.errors = list(errors.records)
        logging.getLogger().removeHandler(errors)
        await engine.stop()
        await broker.close()
        await bus.close()
        await db.dispose()
    return result


def main() -> None:
    """Run the soak on its own and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--max-open", type=int, default=50)
    parser.add_argument("--mark-interval", type=int, default=60)
    args = parser.parse_args()
    plan = SoakPlan(days=args.days, symbols=args.symbols, max_open=args.max_open,
                    mark_interval_seconds=args.mark_interval)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(soak(plan, Path(tmp)))
    if len(result.days) >= 2:
        print(f"memory growth day 2 → day {len(result.days)}: {result.growth_mb():+.1f} MB")
    print(f"errors: {len(result.errors)}, failed event handlers: {sum(result.bus_failures.values())}")


if __name__ == "__main__":
    main()
