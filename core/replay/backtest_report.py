"""The report folder of a backtest: Markdown, per-day rows, equity curve, trades, summary JSON.

``report.md`` has the header (sources, SYNTHETIC label, parameters), the figures (trades, win
rate, profit factor, average R, expectancy, drawdown, Sharpe and Sortino), the breakdowns by
ticker, category and aggressiveness, one row per day and the skipped setups; ``equity.png`` is
the daily P&L with its cumulative curve, ``trades.csv`` every trade, and ``summary.json`` the
figures and parameters that ``backtest --compare`` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.replay.backtest import BacktestResult
from core.replay.report import (
    config_changes,
    markdown_table,
    money,
    parameters_line,
    trades_csv_text,
)
from core.reporting.charts import equity_chart
from core.reporting.stats import GroupStats, format_ratio

SUMMARY_VERSION = 1


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """Where a backtest's report went."""

    folder: Path
    markdown: Path
    summary_json: Path


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def figures(result: BacktestResult) -> list[tuple[str, str]]:
    """Return the headline figures as (name, value) rows."""
    t, d = result.performance.trades, result.performance.daily
    return [
        ("days run", str(len(result.days))), ("days skipped", str(len(result.skipped))),
        ("trades", str(t.trades)), ("wins / losses", f"{t.wins} / {t.losses}"),
        ("win rate", _pct(t.win_rate)), ("net P&L", money(t.net_pnl)),
        ("profit factor", format_ratio(t.profit_factor)),
        ("average win", money(t.average_win)), ("average loss", money(t.average_loss)),
        ("average R", format_ratio(t.average_r)),
        ("expectancy per trade", money(t.expectancy)),
        ("max drawdown (trades)", money(-t.max_drawdown) if t.max_drawdown else "$0.00"),
        ("max drawdown (days)", money(-d.max_drawdown) if d.max_drawdown else "$0.00"),
        ("Sharpe (daily P&L, ×√252)", format_ratio(d.sharpe)),
        ("Sortino (daily P&L, ×√252)", format_ratio(d.sortino)),
    ]


def _groups(groups: Sequence[GroupStats]) -> list[list[str]]:
    return [[g.key, str(g.trades), str(g.wins), str(g.losses), _pct(g.win_rate), money(g.net_pnl),
             format_ratio(g.profit_factor), format_ratio(g.average_r)] for g in groups]


def render_markdown(result: BacktestResult) -> str:
    """Return ``report.md``."""
    first, last = result.days[0].trading_date, result.days[-1].trading_date
    lines = [f"# Backtest {first} to {last}", ""]
    if result.synthetic:
        n = sum(1 for d in result.days if d.synthetic)
        lines += [f"> **SYNTHETIC bars on {n} of {len(result.days)} days: not market data.**", ""]
    lines += ["## Sources and parameters", "",
              f"- Setups: `{result.setups_dir}`", f"- Bars: `{result.bars_dir}`",
              f"- Confirm policy: `{result.policy}`",
              f"- Engine parameters (changes from the defaults): `{parameters_line(result.config)}`",
              "- Each day starts flat with the same simulated cash; positions are not carried.",
              "", "## Figures", "", *markdown_table(("", ""), figures(result)), ""]
    head = ("", "trades", "wins", "losses", "win rate", "P&L", "profit factor", "average R")
    perf = result.performance
    for title, groups in (("By ticker", perf.by_ticker), ("By category", perf.by_category),
                          ("By aggressiveness", perf.by_aggressiveness)):
        lines += [f"## {title}", "", *markdown_table(head, _groups(groups)), ""]
    lines += ["## Equity", "", "![equity](equity.png)", "", "## Days", ""]
    cum = Decimal(0)
    rows = []
    for d in result.days:
        c = d.counts
        cum += c.realized_pnl
        rows.append([d.trading_date.isoformat(), ", ".join(d.symbols), str(c.signals),
                     str(c.triggered), str(c.proposals), str(c.fills), str(c.trades),
                     money(c.realized_pnl), money(cum), "yes" if d.synthetic else ""])
    lines += markdown_table(("date", "tickers", "signals", "triggered", "proposals", "fills", "trades",
                     "P&L", "cumulative", "synthetic"), rows)
    if result.skipped:
        lines += ["", "## Skipped", "", *markdown_table(
            ("date", "setup", "why"),
            [[s.trading_date.isoformat(), s.setup_path.name, s.reason] for s in result.skipped])]
    lines += ["", "Every trade: [trades.csv](trades.csv)"]
    return "\n".join(lines) + "\n"


def summary_dict(result: BacktestResult) -> dict[str, Any]:
    """Return what ``summary.json`` holds (and ``--compare`` reads)."""
    days = result.days
    return {
        "version": SUMMARY_VERSION,
        "setups_dir": str(result.setups_dir), "bars_dir": str(result.bars_dir),
        "first_day": days[0].trading_date.isoformat() if days else None,
        "last_day": days[-1].trading_date.isoformat() if days else None,
        "days": len(days), "days_skipped": len(result.skipped),
        "synthetic_days": sum(1 for d in days if d.synthetic),
        "policy": str(result.policy), "parameters": config_changes(result.config),
        "counts": {k: sum(getattr(d.counts, k) for d in days)
                   for k in ("signals", "triggered", "proposals", "orders", "fills", "trades")},
        "performance": result.performance.to_dict(),
    }


def write_backtest_report(result: BacktestResult, folder: Path) -> BacktestReport:
    """Write the backtest's report into ``folder`` (created) and return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "equity.png").write_bytes(equity_chart(
        [d.trading_date for d in result.days], [d.counts.realized_pnl for d in result.days],
        title="Daily realized P&L and cumulative"))
    (folder / "trades.csv").write_text(trades_csv_text(result.trades), encoding="utf-8")
    md = folder / "report.md"
    md.write_text(render_markdown(result), encoding="utf-8")
    summary = folder / "summary.json"
    summary.write_text(json.dumps(summary_dict(result), indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
    return BacktestReport(folder, md, summary)
