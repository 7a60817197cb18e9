"""Benchmark the simulated exchange: submit-to-fill latency and order events per second.

Four figures, all on one core:

- ``engine``: the matching engine alone, in memory, no persistence;
- ``broker_sequential``: ``SimBroker`` + SQLite, one caller submitting one order at a time; each
  submit returns after its own commit (this is the submit-to-fill latency a single caller sees);
- ``broker_concurrent``: ``SimBroker`` + SQLite, many callers at once; submits that arrive during a
  write share the next commit (group commit), each still acknowledged only once durable;
- ``broker_submit_many``: ``SimBroker.submit_many`` in batches, one commit per batch.

Run ``python -m benchmarks.sim_exchange`` (``--json`` prints one JSON object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from core.brokers.models import OrderRequest, OrderSide, OrderType
from core.brokers.sim import SimBroker, SimExchange
from core.clock import FakeClock
from core.db.session import open_database
from core.marketdata.sim import SimMarketData

START = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)
BARS = Path(__file__).resolve().parents[1] / "data" / "bars"


def _req(i: int) -> OrderRequest:
    return OrderRequest(client_order_id=f"bench-{i}", symbol="NVDA", qty=Decimal(1),
                        side=OrderSide.BUY if i % 2 == 0 else OrderSide.SELL, type=OrderType.MARKET)


def bench_engine(n: int) -> dict[str, float]:
    """Submit ``n`` marketable orders to the in-memory engine."""
    clock = FakeClock(START)
    market = SimMarketData(clock, bars_dir=BARS)
    ex = SimExchange(market, cash=Decimal(10) ** 12, processed_until=START)
    reqs = [_req(i) for i in range(n)]
    lat: list[float] = []
    events = 0
    t0 = time.perf_counter()
    for r in reqs:
        s = time.perf_counter()
        ex.submit(r, START)
        lat.append(time.perf_counter() - s)
        events += len(ex.take_events())
        ex.take_changes()
    dt = time.perf_counter() - t0
    lat.sort()
    return {"orders": n, "events": events, "seconds": dt, "events_per_s": events / dt,
            "orders_per_s": n / dt, "latency_us_p50": lat[n // 2] * 1e6, "latency_us_p99": lat[int(n * 0.99)] * 1e6}


async def bench_broker(n: int, mode: str = "sequential", width: int = 64) -> dict[str, float]:
    """Submit ``n`` marketable orders through ``SimBroker`` with SQLite persistence.

    ``mode``: ``sequential`` (one caller), ``concurrent`` (``width`` callers at once) or
    ``many`` (``submit_many`` batches of ``width``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        clock = FakeClock(START)
        broker = SimBroker(db, clock, SimMarketData(clock, bars_dir=BARS), starting_cash=Decimal(10) ** 9,
                           background=False)
        await broker.start()
        sub = broker.order_updates()
        commits0 = broker.commits
        lat: list[float] = []
        reqs = [_req(i) for i in range(n)]

        async def one(r: OrderRequest) -> None:
            s = time.perf_counter()
            await broker.submit_order(r)
            lat.append(time.perf_counter() - s)

        t0 = time.perf_counter()
        if mode == "sequential":
            for r in reqs:
                await one(r)
        elif mode == "concurrent":
            for k in range(0, n, width):  # pairs buy/sell so cash and positions stay bounded
                await asyncio.gather(*(one(r) for r in reqs[k:k + width]))
        else:
            for k in range(0, n, width):
                s = time.perf_counter()
                await broker.submit_many(reqs[k:k + width])
                lat.append(time.perf_counter() - s)
        dt = time.perf_counter() - t0
        events = len(sub.drain())
        commits = broker.commits - commits0
        await broker.close()
        await db.dispose()
    lat.sort()
    return {"orders": n, "events": events, "seconds": dt, "events_per_s": events / dt, "orders_per_s": n / dt,
            "commits": commits, "latency_ms_p50": statistics.median(lat) * 1e3,
            "latency_ms_p99": lat[int(len(lat) * 0.99)] * 1e3}


def main() -> None:
    """Run both benchmarks and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=20_000)
    p.add_argument("--broker-orders", type=int, default=1_000)
    p.add_argument("--batch-orders", type=int, default=10_000)
    p.add_argument("--width", type=int, default=64, help="concurrent callers / submit_many batch size")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    engine = bench_engine(a.orders)
    out: dict[str, object] = {"engine": engine, "target_events_per_s": 10_000}
    out["broker_sequential"] = asyncio.run(bench_broker(a.broker_orders, "sequential"))
    out["broker_concurrent"] = asyncio.run(bench_broker(a.batch_orders, "concurrent", a.width))
    out["broker_submit_many"] = asyncio.run(bench_broker(a.batch_orders, "many", a.width))
    if a.json:
        print(json.dumps(out))
        return
    print(f"matching engine alone (in memory, no persistence): {engine['orders']} orders, {engine['events']} "
          f"events in {engine['seconds']:.2f}s -> {engine['events_per_s']:,.0f} events/s, "
          f"{engine['orders_per_s']:,.0f} orders/s; submit-to-fill p50 {engine['latency_us_p50']:.0f} us, "
          f"p99 {engine['latency_us_p99']:.0f} us")
    labels = {
        "broker_sequential": "SimBroker + SQLite, one caller, one commit per submit",
        "broker_concurrent": f"SimBroker + SQLite, {a.width} concurrent callers, group commit",
        "broker_submit_many": f"SimBroker + SQLite, submit_many batches of {a.width}, one commit per batch",
    }
    for key, label in labels.items():
        b = out[key]
        assert isinstance(b, dict)
        lat = "per batch" if key == "broker_submit_many" else "submit-to-fill"
        print(f"{label}: {b['orders']} orders, {b['events']} events, {b['commits']} commits in {b['seconds']:.2f}s"
              f" -> {b['events_per_s']:,.0f} events/s, {b['orders_per_s']:,.0f} orders/s; {lat} p50 "
              f"{b['latency_ms_p50']:.2f} ms, p99 {b['latency_ms_p99']:.2f} ms (every acknowledged order committed)")
    print("target: 10,000 order events/s on one core")


if __name__ == "__main__":
    main()
