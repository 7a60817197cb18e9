"""Contract selection on the real snapshot and on small synthetic chains."""

from __future__ import annotations

import dataclasses
import pickle
from collections import Counter
from datetime import date, datetime

import numpy as np
import pytest

from core.options.chain import ChainError, OptionChain, implied_spot
from core.options.expiry import NY, year_fraction_to_close
from core.options.iv import implied_vol
from core.options.occ import OccSymbol, OptionRight
from core.options.pricing import bsm_greeks, bsm_price
from core.options.select import (
    Direction,
    Rejections,
    RejectRule,
    Selection,
    SelectionRequest,
    SelectionRules,
    TradeStyle,
    select_contract,
)
from tests.options.conftest import SNAPSHOT_NOW, SNAPSHOT_RATE

RULES = SelectionRules()


def _signal(direction: Direction, spot: float) -> SelectionRequest:
    sign = 1 if direction is Direction.BULLISH else -1
    return SelectionRequest(
        direction=direction,
        trigger=spot,
        targets=(spot * (1 + sign * 0.005), spot * (1 + sign * 0.01)),
        stop=spot * (1 - sign * 0.004),
    )


def _select(
    chain: OptionChain, direction: Direction, rules: SelectionRules = RULES
) -> tuple[Selection, float]:
    spot = implied_spot(chain, SNAPSHOT_NOW, SNAPSHOT_RATE)
    return select_contract(
        _signal(direction, spot), spot, chain, SNAPSHOT_NOW, rules, rate=SNAPSHOT_RATE
    ), spot


@pytest.mark.parametrize("root", ["SPY", "QQQ", "NVDA", "TSLA"])
@pytest.mark.parametrize("direction", [Direction.BULLISH, Direction.BEARISH])
def test_every_chosen_contract_passes_every_rule(
    yahoo_chain: OptionChain, root: str, direction: Direction
) -> None:
    chain = yahoo_chain.for_underlying(root)
    selection, spot = _select(chain, direction)
    assert selection.best is not None
    assert len(selection.alternates) == min(2, selection.passed - 1)
    nearest = min(chain.expiries)  # every expiry here is at least a day away at the snapshot
    for cand in selection.candidates:
        i = chain.index_of(cand.symbol)
        bid, ask = chain.bid[i], chain.ask[i]
        mid = (bid + ask) / 2
        # Checked independently of the selector, straight from the chain's columns.
        assert chain.is_call[i] == (direction is Direction.BULLISH)
        assert chain.expiry[i] == np.datetime64(nearest)
        assert 0 < bid <= ask
        assert (ask - bid) / mid * 100 <= RULES.max_spread_pct
        assert (ask - bid) * 100 <= RULES.max_spread_cents + 1e-9
        assert chain.open_interest[i] >= RULES.min_open_interest
        assert chain.volume[i] >= RULES.min_volume
        assert RULES.min_premium <= ask and ask * 100 <= RULES.max_premium_per_contract
        t = year_fraction_to_close(SNAPSHOT_NOW, nearest)
        iv = implied_vol(mid, spot, chain.strike[i], t, SNAPSHOT_RATE, 0.0, chain.is_call[i]).iv
        delta = bsm_greeks(spot, chain.strike[i], t, SNAPSHOT_RATE, 0.0, iv, chain.is_call[i]).delta
        assert RULES.min_abs_delta <= abs(float(delta)) <= RULES.max_abs_delta
        assert cand.delta == pytest.approx(float(delta), abs=1e-12)
        assert cand.reason.startswith(f"ranked {cand.rank} of {selection.passed}")
        assert [s.label for s in cand.scenarios] == ["T1", "T2", "stop"]
        t1, _, stop = cand.scenarios
        assert t1.value > stop.value  # reaching T1 is worth more than being stopped out
    scores = [c.score for c in selection.candidates]
    assert scores == sorted(scores, reverse=True)
    # Every contract of the chain is either a candidate or rejected with a reason.
    chosen = {c.symbol for c in selection.candidates}
    assert chosen.isdisjoint(selection.rejected)
    assert chosen | set(selection.rejected) == set(chain.symbol)


