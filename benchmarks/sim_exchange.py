"""Benchmark the simulated exchange: submit-to-fill latency and order events per second.

Two figures: the matching engine alone (in memory, one core) and the full ``SimBroker``
(every operation saved to SQLite in one transaction). Run ``python -m benchmarks.sim_exchange``
(``--json`` prints one JSON object).
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


async def bench_broker(n: int) -> dict[str, float]:
    """Submit ``n`` marketable orders through ``SimBroker`` with SQLite persistence."""
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        clock = FakeClock(START)
        broker = SimBroker(db, clock, SimMarketData(clock, bars_dir=BARS), starting_cash=Decimal(10) ** 9,
                           background=False)
        await broker.start()
        sub = broker.order_updates()
        lat: list[float] = []
        t0 = time.perf_counter()
        for i in range(n):
            s = time.perf_counter()
            await broker.submit_order(_req(i))
            lat.append(time.perf_counter() - s)
        dt = time.perf_counter() - t0
        events = len(sub.drain())
        await broker.close()
        await db.dispose()
    lat.sort()
    return {"orders": n, "events": events, "seconds": dt, "events_per_s": events / dt, "orders_per_s": n / dt,
            "latency_ms_p50": statistics.median(lat) * 1e3, "latency_ms_p99": lat[int(n * 0.99)] * 1e3}


def main() -> None:
    """Run both benchmarks and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=20_000)
    p.add_argument("--broker-orders", type=int, default=1_000)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    engine = bench_engine(a.orders)
    broker = asyncio.run(bench_broker(a.broker_orders))
    out = {"engine": engine, "broker_sqlite": broker, "target_events_per_s": 10_000}
    if a.json:
        print(json.dumps(out))
        return
    print(f"matching engine (in memory): {engine['orders']} orders, {engine['events']} events in "
          f"{engine['seconds']:.2f}s -> {engine['events_per_s']:,.0f} events/s, {engine['orders_per_s']:,.0f} orders/s; "
          f"submit-to-fill p50 {engine['latency_us_p50']:.0f} us, p99 {engine['latency_us_p99']:.0f} us")
    print(f"SimBroker + SQLite: {broker['orders']} orders, {broker['events']} events in {broker['seconds']:.2f}s -> "
          f"{broker['events_per_s']:,.0f} events/s, {broker['orders_per_s']:,.0f} orders/s; "
          f"submit-to-fill p50 {broker['latency_ms_p50']:.2f} ms, p99 {broker['latency_ms_p99']:.2f} ms")


if __name__ == "__main__":
    main()
