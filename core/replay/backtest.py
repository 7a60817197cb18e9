"""Backtest: replay every day that has both a setup and bars, then sum it up.

Each day runs exactly like ``python -m bot replay`` (:func:`~core.replay.driver.run_replay`) on a
fresh database copied from one migrated template, with a new engine, exchange, market and bus
that are all closed before the next day starts. Across days only the day's figures (a
:class:`BacktestDay`) and its closed trades are kept, so memory stays flat however many days
run; each day records the process's resident memory after it, to show that.

Days are independent: the simulated account starts with the same cash every day and a position
still open at the close (there should be none: the time stop is 15:50) is reported, not
carried. So with ``jobs`` above 1 the days are shared out to that many worker processes, each
running them exactly as above (its own template, database, event loop) and sending back each
day's figures and trades; the result is put together in date order, the same whatever ``jobs``
(the per-day seconds and memory aside, which are each worker's).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import logging.handlers
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

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
    worker: int = 0  # the process that ran the day (its pid)


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
        rss_kb=_rss_kb(), peak_rss_kb=_peak_kb(), worker=os.getpid())


def usable_cpus() -> int:
    """Return how many CPUs this process may run on (the default number of jobs)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


Outcome = tuple[BacktestDay | SkippedDay, tuple[TradeRecord, ...]]


async def _run_day(day: PlannedDay, *, bars_dir: Path, config: EngineConfig,
                   policy: ConfirmPolicy, calendar: MarketCalendar,
                   databases: ReplayDatabases) -> Outcome:
    """Replay one planned day; return its figures (or why it was skipped) and its trades."""
    started = time.perf_counter()
    try:
        source = read_setup_file(day.setup_path, day.trading_date)
        r = await run_replay(source, bars_dir=bars_dir, config=config, policy=policy,
                             day=day.trading_date, calendar=calendar, databases=databases)
    except ReplayError as exc:
        log.info("%s skipped: %s", day.trading_date, exc)
        return SkippedDay(day.trading_date, day.setup_path, str(exc)), ()
    # only the figures and the trades leave: the day's events and proposals go now
    figures = _day_figures(r, time.perf_counter() - started)
    log.info("%s replayed in %.2f s: %d trades, P&L %s", day.trading_date, figures.seconds,
             figures.counts.trades, figures.counts.realized_pnl)
    return figures, r.trades


class _Worker:
    """A worker process's own event loop, calendar and replay databases, kept for its days."""

    current: _Worker | None = None

    def __init__(self, folder: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.calendar = MarketCalendar()
        self.databases = ReplayDatabases(folder=Path(folder))
        self.loop.run_until_complete(self.databases.__aenter__())


def _log_levels() -> dict[str, int]:
    """Return the levels set in this process: the root's and every logger given one."""
    levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
              if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET}
    levels[""] = logging.getLogger().getEffectiveLevel()
    return levels


def _start_worker(folder: str, log_queue: Any, levels: dict[str, int]) -> None:
    # the worker logs what the parent would log, and sends it to the parent, whose handlers
    # (and secret redaction) apply
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    _Worker.current = _Worker(folder)
    # Everything alive now (modules, mappers, the template database's engine) lives as long
    # as the worker: out of the collector's sight, a full collection during a day scans only
    # what the days made (measured: half the collector's time; 3 % of a day)
    gc.freeze()


