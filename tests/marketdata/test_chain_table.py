"""The columnar chain fetch: ``option_chain_table`` is ``OptionChain.from_snapshots(option_chain())``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.clock import FakeClock
from core.marketdata.base import MarketData, PriceStream
from core.marketdata.models import (
    Bar,
    ChainFilter,
    Greeks,
    OptionRight,
    OptionSnapshot,
    Quote,
    Trade,
)
from core.marketdata.sim import SimMarketData
from core.options.chain import ChainError, OptionChain

BARS = Path(__file__).resolve().parents[2] / "data" / "bars"
DAY = date(2025, 6, 11)


def assert_same_chain(got: OptionChain, want: OptionChain) -> None:
    """Assert two chains are equal field by field: every column's dtype, shape and values
    (NaN where NaN, floats bit for bit), and the non-array fields."""
    for field in dataclasses.fields(OptionChain):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if not isinstance(b, np.ndarray):
            assert a == b, field.name
            continue
        assert isinstance(a, np.ndarray), field.name
        assert a.dtype == b.dtype and a.shape == b.shape, field.name
        if b.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), field.name
            assert np.array_equal(np.isnan(a), np.isnan(b)), field.name
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), field.name  # bit for bit
        else:
            assert np.array_equal(a, b), field.name
            assert [type(x) for x in a.tolist()] == [type(x) for x in b.tolist()], field.name


def market(at: datetime) -> tuple[SimMarketData, FakeClock]:
    clock = FakeClock(at)
    return SimMarketData(clock, bars_dir=BARS), clock


# New York trading times of the bundled day (UTC): the open, a minute in, mid-morning, part-way
# through a minute, the last minute and the close (today's expiry no longer listed).
TIMES = [datetime(2025, 6, 11, 13, 30, tzinfo=UTC), datetime(2025, 6, 11, 13, 31, tzinfo=UTC),
         datetime(2025, 6, 11, 15, 0, tzinfo=UTC), datetime(2025, 6, 11, 16, 17, 31, tzinfo=UTC),
         datetime(2025, 6, 11, 19, 59, tzinfo=UTC), datetime(2025, 6, 11, 20, 0, tzinfo=UTC)]

FilterOf = Callable[[float], ChainFilter | None]
FILTERS: dict[str, FilterOf] = {
    # what plan_proposal asks: two weeks, spot ±10%, one right
    "proposal calls": lambda s: ChainFilter(DAY, DAY + timedelta(days=14), s * 0.9, s * 1.1, OptionRight.CALL),
    "proposal puts": lambda s: ChainFilter(DAY, DAY + timedelta(days=14), s * 0.9, s * 1.1, OptionRight.PUT),
    "both rights": lambda s: ChainFilter(DAY, DAY + timedelta(days=7), s * 0.95, s * 1.05),
    "narrow strikes": lambda s: ChainFilter(DAY, DAY + timedelta(days=30), s * 0.998, s * 1.002),
    "wide strikes, one expiry": lambda s: ChainFilter(DAY + timedelta(days=2), DAY + timedelta(days=9)),
    "today only": lambda s: ChainFilter(DAY, DAY, s * 0.97, s * 1.03),
    "far expiries": lambda s: ChainFilter(DAY + timedelta(days=60), DAY + timedelta(days=120),
                                          s * 0.9, s * 1.1, OptionRight.PUT),
    "no contracts": lambda s: ChainFilter(DAY, DAY + timedelta(days=30), s * 3.0, s * 4.0),
    "no filter": lambda s: None,
}


CASES = [  # every filter at every time, but whole chains (SPY's is ~20,000 contracts) only twice
    pytest.param(underlying, at, name, id=f"{underlying}-{at:%H%M%S}-{name}")
    for underlying in ("SPY", "TSLA", "NVDA") for at in TIMES for name in FILTERS
    if name != "no filter" or (underlying != "SPY" and at == TIMES[2])]


@pytest.mark.parametrize(("underlying", "at", "name"), CASES)
async def test_the_chain_table_is_the_chain_of_the_snapshots(underlying: str, at: datetime, name: str) -> None:
    m, _ = market(at)
    f = FILTERS[name](m.price_at(underlying, at))
    want = OptionChain.from_snapshots(await m.option_chain(underlying, f))
    fresh, _ = market(at)  # priced first as columns (a new minute)...
    assert_same_chain(await fresh.option_chain_table(underlying, f), want)
    assert_same_chain(await m.option_chain_table(underlying, f), want)  # ... and from the snapshots
    assert_same_chain(fresh.chain_table_at(underlying, at, f), want)  # ... and from the columns
    assert_same_chain(OptionChain.from_snapshots(fresh.chain_at(underlying, at, f)), want)
    if name == "no contracts":
        assert len(want) == 0


def _quoted(m: SimMarketData, symbols: Iterable[str], at: datetime) -> list[str]:
    return [repr(m.option_quote_at(s, at)) for s in symbols]


async def test_quotes_after_a_chain_table_are_the_quotes_after_the_chain() -> None:
    at = TIMES[2]
    m, _ = market(at)
    f = FILTERS["both rights"](m.price_at("SPY", at))
    snaps = await m.option_chain("SPY", f)
    picks = [s.symbol for s in snaps[:: max(1, len(snaps) // 15)]]
    columnar, _ = market(at)
    await columnar.option_chain_table("SPY", f)
    assert _quoted(columnar, picks, at) == _quoted(m, picks, at) == [repr(snaps[[s.symbol for s in snaps].index(p)]) for p in picks]
    first = columnar.option_quote_at(picks[0], at)
    assert columnar.option_quote_at(picks[0], at) is first  # made once, then served from the cache
    group = [*picks[3:9], "SPY250613C00700000"]  # and one not in the chain: priced now
    together = columnar.option_quotes_at(group, at)
    assert [repr(s) for s in together.values()] == [repr(s) for s in m.option_quotes_at(group, at).values()]
    assert len(together) == len(group)
    assert [repr(s) for s in columnar.chain_at("SPY", at, f)] == [repr(s) for s in snaps]
    later = at + timedelta(minutes=1)  # a new minute: nothing served from the old one
    assert _quoted(columnar, picks[:3], later) == _quoted(market(at)[0], picks[:3], later)


async def test_a_chain_table_keeps_what_was_priced_before_at_the_same_time() -> None:
    at = TIMES[3]
    m, _ = market(at)
    spot = m.price_at("NVDA", at)
    narrow, wide = FILTERS["narrow strikes"](spot), FILTERS["both rights"](spot)
    held = [s.symbol for s in m.chain_at("NVDA", at, narrow)][:5]

    def history(mk: SimMarketData) -> None:  # some contracts quoted, a narrow chain as columns
        mk.option_quotes_at(held[:3], at)
        mk.chain_table_at("NVDA", at, narrow)
        mk.option_quote_at(held[4], at)

    snapshots, _ = market(at)
    history(snapshots)
    want = OptionChain.from_snapshots(snapshots.chain_at("NVDA", at, wide))
    columnar, _ = market(at)
    history(columnar)
    assert_same_chain(columnar.chain_table_at("NVDA", at, wide), want)
    assert_same_chain(columnar.chain_table_at("NVDA", at, wide), want)  # all of it cached now
    assert_same_chain(OptionChain.from_snapshots(columnar.chain_at("NVDA", at, wide)), want)
    assert_same_chain(OptionChain.from_snapshots(market(at)[0].chain_at("NVDA", at, wide)), want)


@pytest.mark.parametrize(("symbol", "price", "error"), [("BRK.B", 480.0, ChainError), ("TINY", 0.6, ValueError)])
async def test_a_chain_that_cannot_be_had_fails_as_its_snapshots_do(symbol: str, price: float,
                                                                     error: type[Exception]) -> None:
    """A root the OCC form cannot carry (no chain of the snapshots), a strike of zero (no
    pricing): the same error either way."""
    at = TIMES[2]
    m, _ = market(at)
    m.add_symbol(symbol, price)
    with pytest.raises(error) as want:
        OptionChain.from_snapshots(await m.option_chain(symbol))
    with pytest.raises(error) as got:
        await m.option_chain_table(symbol)
    assert type(got.value) is type(want.value) and str(got.value) == str(want.value)


async def test_a_subclass_that_changes_the_snapshot_chain_gets_its_own_snapshots_as_a_table() -> None:
    class Thin(SimMarketData):
        def chain_at(self, underlying: str, t: datetime, chain_filter: ChainFilter | None = None) -> list[OptionSnapshot]:
            return super().chain_at(underlying, t, chain_filter)[:7]

    at = TIMES[2]
    m = Thin(FakeClock(at), bars_dir=BARS)
    got = await m.option_chain_table("SPY")
    assert len(got) == 7
    assert_same_chain(got, OptionChain.from_snapshots(await m.option_chain("SPY")))


class _StubMarket(MarketData):
    """A market that knows only an option chain (what the default implementation uses)."""

    def __init__(self, snapshots: list[OptionSnapshot]) -> None:
        self.snapshots = snapshots
        self.asked: list[tuple[str, ChainFilter | None]] = []

    async def option_chain(self, underlying: str, chain_filter: ChainFilter | None = None) -> list[OptionSnapshot]:
        self.asked.append((underlying, chain_filter))
        return self.snapshots

    async def latest_quote(self, symbol: str) -> Quote:
        raise NotImplementedError

    async def latest_trade(self, symbol: str) -> Trade:
        raise NotImplementedError

    async def bars(self, symbol: str, start: datetime, end: datetime, timeframe_minutes: int = 1) -> list[Bar]:
        raise NotImplementedError

    async def option_quote(self, symbol: str) -> OptionSnapshot:
        raise NotImplementedError

    def price_stream(self, symbols: Iterable[str] = (), *, bars: bool = False) -> PriceStream:
        raise NotImplementedError


async def test_the_default_chain_table_is_the_chain_of_the_snapshots() -> None:
    snaps = [  # as Alpaca sends them: no open interest, volume or Greeks; a side missing
        OptionSnapshot("AAPL250620C00200000", "AAPL", date(2025, 6, 20), OptionRight.CALL, 200.0,
                       1.2, 1.3, 4, 7, None, None, None, 0.31, Greeks(0.5, 0.02, -0.1, 0.2), None),
        OptionSnapshot("AAPL250620P00195000", "AAPL", date(2025, 6, 20), OptionRight.PUT, 195.0,
                       None, 0.9, None, 3, 0.85, 12, 340, None, None, None),
    ]
    f = ChainFilter(strike_min=190.0)
    stub = _StubMarket(snaps)
    assert_same_chain(await stub.option_chain_table("AAPL", f), OptionChain.from_snapshots(snaps))
    assert stub.asked == [("AAPL", f)]
    assert len(await _StubMarket([]).option_chain_table("AAPL")) == 0
    stub.snapshots = [dataclasses.replace(snaps[0], symbol="AAPL2506X")]
    with pytest.raises(ChainError, match="row 0"):
        await stub.option_chain_table("AAPL")
    stub.snapshots = [dataclasses.replace(snaps[0], bid="n/a")]  # a quote that is no number
    with pytest.raises(ChainError, match="could not convert"):
        await stub.option_chain_table("AAPL")


def test_from_snapshot_columns_wants_every_snapshot_column() -> None:
    with pytest.raises(ChainError, match="snapshot columns must be"):
        OptionChain.from_snapshot_columns(["SPY250611C00600000"], bid=[1.0])


def _bits(values: Iterable[object]) -> list[str]:
    return [v.hex() if isinstance(v, float) else f"{type(v).__name__}:{v}" for v in values]


def test_the_minute_columns_are_the_minute_rows_bit_for_bit() -> None:
    """Open interest, volume, sizes, last and the rounded IV in arrays, as one by one."""
    from core.marketdata.sim import DEFAULT_UNIVERSE, _minute_columns, _minute_rows
    from tests.marketdata.random_contracts import random_contracts

    m, _ = market(TIMES[2])
    rng = np.random.default_rng(11)
    for underlying in ("SPY", "NVDA", "AAPL", "SAIL", "COIN", "DIA", "TSLA"):  # all three tick rules
        r = random_contracts(m, underlying, rng, 500)
        facts = r.facts
        quotes = m._quote_arrays(underlying, r.base_vol, r.spot, r.contracts, facts,
                                 r.years_by_expiry)
        for minute, day_frac in ((b"29000000", 0.0), (b"29164321", 0.37), (b"29164555", 1.0)):
            oi_base = DEFAULT_UNIVERSE[underlying][2] / 2000.0
            columns = _minute_columns(facts, quotes, minute, oi_base, day_frac)
            rows = _minute_rows(facts, zip(*(q.tolist() for q in quotes), strict=True), minute,
                                oi_base, day_frac)
            assert columns is not None
            assert [_bits(c) for c in columns] == [_bits(c) for c in zip(*rows, strict=True)]
        broken = list(quotes)
        broken[0] = quotes[0].copy()
        broken[0][7] = np.nan  # a z that is not a number: left to the rows, which say what
        assert _minute_columns(facts, broken, b"29164321", 1000.0, 0.5) is None
        with pytest.raises(ValueError, match="NaN"):
            _minute_rows(facts, zip(*(q.tolist() for q in broken), strict=True), b"29164321", 1000.0, 0.5)


async def test_a_proposal_on_a_chain_that_cannot_be_read_or_is_empty_says_why() -> None:
    from decimal import Decimal

    from core.engine.config import EngineConfig
    from core.engine.proposals import plan_proposal

    good = OptionSnapshot("AAPL250620C00200000", "AAPL", date(2025, 6, 20), OptionRight.CALL, 200.0,
                          1.2, 1.3, 4, 7, None, None, None, 0.31, Greeks(0.5, 0.02, -0.1, 0.2), None)
    config = EngineConfig()

    async def plan(snapshots: list[OptionSnapshot]) -> object:
        return await plan_proposal(
            market=_StubMarket(snapshots), config=config, limits=config.risk,
            now=datetime(2025, 6, 16, 15, 0, tzinfo=UTC), symbol="AAPL", direction="bullish",
            trigger=Decimal("200"), targets=(Decimal("202"), Decimal("204")), spot=200.0,
            equity=Decimal(100_000))

    assert await plan([dataclasses.replace(good, bid="n/a")]) == (
        "AAPL: the option chain could not be read (could not convert string to float: 'n/a')")
    assert await plan([]) == "AAPL: no option chain within 14 days and ±10%"
