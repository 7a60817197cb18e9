"""Implied volatility: round trips over a dense grid, reason codes, Greeks at the IV."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.options.iv import IVReason, implied_vol, implied_vol_greeks, quote_prices
from core.options.pricing import bsm_greeks, bsm_price

EPS = np.finfo(np.float64).eps


def _vega_not_negligible(vega_per_point: np.ndarray, spot: float, strike: np.ndarray) -> np.ndarray:
    """Vega is negligible when a price rounded to double precision cannot pin σ to 1e-8.

    The price carries a rounding error of a few ulps of max(spot, strike); σ is determined
    to 1e-8 only if vega (per unit of vol) × 1e-8 exceeds 64 such ulps.
    """
    return vega_per_point * 100.0 * 1e-8 > 64 * EPS * np.maximum(spot, strike)


def _grid() -> tuple[np.ndarray, ...]:
    t = np.geomspace(0.5 / 365, 2.0, 30)  # half a day to two years
    vol = np.geomspace(0.01, 5.0, 40)  # 1 % to 500 %
    z = np.linspace(-3.0, 3.0, 25)  # strikes from -3 to +3 standard deviations
    tt, vv, zz, cc = np.meshgrid(t, vol, z, [True, False], indexing="ij")
    strike = 100.0 * np.exp(zz * vv * np.sqrt(tt))
    return tt.ravel(), vv.ravel(), strike.ravel(), cc.ravel()


def test_round_trip_is_exact_from_half_a_day_to_two_years_and_one_to_500_percent_vol() -> None:
    t, vol, strike, is_call = _grid()
    spot, rate, q = 100.0, 0.05, 0.02
    price = bsm_price(spot, strike, t, rate, q, vol, is_call)
    res = implied_vol(price, spot, strike, t, rate, q, is_call)
    vega = bsm_greeks(spot, strike, t, rate, q, vol, is_call).vega
    meaningful = _vega_not_negligible(vega, spot, strike)
    assert meaningful.sum() > 0.9 * meaningful.size  # the grid is mostly well-conditioned
    assert np.all(res.reason[meaningful] == IVReason.OK)
    err = np.abs(res.iv[meaningful] - vol[meaningful])
    assert err.max() < 1e-8
    # Where vega is negligible the answer may be imprecise, but it is never an error code for
    # a valid price and never a wild number.
    ok = res.ok
    assert np.all(np.isfinite(res.iv[ok]))


def test_round_trip_covers_the_corners_of_the_domain() -> None:
    spot = 250.0
    cases = [
        # (t, vol, strike): shortest expiry lowest vol near the money, longest expiry highest
        # vol far from the money, and deep in/out of the money at a normal vol.
        (0.5 / 365, 0.01, 250.05),
        (0.5 / 365, 0.01, 249.95),
        (2.0, 5.0, 25.0),
        (2.0, 5.0, 2_500.0),
        (30 / 365, 0.3, 190.0),
        (30 / 365, 0.3, 330.0),
        (1 / 365, 2.0, 200.0),
    ]
    t, vol, strike = (np.array(c) for c in zip(*cases, strict=True))
    for is_call in (True, False):
        price = bsm_price(spot, strike, t, 0.04, 0.0, vol, is_call)
        vega = bsm_greeks(spot, strike, t, 0.04, 0.0, vol, is_call).vega
        assert _vega_not_negligible(vega, spot, strike).all()
        res = implied_vol(price, spot, strike, t, 0.04, 0.0, is_call)
        assert np.all(res.reason == IVReason.OK)
        np.testing.assert_allclose(res.iv, vol, rtol=0, atol=1e-8)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    spot=st.floats(1.0, 5_000.0),
    log_moneyness=st.floats(-0.5, 0.5),
    days=st.floats(0.5, 730.0),
    vol=st.floats(0.01, 5.0),
    rate=st.floats(-0.01, 0.10),
    q=st.floats(0.0, 0.08),
    is_call=st.booleans(),
)
def test_round_trip_property(
    spot: float, log_moneyness: float, days: float, vol: float, rate: float, q: float, is_call: bool
) -> None:
    t = days / 365.0
    strike = spot * np.exp(log_moneyness)
    price = bsm_price(spot, strike, t, rate, q, vol, is_call)
    vega = bsm_greeks(spot, strike, t, rate, q, vol, is_call).vega
    res = implied_vol(price, spot, strike, t, rate, q, is_call)
    if _vega_not_negligible(vega, spot, strike):
        assert res.reason == IVReason.OK
        assert abs(float(res.iv) - vol) < 1e-8
    elif res.reason == IVReason.OK:
        # Tiny vega: the recovered volatility must still reproduce the price.
        repriced = bsm_price(spot, strike, t, rate, q, float(res.iv), is_call)
        assert abs(float(repriced) - float(price)) <= 1e-9 * max(spot, strike)


def test_greeks_at_the_implied_vol_match_the_closed_forms_to_1e_12() -> None:
    rng = np.random.default_rng(3)
    n = 20_000  # several chunks
    spot = rng.uniform(20, 800, n)
    strike = np.round(spot * np.exp(rng.normal(0, 0.15, n)), 1)
    t = rng.uniform(0.5, 60, n) / 365
    vol = rng.uniform(0.05, 1.5, n)
    is_call = rng.random(n) < 0.5
    price = bsm_price(spot, strike, t, 0.045, 0.013, vol, is_call)
    res, greeks = implied_vol_greeks(price, spot, strike, t, 0.045, 0.013, is_call)
    ok = res.ok
    assert ok.mean() > 0.95
    closed = bsm_greeks(spot, strike, t, 0.045, 0.013, res.iv, is_call)
    for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
        ours = getattr(greeks, name)[ok]
        ref = getattr(closed, name)[ok]
        assert np.max(np.abs(ours - ref)) < 1e-12, name
    assert np.all(np.isnan(greeks.delta[~ok]))


def test_scalar_and_broadcast_inputs_keep_their_shape() -> None:
    single = implied_vol(10.45058357, 100.0, 100.0, 1.0, 0.05, 0.0, True)
    assert single.iv.shape == ()
    assert float(single.iv) == pytest.approx(0.20, abs=1e-8)
    strikes = np.array([[90.0, 100.0, 110.0]])
    t = np.array([[0.25], [0.5]])
    price = bsm_price(100.0, strikes, t, 0.01, 0.0, 0.3, False)
    res = implied_vol(price, 100.0, strikes, t, 0.01, 0.0, "P")
    assert res.iv.shape == (2, 3)
    np.testing.assert_allclose(res.iv, 0.3, atol=1e-10)


@pytest.mark.parametrize(
    ("price", "spot", "strike", "t", "is_call", "reason"),
    [
        (5.0, 100.0, 100.0, 0.0, True, IVReason.EXPIRED),
        (5.0, 100.0, 100.0, -0.01, True, IVReason.EXPIRED),
        (0.0, 100.0, 100.0, 0.1, True, IVReason.NO_PRICE),
        (np.nan, 100.0, 100.0, 0.1, True, IVReason.NO_PRICE),
        (-1.0, 100.0, 100.0, 0.1, False, IVReason.NO_PRICE),
        (9.0, 110.0, 100.0, 0.1, True, IVReason.BELOW_INTRINSIC),  # call worth at least ~10
        (10.0, 90.0, 100.0, 0.1, False, IVReason.BELOW_INTRINSIC),  # intrinsic: no time value
        (101.0, 100.0, 100.0, 0.1, True, IVReason.ABOVE_UPPER_BOUND),  # call above the spot
        (100.0, 100.0, 100.0, 0.1, False, IVReason.ABOVE_UPPER_BOUND),  # put above the strike
        (5.0, -100.0, 100.0, 0.1, True, IVReason.INVALID_INPUT),
        (5.0, 100.0, 0.0, 0.1, True, IVReason.INVALID_INPUT),
        (5.0, np.nan, 100.0, 0.1, True, IVReason.INVALID_INPUT),
    ],
)
def test_prices_without_an_implied_vol_get_nan_and_the_reason(
    price: float, spot: float, strike: float, t: float, is_call: bool, reason: IVReason
) -> None:
    res = implied_vol(price, spot, strike, t, 0.0, 0.0, is_call)
    assert np.isnan(res.iv)
    assert res.reason == reason


def test_bad_entries_do_not_disturb_good_ones_in_the_same_array() -> None:
    good = float(bsm_price(100.0, 105.0, 0.2, 0.03, 0.0, 0.4, True))
    prices = np.array([good, 0.0, good, 200.0, np.nan, good])
    res = implied_vol(prices, 100.0, 105.0, [0.2, 0.2, 0.2, 0.2, 0.2, 0.0], 0.03, 0.0, True)
    np.testing.assert_allclose(res.iv[[0, 2]], 0.4, atol=1e-10)
    assert res.reason.tolist() == [
        IVReason.OK,
        IVReason.NO_PRICE,
        IVReason.OK,
        IVReason.ABOVE_UPPER_BOUND,
        IVReason.NO_PRICE,
        IVReason.EXPIRED,
    ]
    assert res.reason_counts()[IVReason.OK] == 2


def test_quote_mid_flags_crossed_one_sided_and_missing_quotes() -> None:
    mid, reason = quote_prices([1.00, 1.20, 0.0, 0.5, np.nan], [1.10, 1.10, 0.05, 0.0, 1.0])
    assert mid[0] == pytest.approx(1.05)
    assert reason.tolist() == [
        IVReason.OK,
        IVReason.CROSSED_QUOTE,
        IVReason.NO_BID,
        IVReason.NO_PRICE,
        IVReason.NO_BID,
    ]
    assert np.isnan(mid[1:]).all()


def test_non_numeric_or_mismatched_inputs_raise_a_clear_error() -> None:
    with pytest.raises(ValueError, match="price must be numeric"):
        implied_vol("abc", 100.0, 100.0, 0.5, 0.0, 0.0, True)
    with pytest.raises(ValueError, match="broadcast"):
        implied_vol([1.0, 2.0], 100.0, [90.0, 100.0, 110.0], 0.5, 0.0, 0.0, True)


def test_options_far_outside_the_interpolation_table_still_round_trip() -> None:
    # Huge total volatility (c > 0.35) and strikes thousands of times the spot take the
    # explicit-guess path; they must be just as exact.
    spot = 10.0
    strike = np.array([10.0, 10.0 * np.exp(8.5), 10.0 * np.exp(-8.5), 40.0, 2.5])
    t = np.array([2.0, 2.0, 2.0, 1.0, 1.0])
    vol = np.array([3.0, 4.0, 4.0, 2.5, 2.5])
    for is_call in (True, False):
        price = bsm_price(spot, strike, t, 0.03, 0.0, vol, is_call)
        vega = bsm_greeks(spot, strike, t, 0.03, 0.0, vol, is_call).vega
        res = implied_vol(price, spot, strike, t, 0.03, 0.0, is_call)
        meaningful = _vega_not_negligible(vega, spot, strike)
        assert meaningful.sum() >= 4
        assert np.all(res.reason[meaningful] == IVReason.OK)
        np.testing.assert_allclose(res.iv[meaningful], vol[meaningful], rtol=0, atol=1e-8)


def test_interpolated_guess_is_within_its_documented_accuracy() -> None:
    from core.options import _kernel

    rng = np.random.default_rng(8)
    n = 50_000
    s = 10 ** rng.uniform(np.log10(3e-4), 0.0, n)
    a = np.minimum(rng.uniform(0.0, 30.0, n) * s, 7.0)
    beta = np.exp(-a / 2) * bsm_price(1.0, np.exp(a), 1.0, 0.0, 0.0, s, True)  # normalised
    ln_c = np.log(beta) + a / 2
    inside = (ln_c <= np.log(0.35)) & np.isfinite(ln_c)
    pool = _kernel.Pool(int(inside.sum()))
    guess = _kernel.guess_table().guess(pool, a[inside], ln_c[inside])
    assert np.max(np.abs(guess / s[inside] - 1)) < 6.5e-4


def test_concurrent_threads_get_the_same_answers() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    n = 30_000
    spot = rng.uniform(50, 500, n)
    strike = spot * np.exp(rng.normal(0, 0.1, n))
    t = rng.uniform(1, 60, n) / 365
    vol = rng.uniform(0.1, 0.9, n)
    price = bsm_price(spot, strike, t, 0.04, 0.0, vol, True)
    expected = implied_vol(price, spot, strike, t, 0.04, 0.0, True).iv
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda _: implied_vol(price, spot, strike, t, 0.04, 0.0, True).iv, range(8))
        )
    for got in results:
        np.testing.assert_array_equal(got, expected)
