"""Trade and daily-P&L metrics, as typed results.

Definitions (every figure is computed from closed trades and a daily P&L series):

- a **win** is a trade with realized P&L > 0, a **loss** one with P&L < 0; a trade at exactly 0 is
  *breakeven* and counts in ``trades`` but in neither; ``win_rate = wins / trades``;
- **profit factor** = gross profit / gross loss; ``math.inf`` when there are wins and no losses,
  ``None`` when there is nothing to divide (no trades, or only breakevens);
- **average win / average loss**: mean P&L of the wins / of the losses (the average loss is
  negative);
- **R** of a trade = realized P&L / the max loss planned at entry (the proposal's ``max_loss``);
  **average R** is the mean over trades that have a positive planned max loss;
- **expectancy** = net P&L / trades (the same as win rate × average win + loss rate × average
  loss), in dollars per trade;
- **max drawdown** = the largest fall of cumulative P&L from its running peak (the peak starts
  at 0), returned as a positive amount; on trades in close order and on the daily series;
- **Sharpe** = mean(daily P&L) / sample std(daily P&L) × √252; **Sortino** = mean(daily P&L) /
  downside deviation × √252, the downside deviation being √(mean(min(0, x)²)) over all days. Both
  are on daily dollar P&L (no capital base), annualised with √252 trading days, ``None`` with
  fewer than two days or no dispersion at all, ``math.inf`` for Sortino when no day lost money.

:func:`format_ratio` shows infinite ratios as ``∞`` and missing ones as ``–``; :meth:`to_dict`
maps infinities to ``None`` so the result is valid JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

ANNUALISATION_DAYS = 252
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeRecord:
    """One closed trade, as the statistics need it."""

    trading_date: date
    symbol: str  # the underlying
    contract: str
    direction: str  # bullish / bearish
    category: str  # breakout / breakdown / rejection / bounce
    aggressiveness: str  # aggressive / conservative / none
    qty: int
    entry_price: Decimal
    exit_price: Decimal | None
    realized_pnl: Decimal
    max_loss: Decimal | None  # planned at entry (the proposal's max loss)
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    exit_reason: str | None = None
    position_id: int | None = None

    @property
    def r_multiple(self) -> float | None:
        """Return realized P&L in units of the planned max loss, or ``None`` without one."""
        if self.max_loss is None or self.max_loss <= 0:
            return None
        return float(self.realized_pnl / self.max_loss)


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeStats:
    """Figures over a set of closed trades."""

    trades: int
    wins: int
    losses: int
    breakeven: int
    win_rate: float | None
    gross_profit: Decimal
    gross_loss: Decimal  # positive amount
    net_pnl: Decimal
    profit_factor: float | None  # math.inf when there are wins and no losses
    average_win: Decimal | None
    average_loss: Decimal | None  # negative
    average_r: float | None
    expectancy: Decimal | None  # dollars per trade
    max_drawdown: Decimal  # positive amount, trades in close order
    best_trade: Decimal | None
    worst_trade: Decimal | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyStats:
    """Figures over a daily P&L series (days without trades count as 0)."""

    days: int
    winning_days: int
    losing_days: int
    total_pnl: Decimal
    mean_daily_pnl: Decimal | None
    best_day: Decimal | None
    worst_day: Decimal | None
    max_drawdown: Decimal  # positive amount, on cumulative daily P&L
    sharpe: float | None  # annualised with sqrt(252)
    sortino: float | None  # annualised with sqrt(252); math.inf when no day lost money


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStats:
    """Figures for one value of a breakdown (a ticker, a category, an aggressiveness)."""

    key: str
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    net_pnl: Decimal
    profit_factor: float | None
    average_r: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceReport:
    """Everything ``/stats`` and the backtest summary show."""

    trades: TradeStats
    daily: DailyStats
    by_ticker: tuple[GroupStats, ...]
    by_category: tuple[GroupStats, ...]
    by_aggressiveness: tuple[GroupStats, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values (Decimals as floats, ∞ as ``None``)."""
        return {
            "trades": _plain(self.trades),
            "daily": _plain(self.daily),
            "by_ticker": [_plain(g) for g in self.by_ticker],
            "by_category": [_plain(g) for g in self.by_category],
            "by_aggressiveness": [_plain(g) for g in self.by_aggressiveness],
        }


def _plain(obj: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):  # type: ignore[arg-type]
        v = getattr(obj, f.name)
        if isinstance(v, Decimal):
            v = float(v)
        elif isinstance(v, float) and not math.isfinite(v):
            v = None
        out[f.name] = v
    return out