@pytest.mark.parametrize("root", ["SPY", "QQQ", "NVDA", "TSLA"])
def test_rejection_reasons_are_true_of_the_rejected_contract(
    yahoo_chain: OptionChain, root: str
) -> None:
    chain = yahoo_chain.for_underlying(root)
    selection, _ = _select(chain, Direction.BULLISH)
    g = chain.with_greeks(selection.spot, SNAPSHOT_NOW, SNAPSHOT_RATE).computed
    assert g is not None
    seen = set()
    for symbol, reason in selection.rejected.items():
        i = chain.index_of(symbol)
        bid, ask = chain.bid[i], chain.ask[i]
        seen.add(reason.rule)
        if reason.rule is RejectRule.WRONG_RIGHT:
            assert not chain.is_call[i]
        elif reason.rule is RejectRule.NO_QUOTE:
            assert not (bid > 0 and ask > 0)
        elif reason.rule is RejectRule.DELTA_BAND:
            assert not RULES.min_abs_delta <= abs(g.delta[i]) <= RULES.max_abs_delta
            assert f"{abs(g.delta[i]):.2f}" in reason.detail
        elif reason.rule is RejectRule.OPEN_INTEREST:
            assert not chain.open_interest[i] >= RULES.min_open_interest
        elif reason.rule is RejectRule.SPREAD_PCT:
            assert (ask - bid) / ((ask + bid) / 2) * 100 > RULES.max_spread_pct
        elif reason.rule is RejectRule.OUTRANKED:
            assert reason.value is not None and reason.value <= selection.candidates[-1].score
    # Calls with a zero bid are illiquid: rejected for their quote, never chosen.
    zero_bid_calls = chain.symbol[(chain.bid == 0) & chain.is_call]
    assert zero_bid_calls.size > 0
    assert {selection.rejected[s].rule for s in zero_bid_calls} == {RejectRule.NO_QUOTE}
    assert {RejectRule.WRONG_RIGHT, RejectRule.NO_QUOTE, RejectRule.DELTA_BAND} <= seen


def test_why_not_the_590_call_has_an_answer(yahoo_chain: OptionChain) -> None:
    selection, _ = _select(yahoo_chain.for_underlying("SPY"), Direction.BULLISH)
    answer = selection.explain("SPY240801C00590000")
    assert "no_quote" in answer and "bid 0.00" in answer
    assert "delta_band" in selection.explain("SPY240801C00560000")
    assert "a bullish signal trades calls" in selection.explain("SPY240801P00550000")
    assert selection.best is not None
    assert selection.explain(selection.best.symbol).startswith(
        f"{selection.best.symbol} is the pick: ranked 1"
    )
    assert "not in the chain" in selection.explain("SPY240801C00999000")


def _with_quote(chain: OptionChain, symbol: str, **changes: float) -> OptionChain:
    i = chain.index_of(symbol)
    columns = {}
    for name, value in changes.items():
        column = getattr(chain, name).copy()
        column[i] = value
        columns[name] = column
    return dataclasses.replace(chain, computed=None, **columns)


def test_crossed_quote_on_the_favourite_is_rejected_and_the_pick_moves_on(
    yahoo_chain: OptionChain,
) -> None:
    chain = yahoo_chain.for_underlying("SPY")
    before, _ = _select(chain, Direction.BULLISH)
    assert before.best is not None
    favourite = before.best.symbol
    crossed = _with_quote(chain, favourite, bid=before.best.ask + 0.05)
    after, _ = _select(crossed, Direction.BULLISH)
    assert after.rejected[favourite].rule is RejectRule.CROSSED_QUOTE
    assert "crossed quote" in after.rejected[favourite].detail
    assert after.best is not None and after.best.symbol != favourite


