"""Chunked numpy kernels for implied volatility and Greeks (private; see :mod:`core.options.iv`).

The problem is solved in Jäckel's normalised form. With forward ``F``, strike ``K``, discount
factor ``D`` and ``x = ln(F/K)``, every option is first turned into the out-of-the-money option
of the same strike (by put–call parity, subtracting the discounted intrinsic value) and then
into an out-of-the-money *call* on ``x̃ = -|x| <= 0`` (puts and calls are mirror images in the
normalised form). Its normalised price is

    b(x̃, s) = e^{x̃/2} N(x̃/s + s/2) - e^{-x̃/2} N(x̃/s - s/2),    β = OTM price / (D √(F K)),

and ``s = σ √t`` is the unknown total volatility. ``b`` runs from 0 to ``e^{x̃/2}``.

1. Initial guess: Stefanica & Radoičić's explicit formula ("An explicit implied volatility
   formula", 2017), which replaces N by Pólya's approximation and solves a quadratic; within
   17 % of the answer. Near the money with little time value (where that formula cancels
   badly) the Brenner–Subrahmanyam expansion ``s ≈ √(2π) (β - x̃/2)`` is used instead.
2. Two third-order Householder steps on ``ln b(s) - ln β``. In log space the objective is
   concave and nearly linear in the wings, so the steps are stable from deep out of the money
   (β ~ 1e-300) to near the upper bound; each step needs one evaluation of ``b`` (two calls
   to ``ndtr``) because the derivatives only need the normal density. Convergence is quartic:
   after two steps the error is at the rounding level of the input price.
3. Entries whose last step was not small (or that produced a non-finite value) are solved
   again by a bracketed, safeguarded iteration on the same objective.
4. Greeks are computed in the same pass, at exactly the returned volatility. ``N(d1)`` and
   ``N(d2)`` there come from the last Householder evaluation by a third-order Taylor step
   (exact to rounding because the last step is tiny), which saves a third pair of ``ndtr``.

Performance: work happens in chunks of a few thousand contracts so that the temporaries stay
in the CPU cache and numpy's per-call overhead is amortised, and every temporary comes from a
small per-thread pool of reused buffers (``out=`` everywhere), so the hot path allocates
nothing and never page-faults.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]
Num = FloatArray | float

CHUNK = 8192
"""Contracts per chunk: the live temporaries of a chunk fit in L2 together."""

_POLYA = 2.0 / math.pi  # Pólya's constant in N(y) ≈ ½ + ½ sign(y) √(1 - exp(-k y²))
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
_STEP_TOL = 1e-3
"""Relative size of the second Householder step below which its quartic convergence makes
the result exact to rounding (measured: second steps up to 1.3e-4 leave errors below 5e-11
relative over x̃ in [-5, 0] and s in [3e-4, 7])."""
_TAYLOR_TOL = 1e-4
"""Largest |δ|·(1 + |d| + s) for which the Taylor update of N(d) is exact to rounding."""
_MAX_FALLBACK_ITER = 100
_EPS = float(np.finfo(np.float64).eps)

# Reason codes (mirrored by core.options.iv.IVReason; kept here to avoid an import cycle).
OK = 0
EXPIRED = 1
NO_PRICE = 2
BELOW_INTRINSIC = 3
ABOVE_UPPER_BOUND = 4
NOT_CONVERGED = 6
INVALID_INPUT = 7

mul = np.multiply
add = np.add
sub = np.subtract
div = np.divide


class Pool:
    """Reusable float64 buffers of one chunk size (last released, first reused: cache-hot)."""

    __slots__ = ("_free", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: list[FloatArray] = []

    def take(self, n: int) -> FloatArray:
        """Return a buffer of length ``n`` (contents undefined)."""
        base = self._free.pop() if self._free else np.empty(self.size)
        return base[:n]

    def give(self, *arrays: FloatArray) -> None:
        """Return buffers obtained from :meth:`take`."""
        for a in arrays:
            self._free.append(a.base if a.base is not None else a)  # type: ignore[arg-type]


_local = threading.local()


def pool() -> Pool:
    """Return this thread's buffer pool."""
    p: Pool | None = getattr(_local, "pool", None)
    if p is None:
        p = _local.pool = Pool(CHUNK)
    return p


