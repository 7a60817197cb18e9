"""Option pricing used by the simulated chains, behind one function so it can be swapped.

Uses :mod:`core.options.pricing` (vectorised Black–Scholes–Merton). The volatility smile and
term structure are made up to look like a listed equity-option surface: puts richer than
calls (skew), wings richer than the money (curvature), short expiries a little richer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def smile_vol(base_vol: float, spot: float, strikes: FloatArray, t: FloatArray) -> FloatArray:
    """Return the implied volatility of each strike/expiry on a skewed smile."""
    t_eff = np.maximum(t, 1.0 / 365.0 / 6.5)
    m = np.log(strikes / spot) / np.sqrt(t_eff)
    term = 1.0 + 0.12 * np.exp(-t_eff * 24.0)
    vol = base_vol * term * (1.0 - 0.9 * m * base_vol + 1.4 * (m * base_vol) ** 2)
    return np.clip(vol, 0.4 * base_vol, 4.0 * base_vol)


def price_contracts(
    spot: float,
    strikes: FloatArray,
    t: FloatArray,
    rate: float,
    div_yield: float,
    vol: FloatArray,
    is_call: npt.NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return (price, delta, gamma, theta/day, vega/pt, rho) arrays for the contracts."""
    from core.options.pricing import bsm_greeks  # imported late: the module may be swapped

    g = bsm_greeks(spot, strikes, t, rate, div_yield, vol, is_call)
    return (np.asarray(g.price), np.asarray(g.delta), np.asarray(g.gamma),
            np.asarray(g.theta), np.asarray(g.vega), np.asarray(g.rho))
