"""The mark pass's arithmetic: prices per contract, exact P&L, exposure, marks kept or dropped."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from core.engine.marks import HeldPosition, LiveMarks, MarkPass, OpenBook
from core.marketdata.models import Greeks, OptionRight, OptionSnapshot

AT = datetime(2025, 6, 11, 15, 0, tzinfo=UTC)
CALL = "SPY250718C00600000"
PUT = "SPY250718P00590000"
NVDA = "NVDA250718C00145000"
SOME_GREEKS = Greeks(0.5, 0.02, -0.1, 0.3)


def quote(symbol: str, bid: float | None, ask: float | None, last: float | None = None,
          greeks: Greeks | None = SOME_GREEKS) -> OptionSnapshot:
    return OptionSnapshot(symbol=symbol, underlying=symbol[:-15], expiry=date(2025, 7, 18),
                          right=OptionRight.CALL, strike=600.0, bid=bid, ask=ask, bid_size=1,
                          ask_size=1, last=last, volume=0, open_interest=0, iv=0.2,
                          greeks=greeks, timestamp=AT)


def held(pid: int, contract: str, qty: int, avg: str, under: str | None = None) -> HeldPosition:
    return HeldPosition(pid, contract, contract[:-15], qty, Decimal(avg),
                        Decimal(under) if under else None)


def test_mid_then_last_and_no_mark_without_a_price() -> None:
    book = OpenBook([held(1, CALL, 2, "1.50"), held(2, PUT, 1, "2.00"), held(3, NVDA, 1, "3.00")], 1)
    marks = MarkPass(book, {CALL: quote(CALL, 1.60, 1.70), PUT: quote(PUT, None, 2.10, last=2.05),
                            NVDA: quote(NVDA, None, None)}, AT, {})
    assert marks.mark_of(1).mark == Decimal("1.65")
    assert marks.mark_of(2).mark == Decimal("2.05")  # one side missing: the last trade
    assert marks.mark_of(3) is None  # no two-sided quote, no trade: not marked
    assert marks.unmarked_ids() == [3]


def test_unrealized_pnl_is_exact_to_the_cent_with_half_up_rounding() -> None:
    # (1.655 - 1.650005) x 300 = 1.4985 -> 1.50; a float would say 1.4984999...
    book = OpenBook([held(1, CALL, 3, "1.650005")], 1)
    marks = MarkPass(book, {CALL: quote(CALL, 1.65, 1.66)}, AT, {})
    live = marks.mark_of(1)
    exact = ((Decimal("1.655") - Decimal("1.650005")) * 300).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert live.unrealized == exact == Decimal("1.50")


def test_exposure_sums_greeks_times_contracts_over_priced_positions_only() -> None:
    book = OpenBook([held(1, CALL, 2, "1.50"), held(2, CALL, 1, "1.40"), held(3, PUT, 4, "2.00"),
                     held(4, NVDA, 5, "3.00")], 1)
    quotes = {CALL: quote(CALL, 1.60, 1.70, greeks=Greeks(0.5, 0.02, -0.1, 0.3)),
              PUT: quote(PUT, 2.0, 2.2, greeks=None),  # priced, but no Greeks to add
              }  # NVDA: no quote at all
    exposure = MarkPass(book, quotes, AT, {}).exposure
    assert exposure.positions == 2  # both CALL positions share one quote
    assert abs(exposure.delta - 0.5 * 300) < 1e-9
    assert abs(exposure.gamma - 0.02 * 300) < 1e-9
    assert abs(exposure.theta + 0.1 * 300) < 1e-9
    assert abs(exposure.vega - 0.3 * 300) < 1e-9


def test_the_underlying_is_the_last_bar_else_the_stored_price() -> None:
    book = OpenBook([held(1, CALL, 1, "1.50", under="600.10"), held(2, NVDA, 1, "3.00", "145.00")], 1)
    marks = MarkPass(book, {CALL: quote(CALL, 1.6, 1.7), NVDA: quote(NVDA, 3.1, 3.2)}, AT,
                     {"SPY": Decimal("601.25")})
    assert marks.mark_of(1).underlying == Decimal("601.25")
    assert marks.mark_of(2).underlying == Decimal("145.00")


def test_a_held_position_without_a_quote_keeps_its_mark_and_a_closed_one_loses_it() -> None:
    live = LiveMarks()
    book = OpenBook([held(1, CALL, 1, "1.50"), held(2, NVDA, 1, "3.00")], 1)
    live.record(MarkPass(book, {CALL: quote(CALL, 1.6, 1.7), NVDA: quote(NVDA, 3.0, 3.5)}, AT, {}))
    assert set(live) == {1, 2} and len(live) == 2
    live.record(MarkPass(book, {CALL: quote(CALL, 1.8, 1.9)}, AT, {}))  # NVDA not quoted
    assert live[1].mark == Decimal("1.85")
    assert live[2].mark == Decimal("3.25")  # the last mark it had
    live.record(MarkPass(OpenBook([held(1, CALL, 1, "1.50")], 2), {}, AT, {}))  # 2 closed; no quotes
    assert set(live) == {1} and live[1].mark == Decimal("1.85")
    assert live.get(2) is None


def test_an_empty_book_marks_nothing() -> None:
    marks = MarkPass(OpenBook([], 1), {}, AT, {})
    assert marks.exposure.positions == 0 and marks.marked_indices() == []


def test_exposure_and_pnl_estimate_equal_the_numpy_formula_to_the_bit() -> None:
    # The pass sums in plain Python, in position order from 0.0, like numpy's sum over axis 0:
    # the floats must be the very same, with NaN or missing Greeks left out and NaN prices unmarked.
    rng = random.Random(5)
    contracts = [f"SPY2507{d}C00{590000 + 1000 * k:06d}" for d in (18, 25) for k in range(6)]
    for _ in range(200):
        book = OpenBook([held(pid, rng.choice(contracts), rng.randint(1, 40),
                              f"{rng.uniform(0.05, 9):.2f}") for pid in range(1, rng.randint(1, 30))], 1)
        quotes = {}
        for c in contracts:
            if rng.random() < 0.15:
                continue
            values = [rng.uniform(-1, 1) * 10 ** rng.randint(-4, 1) for _ in range(4)]
            if rng.random() < 0.1:
                values[rng.randrange(4)] = rng.choice((math.nan, None, -0.0))
            greeks = None if rng.random() < 0.1 else Greeks(*values)
            bid = None if rng.random() < 0.2 else round(rng.uniform(0.05, 9), 2)
            last = rng.choice((None, math.nan, round(rng.uniform(0.05, 9), 2)))
            quotes[c] = quote(c, bid, None if bid is None else bid + 0.05, last=last, greeks=greeks)
        marks = MarkPass(book, quotes, AT, {})

        # The former numpy computation, as reference.
        snaps = [quotes.get(c) for c in book.contracts]
        px = np.array([None if s is None else (s.mid if s.mid is not None else s.last) for s in snaps],
                      dtype=float)
        rows = np.array([(math.nan,) * 4 if s is None or s.greeks is None else
                         (s.greeks.delta, s.greeks.gamma, s.greeks.theta, s.greeks.vega)
                         for s in snaps], dtype=float).reshape(len(snaps), 4)
        idx = np.array(book.contract_of, dtype=np.intp)
        units = np.array(book.units)
        marked = ~np.isnan(px)[idx]
        with_greeks = marked & ~np.isnan(rows[idx]).any(axis=1)
        sums = (rows[idx][with_greeks] * units[with_greeks, None]).sum(axis=0).tolist()
        pnl = ((px[idx] - np.array(book.avg_entry)) * units).tolist()

        exposure = marks.exposure
        assert repr([exposure.delta, exposure.gamma, exposure.theta, exposure.vega]) == repr(sums)
        assert exposure.positions == int(with_greeks.sum())
        assert repr(marks.pnl_estimate) == repr(pnl)
        assert marks.marked_indices() == np.flatnonzero(marked).tolist()
