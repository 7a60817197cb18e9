"""The report folder of a replayed day: Markdown, trades CSV, P&L chart, one chart per ticker.

:func:`write_day_report` writes ``report.md`` (header with data sources, the SYNTHETIC label when
any bars are made up, parameters, summary, timeline, trades table, links to the charts),
``trades.csv``, ``pnl.png`` and ``<TICKER>.png`` for each traded ticker. The timeline lines are
rendered by the caller (the chat layer's formatting), since ``core`` has no Discord.

Every file is a function of the replay alone (no run time, no temporary paths), so the same
inputs give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.clock import NEW_YORK
from core.engine.config import EngineConfig
from core.events import OrderFilled
from core.marketdata.bars_csv import bars_path, read_bars_csv
from core.marketdata.models import Bar, OptionContract
from core.parsing import ParsedMessage
from core.replay.driver import ReplayResult
from core.reporting.charts import ChartLevel, ChartMarker, LevelKind, equity_chart, underlying_chart
from core.reporting.stats import TradeRecord, format_ratio, trade_stats

TRADE_COLUMNS = ("trading_date", "position_id", "symbol", "contract", "direction", "category",
                 "aggressiveness", "qty", "entry_price", "exit_price", "opened_at", "closed_at",
                 "realized_pnl", "max_loss", "r_multiple", "exit_reason")


@dataclass(frozen=True, slots=True)
class DayReport:
    """Where a day's report went."""

    folder: Path
    markdown: Path
    trades_csv: Path
    charts: tuple[Path, ...]


def money(value: Decimal | None) -> str:
    """Show dollars with a sign and cents (``+$1,234.50``), ``–`` for none."""
    if value is None:
        return "–"
    sign = "-" if value < 0 else "+"
    return f"{sign}${abs(value):,.2f}"


