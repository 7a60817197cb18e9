"""Benchmark a backtest: 250 trading days of 3 tickers (SYNTHETIC posts and bars).

Writes, up front and timed apart, one made-up A+ post per session (six levels and a bias per
ticker around a seeded day-to-day random walk of SPY, TSLA and NVDA) and one day of 1-minute
SYNTHETIC bars per ticker around those levels, then runs ``run_backtest`` over them with every
proposal confirmed. Prints the total time, each day's time and resident and peak memory, and
how much memory grew from day 2 to the last day and over the second half of the run (the JSON
object has the per-day lists). Target: 250 days under 60 s, memory flat.
Run ``python -m benchmarks.backtest`` (``--days N``, ``--json`` for one object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from core.calendar import MarketCalendar
from core.engine.config import EngineConfig, load_engine_config
from core.parsing import parse_message
from core.replay.backtest import BacktestDay, SkippedDay, run_backtest
from core.replay.synthetic import (
    drifting_prices,
    setup_levels,
    synthetic_setup_text,
    write_synthetic_day,
)

START = {"SPY": 600.0, "TSLA": 330.0, "NVDA": 145.0}
SEED = 11


def generate(folder: Path, days: int, calendar: MarketCalendar) -> list[date]:
    """Write ``days`` sessions of posts and bars under ``folder``; return the sessions."""
    sessions = calendar.sessions_between(date(2024, 6, 3), date(2026, 6, 1))[:days]
    prices = drifting_prices(START, sessions, seed=SEED)
    (folder / "setups").mkdir(parents=True)
    for day in sessions:
        text = synthetic_setup_text(day, prices[day], seed=SEED)
        (folder / "setups" / f"{day}_synthetic.txt").write_text(text, encoding="utf-8")
        write_synthetic_day(folder / "bars", setup_levels(parse_message(text)), day, seed=SEED,
                            calendar=calendar, origin="benchmarks/backtest.py")
    return sessions


async def run(days: int, verbose: bool, config: EngineConfig) -> dict[str, Any]:
    """Generate and backtest ``days`` sessions; return the figures."""
    calendar = MarketCalendar()
    with tempfile.TemporaryDirectory(prefix="aplus-bench-backtest-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        generate(folder, days, calendar)
        generate_s = time.perf_counter() - t0
        rows: list[BacktestDay] = []

        def on_day(n: int, total: int, day: BacktestDay | SkippedDay) -> None:
            if isinstance(day, BacktestDay):
                rows.append(day)
                if verbose:
                    print(f"  day {n:>3}/{total} {day.trading_date} {day.seconds:5.2f} s "
                          f"{day.counts.trades} trades, RSS {(day.rss_kb or 0) / 1024:7.1f} MiB, "
                          f"peak {day.peak_rss_kb / 1024:7.1f} MiB", flush=True)

        w, c = time.perf_counter(), time.process_time()
        result = await run_backtest(folder / "setups", folder / "bars", calendar=calendar,
                                    on_day=on_day, config=config)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
    t = result.performance.trades
    rss = [d.rss_kb or 0 for d in rows]
    half = len(rss) // 2
    return {
        "days": len(result.days), "skipped": len(result.skipped), "tickers": len(START),
        "trades": t.trades, "net_pnl": float(t.net_pnl), "generate_s": generate_s,
        "wall_s": wall, "cpu_s": cpu, "per_day_s": wall / max(len(rows), 1),
        "rss_day2_mib": rss[1] / 1024 if len(rss) > 1 else None,
        "rss_last_mib": rss[-1] / 1024 if rss else None,
        "rss_growth_day2_to_last_mib": (rss[-1] - rss[1]) / 1024 if len(rss) > 1 else None,
        "rss_growth_second_half_mib": (rss[-1] - rss[half]) / 1024 if len(rss) > 1 else None,
        "rss_mib_per_day": [round(r / 1024, 1) for r in rss],
        "seconds_per_day": [round(d.seconds, 3) for d in rows],
        "peak_rss_mib": rows[-1].peak_rss_kb / 1024 if rows else None,
        "load_average": os.getloadavg()[0], "target": "250 days < 60 s, memory flat",
        "parameters": config.model_dump(mode="json", exclude_defaults=True),
    }


def main() -> None:
    """Run the backtest benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=250)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="engine parameter override, as in the replay command (repeatable)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = asyncio.run(run(a.days, not a.json, load_engine_config(None, a.overrides)))
    if a.json:
        print(json.dumps(out))
        return
    if out["parameters"]:
        print(f"engine parameters: {out['parameters']}")
    print(f"{out['days']} days x {out['tickers']} tickers: {out['wall_s']:.1f} s wall "
          f"({out['per_day_s']:.2f} s/day), {out['cpu_s']:.1f} s CPU, {out['trades']} trades "
          f"(target < 60 s); posts and bars generated beforehand in {out['generate_s']:.1f} s")
    if out["rss_growth_day2_to_last_mib"] is not None:
        print(f"resident memory day 2 {out['rss_day2_mib']:.1f} MiB, last day "
              f"{out['rss_last_mib']:.1f} MiB (growth {out['rss_growth_day2_to_last_mib']:+.1f} MiB, "
              f"{out['rss_growth_second_half_mib']:+.1f} MiB over the second half); "
              f"peak {out['peak_rss_mib']:.1f} MiB; load average {out['load_average']:.1f}")


if __name__ == "__main__":
    main()