def initial_guess(p: Pool, x: FloatArray, beta: FloatArray, eh: FloatArray) -> FloatArray:
    """Return a first estimate of the total volatility ``s`` for ``x <= 0`` and price ``beta``.

    ``eh`` is ``exp(x / 2)``. Stefanica–Radoičić in the notation of their paper with
    ``y = x``, ``α = β e^{x/2}`` (the price in units of the strike) and Pólya constant ``k``.
    The result is a pool buffer.
    """
    n = x.shape[0]
    k = _POLYA
    ey = mul(eh, eh, out=p.take(n))
    alpha = mul(beta, eh, out=p.take(n))
    f1 = mul(x, -k, out=p.take(n))
    np.exp(f1, out=f1)  # e^{-ky}
    g1 = mul(f1, ey, out=p.take(n))  # e^{(1-k)y}
    tmp = div(1.0, g1, out=p.take(n))
    a = sub(g1, tmp, out=p.take(n))
    mul(a, a, out=a)  # A = (e^{(1-k)y} - e^{-(1-k)y})²
    add(g1, tmp, out=g1)  # e^{(1-k)y} + e^{-(1-k)y}
    # B = 4 (e^{-ky} + e^{ky}) - 2 (e^{(1-k)y} + e^{-(1-k)y}) (1 + e^{2y} - R²) e^{-y},
    # R = 2α - (e^y - 1).
    b = mul(alpha, 2.0, out=p.take(n))
    sub(b, ey, out=b)
    add(b, 1.0, out=b)
    mul(b, b, out=b)
    sub(b, 1.0, out=b)
    div(b, ey, out=b)
    sub(b, ey, out=b)  # (R² - 1 - e^{2y}) e^{-y}
    mul(g1, b, out=g1)
    div(1.0, f1, out=b)
    add(b, f1, out=b)
    mul(b, 2.0, out=b)
    add(b, g1, out=b)
    mul(b, 2.0, out=b)
    # C = 16 α (1 + α - e^y) (e^y - α) (1 + α) e^{-2y}
    c = add(alpha, 1.0, out=g1)
    sub(c, ey, out=tmp)
    mul(c, tmp, out=c)
    sub(ey, alpha, out=tmp)
    mul(c, tmp, out=c)
    mul(c, alpha, out=c)
    mul(ey, ey, out=tmp)
    div(c, tmp, out=c)
    mul(c, 16.0, out=c)
    # Γ = ln((B + √(B² + 4AC)) / 2C) / k
    mul(a, c, out=a)
    mul(a, 4.0, out=a)
    gamma = mul(b, b, out=f1)
    add(gamma, a, out=gamma)
    np.sqrt(gamma, out=gamma)
    add(gamma, b, out=gamma)
    mul(c, 2.0, out=c)
    div(gamma, c, out=gamma)
    np.log(gamma, out=gamma)
    mul(gamma, 1.0 / k, out=gamma)
    # Root choice: compare α with C0 = e^y/2 - (½ - ½ √(1 - e^{2ky})).
    c0 = mul(x, 2.0 * k, out=a)
    np.expm1(c0, out=c0)
    np.negative(c0, out=c0)
    np.sqrt(c0, out=c0)
    add(c0, ey, out=c0)
    sub(c0, 1.0, out=c0)
    mul(c0, 0.5, out=c0)
    lower = alpha <= c0
    t1 = add(gamma, x, out=b)
    np.maximum(t1, 0.0, out=t1)
    np.sqrt(t1, out=t1)
    sub(gamma, x, out=gamma)
    np.sqrt(gamma, out=gamma)
    np.negative(t1, out=t1, where=lower)
    s = add(gamma, t1, out=gamma)  # s = √(Γ - y) ± √(Γ + y)
    # Near the money with little time value the quadratic cancels badly: use the
    # Brenner–Subrahmanyam expansion b ≈ s/√(2π) + x/2 instead.
    s_atm = mul(x, -0.5, out=c)
    add(s_atm, beta, out=s_atm)
    mul(s_atm, _SQRT_2PI, out=s_atm)
    mul(x, -2.0, out=tmp)
    near = tmp < s_atm
    near &= beta < 0.05
    near |= ~(s > 0.0)
    np.copyto(s, s_atm, where=near)
    p.give(ey, alpha, tmp, a, b, c)
    return s