def format_ratio(value: float | None, digits: int = 2) -> str:
    """Show a ratio for people: ``∞`` for infinity, ``–`` when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}f}"


def _profit_factor(gross_profit: Decimal, gross_loss: Decimal) -> float | None:
    if gross_loss > 0:
        return float(gross_profit / gross_loss)
    return math.inf if gross_profit > 0 else None


def _max_drawdown(pnls: Iterable[Decimal]) -> Decimal:
    cum = peak = worst = _ZERO
    for p in pnls:
        cum += p
        peak = max(peak, cum)
        worst = max(worst, peak - cum)
    return worst


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, _ZERO) / len(values) if values else None


def _average_r(trades: Sequence[TradeRecord]) -> float | None:
    rs = [r for t in trades if (r := t.r_multiple) is not None]
    return math.fsum(rs) / len(rs) if rs else None


def _close_order(t: TradeRecord) -> tuple[datetime | date, int]:
    return (t.closed_at or t.trading_date, t.position_id or 0)


def trade_stats(trades: Sequence[TradeRecord]) -> TradeStats:
    """Compute the trade figures (see the module docstring for each definition)."""
    pnls = [t.realized_pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit = sum(wins, _ZERO)
    gross_loss = -sum(losses, _ZERO)
    ordered = sorted(trades, key=_close_order) if all(
        t.closed_at is not None for t in trades) else list(trades)
    return TradeStats(
        trades=len(trades),
        wins=len(wins),
        losses=len(losses),
        breakeven=len(trades) - len(wins) - len(losses),
        win_rate=len(wins) / len(trades) if trades else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_pnl=gross_profit - gross_loss,
        profit_factor=_profit_factor(gross_profit, gross_loss),
        average_win=_mean(wins),
        average_loss=_mean(losses),
        average_r=_average_r(trades),
        expectancy=_mean(pnls),
        max_drawdown=_max_drawdown(t.realized_pnl for t in ordered),
        best_trade=max(pnls) if pnls else None,
        worst_trade=min(pnls) if pnls else None,
    )


def daily_stats(daily_pnl: Sequence[Decimal]) -> DailyStats:
    """Compute the daily figures over ``daily_pnl`` (one value per trading day, in date order)."""
    n = len(daily_pnl)
    xs = [float(p) for p in daily_pnl]
    sharpe = sortino = None
    if n >= 2:
        mean = math.fsum(xs) / n
        var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
        scale = math.sqrt(ANNUALISATION_DAYS)
        if var > 0:
            sharpe = mean / math.sqrt(var) * scale
        downside = math.sqrt(math.fsum(min(0.0, x) ** 2 for x in xs) / n)
        if downside > 0:
            sortino = mean / downside * scale
        elif mean > 0:
            sortino = math.inf
    return DailyStats(
        days=n,
        winning_days=sum(1 for p in daily_pnl if p > 0),
        losing_days=sum(1 for p in daily_pnl if p < 0),
        total_pnl=sum(daily_pnl, _ZERO),
        mean_daily_pnl=_mean(daily_pnl),
        best_day=max(daily_pnl) if daily_pnl else None,
        worst_day=min(daily_pnl) if daily_pnl else None,
        max_drawdown=_max_drawdown(daily_pnl),
        sharpe=sharpe,
        sortino=sortino,
    )


def daily_pnl_series(
    trades: Iterable[TradeRecord], days: Iterable[date] | None = None
) -> tuple[list[date], list[Decimal]]:
    """Sum realized P&L per trading day; ``days`` adds days without trades (as 0), sorted."""
    totals: dict[date, Decimal] = {d: _ZERO for d in days or ()}
    for t in trades:
        totals[t.trading_date] = totals.get(t.trading_date, _ZERO) + t.realized_pnl
    ordered = sorted(totals)
    return ordered, [totals[d] for d in ordered]


def breakdown(
    trades: Sequence[TradeRecord], key: Callable[[TradeRecord], str]
) -> tuple[GroupStats, ...]:
    """Group trades by ``key`` and compute each group's figures, sorted by key."""
    groups: dict[str, list[TradeRecord]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    out = []
    for k in sorted(groups):
        s = trade_stats(groups[k])
        out.append(GroupStats(key=k, trades=s.trades, wins=s.wins, losses=s.losses,
                              win_rate=s.win_rate, net_pnl=s.net_pnl,
                              profit_factor=s.profit_factor, average_r=s.average_r))
    return tuple(out)


def summarize(
    trades: Sequence[TradeRecord], days: Iterable[date] | None = None
) -> PerformanceReport:
    """Compute the whole report; ``days`` lists every trading day run (days without trades count 0)."""
    _, daily = daily_pnl_series(trades, days)
    return PerformanceReport(
        trades=trade_stats(trades),
        daily=daily_stats(daily),
        by_ticker=breakdown(trades, lambda t: t.symbol),
        by_category=breakdown(trades, lambda t: t.category),
        by_aggressiveness=breakdown(trades, lambda t: t.aggressiveness),
    )
