"""Benchmark: implied volatility plus every Greek for option chains of 1k, 10k and 100k contracts.

Ours (``core.options.iv.implied_vol_greeks``) is timed against py_vollib_vectorized and
QuantLib in the same run, each peer in its own process (py_vollib_vectorized patches
py_vollib on import). Everything runs on one core: thread pools are limited to one thread
before numpy is imported and the process is pinned to one CPU where the OS allows it.

The chains are synthetic but shaped like real ones: a few hundred underlyings from $5 to
$800, listed expiries from half a day to 60 days, strikes on exchange-style increments from
deep in the money to deep out of the money (±6 standard deviations and ±40 %), and a
volatility smile. Prices are exact model prices, so every library's implied volatility can
be compared with the volatility that generated the price. Accuracy is measured where vega is
not negligible (a 1e-8 change of volatility moves the price by more than 64 ulps of the
strike); Greeks are compared with the closed forms evaluated at each library's own IV.

Usage::

    python benchmarks/greeks.py            # table
    python benchmarks/greeks.py --json     # one JSON object
    python benchmarks/greeks.py --sizes 10000 --repeat 15

Peers are optional and never needed at run time. Install them into the venv with::

    pip install numba pandas QuantLib
    pip install --no-deps py_lets_be_rational==1.0.0 py_vollib==1.0.1 py_vollib_vectorized==0.1.1

(``--no-deps`` because py_lets_be_rational 1.0.0 pins ancient numpy and numba; see
``shared/notes/benchmark-peers.md``). When one is missing the table says "not installed" and
the JSON carries null for its fields (plus ``<peer>_status``); a peer that is installed but
broken is reported as "failed: ..." instead of stopping the run.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.options.iv import implied_vol_greeks  # noqa: E402
from core.options.pricing import bsm_greeks, bsm_price  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
RATE = 0.045
DIV_YIELD = 0.013
PEERS = ("py_vollib_vectorized", "quantlib")
GREEKS = ("delta", "gamma", "theta", "vega", "rho")
_EPS = float(np.finfo(np.float64).eps)
_NOT_INSTALLED = 3  # worker exit codes
_FAILED = 4


# --- data ------------------------------------------------------------------------------------


def make_chain(n: int, seed: int = 20240731) -> dict[str, np.ndarray]:
    """Return ``n`` contracts: inputs, exact model prices and the true volatilities."""
    rng = np.random.default_rng(seed)
    n_und = max(1, n // 300)
    und_spot = np.exp(rng.uniform(np.log(5.0), np.log(800.0), n_und))
    und_atm = rng.uniform(0.12, 0.90, n_und)
    und = rng.integers(0, n_und, n)
    spot = und_spot[und]
    listed = np.array([0.5, 1.5, 2.5, 3.5, 4.5, 7.5, 14.5, 21.5, 28.5, 35.5, 45.5, 60.0])
    days = listed[rng.integers(0, listed.size, n)]
    t = days / 365.0
    atm = und_atm[und]
    sd = atm * np.sqrt(t)
    z = rng.uniform(-6.0, 6.0, n)  # standard deviations from the money
    deep = rng.random(n) < 0.15  # plus deep ITM/OTM strikes at up to ±40 %
    log_k = np.where(deep, rng.uniform(-0.4, 0.4, n), z * sd)
    increment = np.select([spot < 25, spot < 200], [0.5, 1.0], 5.0)
    strike = np.maximum(np.round(spot * np.exp(log_k) / increment) * increment, increment)
    k = np.log(strike / spot) / np.maximum(sd, 1e-12)
    vol = np.clip(atm * (1.0 - 0.04 * k + 0.01 * k * k), 0.05, 3.0)  # a skewed smile
    is_call = rng.random(n) < 0.5
    price = bsm_price(spot, strike, t, RATE, DIV_YIELD, vol, is_call)
    vega = bsm_greeks(spot, strike, t, RATE, DIV_YIELD, vol, is_call).vega * 100.0
    meaningful = vega * 1e-8 > 64 * _EPS * np.maximum(spot, strike)
    return {
        "price": price,
        "spot": spot,
        "strike": strike,
        "t": t,
        "is_call": is_call,
        "vol": vol,
        "meaningful": meaningful,
    }


# --- timing ----------------------------------------------------------------------------------


def _median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 2) -> tuple[float, Any]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def run_ours(data: dict[str, np.ndarray], repeat: int) -> tuple[float, dict[str, np.ndarray]]:
    """Time our IV + Greeks; return the median in ms and the results (our units)."""
    args = (
        data["price"],
        data["spot"],
        data["strike"],
        data["t"],
        RATE,
        DIV_YIELD,
        data["is_call"],
    )
    ms, (res, greeks) = _median_ms(lambda: implied_vol_greeks(*args), repeat)
    out = {"iv": res.iv} | {name: getattr(greeks, name) for name in GREEKS}
    return ms, out


def _worker_py_vollib_vectorized(
    data: dict[str, np.ndarray], repeat: int
) -> tuple[float, dict[str, np.ndarray]]:
    import py_vollib_vectorized as pvv

    n = data["price"].shape[0]
    flag = np.where(data["is_call"], "c", "p")
    rate = np.full(n, RATE)
    q = np.full(n, DIV_YIELD)
    model = "black_scholes_merton"  # anything else silently ignores the dividend yield

    def run() -> tuple[np.ndarray, dict[str, list[float]]]:
        iv = pvv.vectorized_implied_volatility(
            data["price"], data["spot"], data["strike"], data["t"], rate, flag, q=q,
            model=model, return_as="numpy", on_error="ignore",
        )  # fmt: skip
        greeks = pvv.get_all_greeks(
            flag,
            data["spot"],
            data["strike"],
            data["t"],
            rate,
            iv,
            q,
            model=model,
            return_as="dict",
        )
        return iv, greeks

    ms, (iv, greeks) = _median_ms(run, repeat)
    iv = np.asarray(iv, dtype=np.float64).reshape(-1)
    iv[iv <= 0] = np.nan  # failures come back as 0.0
    # Its units already match ours: theta per day, vega per point, rho per 1 %.
    out = {"iv": iv} | {name: np.asarray(greeks[name], dtype=np.float64) for name in GREEKS}
    return ms, out


def _worker_quantlib(
    data: dict[str, np.ndarray], repeat: int
) -> tuple[float, dict[str, np.ndarray]]:
    import QuantLib as ql

    price, spot, strike, t, is_call = (data[k] for k in ("price", "spot", "strike", "t", "is_call"))
    n = price.shape[0]
    disc = np.exp(-RATE * t)
    fwd = spot * np.exp((RATE - DIV_YIELD) * t)
    types = [ql.Option.Call if c else ql.Option.Put for c in is_call]
    rows = list(
        zip(
            types,
            strike.tolist(),
            fwd.tolist(),
            price.tolist(),
            disc.tolist(),
            t.tolist(),
            spot.tolist(),
            strict=True,
        )
    )

    def run() -> np.ndarray:
        out = np.full((6, n), np.nan)
        for i, (typ, k, f, p, d, tt, s) in enumerate(rows):
            try:
                # Accuracy 1e-12 on σ√t for a fair comparison (the default 1e-6 is far looser).
                std = ql.blackFormulaImpliedStdDev(
                    typ, k, f, p, d, 0.0, 0.3 * math.sqrt(tt), 1e-12, 100
                )
            except RuntimeError:
                continue
            if not std > 0:
                continue
            calc = ql.BlackCalculator(ql.PlainVanillaPayoff(typ, k), f, std, d)
            out[0, i] = std / math.sqrt(tt)
            out[1, i] = calc.delta(s)
            out[2, i] = calc.gamma(s)
            out[3, i] = calc.theta(s, tt) / 365.0  # per year -> per day
            out[4, i] = calc.vega(tt) / 100.0  # per 1.00 -> per point
            out[5, i] = calc.rho(tt) / 100.0  # per 1.00 -> per 1 %
        return out

    ms, arr = _median_ms(run, repeat, warmup=1)
    return ms, dict(zip(("iv", *GREEKS), arr, strict=True))


_WORKERS = {"py_vollib_vectorized": _worker_py_vollib_vectorized, "quantlib": _worker_quantlib}


def worker_main(name: str, input_path: Path, output_path: Path, repeat: int) -> int:
    """Run one peer on the saved chain and save its timing and results; exit 3 if missing."""
    data = dict(np.load(input_path))
    try:
        ms, out = _WORKERS[name](data, repeat)
    except ImportError:
        return _NOT_INSTALLED
    except Exception as e:  # a broken install (e.g. numba typing errors) is reported, not fatal
        print(f"{type(e).__name__}: {e}"[:500], file=sys.stderr)
        return _FAILED
    np.savez(output_path, ms=np.array(ms), **out)
    return 0


def run_peer(
    name: str, data: dict[str, np.ndarray], repeat: int, tmp: Path
) -> tuple[float, dict[str, np.ndarray]] | str:
    """Time a peer in a separate process; return why not ("not installed", "failed: ...")."""
    inp, outp = tmp / f"chain_{name}.npz", tmp / f"out_{name}.npz"
    np.savez(inp, **data)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--input", str(inp),
           "--output", str(outp), "--repeat", str(repeat)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == _NOT_INSTALLED:
        return "not installed"
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return f"failed: {last[0][:200]}"
    res = dict(np.load(outp))
    return float(res.pop("ms")), res


# --- accuracy --------------------------------------------------------------------------------


def accuracy(data: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> dict[str, Any]:
    """Return IV errors against the true volatility and Greek errors against the closed forms."""
    meaningful = data["meaningful"]
    iv = out["iv"]
    got = meaningful & np.isfinite(iv)
    iv_err = np.abs(iv[got] - data["vol"][got])
    ok = np.isfinite(iv)
    closed = bsm_greeks(
        data["spot"][ok],
        data["strike"][ok],
        data["t"][ok],
        RATE,
        DIV_YIELD,
        iv[ok],
        data["is_call"][ok],
    )
    greek_err = {
        name: float(np.nanmax(np.abs(out[name][ok] - getattr(closed, name)))) for name in GREEKS
    }
    return {
        "max_iv_err": float(iv_err.max()) if iv_err.size else None,
        "median_iv_err": float(np.median(iv_err)) if iv_err.size else None,
        "iv_failures": int((meaningful & ~np.isfinite(iv)).sum()),
        "max_greek_err": max(greek_err.values()),
        "greek_err": greek_err,
        "max_theta_err_per_year": greek_err["theta"] * 365.0,
    }


# --- report ----------------------------------------------------------------------------------


def _pin_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def benchmark(sizes: tuple[int, ...], repeat: int, peers: tuple[str, ...]) -> dict[str, Any]:
    """Run every size for us and the peers; return the JSON-ready results."""
    cpu = _pin_one_core()
    result: dict[str, Any] = {
        "sizes": {},
        "meta": {
            "repeat": repeat,
            "statistic": "median ms of IV + delta, gamma, theta, vega, rho",
            "cpu": cpu,
            "numpy": np.__version__,
            "rate": RATE,
            "div_yield": DIV_YIELD,
            "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            data = make_chain(n)
            ours_ms, ours_out = run_ours(data, repeat)
            ours_acc = accuracy(data, ours_out)
            row: dict[str, Any] = {
                "contracts": n,
                "meaningful_contracts": int(data["meaningful"].sum()),
                "ours_ms": round(ours_ms, 4),
                "ours_max_iv_err": ours_acc["max_iv_err"],
                "ours_iv_failures": ours_acc["iv_failures"],
                "ours_max_greek_err": ours_acc["max_greek_err"],
                "ours_greek_err": ours_acc["greek_err"],
            }
            for peer in peers:
                peer_res = run_peer(peer, data, repeat, Path(tmp))
                if isinstance(peer_res, str):
                    row[f"{peer}_status"] = peer_res
                    row |= {f"{peer}_ms": None, f"{peer}_max_iv_err": None, f"{peer}_iv_failures": None,
                            f"{peer}_max_greek_err": None, f"{peer}_greek_err": None,
                            f"{peer}_max_theta_err_per_year": None, f"speedup_vs_{peer}": None}  # fmt: skip
                    continue
                ms, out = peer_res
                acc = accuracy(data, out)
                row |= {
                    f"{peer}_status": "ok",
                    f"{peer}_ms": round(ms, 4),
                    f"{peer}_max_iv_err": acc["max_iv_err"],
                    f"{peer}_iv_failures": acc["iv_failures"],
                    f"{peer}_max_greek_err": acc["max_greek_err"],
                    f"{peer}_greek_err": acc["greek_err"],
                    f"{peer}_max_theta_err_per_year": acc["max_theta_err_per_year"],
                    f"speedup_vs_{peer}": round(ms / ours_ms, 2),
                }
            result["sizes"][str(n)] = row
    return result


def _fmt_ms(ms: float | None, ours: float, status: str | None) -> str:
    if ms is None:
        return (status or "not installed")[:22]
    return f"{ms:9.2f} ({ms / ours:5.1f}x)"


def _fmt_err(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1e}"


def print_table(result: dict[str, Any]) -> None:
    """Print the results as a readable table."""
    meta = result["meta"]
    print(
        f"IV + delta, gamma, theta, vega, rho: median of {meta['repeat']} runs, one core (cpu {meta['cpu']})"
    )
    print(f"{'contracts':>10} {'ours ms':>9} {'py_vollib_vectorized ms':>24} {'QuantLib ms':>22}")
    for n, row in result["sizes"].items():
        print(
            f"{int(n):>10,} {row['ours_ms']:9.2f} "
            f"{_fmt_ms(row['py_vollib_vectorized_ms'], row['ours_ms'], row.get('py_vollib_vectorized_status')):>24} "
            f"{_fmt_ms(row['quantlib_ms'], row['ours_ms'], row.get('quantlib_status')):>22}"
        )
    print()
    print("Accuracy where vega is not negligible: max |IV - true vol| and failures; Greeks: max")
    print(
        "|Greek - closed form at that library's own IV| (theta per day, vega per vol point, rho per 1 %)"
    )
    head = f"{'contracts':>10} {'library':>21} {'IV err':>8} {'failed':>6}"
    print(head + "".join(f" {g:>8}" for g in GREEKS))
    for n, row in result["sizes"].items():
        for lib, key in (
            ("ours", "ours"),
            ("py_vollib_vectorized", "py_vollib_vectorized"),
            ("QuantLib", "quantlib"),
        ):
            if row.get(f"{key}_ms") is None:
                print(f"{int(n):>10,} {lib:>21} {row.get(f'{key}_status', 'not installed')}")
                continue
            errs = row[f"{key}_greek_err"]
            print(
                f"{int(n):>10,} {lib:>21} {_fmt_err(row[f'{key}_max_iv_err']):>8} "
                f"{row[f'{key}_iv_failures']:>6}"
                + "".join(f" {_fmt_err(errs[g]):>8}" for g in GREEKS)
            )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the benchmark (or a peer worker)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per size (at least 7)")
    parser.add_argument("--no-peers", action="store_true", help="time only our implementation")
    parser.add_argument("--worker", choices=sorted(_WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.input, args.output, args.repeat)
    if args.repeat < 7:
        parser.error("--repeat must be at least 7 (medians of at least 7 runs)")
    peers = () if args.no_peers else PEERS
    result = benchmark(tuple(args.sizes), args.repeat, peers)
    if args.no_peers:
        for row in result["sizes"].values():
            for peer in PEERS:
                row.setdefault(f"{peer}_ms", None)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
