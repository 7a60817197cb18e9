"""The simulated market: CSV replay, synthetic paths, option chains, the price stream."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core.brokers.errors import UnknownSymbol
from core.clock import FakeClock
from core.marketdata.bars_csv import read_bars_csv, write_bars_csv
from core.marketdata.models import ChainFilter, OptionRight, PriceEventKind
from core.marketdata.sim import SimMarketData

BARS = Path(__file__).resolve().parents[2] / "data" / "bars"
NOON = datetime(2025, 6, 11, 16, 0, tzinfo=UTC)


def market(at: datetime = NOON, seed: int = 42) -> tuple[SimMarketData, FakeClock]:
    clock = FakeClock(at)
    return SimMarketData(clock, bars_dir=BARS, seed=seed), clock


def test_sample_bars_replay_with_the_files_prices() -> None:
    m, _ = market()
    day = read_bars_csv(BARS / "SPY" / "2025-06-11.csv")
    assert len(day) == 390
    assert m.price_at("SPY", datetime(2025, 6, 11, 13, 31, tzinfo=UTC)) == day.close[0]


async def test_bars_never_show_the_future_and_aggregate_to_five_minutes() -> None:
    m, _ = market()
    start = datetime(2025, 6, 11, 13, 30, tzinfo=UTC)
    ones = await m.bars("SPY", start, start + timedelta(hours=6))
    assert ones[-1].timestamp == NOON - timedelta(minutes=1)
    fives = await m.bars("SPY", start, start + timedelta(minutes=30), timeframe_minutes=5)
    assert len(fives) == 6
    assert fives[0].open == ones[0].open and fives[0].close == ones[4].close
    assert fives[0].high == max(b.high for b in ones[:5])


def test_a_market_priced_day_after_day_keeps_only_the_last_days_in_memory() -> None:
    m, _ = market()
    first = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
    price_on_first_day = m.price_at("SPY", first)
    for n in range(30):  # a bot running for six weeks
        m.price_at("SPY", first + timedelta(days=n))
        m.price_at("AAPL", first + timedelta(days=n))
    kept = {day for _symbol, day in m._cache}
    assert min(kept) >= date(2025, 7, 1) - timedelta(days=1)  # not six weeks of bars
    assert m.price_at("SPY", first) == price_on_first_day  # an old day is read back on demand


async def test_synthetic_paths_are_repeatable_per_seed() -> None:
    a, _ = market(seed=1)
    b, _ = market(seed=1)
    c, _ = market(seed=2)
    assert (await a.latest_quote("AAPL")) == (await b.latest_quote("AAPL"))
    assert (await a.latest_trade("AAPL")).price != (await c.latest_trade("AAPL")).price


async def test_unknown_symbols_and_contracts_are_refused() -> None:
    m, _ = market()
    with pytest.raises(UnknownSymbol):
        await m.latest_quote("ZZZZ")
    with pytest.raises(UnknownSymbol):
        await m.option_quote("SPY250612C00602300")  # no such strike
    with pytest.raises(UnknownSymbol):
        await m.option_quote("SPY250610C00602000")  # already expired


async def test_chain_is_filtered_and_priced_like_a_real_one() -> None:
    m, _ = market()
    chain = await m.option_chain("SPY", ChainFilter(expiry_to=date(2025, 6, 20), strike_min=580, strike_max=620))
    assert chain and all(580 <= c.strike <= 620 and c.expiry <= date(2025, 6, 20) for c in chain)
    assert all(c.bid is not None and c.ask is not None and c.bid < c.ask for c in chain)
    spot = m.price_at("SPY", NOON)

    def pick(expiry: date, strike: float, right: OptionRight = OptionRight.CALL):
        return next(c for c in chain if c.expiry == expiry and c.strike == strike and c.right is right)

    atm = pick(date(2025, 6, 20), round(spot))
    far = pick(date(2025, 6, 20), 620.0)
    assert (far.ask - far.bid) / far.ask > (atm.ask - atm.bid) / atm.ask  # relative spread widens
    week = [c for c in chain if c.expiry == date(2025, 6, 20)]
    near = [c for c in week if abs(c.strike - spot) <= 5]
    wings = [c for c in week if abs(c.strike - spot) >= 15]

    def mean(xs: list[int]) -> float:
        return sum(xs) / len(xs)

    assert mean([c.open_interest for c in near]) > mean([c.open_interest for c in wings])
    assert mean([c.ask_size for c in near]) > mean([c.ask_size for c in wings])
    assert 0.4 < atm.greeks.delta < 0.65
    put = pick(date(2025, 6, 20), 580.0, OptionRight.PUT)
    call = pick(date(2025, 6, 20), 620.0)
    assert put.iv > call.iv  # put skew
    short = pick(date(2025, 6, 12), round(spot))
    assert short.ask - short.bid >= 0.01 and short.greeks.theta < atm.greeks.theta


async def test_replay_streams_every_bar_in_time_order_and_moves_the_clock() -> None:
    m, clock = market(at=datetime(2025, 6, 11, 13, 0, tzinfo=UTC))
    start = datetime(2025, 6, 11, 13, 30, tzinfo=UTC)
    events = [e async for e in m.replay(["SPY", "NVDA"], start, start + timedelta(hours=1), clock=clock)]
    assert len(events) == 120
    assert all(e.kind is PriceEventKind.BAR for e in events)
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
    assert clock.now() == start + timedelta(hours=1)


async def test_paced_stream_follows_the_clock_and_symbol_changes() -> None:
    m, clock = market(at=datetime(2025, 6, 11, 15, 0, 30, tzinfo=UTC))
    stream = m.price_stream(["SPY"], bars=True)
    it = aiter(stream)
    import asyncio

    nxt = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0)
    clock.advance(timedelta(seconds=30))
    first = await nxt
    assert first.symbol == "SPY" and first.bar.timestamp == datetime(2025, 6, 11, 15, 0, tzinfo=UTC)
    await stream.subscribe(["TSLA"])
    await stream.unsubscribe(["SPY"])
    nxt = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0)
    clock.advance(timedelta(minutes=1))
    assert (await nxt).symbol == "TSLA"
    await stream.close()


def test_bad_csv_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "X" / "2025-06-11.csv"
    write_bars_csv(path, [(NOON, 10.0, 10.5, 9.9, 10.2, 100)], comments=["test"])
    assert read_bars_csv(path).close == [10.2]
    path.write_text("timestamp,open,high,low,close,volume\n2025-06-11T16:00:00Z,10,9,9.5,10,1\n")
    with pytest.raises(ValueError, match=r":2: low/high"):
        read_bars_csv(path)


def _fresh_quote(symbol: str, t: datetime) -> str:
    """The snapshot of ``symbol`` at ``t`` from a new market that has priced nothing else."""
    m, _ = market()
    return repr(m.option_quote_at(symbol, t))


def test_a_quote_served_from_the_per_contract_cache_equals_one_priced_alone() -> None:
    m, _ = market()
    chain = m.chain_at("SPY", NOON, ChainFilter(expiry_to=date(2025, 6, 20), strike_min=590, strike_max=610))
    picks = [c.symbol for c in chain[:: max(1, len(chain) // 12)]]
    for sym in picks:  # served from the chain's pass, bit for bit what pricing it alone gives
        assert repr(m.option_quote_at(sym, NOON)) == _fresh_quote(sym, NOON)
    group = m.option_quotes_at(picks[:3], NOON)
    assert [repr(s) for s in group.values()] == [_fresh_quote(sym, NOON) for sym in picks[:3]]
    other, _ = market()  # a group priced first, then its members one by one and in a chain
    together = other.option_quotes_at(picks[:4], NOON)
    assert [repr(other.option_quote_at(sym, NOON)) for sym in picks[:4]] == [repr(s) for s in together.values()]
    assert {repr(s) for s in other.chain_at("SPY", NOON)} >= {repr(s) for s in together.values()}


def test_a_new_minute_or_time_zone_does_not_serve_the_cached_snapshot() -> None:
    m, _ = market()
    sym = m.chain_at("SPY", NOON, ChainFilter(expiry_to=date(2025, 6, 13), strike_min=600, strike_max=601))[0].symbol
    first = m.option_quote_at(sym, NOON)
    later = NOON + timedelta(minutes=7)
    moved = m.option_quote_at(sym, later)
    assert moved.timestamp == later and repr(moved) == _fresh_quote(sym, later)
    assert moved != first  # the spot moved in seven minutes
    from zoneinfo import ZoneInfo

    ny = NOON.astimezone(ZoneInfo("America/New_York"))  # the same instant, written in New York time
    assert m.option_quote_at(sym, NOON).timestamp.tzinfo is UTC
    assert m.option_quote_at(sym, ny).timestamp.tzinfo is ny.tzinfo


def test_contracts_priced_one_by_one_match_the_array_pricing_bit_for_bit() -> None:
    import numpy as np

    from core.marketdata.sim import _quote_one
    from core.marketdata.sim_pricing import smile_vol, smile_vol_one
    from tests.marketdata.random_contracts import random_contracts

    m, _ = market()
    rng = np.random.default_rng(3)
    for underlying in ("SPY", "NVDA", "AAPL", "SAIL", "COIN", "DIA"):  # penny, penny program, nickel ticks
        r = random_contracts(m, underlying, rng, 400)
        arrays = m._quote_arrays(underlying, r.base_vol, r.spot, r.contracts, r.facts,
                                 r.years_by_expiry)
        rows = list(zip(*(a.tolist() for a in arrays), strict=True))
        ones = [_quote_one(underlying, r.base_vol, r.spot, m.rate, c.strike,
                           r.years_by_expiry[c.expiry], c.right is OptionRight.CALL, f.days)
                for c, f in zip(r.contracts, r.facts, strict=True)]
        assert all(one is not None for one in ones)
        assert [[x.hex() for x in one] for one in ones if one] == [[x.hex() for x in row] for row in rows]
        vols = smile_vol(r.base_vol, r.spot, r.strikes, r.years).tolist()
        assert [smile_vol_one(r.base_vol, r.spot, float(k), float(y))
                for k, y in zip(r.strikes, r.years, strict=True)] == vols


def test_sim_pricing_still_refuses_what_bsm_greeks_refuses() -> None:
    import numpy as np

    from core.marketdata.sim_pricing import price_contract_one, price_contracts

    one = np.array([0.1]), np.array([0.3]), np.array([True])
    with pytest.raises(ValueError, match="strike must be positive"):
        price_contracts(100.0, np.array([0.0]), one[0], 0.04, 0.0, one[1], one[2])
    with pytest.raises(ValueError, match="vol must be non-negative"):
        price_contracts(100.0, np.array([100.0]), one[0], 0.04, 0.0, np.array([-0.1]), one[2])
    assert price_contract_one(100.0, 0.0, 0.1, 0.04, 0.0, 0.3, True) is None  # left to the array path