class _ToParentLoggers(logging.Handler):
    """Hand a record sent by a worker to this process's logger of the same name."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def _day_in_worker(day: PlannedDay, bars_dir: Path, config: EngineConfig,
                   policy: ConfirmPolicy) -> Outcome:
    w = _Worker.current
    assert w is not None, "the worker was not started"
    return w.loop.run_until_complete(_run_day(
        day, bars_dir=bars_dir, config=config, policy=policy, calendar=w.calendar,
        databases=w.databases))


async def _run_in_processes(planned: Sequence[PlannedDay], jobs: int, *, bars_dir: Path,
                            config: EngineConfig, policy: ConfirmPolicy,
                            report: Callable[[BacktestDay | SkippedDay], None]) -> list[Outcome]:
    """Run the days on ``jobs`` worker processes; return the outcomes in ``planned`` order.

    ``report`` is called with each day as it finishes (in the order they finish). Workers are
    started fresh (``spawn``: nothing of this process's state is inherited), log through this
    process's logging (records travel back on a queue), and keep their database files in one
    temporary folder deleted at the end.
    """
    loop = asyncio.get_running_loop()
    outcomes: list[Outcome | None] = [None] * len(planned)
    context = multiprocessing.get_context("spawn")
    log_queue = context.Queue()
    listener = logging.handlers.QueueListener(log_queue, _ToParentLoggers())
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="aplus-backtest-"))
        stack.callback(log_queue.join_thread)
        stack.callback(log_queue.close)
        listener.start()
        stack.callback(listener.stop)  # after the workers are gone (exits run in reverse)
        pool = stack.enter_context(ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_start_worker,
            initargs=(folder, log_queue, _log_levels())))

        async def one(i: int) -> int:
            outcomes[i] = await loop.run_in_executor(
                pool, _day_in_worker, planned[i], bars_dir, config, policy)
            return i

        pending = [asyncio.ensure_future(one(i)) for i in range(len(planned))]
        try:
            for next_done in asyncio.as_completed(pending):
                try:
                    i = await next_done
                except BrokenProcessPool:
                    raise ReplayError("a backtest worker process died (out of memory?); "
                                      "run again with --jobs 1 to see the day that fails") from None
                outcome = outcomes[i]
                assert outcome is not None
                report(outcome[0])
        finally:
            for task in pending:
                task.cancel()
            pool.shutdown(cancel_futures=True)
    return [o for o in outcomes if o is not None]


async def run_backtest(
    setups_dir: Path,
    bars_dir: Path,
    *,
    config: EngineConfig | None = None,
    policy: ConfirmPolicy = ConfirmPolicy.ALL,
    calendar: MarketCalendar | None = None,
    on_day: Callable[[int, int, BacktestDay | SkippedDay], None] | None = None,
    days: Sequence[PlannedDay] | None = None,
    jobs: int = 1,
) -> BacktestResult:
    """Replay every planned day; call ``on_day(done, total, day)`` as each one finishes.

    With ``jobs`` above 1 the days run on that many worker processes (at most one per day);
    the result is the same as with one, in date order.
    """
    if jobs < 1:
        raise ReplayError(f"jobs must be at least 1, got {jobs}")
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
    done = 0

    def report(day: BacktestDay | SkippedDay) -> None:
        nonlocal done
        done += 1
        if on_day is not None:
            on_day(done, len(planned), day)

    outcomes: list[Outcome] = []
    if jobs > 1 and len(planned) > 1:
        outcomes = await _run_in_processes(planned, min(jobs, len(planned)), bars_dir=bars_dir,
                                           config=config, policy=policy, report=report)
    else:
        async with ReplayDatabases() as databases:
            for day in planned:
                outcome = await _run_day(day, bars_dir=bars_dir, config=config, policy=policy,
                                         calendar=calendar, databases=databases)
                outcomes.append(outcome)
                report(outcome[0])
    results: list[BacktestDay] = []
    trades: list[TradeRecord] = []
    for figures, day_trades in outcomes:
        if isinstance(figures, SkippedDay):
            skipped.append(figures)
        else:
            results.append(figures)
            trades.extend(day_trades)
    performance = summarize(trades, days=[d.trading_date for d in results])
    return BacktestResult(days=tuple(results), skipped=tuple(skipped), trades=tuple(trades),
                          performance=performance, config=config, policy=policy,
                          setups_dir=setups_dir, bars_dir=bars_dir)