class Eval:
    """Normalised evaluation at one point, kept for the Taylor update of the Greeks."""

    __slots__ = ("d1", "n1", "n2", "pdf1")

    def __init__(self, d1: FloatArray, n1: FloatArray, n2: FloatArray, pdf1: FloatArray) -> None:
        self.d1 = d1
        self.n1 = n1
        self.n2 = n2
        self.pdf1 = pdf1


def householder_step(
    p: Pool,
    x: FloatArray,
    s: FloatArray,
    beta_log: FloatArray,
    eh: FloatArray,
    ehi: FloatArray,
    keep: bool = False,
) -> tuple[FloatArray, Eval | None]:
    """Return the third-order Householder step for ``ln b(x, s) = beta_log`` (a pool buffer).

    ``eh`` is ``exp(x/2)`` and ``ehi`` its inverse. With ``keep``, also return the
    evaluation (d1, N(d1), N(d2), φ(d1)) at ``s`` (pool buffers the caller gives back).
    """
    n = x.shape[0]
    inv_s = div(1.0, s, out=p.take(n))
    xs = mul(x, inv_s, out=p.take(n))
    d1 = mul(s, 0.5, out=p.take(n))
    add(d1, xs, out=d1)
    d2 = sub(d1, s, out=p.take(n))
    n1 = ndtr(d1, out=p.take(n))
    n2 = ndtr(d2, out=p.take(n))
    b = mul(eh, n1, out=p.take(n))
    r = mul(ehi, n2, out=p.take(n))
    sub(b, r, out=b)
    pdf1 = mul(d1, d1, out=p.take(n))
    mul(pdf1, -0.5, out=pdf1)
    np.exp(pdf1, out=pdf1)
    mul(pdf1, _INV_SQRT_2PI, out=pdf1)
    mul(pdf1, eh, out=r)
    div(r, b, out=r)  # (ln b)' = b'/b with b' = e^{x/2} φ(d1)
    nu = np.log(b, out=b)
    sub(beta_log, nu, out=nu)
    div(nu, r, out=nu)  # Newton step
    h2 = mul(d1, d2, out=d2)
    mul(h2, inv_s, out=h2)  # b''/b' = d1 d2 / s
    h3 = mul(xs, inv_s, out=xs)
    mul(h3, h3, out=h3)
    mul(h3, -3.0, out=h3)
    hh3 = mul(h2, h2, out=inv_s)
    add(h3, hh3, out=h3)
    sub(h3, 0.25, out=h3)  # b'''/b' = (b''/b')² - 3 x²/s⁴ - 1/4
    mul(h2, 3.0, out=hh3)
    sub(h2, r, out=h2)  # (ln b)''/(ln b)'
    sub(hh3, r, out=hh3)
    sub(hh3, r, out=hh3)
    mul(hh3, r, out=hh3)
    sub(h3, hh3, out=hh3)  # (ln b)'''/(ln b)' = b'''/b' - r (3 b''/b' - 2 r)
    mul(hh3, nu, out=hh3)
    mul(hh3, 1.0 / 6.0, out=hh3)
    add(hh3, h2, out=hh3)
    mul(hh3, nu, out=hh3)
    add(hh3, 1.0, out=hh3)  # 1 + ν (h2 + ν h3 / 6)
    mul(h2, nu, out=h2)
    mul(h2, 0.5, out=h2)
    add(h2, 1.0, out=h2)  # 1 + ν h2 / 2
    mul(h2, nu, out=h2)
    div(h2, hh3, out=h2)
    p.give(hh3, h3, nu, r)
    if keep:
        return h2, Eval(d1, n1, n2, pdf1)
    p.give(d1, n1, n2, pdf1)
    return h2, None


