"""Benchmark market replay: one-minute bars per second through the simulated price stream.

Default: 10 symbols x 259 sessions of one-minute bars (about 1,004,700 bars; half days are shorter) (target: 1,000,000 in under
10 s). Synthetic days are generated up front (reported separately), then streamed as
``PriceEvent`` objects through ``SimMarketData.replay``, which also moves a ``FakeClock``.
Run ``python -m benchmarks.market_replay`` (``--json`` for one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, date, datetime, timedelta

from core.clock import FakeClock
from core.marketdata.sim import DEFAULT_UNIVERSE, SimMarketData

SYMBOLS = sorted(DEFAULT_UNIVERSE)[:10]


async def run(sessions: int, symbols: list[str]) -> dict[str, float]:
    """Replay ``sessions`` days of ``symbols`` and return the figures."""
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    m = SimMarketData(clock, seed=1, cache_days=sessions * len(symbols) + 10)
    days = m.calendar.sessions_between(date(2024, 1, 2), date(2026, 1, 1))[:sessions]
    t0 = time.perf_counter()
    for d in days:
        for s in symbols:
            m.day_bars(s, d)
    gen = time.perf_counter() - t0
    start = m.calendar.session_open(days[0])
    end = m.calendar.session_close(days[-1]) + timedelta(minutes=1)
    n = 0
    last = 0.0
    t1 = time.perf_counter()
    async for ev in m.replay(symbols, start, end, clock=clock):
        n += 1
        last = ev.price
    dt = time.perf_counter() - t1
    return {"bars": n, "symbols": len(symbols), "sessions": len(days), "generate_s": gen, "stream_s": dt,
            "bars_per_s": n / dt, "last_price": last}


def main() -> None:
    """Run the replay benchmark and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=259)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = asyncio.run(run(a.sessions, SYMBOLS))
    out["target"] = "1,000,000 bars in < 10 s"
    if a.json:
        print(json.dumps(out))
        return
    print(f"replayed {out['bars']:,} one-minute bars ({out['symbols']} symbols x {out['sessions']} sessions) "
          f"in {out['stream_s']:.2f}s -> {out['bars_per_s']:,.0f} bars/s "
          f"(synthetic generation beforehand: {out['generate_s']:.2f}s)")


if __name__ == "__main__":
    main()
