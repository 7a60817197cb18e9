"""Option chains from the real Yahoo snapshot: loading, implied spot, our IV vs the source's."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import FakeClock
from core.marketdata.models import Greeks, OptionRight, OptionSnapshot
from core.marketdata.sim import SimMarketData
from core.options.chain import (
    ChainError,
    OptionChain,
    PriceBasis,
    implied_spot,
    implied_spot_detail,
)
from core.options.iv import IVReason, implied_vol
from core.options.occ import InvalidOccSymbol, OccSymbol
from core.options.pricing import bsm_price
from tests.options.conftest import SNAPSHOT_NOW, SNAPSHOT_RATE, YAHOO_CSV


def _spots(chain: OptionChain) -> dict[str, float]:
    return {root: implied_spot(c, SNAPSHOT_NOW, SNAPSHOT_RATE) for root, c in chain.split().items()}


def test_snapshot_loads_as_columns_with_missing_values_as_nan(yahoo_chain: OptionChain) -> None:
    assert len(yahoo_chain) == 3003
    assert len(yahoo_chain.underlyings) == 39
    assert {"SPY", "QQQ", "NVDA", "TSLA"} <= set(yahoo_chain.underlyings)
    assert yahoo_chain.strike.dtype == np.float64
    assert yahoo_chain.expiry.dtype == np.dtype("datetime64[D]")
    assert np.isnan(yahoo_chain.volume).sum() == 83  # blank volumes stay missing, not zero
    assert (yahoo_chain.bid == 0).sum() > 100  # plenty of one-sided quotes
    spy = yahoo_chain.for_underlying("SPY")
    i = spy.index_of("SPY240801C00550000")
    assert spy.strike[i] == 550.0
    assert spy.expiries == [date(2024, 8, 1)]
    assert (spy.bid[i], spy.ask[i], spy.open_interest[i]) == (3.27, 3.34, 4181.0)


def test_implied_spot_puts_every_contract_on_the_sources_side_of_the_money(
    yahoo_chain: OptionChain,
) -> None:
    with YAHOO_CSV.open(newline="") as fh:
        source_itm = {r["contractSymbol"]: r["inTheMoney"] == "1.0" for r in csv.DictReader(fh)}
    for root, chain in yahoo_chain.split().items():
        spot = implied_spot(chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
        ours = np.where(chain.is_call, chain.strike < spot, chain.strike > spot)
        theirs = np.array([source_itm[s] for s in chain.symbol])
        disagree = ours != theirs
        # The source took its spot at a slightly different time, so only the one strike that
        # sits right at the money may be classified differently.
        assert np.unique(chain.strike[disagree]).size <= 1, root
        assert np.all(np.abs(chain.strike[disagree] / spot - 1) < 0.01), root


def test_implied_spot_uses_the_pairs_nearest_the_money(yahoo_chain: OptionChain) -> None:
    spy = yahoo_chain.for_underlying("SPY")
    detail = implied_spot_detail(spy, SNAPSHOT_NOW, SNAPSHOT_RATE)
    assert detail.pairs_available > 20
    assert detail.pairs_used == 6
    # At the 550 strike: C - P = 3.305 - 1.795, so S ≈ 550 e^{-rT} + 1.51.
    assert detail.spot == pytest.approx(551.43, abs=0.1)
    assert detail.spread < 0.1


def _pair_average_ratio(chain: OptionChain, iv: np.ndarray, spot: float) -> float:
    """Median ratio of our IV to the source's, averaged over the call and put of a strike.

    Averaging the two cancels, to first order, the source using a slightly different spot.
    """
    sane = (
        np.isfinite(iv)
        & (chain.spread <= 0.10 * chain.mid)
        & (np.abs(chain.strike / spot - 1) < 0.03)
    )
    by_strike: dict[float, list[int]] = {}
    for i in np.flatnonzero(sane):
        by_strike.setdefault(float(chain.strike[i]), []).append(int(i))
    ratios = [
        np.mean(iv[ix]) / np.mean(chain.source_iv[ix]) for ix in by_strike.values() if len(ix) == 2
    ]
    assert len(ratios) >= 3
    return float(np.median(ratios))


@pytest.mark.parametrize("root", ["SPY", "QQQ", "TSLA"])
def test_iv_from_mids_matches_the_sources_where_quotes_are_sane(
    yahoo_chain: OptionChain, root: str
) -> None:
    chain = yahoo_chain.for_underlying(root)
    spot = implied_spot(chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
    g = chain.with_greeks(spot, SNAPSHOT_NOW, SNAPSHOT_RATE).computed
    assert g is not None
    assert _pair_average_ratio(chain, g.iv, spot) == pytest.approx(1.0, abs=0.05)


def test_source_iv_for_nvda_was_computed_with_three_days_to_expiry(
    yahoo_chain: OptionChain,
) -> None:
    # For NVDA (and several other single names) the source's IVs are ours × √(2/3): they match
    # only if the 2024-08-02 expiry is three days away, i.e. the source's IV column was
    # computed a day before the quotes. Our clock (two days) is the right one for the quotes.
    chain = yahoo_chain.for_underlying("NVDA")
    spot = implied_spot(chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
    t = chain.years_to_expiry(SNAPSHOT_NOW)
    ours = implied_vol(chain.mid, spot, chain.strike, t, SNAPSHOT_RATE, 0.0, chain.is_call).iv
    three_days = implied_vol(
        chain.mid, spot, chain.strike, 1.5 * t, SNAPSHOT_RATE, 0.0, chain.is_call
    ).iv
    assert _pair_average_ratio(chain, ours, spot) == pytest.approx(np.sqrt(1.5), abs=0.03)
    assert _pair_average_ratio(chain, three_days, spot) == pytest.approx(1.0, abs=0.03)


def test_our_call_and_put_ivs_agree_at_each_strike_as_parity_requires(
    yahoo_chain: OptionChain,
) -> None:
    chain = yahoo_chain.for_underlying("SPY")
    spot = implied_spot(chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
    g = chain.with_greeks(spot, SNAPSHOT_NOW, SNAPSHOT_RATE).computed
    assert g is not None
    near = (np.abs(chain.strike - spot) <= 3) & np.isfinite(g.iv)
    calls = {chain.strike[i]: g.iv[i] for i in np.flatnonzero(near & chain.is_call)}
    puts = {chain.strike[i]: g.iv[i] for i in np.flatnonzero(near & ~chain.is_call)}
    common = sorted(set(calls) & set(puts))
    assert len(common) >= 5
    for k in common:
        assert calls[k] == pytest.approx(puts[k], abs=0.01), k


def test_bid_and_ask_ivs_bracket_the_mid_iv(yahoo_chain: OptionChain) -> None:
    chain = yahoo_chain.for_underlying("QQQ")
    spot = implied_spot(chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
    by_basis = {
        basis: chain.with_greeks(spot, SNAPSHOT_NOW, SNAPSHOT_RATE, basis=basis).computed
        for basis in (PriceBasis.BID, PriceBasis.MID, PriceBasis.ASK)
    }
    ok = np.logical_and.reduce(
        [g.reason == IVReason.OK for g in by_basis.values() if g is not None]
    )
    assert ok.sum() > 30
    bid_iv, mid_iv, ask_iv = (
        by_basis[b].iv[ok] for b in (PriceBasis.BID, PriceBasis.MID, PriceBasis.ASK)
    )  # type: ignore[union-attr]
    assert np.all(bid_iv <= mid_iv) and np.all(mid_iv <= ask_iv)


def test_snapshot_iv_reasons_cover_the_messy_quotes(yahoo_chain: OptionChain) -> None:
    g = yahoo_chain.with_greeks(_spots(yahoo_chain), SNAPSHOT_NOW, SNAPSHOT_RATE).computed
    assert g is not None
    reasons = {IVReason(int(code)) for code in np.unique(g.reason)}
    assert {IVReason.OK, IVReason.NO_BID, IVReason.BELOW_INTRINSIC} <= reasons
    zero_bid = yahoo_chain.bid == 0
    assert np.all(g.reason[zero_bid] != IVReason.OK)
    assert np.all(np.isnan(g.iv[g.reason != IVReason.OK]))
    assert np.all(np.isfinite(g.delta[g.reason == IVReason.OK]))


@dataclass
class _Quote:
    symbol: str
    bid: float
    ask: float
    volume: float | None = None
    open_interest: int | None = None


def test_from_rows_accepts_mappings_and_small_objects_and_flags_bad_quotes() -> None:
    chain = OptionChain.from_rows(
        [
            {"symbol": "SPY250606C00590000", "bid": "2.10", "ask": "2.20", "volume": "", "oi": 120},
            _Quote("SPY250606P00590000", bid=2.50, ask=2.40),  # crossed
            _Quote("SPY250606C00650000", bid=0.0, ask=0.03, volume=5, open_interest=10),  # no bid
        ]
    )
    assert chain.symbol.tolist() == [
        "SPY250606C00590000",
        "SPY250606P00590000",
        "SPY250606C00650000",
    ]
    assert chain.is_call.tolist() == [True, False, True]
    assert np.isnan(chain.volume[0]) and chain.open_interest[0] == 120
    spot, now = 589.0, SNAPSHOT_NOW.replace(year=2025, month=6, day=2)
    g = chain.with_greeks(spot, now, 0.045).computed
    assert g is not None
    assert g.reason.tolist() == [IVReason.OK, IVReason.CROSSED_QUOTE, IVReason.NO_BID]
    t = g.t[0]
    assert float(bsm_price(spot, 590.0, t, 0.045, 0.0, g.iv[0], True)) == pytest.approx(
        2.15, abs=1e-9
    )


def test_bad_rows_raise_chain_errors_naming_the_row() -> None:
    with pytest.raises(ChainError, match=r"row 1: .*not an OCC symbol"):
        OptionChain.from_rows([{"symbol": "SPY250606C00590000"}, {"symbol": "SPY 590 CALL"}])
    with pytest.raises(ChainError, match="row 0: bid is not a number"):
        OptionChain.from_rows([{"symbol": "SPY250606C00590000", "bid": "n/a"}])
    with pytest.raises(ChainError, match="row 0 has no OCC symbol"):
        OptionChain.from_rows([{"bid": 1.0}])


def test_implied_spot_needs_one_underlying_and_a_parity_pair(yahoo_chain: OptionChain) -> None:
    with pytest.raises(ChainError, match="several underlyings"):
        implied_spot(yahoo_chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
    calls_only = yahoo_chain.for_underlying("SPY").take(yahoo_chain.for_underlying("SPY").is_call)
    with pytest.raises(ChainError, match="both a call and a put"):
        implied_spot(calls_only, SNAPSHOT_NOW, SNAPSHOT_RATE)


# from_rows reads OCC symbols itself (no OccSymbol per row); it must agree with OccSymbol.parse.
_SYMBOL_TEXT = st.one_of(
    st.builds(lambda root, y, m, d, right, k, pad, case: (
        f"{root:<6}" if pad else root) + f"{y:02d}{m:02d}{d:02d}{right}{k:08d}" if not case
        else ((f"{root:<6}" if pad else root) + f"{y:02d}{m:02d}{d:02d}{right}{k:08d}").lower(),
        st.text("ABCQXYZ0129", min_size=1, max_size=7), st.integers(0, 99), st.integers(0, 13),
        st.integers(0, 32), st.sampled_from("CPX"), st.integers(0, 99_999_999), st.booleans(),
        st.booleans()),
    st.text(max_size=25))


@given(_SYMBOL_TEXT)
def test_chain_rows_read_symbols_as_occ_symbol_parse_does(text: str) -> None:
    try:
        parsed = OccSymbol.parse(text)
    except InvalidOccSymbol as e:
        with pytest.raises(ChainError) as raised:
            OptionChain.from_rows([{"symbol": text, "bid": 1.0}])
        assert str(raised.value) == f"row 0: {e}"
        return
    got = OptionChain.from_rows([{"symbol": text, "bid": 1.0}])
    want = OptionChain.from_symbols([parsed], bid=[1.0])
    assert got.symbol.tolist() == want.symbol.tolist() == [str(parsed)]
    assert got.root.tolist() == want.root.tolist()
    assert got.is_call.tolist() == want.is_call.tolist()
    assert got.expiry.tolist() == want.expiry.tolist()
    assert got.strike.tolist() == want.strike.tolist()


def _as_row(s: OptionSnapshot) -> dict[str, object]:
    g = s.greeks
    return {"symbol": s.symbol, "bid": s.bid, "ask": s.ask, "bid_size": s.bid_size,
            "ask_size": s.ask_size, "last": s.last, "volume": s.volume,
            "open_interest": s.open_interest, "iv": s.iv,
            "delta": g and g.delta, "gamma": g and g.gamma, "theta": g and g.theta,
            "vega": g and g.vega}


def test_a_chain_from_snapshots_is_the_chain_from_their_rows() -> None:
    at = datetime(2025, 6, 11, 14, 0, tzinfo=UTC)
    snaps = SimMarketData(FakeClock(at)).chain_at("NVDA", at)[:300]
    # as Alpaca sends them: no open interest, volume or Greeks; one side missing
    snaps += [dataclasses.replace(s, open_interest=None, volume=None, greeks=None, iv=None,
                                  bid=None if i % 2 else s.bid) for i, s in enumerate(snaps[:20])]
    got = OptionChain.from_snapshots(snaps)
    want = OptionChain.from_rows([_as_row(s) for s in snaps])
    for column in ("symbol", "root", "is_call", "expiry"):
        assert getattr(got, column).tolist() == getattr(want, column).tolist()
    for column in ("strike", "bid", "ask", "bid_size", "ask_size", "last", "volume",
                   "open_interest", "source_iv", "source_delta", "source_gamma",
                   "source_theta", "source_vega"):
        np.testing.assert_array_equal(getattr(got, column), getattr(want, column))
    assert np.isnan(got.open_interest[-1]) and np.isnan(got.bid[-1])


def test_a_snapshot_with_a_bad_symbol_names_its_row() -> None:
    at = datetime(2025, 6, 11, 14, 0, tzinfo=UTC)
    snaps = SimMarketData(FakeClock(at)).chain_at("SPY", at)[:3]
    snaps[2] = dataclasses.replace(snaps[2], symbol="SPY2506X")
    with pytest.raises(ChainError, match="row 2: 'SPY2506X' is not an OCC symbol"):
        OptionChain.from_snapshots(snaps)


_SNAPSHOT = OptionSnapshot(
    symbol="SPY250611C00590000", underlying="SPY", expiry=date(2025, 6, 11),
    right=OptionRight.CALL, strike=590.0, bid=1.0, ask=1.1, bid_size=3, ask_size=None, last=None,
    volume=10, open_interest=None, iv=0.2, greeks=Greeks(0.5, 0.01, -0.2, 0.1), timestamp=None)


@given(st.lists(_SYMBOL_TEXT, max_size=4))
def test_snapshot_symbols_are_read_as_row_symbols_are(texts: list[str]) -> None:
    """from_snapshots parses symbols its own (faster) way, with the same results and errors."""
    texts = texts + texts[:1]  # a repeated symbol: its expiry is remembered
    snaps = [dataclasses.replace(_SNAPSHOT, symbol=text) for text in texts]
    try:
        want = OptionChain.from_rows([_as_row(s) for s in snaps])
    except ChainError as e:
        with pytest.raises(ChainError) as raised:
            OptionChain.from_snapshots(snaps)
        assert str(raised.value) == str(e)
        return
    got = OptionChain.from_snapshots(snaps)
    for column in ("symbol", "root", "is_call", "expiry", "strike"):
        assert getattr(got, column).tolist() == getattr(want, column).tolist()
    assert got.expiry.dtype == want.expiry.dtype
