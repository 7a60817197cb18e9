"""Black–Scholes–Merton prices and Greeks against textbook values and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from core.options.pricing import bsm_greeks, bsm_price


def test_price_matches_hull_textbook_example() -> None:
    # Hull, Options Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%, T=0.5, σ=20%.
    call, put = bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, [True, False])
    assert call == pytest.approx(4.7594, abs=5e-5)
    assert put == pytest.approx(0.8086, abs=5e-5)


def test_price_with_dividend_yield_matches_hull_index_option_example() -> None:
    # Hull example 17.1: European call on an index, S=930, K=900, r=8%, q=3%, σ=20%, T=2/12.
    call = bsm_price(930.0, 900.0, 2.0 / 12.0, 0.08, 0.03, 0.20, True)
    assert call == pytest.approx(51.83, abs=0.01)


def test_greeks_match_haug_textbook_values() -> None:
    # Haug, The Complete Guide to Option Pricing Formulas (2nd ed.), section 2.2:
    # delta example S=105, K=100, T=0.5, r=10%, b=0 (so q=r), σ=36%: call 0.5946, put -0.3566;
    # gamma example S=55, K=60, T=0.75, r=b=10% (q=0), σ=30%: gamma 0.0278.
    delta = bsm_greeks(105.0, 100.0, 0.5, 0.10, 0.10, 0.36, [True, False]).delta
    np.testing.assert_allclose(delta, [0.5946, -0.3566], atol=5e-5)
    gamma = bsm_greeks(55.0, 60.0, 0.75, 0.10, 0.0, 0.30, True).gamma
    assert float(gamma) == pytest.approx(0.0278, abs=5e-5)


def test_put_call_parity_holds_across_a_grid() -> None:
    rng = np.random.default_rng(7)
    n = 2_000
    s = rng.uniform(5, 800, n)
    k = s * np.exp(rng.normal(0, 0.4, n))
    t = rng.uniform(0.5 / 365, 2.0, n)
    r = rng.uniform(-0.01, 0.08, n)
    q = rng.uniform(0.0, 0.05, n)
    v = rng.uniform(0.01, 5.0, n)
    call = bsm_price(s, k, t, r, q, v, True)
    put = bsm_price(s, k, t, r, q, v, False)
    parity = s * np.exp(-q * t) - k * np.exp(-r * t)
    np.testing.assert_allclose(
        call - put, parity, rtol=0, atol=1e-10 * float(np.max(np.maximum(s, k)))
    )


def _central(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("is_call", [True, False])
def test_greeks_agree_with_finite_differences(is_call: bool) -> None:
    rng = np.random.default_rng(11)
    n = 500
    s = rng.uniform(20, 600, n)
    k = s * np.exp(rng.normal(0, 0.15, n))
    t = rng.uniform(2 / 365, 1.5, n)
    r = rng.uniform(0.0, 0.06, n)
    q = rng.uniform(0.0, 0.04, n)
    v = rng.uniform(0.05, 1.2, n)
    g = bsm_greeks(s, k, t, r, q, v, is_call)

    def price_s(x: np.ndarray) -> np.ndarray:
        return bsm_price(x, k, t, r, q, v, is_call)

    h_s = 1e-4 * s
    np.testing.assert_allclose(g.delta, _central(price_s, s, h_s), atol=1e-6)
    fd_gamma = (price_s(s + h_s) - 2 * g.price + price_s(s - h_s)) / h_s**2
    np.testing.assert_allclose(g.gamma, fd_gamma, atol=1e-5, rtol=1e-4)
    fd_vega = _central(lambda x: bsm_price(s, k, t, r, q, x, is_call), v, np.full(n, 1e-6))
    np.testing.assert_allclose(g.vega, fd_vega * 0.01, atol=1e-7)
    fd_rho = _central(lambda x: bsm_price(s, k, t, x, q, v, is_call), r, np.full(n, 1e-6))
    np.testing.assert_allclose(g.rho, fd_rho * 0.01, atol=1e-7)
    # Theta is the change in value as one calendar day passes: minus the derivative in t.
    fd_theta = -_central(lambda x: bsm_price(s, k, x, r, q, v, is_call), t, np.full(n, 1e-7))
    np.testing.assert_allclose(g.theta, fd_theta / 365.0, atol=1e-7, rtol=1e-6)


def test_expired_contracts_are_worth_intrinsic_with_step_delta() -> None:
    g = bsm_greeks(
        100.0, [90.0, 110.0, 90.0, 110.0], 0.0, 0.05, 0.0, 0.3, [True, True, False, False]
    )
    np.testing.assert_array_equal(g.price, [10.0, 0.0, 0.0, 10.0])
    np.testing.assert_array_equal(g.delta, [1.0, 0.0, 0.0, -1.0])
    for arr in (g.gamma, g.theta, g.vega, g.rho):
        np.testing.assert_array_equal(arr, 0.0)


def test_zero_volatility_prices_the_discounted_forward_payoff() -> None:
    s, k, t, r, q = 100.0, 95.0, 0.5, 0.04, 0.01
    price = bsm_price(s, k, t, r, q, 0.0, True)
    assert float(price) == pytest.approx(s * np.exp(-q * t) - k * np.exp(-r * t), abs=1e-12)


def test_inputs_broadcast_like_numpy() -> None:
    strikes = np.array([90.0, 100.0, 110.0])
    expiries = np.array([[0.1], [0.5]])
    prices = bsm_price(100.0, strikes, expiries, 0.03, 0.0, 0.25, True)
    assert prices.shape == (2, 3)
    assert np.all(np.diff(prices, axis=1) < 0)  # calls get cheaper as the strike rises
    assert np.all(prices[1] > prices[0])  # and dearer with more time


def test_nan_inputs_give_nan_not_an_exception() -> None:
    g = bsm_greeks([np.nan, 100.0], 100.0, [0.5, np.nan], 0.0, 0.0, 0.2, True)
    assert np.isnan(g.price).all()
    assert np.isnan(g.theta).all()


@pytest.mark.parametrize(
    ("spot", "strike", "vol", "message"),
    [(-1.0, 100.0, 0.2, "spot"), (100.0, 0.0, 0.2, "strike"), (100.0, 100.0, -0.1, "vol")],
)
def test_invalid_inputs_raise_a_clear_error(
    spot: float, strike: float, vol: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bsm_price(spot, strike, 0.5, 0.0, 0.0, vol, True)


def test_bad_call_put_flag_is_rejected() -> None:
    with pytest.raises(ValueError, match="C/P"):
        bsm_price(100.0, 100.0, 0.5, 0.0, 0.0, 0.2, ["C", "X"])


def test_the_unchecked_entry_gives_bsm_greeks_bit_for_bit() -> None:
    from core.options.pricing import _bsm_greeks_unchecked

    rng = np.random.default_rng(11)
    n = 3_000
    k = 600.0 * np.exp(rng.normal(0, 0.2, n))
    t = np.concatenate([rng.uniform(-0.01, 0.2, n - 2), [0.0, np.nan]])
    v = np.concatenate([rng.uniform(0.0, 1.5, n - 3), [0.0, 0.0, 0.3]])
    is_call = rng.random(n) < 0.5
    want = bsm_greeks(600.0, k, t, 0.043, 0.01, v, is_call)
    for sl in (slice(None), slice(0, 1), slice(5, 8)):  # a chain, one contract, a few
        got = _bsm_greeks_unchecked(600.0, k[sl], t[sl], 0.043, 0.01, v[sl], np.where(is_call[sl], 1.0, -1.0))
        for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
            np.testing.assert_array_equal(getattr(got, name).view(np.int64),
                                          getattr(want, name)[sl].view(np.int64), err_msg=name)


def test_the_one_option_float_path_gives_the_array_core_bit_for_bit() -> None:
    from core.options.pricing import _bsm_greeks_one, _bsm_greeks_unchecked

    rng = np.random.default_rng(12)
    n = 4_000
    s = 600.0
    k = s * np.exp(rng.normal(0, 0.3, n))
    t = np.exp(rng.uniform(np.log(60 / 31_536_000), np.log(2.0), n))
    v = rng.uniform(0.02, 3.0, n)
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    for r, q in ((0.043, 0.0), (0.0, 0.013), (-0.005, 0.02)):
        arrays = _bsm_greeks_unchecked(s, k, t, r, q, v, sign)
        want = list(zip(*(getattr(arrays, f).tolist() for f in ("price", "delta", "gamma", "theta", "vega", "rho")),
                        strict=True))
        got = [_bsm_greeks_one(s, float(k[i]), float(t[i]), r, q, float(v[i]), float(sign[i])) for i in range(n)]
        assert [[x.hex() for x in g] for g in got if g is not None] == [[x.hex() for x in w] for w in want]
    assert _bsm_greeks_one(s, 600.0, 0.0, 0.04, 0.0, 0.2, 1.0) is None  # expired: the array path's job
    assert _bsm_greeks_one(s, 600.0, 0.1, 0.04, 0.0, 0.0, 1.0) is None  # no volatility
    assert _bsm_greeks_one(s, float("nan"), 0.1, 0.04, 0.0, 0.2, 1.0) is None
