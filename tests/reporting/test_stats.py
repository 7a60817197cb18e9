"""Trade and daily-P&L statistics: the figures a trader reads in /stats and the backtest."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.reporting.stats import (
    TradeRecord,
    daily_pnl_series,
    daily_stats,
    format_ratio,
    summarize,
    trade_stats,
)

D = Decimal


def trade(pnl: str, *, symbol: str = "SPY", category: str = "breakout",
          aggressiveness: str = "aggressive", max_loss: str | None = "200",
          day: date = date(2025, 6, 11), minute: int = 0) -> TradeRecord:
    closed = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return TradeRecord(
        trading_date=day, symbol=symbol, contract=f"{symbol}250620C00600000", direction="bullish",
        category=category, aggressiveness=aggressiveness, qty=2, entry_price=D("1.00"),
        exit_price=D("1.50"), realized_pnl=D(pnl), max_loss=None if max_loss is None else D(max_loss),
        closed_at=closed, position_id=minute + 1)


def test_mixed_trades_give_the_textbook_figures() -> None:
    trades = [trade("300", minute=0), trade("-100", minute=1), trade("100", minute=2),
              trade("-200", minute=3), trade("0", minute=4)]
    s = trade_stats(trades)
    assert (s.trades, s.wins, s.losses, s.breakeven) == (5, 2, 2, 1)
    assert s.win_rate == pytest.approx(0.4)
    assert s.gross_profit == D(400) and s.gross_loss == D(300)
    assert s.net_pnl == D(100)
    assert s.profit_factor == pytest.approx(400 / 300)
    assert s.average_win == D(200) and s.average_loss == D(-150)
    # R = pnl / 200 for each: 1.5, -0.5, 0.5, -1, 0 -> mean 0.1
    assert s.average_r == pytest.approx(0.1)
    assert s.expectancy == D(20)
    # cumulative: 300, 200, 300, 100, 100 -> peak 300, trough 100
    assert s.max_drawdown == D(200)
    assert s.best_trade == D(300) and s.worst_trade == D(-200)


def test_drawdown_follows_close_time_not_list_order() -> None:
    late_loss = trade("-500", minute=10)
    early_win = trade("500", minute=0)
    assert trade_stats([late_loss, early_win]).max_drawdown == D(500)
    # a loss first, from the starting peak of 0, is a drawdown too
    assert trade_stats([trade("-50", minute=0), trade("80", minute=1)]).max_drawdown == D(50)


def test_no_trades_gives_nothing_to_divide() -> None:
    s = trade_stats([])
    assert s.trades == 0 and s.win_rate is None and s.profit_factor is None
    assert s.average_win is None and s.average_loss is None and s.average_r is None
    assert s.expectancy is None and s.max_drawdown == 0
    report = summarize([])
    assert report.by_ticker == () and report.daily.days == 0 and report.daily.sharpe is None
    assert format_ratio(s.profit_factor) == "–"


def test_all_wins_give_an_infinite_profit_factor_shown_as_infinity() -> None:
    s = trade_stats([trade("100"), trade("50", minute=1)])
    assert s.profit_factor == math.inf
    assert format_ratio(s.profit_factor) == "∞"
    assert s.average_loss is None and s.win_rate == 1.0
    payload = summarize([trade("100")]).to_dict()
    assert payload["trades"]["profit_factor"] is None
    json.dumps(payload, allow_nan=False)  # valid JSON: no Infinity


def test_average_r_skips_trades_without_a_planned_max_loss() -> None:
    s = trade_stats([trade("100", max_loss="50"), trade("-30", max_loss=None, minute=1),
                     trade("10", max_loss="0", minute=2)])
    assert s.average_r == pytest.approx(2.0)
    assert s.trades == 3


def test_sharpe_and_sortino_are_annualised_daily_figures() -> None:
    daily = [D(100), D(-50), D(200), D(0)]
    s = daily_stats(daily)
    xs = [100.0, -50.0, 200.0, 0.0]
    mean = sum(xs) / 4
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / 3)
    assert s.sharpe == pytest.approx(mean / std * math.sqrt(252))
    downside = math.sqrt((50.0 ** 2) / 4)
    assert s.sortino == pytest.approx(mean / downside * math.sqrt(252))
    assert (s.days, s.winning_days, s.losing_days) == (4, 2, 1)
    assert s.max_drawdown == D(50) and s.best_day == D(200) and s.worst_day == D(-50)


def test_one_day_has_no_sharpe_and_flat_days_have_none_either() -> None:
    one = daily_stats([D(120)])
    assert one.sharpe is None and one.sortino is None and one.total_pnl == D(120)
    flat = daily_stats([D(10), D(10), D(10)])
    assert flat.sharpe is None  # no dispersion
    assert flat.sortino == math.inf and format_ratio(flat.sortino) == "∞"


def test_days_without_trades_count_as_zero_days() -> None:
    d1, d2, d3 = date(2025, 6, 9), date(2025, 6, 10), date(2025, 6, 11)
    days, pnl = daily_pnl_series([trade("100", day=d3), trade("-40", day=d1),
                                  trade("10", day=d3, minute=5)], days=[d1, d2, d3])
    assert days == [d1, d2, d3] and pnl == [D(-40), D(0), D(110)]
    report = summarize([trade("100", day=d3)], days=[d1, d2, d3])
    assert report.daily.days == 3 and report.daily.mean_daily_pnl == D(100) / 3


def test_breakdowns_by_ticker_category_and_aggressiveness() -> None:
    trades = [trade("100", symbol="SPY", category="breakout"),
              trade("-50", symbol="TSLA", category="bounce", aggressiveness="conservative", minute=1),
              trade("30", symbol="SPY", category="bounce", aggressiveness="none", minute=2)]
    r = summarize(trades)
    by_ticker = {g.key: g for g in r.by_ticker}
    assert list(by_ticker) == ["SPY", "TSLA"]
    assert by_ticker["SPY"].net_pnl == D(130) and by_ticker["SPY"].trades == 2
    assert by_ticker["SPY"].profit_factor == math.inf
    assert by_ticker["TSLA"].win_rate == 0.0 and by_ticker["TSLA"].profit_factor == 0.0
    assert {g.key: g.net_pnl for g in r.by_category} == {"bounce": D(-20), "breakout": D(100)}
    assert {g.key: g.trades for g in r.by_aggressiveness} == {
        "aggressive": 1, "conservative": 1, "none": 1}
