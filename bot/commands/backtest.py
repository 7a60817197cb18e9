"""``python -m bot backtest``: replay every day that has a setup and bars, and sum it up.

Setups are the files of ``--setups`` whose names start with their date (``YYYY-MM-DD...``); a
day runs when ``--bars-dir`` has bars for at least one of its tickers. A progress bar with an ETA
goes to stderr; the summary to stdout; the report folder (``report.md``, ``equity.png``,
``trades.csv``, ``summary.json``) to ``--report-dir``. ``--compare A.json B.json`` prints two
runs' ``summary.json`` side by side instead of running anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.commands.replay import DEFAULT_BARS, DEFAULT_REPORTS, add_engine_options

# The backtest machinery is imported by the functions that run it (see bot.commands.replay).


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``backtest`` subcommand."""
    p = subparsers.add_parser(
        "backtest", help="replay every day with a setup and bars; print the figures",
        description="Run the replay over every day that has both a setup file (named "
                    "YYYY-MM-DD...) in --setups and bars in --bars-dir, then print trades, win "
                    "rate, profit factor, average R, expectancy, drawdown, Sharpe and Sortino, "
                    "and P&L by ticker, category and aggressiveness.")
    p.add_argument("--setups", type=Path, metavar="DIR", help="folder of dated setup files")
    p.add_argument("--bars-dir", type=Path, default=DEFAULT_BARS, metavar="DIR",
                   help=f"bar files <DIR>/<SYMBOL>/<date>.csv (default {DEFAULT_BARS})")
    add_engine_options(p)
    p.add_argument("--report-dir", type=Path, metavar="DIR",
                   help=f"where the report goes (default {DEFAULT_REPORTS}/backtest-<first>-<last>)")
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"),
                   help="print two runs' summary.json side by side (runs nothing)")
    p.add_argument("--jobs", type=_jobs, metavar="N",
                   help="worker processes running days side by side (default: one per usable "
                        "CPU; 1 runs every day in this process); the results are the same")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _read_summary(path: Path) -> dict[str, Any]:
    from core.replay.driver import ReplayError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReplayError(f"{path}: not a backtest summary.json ({exc})") from None
    if not isinstance(data, dict) or "performance" not in data:
        raise ReplayError(f"{path}: not a backtest summary.json (no performance figures)")
    return data


def run(args: argparse.Namespace) -> int:
    """Run the backtest (or the comparison) and print the figures; return the exit status."""
    from tqdm import tqdm

    from bot.replay_view import compare_lines, performance_lines
    from core.calendar import MarketCalendar
    from core.engine.config import load_engine_config
    from core.replay.backtest import BacktestDay, SkippedDay, plan_days, run_backtest, usable_cpus
    from core.replay.backtest_report import write_backtest_report
    from core.replay.driver import ReplayError

    if args.compare:
        a, b = (_read_summary(p) for p in args.compare)
        for line in compare_lines(a, b, (str(args.compare[0]), str(args.compare[1]))):
            print(line)
        return 0
    if args.setups is None:
        raise ReplayError("give --setups DIR (or --compare A.json B.json)")
    config = load_engine_config(args.config, args.overrides)
    calendar = MarketCalendar()
    planned, skipped = plan_days(args.setups, args.bars_dir, calendar)
    bar = tqdm(total=len(planned), unit="day", file=sys.stderr, dynamic_ncols=True,
               disable=args.no_progress or not planned)

    def on_day(done: int, total: int, day: BacktestDay | SkippedDay) -> None:
        if isinstance(day, BacktestDay):
            bar.set_postfix_str(f"{day.trading_date} P&L {day.counts.realized_pnl:+.2f}",
                                refresh=False)
        bar.update(1)

    try:
        result = asyncio.run(run_backtest(args.setups, args.bars_dir, config=config,
                                          policy=args.confirm, calendar=calendar, on_day=on_day,
                                          days=planned or None, jobs=args.jobs or usable_cpus()))
    finally:
        bar.close()
    result = result if not skipped else type(result)(
        days=result.days, skipped=tuple(skipped) + result.skipped, trades=result.trades,
        performance=result.performance, config=result.config, policy=result.policy,
        setups_dir=result.setups_dir, bars_dir=result.bars_dir)
    if not result.days:
        raise ReplayError("no day could be replayed: "
                          + "; ".join(f"{s.trading_date}: {s.reason}" for s in result.skipped[:3]))
    first, last = result.days[0].trading_date, result.days[-1].trading_date
    folder = args.report_dir or DEFAULT_REPORTS / f"backtest-{first}-{last}"
    report = write_backtest_report(result, folder)
    head = f"Backtest {first} to {last}: {len(result.days)} days"
    if result.skipped:
        head += f", {len(result.skipped)} skipped"
    if result.synthetic:
        head += " · SYNTHETIC bars on some days, not market data"
    print(head)
    for line in performance_lines(result.performance):
        print("  " + line)
    print(f"report: {report.markdown}")
    print(f"summary: {report.summary_json}")
    return 0