def _iso(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""


def _num(value: Decimal | None, places: str = "0.01") -> str:
    return "" if value is None else str(value.quantize(Decimal(places)))


def trades_csv_text(trades: Iterable[TradeRecord]) -> str:
    """Return the trades as CSV text (fixed columns, prices to the cent, times in UTC)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TRADE_COLUMNS)
    for t in trades:
        r = t.r_multiple
        w.writerow([t.trading_date.isoformat(), t.position_id or "", t.symbol, t.contract,
                    t.direction, t.category, t.aggressiveness, t.qty, _num(t.entry_price, "0.0001"),
                    _num(t.exit_price, "0.0001"), _iso(t.opened_at), _iso(t.closed_at),
                    _num(t.realized_pnl), _num(t.max_loss), "" if r is None else f"{r:.3f}",
                    t.exit_reason or ""])
    return buf.getvalue()


def config_changes(config: EngineConfig) -> dict[str, Any]:
    """Return the parameters that differ from the defaults, nested, as JSON values."""
    return config.model_dump(mode="json", exclude_defaults=True)


def parameters_line(config: EngineConfig) -> str:
    """Return the changed parameters as one line (``defaults`` when none changed)."""
    changed = config_changes(config)
    return json.dumps(changed, sort_keys=True) if changed else "defaults"


def chart_levels(parsed: ParsedMessage, symbol: str) -> list[ChartLevel]:
    """Return the trigger and target lines of ``symbol``'s signals (targets once each)."""
    levels: list[ChartLevel] = []
    seen: set[tuple[float, str]] = set()
    for setup in parsed.setups:
        if setup.symbol != symbol:
            continue
        for sig in setup.signals:
            cat = str(sig.category)
            for p in {float(sig.trigger_low), float(sig.trigger_high)}:
                levels.append(ChartLevel(p, cat, LevelKind.TRIGGER,
                                         f"{cat} {sig.aggressiveness} {p:g}".replace(" none", "")))
            for t in sig.targets:
                if (float(t), cat) not in seen:
                    seen.add((float(t), cat))
                    levels.append(ChartLevel(float(t), cat, LevelKind.TARGET))
    return levels


def day_bars(bars_dir: Path, symbol: str, result: ReplayResult) -> list[Bar]:
    """Read the replayed bars of ``symbol`` back from its file."""
    b = read_bars_csv(bars_path(bars_dir, symbol, result.trading_date))
    return [Bar(symbol, datetime.fromtimestamp(b.epoch[i], UTC), b.open[i], b.high[i], b.low[i],
                b.close[i], b.volume[i]) for i in range(len(b))]


def _underlying_at(bars: Sequence[Bar], at: datetime) -> float:
    """Return the close of the last bar that ended by ``at`` (the open before the first)."""
    price = bars[0].open if bars else 0.0
    for bar in bars:
        if bar.timestamp.timestamp() + 60 > at.timestamp():
            break
        price = bar.close
    return price


def trade_markers(result: ReplayResult, symbol: str,
                  bars: Sequence[Bar]) -> tuple[list[ChartMarker], list[ChartMarker]]:
    """Return entry and exit markers for ``symbol`` from the day's fills."""
    entries: list[ChartMarker] = []
    exits: list[ChartMarker] = []
    for e in result.events:
        if not isinstance(e, OrderFilled):
            continue
        try:
            under = OptionContract.parse(e.symbol).underlying
        except ValueError:
            under = e.symbol
        if under != symbol:
            continue
        marker = ChartMarker(e.at, _underlying_at(bars, e.at), f"{e.side} {e.fill_qty} @ {e.fill_price}")
        (entries if e.purpose == "entry" else exits).append(marker)
    return entries, exits


def summary_rows(result: ReplayResult) -> list[tuple[str, str]]:
    """Return the summary as (name, value) rows."""
    c = result.counts
    s = trade_stats(result.trades)
    return [
        ("signals", str(c.signals)), ("triggered", str(c.triggered)),
        ("proposals", str(c.proposals)), ("orders", str(c.orders)), ("fills", str(c.fills)),
        ("trades", str(c.trades)), ("realized P&L", money(c.realized_pnl)),
        ("win rate", "–" if s.win_rate is None else f"{s.win_rate:.0%}"),
        ("profit factor", format_ratio(s.profit_factor)),
        ("average R", format_ratio(s.average_r)),
        ("expectancy per trade", money(s.expectancy)),
        ("max drawdown", money(-s.max_drawdown) if s.max_drawdown else "$0.00"),
        ("still open at the close", str(result.open_positions)),
    ]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Return a Markdown table's lines (``|`` in cells escaped)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def _hhmm(at: datetime | None) -> str:
    return at.astimezone(NEW_YORK).strftime("%H:%M") if at else ""


def header_lines(result: ReplayResult) -> list[str]:
    """Return the report header: title, SYNTHETIC warning, sources and parameters."""
    lines = [f"# Replay of {result.trading_date.isoformat()}", ""]
    if result.synthetic:
        lines += ["> **SYNTHETIC bars: not market data.** The prices below are made up; the "
                  "trades show what the bot's rules do, not what the market did.", ""]
    posted = result.setup.posted_at.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")
    lines += ["## Sources and parameters", "",
              f"- Setup: `{result.setup.origin}` (posted {posted} New York)"]
    for sym in result.symbols:
        lines.append(f"- Bars {sym}: {result.bar_sources[sym]}")
    if result.missing_bars:
        lines.append(f"- No bars (not replayed): {', '.join(result.missing_bars)}")
    lines += [f"- Confirm policy: `{result.policy}`",
              f"- Engine parameters (changes from the defaults): `{parameters_line(result.config)}`",
              "- Exchange: the embedded simulated exchange (option quotes are modelled, "
              "Black–Scholes on a volatility smile)", ""]
    return lines


def render_markdown(result: ReplayResult, timeline: Sequence[str], charts: Sequence[str]) -> str:
    """Return ``report.md``."""
    lines = header_lines(result)
    lines += ["## Summary", "", *markdown_table(("", ""), summary_rows(result)), ""]
    lines += ["## Timeline (New York time)", "", "```text", *timeline, "```", ""]
    lines += ["## Trades", ""]
    if result.trades:
        rows = [(str(i), t.symbol, t.contract, t.category, t.aggressiveness, str(t.qty),
                 _num(t.entry_price), _num(t.exit_price), _hhmm(t.opened_at), _hhmm(t.closed_at),
                 money(t.realized_pnl), format_ratio(t.r_multiple), t.exit_reason or "")
                for i, t in enumerate(result.trades, 1)]
        lines += markdown_table(("#", "ticker", "contract", "category", "aggressiveness", "qty",
                                 "entry", "avg exit", "opened", "closed", "P&L", "R",
                                 "last exit"), rows)
    else:
        lines.append("No trades.")
    lines += ["", "Details: [trades.csv](trades.csv)", "", "## Charts", ""]
    lines += [f"![{Path(c).stem}]({c})" for c in charts]
    return "\n".join(lines) + "\n"


def write_day_report(result: ReplayResult, folder: Path, timeline: Sequence[str]) -> DayReport:
    """Write the day's report into ``folder`` (created) and return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    charts: list[Path] = []
    pnl_path = folder / "pnl.png"
    closes = [t for t in result.trades if t.closed_at is not None]
    pnl_path.write_bytes(equity_chart([t.closed_at for t in closes if t.closed_at],
                                      [t.realized_pnl for t in closes],
                                      title=f"Realized P&L by trade, {result.trading_date}"))
    charts.append(pnl_path)
    for symbol in sorted({t.symbol for t in result.trades}):
        bars = day_bars(result.bars_dir, symbol, result)
        entries, exits = trade_markers(result, symbol, bars)
        title = f"{symbol} {result.trading_date}" + (" (SYNTHETIC bars)" if result.synthetic else "")
        path = folder / f"{symbol}.png"
        path.write_bytes(underlying_chart(bars, chart_levels(result.parsed, symbol), entries,
                                          exits, title))
        charts.append(path)
    trades_path = folder / "trades.csv"
    trades_path.write_text(trades_csv_text(result.trades), encoding="utf-8")
    md = folder / "report.md"
    md.write_text(render_markdown(result, timeline, [c.name for c in charts]), encoding="utf-8")
    return DayReport(folder, md, trades_path, tuple(charts))


def json_summary(result: ReplayResult, report_dir: Path | None) -> dict[str, Any]:
    """Return the ``--json`` summary object (keys exactly as documented)."""
    c = result.counts
    return {
        "date": result.trading_date.isoformat(), "symbols": list(result.symbols),
        "signals": c.signals, "triggered": c.triggered, "proposals": c.proposals,
        "orders": c.orders, "fills": c.fills, "trades": c.trades,
        "realized_pnl": float(c.realized_pnl.quantize(Decimal("0.01"))),
        "report_dir": str(report_dir) if report_dir is not None else None,
    }
