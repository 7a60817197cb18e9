"""Risk rules: each refuses with a reason a trader can act on, and only when it should."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.engine.risk import (
    EntryIntent,
    PortfolioView,
    RiskLimitError,
    RiskLimits,
    TradingState,
    check_entry,
    check_exit,
)

TODAY = date(2025, 6, 11)


def intent(**kw) -> EntryIntent:
    base = dict(underlying="SPY", contract="SPY250613C00605000", expiry=date(2025, 6, 13),
                quantity=2, premium=Decimal("400"), signal_id=7)
    base.update(kw)
    return EntryIntent(**base)


def view(**kw) -> PortfolioView:
    base = dict(trading_date=TODAY, market_open=True, open_positions=1, open_by_symbol={"SPY": 1},
                premium_at_risk=Decimal("500"), day_pnl=Decimal("-100"),
                buying_power=Decimal("50000"), equity=Decimal("100000"),
                signals_with_position=frozenset({3}))
    base.update(kw)
    return PortfolioView(**base)


LIMITS = RiskLimits()


def rules(decision) -> list[str]:
    return [r.rule for r in decision.refusals]


def test_a_normal_entry_passes_every_rule() -> None:
    assert check_entry(intent(), view(), LIMITS, TradingState.ACTIVE).allowed


@pytest.mark.parametrize(
    ("changes", "rule", "words"),
    [
        (dict(view=dict(market_open=False)), "market_hours", "closed"),
        (dict(view=dict(day_pnl=Decimal("-1500"))), "daily_loss", "daily loss limit"),
        (dict(view=dict(open_positions=5)), "max_open_positions", "limit is 5"),
        (dict(view=dict(open_by_symbol={"SPY": 2})), "max_per_symbol", "2 SPY positions"),
        (dict(intent=dict(signal_id=3)), "duplicate_signal", "already exists"),
        (dict(intent=dict(premium=Decimal("1000.01"))), "max_premium_per_trade", "$1,000.01"),
        (dict(view=dict(premium_at_risk=Decimal("4700"))), "max_portfolio_premium", "$5,100.00"),
        (dict(view=dict(buying_power=Decimal("399.99"))), "buying_power", "buying power"),
    ],
)
def test_each_rule_refuses_with_its_reason(changes: dict, rule: str, words: str) -> None:
    decision = check_entry(intent(**changes.get("intent", {})), view(**changes.get("view", {})),
                           LIMITS, TradingState.ACTIVE)
    assert rules(decision) == [rule]
    assert words in decision.first.reason


def test_per_trade_cap_is_the_smaller_of_the_dollar_cap_and_the_equity_fraction() -> None:
    small_account = view(equity=Decimal("10000"))  # 2% is $200, below the $1,000 cap
    decision = check_entry(intent(premium=Decimal("250")), small_account, LIMITS, TradingState.ACTIVE)
    assert rules(decision) == ["max_premium_per_trade"]
    assert "$200.00" in decision.first.reason


def test_0dte_is_refused_only_when_disabled() -> None:
    zero_dte = intent(expiry=TODAY, contract="SPY250611C00605000")
    assert check_entry(zero_dte, view(), LIMITS, TradingState.ACTIVE).allowed
    no_0dte = LIMITS.with_value("allow_0dte", "false")
    assert rules(check_entry(zero_dte, view(), no_0dte, TradingState.ACTIVE)) == ["no_0dte"]


def test_pause_blocks_entries_but_not_exits_and_the_kill_switch_blocks_both() -> None:
    paused = check_entry(intent(), view(), LIMITS, TradingState.REDUCING)
    assert rules(paused) == ["trading_state"] and "paused" in paused.first.reason
    assert check_exit(TradingState.REDUCING).allowed
    halted = check_entry(intent(), view(), LIMITS, TradingState.HALTED)
    assert "kill switch" in halted.first.reason
    assert not check_exit(TradingState.HALTED).allowed


def test_every_failing_rule_is_listed_state_first() -> None:
    decision = check_entry(intent(premium=Decimal("999999")), view(market_open=False),
                           LIMITS, TradingState.REDUCING)
    assert rules(decision)[0] == "trading_state"
    assert {"market_hours", "max_premium_per_trade", "buying_power"} <= set(rules(decision))


def test_limits_change_at_runtime_with_validation() -> None:
    changed = LIMITS.with_value("max_open_positions", "8")
    assert changed.max_open_positions == 8 and LIMITS.max_open_positions == 5
    with pytest.raises(RiskLimitError, match="max_open_positions"):
        LIMITS.with_value("max_open_positions", "-1")
    with pytest.raises(RiskLimitError, match="unknown limit 'max_yolo'"):
        LIMITS.with_value("max_yolo", "1")
    with pytest.raises(RiskLimitError, match="daily_loss_limit"):
        LIMITS.with_value("daily_loss_limit", "lots")
