"""Backtest: replay every day that has both a setup and bars, then sum it up.

Each day runs exactly like ``python -m bot replay`` (:func:`~core.replay.driver.run_replay`) on a
fresh database copied from one migrated template, with a new engine, exchange, market and bus
that are all closed before the next day starts. Across days only the day's figures (a
:class:`BacktestDay`) and its closed trades are kept, so memory stays flat however many days
run; each day records the process's resident memory after it, to show that.

Days are independent: the simulated account starts with the same cash every day and a position
still open at the close (there should be none: the time stop is 15:50) is reported, not
carried.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from core.calendar import MarketCalendar
from core.engine.config import EngineConfig
from core.marketdata.bars_csv import bars_path
from core.parsing import parse_message
from core.replay.database import ReplayDatabases
from core.replay.driver import ReplayCounts, ReplayError, ReplayResult, run_replay
from core.replay.policy import ConfirmPolicy
from core.replay.sources import dated_setup_files, read_setup_file
from core.reporting.stats import PerformanceReport, TradeRecord, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlannedDay:
    """A day the backtest will run: its setup file."""

    trading_date: date
    setup_path: Path


@dataclass(frozen=True, slots=True)
class SkippedDay:
    """A setup the backtest could not run, and why."""

    trading_date: date
    setup_path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class BacktestDay:
    """One day's figures."""

    trading_date: date
    symbols: tuple[str, ...]
    counts: ReplayCounts
    open_positions: int
    synthetic: bool
    seconds: float
    rss_kb: int | None  # resident memory after the day (Linux), None elsewhere
    peak_rss_kb: int  # the process's peak so far


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """A whole backtest."""

    days: tuple[BacktestDay, ...]
    skipped: tuple[SkippedDay, ...]
    trades: tuple[TradeRecord, ...]
    performance: PerformanceReport
    config: EngineConfig
    policy: ConfirmPolicy
    setups_dir: Path
    bars_dir: Path

    @property
    def synthetic(self) -> bool:
        """Tell whether any day ran on synthetic bars."""
        return any(d.synthetic for d in self.days)


def plan_days(setups_dir: Path, bars_dir: Path,
              calendar: MarketCalendar) -> tuple[list[PlannedDay], list[SkippedDay]]:
    """List the dated setups with bars for at least one of their tickers, oldest first."""
    planned: list[PlannedDay] = []
    skipped: list[SkippedDay] = []
    for day, path in sorted(dated_setup_files(setups_dir).items()):
        if not calendar.is_session(day):
            skipped.append(SkippedDay(day, path, "not a trading day"))
            continue
        try:
            source = read_setup_file(path, day)
        except ReplayError as exc:
            skipped.append(SkippedDay(day, path, str(exc)))
            continue
        parsed = parse_message(source.text, source.posted_at)
        symbols = {s.symbol for s in parsed.setups}
        if not symbols:
            skipped.append(SkippedDay(day, path, "no setups in the post"))
        elif not any(bars_path(bars_dir, s, day).is_file() for s in symbols):
            skipped.append(SkippedDay(day, path, f"no bars for {', '.join(sorted(symbols))}"))
        else:
            planned.append(PlannedDay(day, path))
    return planned, skipped


def _rss_kb() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize() // 1024


def _peak_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _day_figures(r: ReplayResult, seconds: float) -> BacktestDay:
    return BacktestDay(
        trading_date=r.trading_date, symbols=r.symbols, counts=r.counts,
        open_positions=r.open_positions, synthetic=r.synthetic, seconds=seconds,
        rss_kb=_rss_kb(), peak_rss_kb=_peak_kb())


async def run_backtest(
    setups_dir: Path,
    bars_dir: Path,
    *,
    config: EngineConfig | None = None,
    policy: ConfirmPolicy = ConfirmPolicy.ALL,
    calendar: MarketCalendar | None = None,
    on_day: Callable[[int, int, BacktestDay | SkippedDay], None] | None = None,
    days: Sequence[PlannedDay] | None = None,
) -> BacktestResult:
    """Replay every planned day in date order; call ``on_day(done, total, day)`` after each."""
    config = config or EngineConfig()
    calendar = calendar or MarketCalendar()
    skipped: list[SkippedDay] = []
    if days is None:
        planned, skipped = plan_days(setups_dir, bars_dir, calendar)
    else:
        planned = list(days)
    if not planned:
        reasons = "; ".join(f"{s.trading_date}: {s.reason}" for s in skipped[:3])
        raise ReplayError(f"no day has both a setup in {setups_dir} and bars in {bars_dir}"
                          + (f" ({reasons})" if reasons else ""))
    results: list[BacktestDay] = []
    trades: list[TradeRecord] = []
    async with ReplayDatabases() as databases:
        for n, day in enumerate(planned, 1):
            started = time.perf_counter()
            try:
                source = read_setup_file(day.setup_path, day.trading_date)
                r = await run_replay(source, bars_dir=bars_dir, config=config, policy=policy,
                                     day=day.trading_date, calendar=calendar, databases=databases)
            except ReplayError as exc:
                miss = SkippedDay(day.trading_date, day.setup_path, str(exc))
                skipped.append(miss)
                if on_day is not None:
                    on_day(n, len(planned), miss)
                continue
            figures = _day_figures(r, time.perf_counter() - started)
            trades.extend(r.trades)
            del r  # the day's events and proposals go now
            results.append(figures)
            if on_day is not None:
                on_day(n, len(planned), figures)
    performance = summarize(trades, days=[d.trading_date for d in results])
    return BacktestResult(days=tuple(results), skipped=tuple(skipped), trades=tuple(trades),
                          performance=performance, config=config, policy=policy,
                          setups_dir=setups_dir, bars_dir=bars_dir)
