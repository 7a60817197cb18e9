"""Benchmark a backtest: 250 trading days of 3 tickers (SYNTHETIC posts and bars).

Writes, up front and timed apart, one made-up A+ post per session (six levels and a bias per
ticker around a seeded day-to-day random walk of SPY, TSLA and NVDA) and one day of 1-minute
SYNTHETIC bars per ticker around those levels, then runs ``run_backtest`` over them with every
proposal confirmed, on ``--jobs`` worker processes (default: one per usable CPU, as the command
does). Prints the total time, the CPU time of one day, each day's time and resident and peak
memory, and how much each worker's memory grew from its second day to its last and over the
second half of its days (the JSON object has the per-day lists). Target: 250 days under 60 s,
memory flat. Run ``python -m benchmarks.backtest`` (``--days N``, ``--jobs N``, ``--json``).
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
from core.replay.backtest import BacktestDay, SkippedDay, run_backtest, usable_cpus
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


def _growth(rows: list[BacktestDay]) -> tuple[float | None, float | None]:
    """Return the largest growth of one worker's memory (MiB): second day to last, second half."""
    by_worker: dict[int, list[int]] = {}
    for d in rows:
        by_worker.setdefault(d.worker, []).append(d.rss_kb or 0)
    spans = [r for r in by_worker.values() if len(r) > 1]
    if not spans:
        return None, None
    return (max((r[-1] - r[1]) / 1024 for r in spans),
            max((r[-1] - r[len(r) // 2]) / 1024 for r in spans))


async def run(days: int, verbose: bool, config: EngineConfig, jobs: int = 1) -> dict[str, Any]:
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
                          f"peak {day.peak_rss_kb / 1024:7.1f} MiB (worker {day.worker})",
                          flush=True)

        w = time.perf_counter()
        result = await run_backtest(folder / "setups", folder / "bars", calendar=calendar,
                                    on_day=on_day, config=config, jobs=jobs)
        wall = time.perf_counter() - w
    t = result.performance.trades
    rows.sort(key=lambda d: d.trading_date)
    growth, growth_half = _growth(rows)
    seconds = sorted(d.seconds for d in rows)
    return {
        "days": len(result.days), "skipped": len(result.skipped), "tickers": len(START),
        "jobs": jobs, "trades": t.trades, "net_pnl": float(t.net_pnl), "generate_s": generate_s,
        "wall_s": wall, "per_day_s": wall / max(len(rows), 1),
        "day_median_s": seconds[len(seconds) // 2] if seconds else None,
        "rss_growth_day2_to_last_mib": growth, "rss_growth_second_half_mib": growth_half,
        "rss_mib_per_day": [round((d.rss_kb or 0) / 1024, 1) for d in rows],
        "seconds_per_day": [round(d.seconds, 3) for d in rows],
        "peak_rss_mib": max(d.peak_rss_kb for d in rows) / 1024 if rows else None,
        "load_average": os.getloadavg()[0], "target": "250 days < 60 s, memory flat",
        "parameters": config.model_dump(mode="json", exclude_defaults=True),
    }


def main() -> None:
    """Run the backtest benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=250)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="engine parameter override, as in the replay command (repeatable)")
    p.add_argument("--jobs", type=int, default=usable_cpus(),
                   help="worker processes (default: one per usable CPU, as the command)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = asyncio.run(run(a.days, not a.json, load_engine_config(None, a.overrides), a.jobs))
    if a.json:
        print(json.dumps(out))
        return
    if out["parameters"]:
        print(f"engine parameters: {out['parameters']}")
    print(f"{out['days']} days x {out['tickers']} tickers on {out['jobs']} worker process(es): "
          f"{out['wall_s']:.1f} s wall ({out['per_day_s']:.2f} s/day), one day takes "
          f"{out['day_median_s']:.2f} s (median), {out['trades']} trades (target < 60 s); "
          f"posts and bars generated beforehand in {out['generate_s']:.1f} s")
    if out["rss_growth_day2_to_last_mib"] is not None:
        print(f"resident memory growth per worker, at most: "
              f"{out['rss_growth_day2_to_last_mib']:+.1f} MiB from its second day to its last, "
              f"{out['rss_growth_second_half_mib']:+.1f} MiB over its second half; "
              f"peak {out['peak_rss_mib']:.1f} MiB; load average {out['load_average']:.1f}")


if __name__ == "__main__":
    main()