def test_illiquid_favourite_is_rejected_for_open_interest_and_volume(
    yahoo_chain: OptionChain,
) -> None:
    chain = yahoo_chain.for_underlying("TSLA")
    before, _ = _select(chain, Direction.BEARISH)
    assert before.best is not None
    favourite = before.best.symbol
    thin = _with_quote(chain, favourite, open_interest=5, volume=float("nan"))
    after, _ = _select(thin, Direction.BEARISH)
    reason = after.rejected[favourite]
    assert reason.rule is RejectRule.OPEN_INTEREST
    assert reason.detail == "open interest 5 below 100"
    assert reason.also == (RejectRule.VOLUME,)  # missing volume counts as none


def test_wide_spread_is_rejected_in_percent_and_in_cents(yahoo_chain: OptionChain) -> None:
    chain = yahoo_chain.for_underlying("NVDA")
    before, _ = _select(chain, Direction.BULLISH)
    assert before.best is not None
    b = before.best
    wide = _with_quote(chain, b.symbol, bid=b.mid - 0.30, ask=b.mid + 0.30)
    after, _ = _select(wide, Direction.BULLISH)
    reason = after.rejected[b.symbol]
    assert reason.rule is RejectRule.SPREAD_PCT
    assert RejectRule.SPREAD_CENTS in reason.also


# --- synthetic chains ---------------------------------------------------------------------


def _synthetic_chain(
    now: datetime, spot: float, expiries: list[date], vol: float = 0.2
) -> OptionChain:
    symbols, bids, asks = [], [], []
    for expiry in expiries:
        t = year_fraction_to_close(now, expiry)
        for strike in np.arange(round(spot) - 10, round(spot) + 11, 1.0):
            for right in (OptionRight.CALL, OptionRight.PUT):
                price = (
                    float(bsm_price(spot, strike, t, 0.045, 0.0, vol, right.is_call))
                    if t > 0
                    else 0.0
                )
                symbols.append(OccSymbol.build("SPY", expiry, right, float(strike)))
                bids.append(max(round(price - 0.02, 2), 0.0))
                asks.append(round(price + 0.02, 2) if price > 0 else 0.0)
    n = len(symbols)
    return OptionChain.from_symbols(
        symbols,
        bid=np.array(bids),
        ask=np.array(asks),
        volume=np.full(n, 500.0),
        open_interest=np.full(n, 1_000.0),
    )


def test_scalp_skips_an_expiry_with_too_few_hours_left() -> None:
    now = datetime(2025, 6, 6, 14, 30, tzinfo=NY)  # Friday, 1.5 h before the 0-DTE close
    chain = _synthetic_chain(now, 590.0, [date(2025, 6, 6), date(2025, 6, 9), date(2025, 6, 13)])
    request = SelectionRequest(direction="bullish", trigger=590, targets=(592, 594), stop=588)
    selection = select_contract(request, 590.0, chain, now, rate=0.045)
    assert selection.best is not None
    assert selection.best.expiry == date(2025, 6, 9)
    assert "2025-06-09" in selection.expiry_rule
    today = selection.rejected["SPY250606C00590000"]
    assert today.rule is RejectRule.EXPIRY
    assert "only 1.5 h" in today.detail
    later = selection.rejected["SPY250613C00590000"]
    assert later.rule is RejectRule.EXPIRY and "nearest expiry" in later.detail
    # With a one-hour minimum the same-day contract is the scalp's expiry.
    one_hour = select_contract(
        request, 590.0, chain, now, SelectionRules(scalp_min_hours_left=1.0), rate=0.045
    )
    assert one_hour.best is not None and one_hour.best.expiry == date(2025, 6, 6)