def taylor_cdf_inplace(
    n: FloatArray, pdf: FloatArray, d: FloatArray, delta: FloatArray, tmp: FloatArray
) -> None:
    """Replace ``N(d)`` in ``n`` by ``N(d + δ)`` using a third-order Taylor expansion."""
    # N(d+δ) = N(d) + φ(d) δ (1 + δ ((d² - 1) δ/6 - d/2)) + O(d³ δ⁴)
    mul(d, d, out=tmp)
    sub(tmp, 1.0, out=tmp)
    mul(tmp, delta, out=tmp)
    mul(tmp, 1.0 / 3.0, out=tmp)
    sub(tmp, d, out=tmp)
    mul(tmp, 0.5, out=tmp)
    mul(tmp, delta, out=tmp)
    add(tmp, 1.0, out=tmp)
    mul(tmp, delta, out=tmp)
    mul(tmp, pdf, out=tmp)
    add(n, tmp, out=n)


def _b(x: FloatArray, s: FloatArray) -> FloatArray:
    d1 = x / s + 0.5 * s
    return np.exp(0.5 * x) * ndtr(d1) - np.exp(-0.5 * x) * ndtr(d1 - s)


def solve_fallback(
    x: FloatArray, beta: FloatArray, beta_tol: FloatArray, s0: FloatArray
) -> FloatArray:
    """Solve ``b(x, s) = beta`` robustly (bracketed, safeguarded Householder in log space).

    Used for the few entries where the fast path did not converge. An entry is solved once
    its step is negligible or its price matches ``beta`` within ``beta_tol`` (the rounding
    error of ``beta``, which limits any solver when vega is tiny). Returns NaN where even
    this fails.
    """
    p = Pool(x.shape[0])
    beta_log = np.log(beta)
    eh = np.exp(0.5 * x)
    ehi = 1.0 / eh
    lo = np.zeros_like(beta)
    hi = np.where(np.isfinite(s0) & (s0 > 0.0), s0, 1.0)
    # Grow the upper end of the bracket until it prices above the target.
    for _ in range(40):
        above = _b(x, hi) >= beta
        if above.all():
            break
        lo = np.where(above, lo, hi)
        hi = np.where(above, hi, hi * 2.0)
    s = np.where(np.isfinite(s0) & (s0 > lo) & (s0 < hi), s0, 0.5 * (lo + hi))
    done = np.zeros(beta.shape, dtype=bool)
    for _ in range(_MAX_FALLBACK_ITER):
        val = _b(x, s)
        done |= np.abs(val - beta) <= beta_tol
        if done.all():
            break
        low = val < beta
        lo = np.where(low, s, lo)
        hi = np.where(low, hi, s)
        step, _ = householder_step(p, x, s, beta_log, eh, ehi)
        new = s + step
        p.give(step)
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, 0.5 * (lo + hi), new)
        done |= np.abs(new - s) <= 1e-15 * s
        s = np.where(done, s, new)
        if done.all():
            break
    return np.where(done, s, np.nan)


def _reasons(
    price: Num, spot: Num, strike: Num, t: Num, rate: Num, div_yield: Num,
    otm: FloatArray, beta: FloatArray, eh: FloatArray, out: npt.NDArray[np.int8],
) -> None:  # fmt: skip
    """Fill reason codes for a chunk (the last rule that applies wins)."""
    n = out.shape[0]
    out[:] = OK
    out[~(beta < eh)] = ABOVE_UPPER_BOUND
    out[~(otm > 0.0)] = BELOW_INTRINSIC
    out[~np.broadcast_to(np.asarray(price) > 0.0, (n,))] = NO_PRICE
    out[~np.broadcast_to(np.asarray(t) > 0.0, (n,))] = EXPIRED
    good = (np.asarray(spot) > 0.0) & (np.asarray(strike) > 0.0)
    good &= np.isfinite(spot) & np.isfinite(strike) & np.isfinite(rate) & np.isfinite(div_yield)
    good &= np.isfinite(t) | (np.asarray(t) < 0.0)
    out[~np.broadcast_to(good, (n,))] = INVALID_INPUT


