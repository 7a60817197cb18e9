"""Benchmark one replayed day: the bundled real A+ post (3 tickers, 18 signals) on its bars.

Runs ``run_replay`` on ``data/samples/aplus/2025-06-11_line_separators.txt`` over the bundled
1-minute bars in ``data/bars/`` (SYNTHETIC prices, 390 minutes per ticker) with every proposal
confirmed, ``--runs`` times, and prints the wall and CPU time of each run (the first includes the
migration of the template database) plus the one-off cost of building the exchange calendar.
Target: one day under 2 s. Run ``python -m benchmarks.replay`` (``--json`` for one object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from core.calendar import MarketCalendar
from core.db.session import Database
from core.engine.config import EngineConfig, load_engine_config
from core.replay.database import ReplayDatabases
from core.replay.driver import run_replay
from core.replay.sources import read_setup_file

ROOT = Path(__file__).resolve().parents[1]
POST = ROOT / "data" / "samples" / "aplus" / "2025-06-11_line_separators.txt"
BARS = ROOT / "data" / "bars"


async def run(runs: int, config: EngineConfig) -> dict[str, Any]:
    """Replay the bundled day ``runs`` times and return the figures."""
    t0 = time.perf_counter()
    calendar = MarketCalendar()
    calendar_s = time.perf_counter() - t0
    source = read_setup_file(POST)
    walls, cpus = [], []
    counts: dict[str, Any] = {}
    statements = [0]
    counted: set[int] = set()  # engines already counted (a database is reused day after day)

    def _one(*_: Any) -> None:
        statements[0] += 1

    def count(db: Database) -> None:
        statements[0] = 0
        if id(db.engine) not in counted:
            counted.add(id(db.engine))
            event.listen(db.engine.sync_engine, "before_cursor_execute", _one)

    async with ReplayDatabases(on_open=count) as databases:
        for _ in range(runs):
            w, c = time.perf_counter(), time.process_time()
            result = await run_replay(source, bars_dir=BARS, calendar=calendar, databases=databases,
                                      config=config)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
            c_ = result.counts
            counts = {"tickers": len(result.symbols), "signals": c_.signals,
                      "triggered": c_.triggered, "proposals": c_.proposals, "orders": c_.orders,
                      "fills": c_.fills, "trades": c_.trades, "bars": 390 * len(result.symbols)}
    return {"calendar_s": calendar_s, "wall_s": walls, "cpu_s": cpus,
            "median_wall_s": statistics.median(walls), "median_cpu_s": statistics.median(cpus),
            "sql_statements": statements[0], "load_average": os.getloadavg()[0], **counts,
            "parameters": config.model_dump(mode="json", exclude_defaults=True),
            "target": "one day < 2 s"}


def main() -> None:
    """Run the replay benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="engine parameter override, as in the replay command (repeatable)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = asyncio.run(run(a.runs, load_engine_config(None, a.overrides)))
    if a.json:
        print(json.dumps(out))
        return
    if out["parameters"]:
        print(f"engine parameters: {out['parameters']}")
    print(f"one day, {out['tickers']} tickers x {out['bars'] // max(out['tickers'], 1)} one-minute "
          f"bars, {out['signals']} signals ({out['triggered']} triggered, {out['trades']} trades, "
          f"{out['fills']} fills)")
    for i, (w, c) in enumerate(zip(out["wall_s"], out["cpu_s"], strict=True), 1):
        print(f"  run {i}: {w:.2f} s wall, {c:.2f} s CPU" + (" (migrates the template)" if i == 1 else ""))
    print(f"SQL statements in the last run: {out['sql_statements']:,}")
    print(f"median {out['median_wall_s']:.2f} s wall, {out['median_cpu_s']:.2f} s CPU "
          f"(target < 2 s); exchange calendar built once: {out['calendar_s']:.2f} s; "
          f"load average {out['load_average']:.1f}")


if __name__ == "__main__":
    main()