def test_swing_takes_an_expiry_inside_the_dte_window() -> None:
    now = datetime(2025, 6, 2, 11, 0, tzinfo=NY)
    chain = _synthetic_chain(now, 590.0, [date(2025, 6, 6), date(2025, 6, 20), date(2025, 8, 29)])
    request = SelectionRequest(
        direction=Direction.BEARISH, trigger=590, targets=(580,), stop=596, style=TradeStyle.SWING
    )
    selection = select_contract(request, 590.0, chain, now, rate=0.045)
    assert selection.best is not None
    assert selection.best.right is OptionRight.PUT
    assert selection.best.expiry == date(2025, 6, 20)
    assert selection.rejected["SPY250829P00590000"].rule is RejectRule.EXPIRY
    assert "outside the swing window 5–45 days" in selection.rejected["SPY250606P00590000"].detail


def test_budget_rejects_contracts_that_cost_too_much_and_leaves_no_pick() -> None:
    now = datetime(2025, 6, 2, 11, 0, tzinfo=NY)
    chain = _synthetic_chain(now, 590.0, [date(2025, 6, 6)])
    request = SelectionRequest(direction="bullish", trigger=590, targets=(595,), stop=587)
    rules = SelectionRules(max_premium_per_contract=150.0)
    selection = select_contract(request, 590.0, chain, now, rules, rate=0.045)
    assert selection.best is None and selection.alternates == []
    over = selection.rejected["SPY250606C00590000"]
    assert over.rule is RejectRule.PREMIUM_OVER_BUDGET
    assert over.limit == 150.0 and over.value is not None and over.value > 150.0
    assert "over the $150.00 limit" in over.detail


def test_bad_requests_and_rules_are_refused_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="stop below trigger below T1"):
        SelectionRequest(direction="bullish", trigger=590, targets=(585,), stop=580)
    with pytest.raises(ValueError, match="stop above trigger above T1"):
        SelectionRequest(direction="bearish", trigger=590, targets=(585,), stop=580)
    with pytest.raises(ValueError, match="target_abs_delta"):
        SelectionRules(min_abs_delta=0.4, target_abs_delta=0.3)


def test_chain_with_several_underlyings_is_refused(yahoo_chain: OptionChain) -> None:
    request = SelectionRequest(direction="bullish", trigger=550, targets=(552,), stop=548)
    with pytest.raises(ChainError, match="one underlying"):
        select_contract(request, 550.0, yahoo_chain, SNAPSHOT_NOW)


def test_rejections_are_made_on_lookup_with_the_chain_as_it_was(yahoo_chain: OptionChain) -> None:
    """A reason is made when its contract is looked up; it reads as the chain was at selection."""
    chain = yahoo_chain.for_underlying("SPY")
    selection, _ = _select(chain, Direction.BULLISH)
    rejected = selection.rejected
    assert isinstance(rejected, Rejections) and len(rejected) > 100
    counts = selection.rejected_by_rule()  # counted before any reason exists
    bid_before = chain.bid.copy()
    chain.bid[:] = 99.0  # the caller changes its chain: the details must not follow
    try:
        reasons = dict(rejected.items())
        pickled = pickle.loads(pickle.dumps(selection))
    finally:
        chain.bid[:] = bid_before
    fresh, _ = _select(chain, Direction.BULLISH)
    assert reasons == dict(fresh.rejected.items())
    assert list(reasons) == list(fresh.rejected)  # chain order, outranked ones last
    assert rejected == reasons and repr(rejected) == repr(reasons)
    assert pickled.rejected == reasons and repr(pickled) == repr(selection)
    # the counts by rule are those of the reasons, in the order the rules first come up
    assert list(counts.items()) == list(Counter(r.rule for r in reasons.values()).items())
    assert pickled.rejected_by_rule() == counts
    assert any(r.rule is RejectRule.NO_QUOTE for r in reasons.values())
    assert any(r.rule is RejectRule.OUTRANKED for r in reasons.values())
    for symbol, reason in reasons.items():
        assert symbol in rejected and rejected[symbol] is reason  # made once, then kept
        assert f"rule: {reason.detail}" in selection.explain(symbol)
    with pytest.raises(KeyError):
        rejected["SPY000000C00000000"]