def iv_greeks_chunk(
    price: Num,
    spot: Num,
    strike: Num,
    t: Num,
    rate: Num,
    div_yield: Num,
    w: Num,
    out_iv: FloatArray,
    out_reason: npt.NDArray[np.int8],
    out_greeks: tuple[FloatArray, ...] | None,
) -> None:
    """Compute implied volatility, reason codes and optionally Greeks for one chunk.

    Each input is a 1-D array of the chunk's length or a scalar shared by the chunk; ``w``
    is +1 for calls and -1 for puts. Results are written to the ``out_*`` arrays; the Greeks
    are (model price, delta, gamma, theta per day, vega per point, rho per 1 %) at the
    returned volatility, NaN where it is NaN.
    """
    n = out_iv.shape[0]
    p = pool()
    take = p.take

    # --- Normalisation -------------------------------------------------------------------
    dfq = mul(div_yield, t, out=take(n))
    np.negative(dfq, out=dfq)
    np.exp(dfq, out=dfq)
    fwd_d = mul(spot, dfq, out=take(n))  # D·F
    strike_d = mul(rate, t, out=take(n))
    np.negative(strike_d, out=strike_d)
    np.exp(strike_d, out=strike_d)
    mul(strike_d, strike, out=strike_d)  # D·K
    x = div(fwd_d, strike_d, out=take(n))
    np.log(x, out=x)
    otm = sub(fwd_d, strike_d, out=take(n))
    mul(otm, w, out=otm)
    np.maximum(otm, 0.0, out=otm)  # discounted intrinsic value
    sub(price, otm, out=otm)  # price of the out-of-the-money twin
    beta = mul(fwd_d, strike_d, out=take(n))
    np.sqrt(beta, out=beta)
    div(otm, beta, out=beta)
    xt = np.abs(x, out=take(n))
    np.negative(xt, out=xt)
    eh = mul(xt, 0.5, out=take(n))
    np.exp(eh, out=eh)

    live = otm > 0.0
    live &= beta < eh
    if isinstance(t, np.ndarray):
        live &= t > 0.0
    elif not t > 0.0:
        live[:] = False
    all_live = bool(live.all())
    if all_live:
        out_reason[:] = OK
    else:
        _reasons(price, spot, strike, t, rate, div_yield, otm, beta, eh, out_reason)
        live = out_reason == OK
        # Neutral placeholders keep the arithmetic quiet; these entries become NaN below.
        dead = ~live
        xt[dead] = -0.1
        eh[dead] = math.exp(-0.05)
        beta[dead] = 0.05

    # --- Solve -----------------------------------------------------------------------------
    ehi = div(1.0, eh, out=take(n))
    beta_log = np.log(beta, out=take(n))
    s1 = initial_guess(p, xt, beta, eh)
    step, _ = householder_step(p, xt, s1, beta_log, eh, ehi)
    add(s1, step, out=s1)
    p.give(step)
    step, ev = householder_step(p, xt, s1, beta_log, eh, ehi, keep=True)
    assert ev is not None
    s = add(s1, step, out=take(n))
    p.give(ehi, beta_log)
    converged = np.abs(step) <= _STEP_TOL * s
    converged &= s > 0.0
    if not all_live:
        converged |= ~live
    fixed = np.flatnonzero(~converged)
    if fixed.size:
        # Rounding error of beta: a few ulps of the price and of the intrinsic value removed.
        price_f = np.broadcast_to(price, (n,))[fixed]
        sq = np.sqrt(fwd_d[fixed] * strike_d[fixed])
        tol = 4.0 * _EPS * (2.0 * price_f - otm[fixed]) / sq
        s[fixed] = solve_fallback(xt[fixed], beta[fixed], tol, s[fixed])
        lost = fixed[~np.isfinite(s[fixed])]
        if lost.size:
            out_reason[lost] = NOT_CONVERGED
            live[lost] = False
            all_live = False
    p.give(otm, beta)

    if isinstance(t, np.ndarray):
        sqrt_t: Num = np.sqrt(t, out=take(n))
    else:
        sqrt_t = math.sqrt(t) if t > 0.0 else math.nan
    div(s, sqrt_t, out=out_iv)
    if not all_live:
        out_iv[~live] = np.nan
    if out_greeks is None:
        p.give(dfq, fwd_d, strike_d, x, xt, eh, s1, step, s, ev.d1, ev.n1, ev.n2, ev.pdf1)
        if isinstance(sqrt_t, np.ndarray):
            p.give(sqrt_t)
        return

    # --- Greeks at s, from the evaluation at s1 ----------------------------------------------
    g_price, g_delta, g_gamma, g_theta, g_vega, g_rho = out_greeks
    inv_s = div(1.0, s, out=take(n))
    d1 = mul(xt, inv_s, out=take(n))
    tmp = mul(s, 0.5, out=take(n))
    add(d1, tmp, out=d1)  # normalised d1 at s
    delta1 = sub(d1, ev.d1, out=tmp)
    delta2 = sub(delta1, step, out=take(n))
    d2_old = sub(ev.d1, s1, out=step)
    # Taylor validity: |δ| (1 + |d| + s) small enough that the O(d³ δ⁴) term is below rounding.
    reach = np.abs(ev.d1, out=take(n))
    add(reach, s1, out=reach)
    add(reach, 1.0, out=reach)
    poly = np.abs(delta1, out=take(n))
    np.maximum(poly, np.abs(delta2, out=xt), out=poly)
    mul(reach, poly, out=reach)
    redo = ~(reach <= _TAYLOR_TOL)
    ey = mul(eh, eh, out=eh)
    n1, n2, pdf2 = ev.n1, ev.n2, ev.pdf1
    taylor_cdf_inplace(n1, ev.pdf1, ev.d1, delta1, poly)
    mul(pdf2, ey, out=pdf2)  # φ(d2) = e^{x} φ(d1)
    taylor_cdf_inplace(n2, pdf2, d2_old, delta2, poly)
    if fixed.size:
        redo[fixed] = True
    if not all_live:
        redo &= live
    idx = np.flatnonzero(redo)
    if idx.size:
        n1[idx] = ndtr(d1[idx])
        n2[idx] = ndtr(d1[idx] - s[idx])
    pdf = mul(d1, d1, out=reach)
    mul(pdf, -0.5, out=pdf)
    np.exp(pdf, out=pdf)
    mul(pdf, _INV_SQRT_2PI, out=pdf)  # φ of the normalised d1

    # Back to the option's own orientation. With flip = (x > 0) the normalised option is the
    # mirror image (d1 = -d̃2, d2 = -d̃1) and w·N(w·d) = N(d) - [put], so
    #   w N(w d1) = N1 + flip (1 - N1 - N2) - [put],  w N(w d2) = N2 + flip (1 - N1 - N2) - [put].
    flip = x > 0.0
    u = add(n1, n2, out=poly)
    sub(1.0, u, out=u)
    mul(u, flip, out=u)
    put = mul(w, -0.5, out=delta2)
    add(put, 0.5, out=put)  # 1 for puts, 0 for calls
    sub(u, put, out=u)
    wn1 = add(n1, u, out=n1)
    wn2 = add(n2, u, out=n2)
    sub(ey, 1.0, out=ey)
    mul(ey, flip, out=ey)
    add(ey, 1.0, out=ey)
    mul(pdf, ey, out=pdf)  # φ(d1) in the option's orientation
    mul(pdf, fwd_d, out=pdf)  # D F φ(d1)

    mul(wn1, dfq, out=g_delta)
    fwd_leg = mul(fwd_d, wn1, out=wn1)  # D F w N(w d1)
    strike_leg = mul(strike_d, wn2, out=wn2)  # D K w N(w d2)
    sub(fwd_leg, strike_leg, out=g_price)
    mul(pdf, inv_s, out=g_gamma)
    spot2 = mul(spot, spot, out=u)
    div(g_gamma, spot2, out=g_gamma)
    mul(pdf, sqrt_t, out=g_vega)
    mul(g_vega, 0.01, out=g_vega)
    mul(strike_leg, t, out=g_rho)
    mul(g_rho, 0.01, out=g_rho)
    mul(pdf, s, out=g_theta)
    div(g_theta, t, out=g_theta)
    mul(g_theta, -0.5, out=g_theta)
    mul(strike_leg, rate, out=strike_leg)
    sub(g_theta, strike_leg, out=g_theta)
    mul(fwd_leg, div_yield, out=fwd_leg)
    add(g_theta, fwd_leg, out=g_theta)
    mul(g_theta, 1.0 / 365.0, out=g_theta)
    if not all_live:
        dead = ~live
        for arr in out_greeks:
            arr[dead] = np.nan
    p.give(dfq, fwd_d, strike_d, x, xt, eh, s1, step, s, ev.d1, n1, n2, pdf2)
    p.give(inv_s, d1, tmp, delta2, reach, poly)
    if isinstance(sqrt_t, np.ndarray):
        p.give(sqrt_t)
