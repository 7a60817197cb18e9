"""A replayed day as the Discord channel would have shown it, as terminal text.

The one place the replay and the backtest turn results into text. Every line comes from the
same renderers as the cogs: the setup post's embeds and each proposal's embed through
:func:`cogs.render.text.embed_to_text`, every other event through
:func:`cogs.render.events.event_line` (events the channel does not show are left out). Each line
starts with its New York time; events that belong to a trade's thread are indented under it
with the proposal number. P&L updates (one a minute at most per trade in the channel) are thinned
to one per trade every ``mark_every`` unless all are asked for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cogs.render.events import event_line
from cogs.render.proposals import proposal_embed
from cogs.render.setups import setup_embeds
from cogs.render.text import embed_to_text
from core.clock import NEW_YORK
from core.events import (
    Event,
    ExitTriggered,
    OrderEvent,
    PositionClosed,
    PositionMarked,
    ProposalCreated,
    ProposalEvent,
    SetupParsed,
)
from core.replay.driver import ReplayResult
from core.replay.report import money
from core.reporting.stats import PerformanceReport, format_ratio

INDENT = "      "
MARK_EVERY = timedelta(minutes=30)


def _stamp(event: Event) -> str:
    return event.at.astimezone(NEW_YORK).strftime("%H:%M")


def _block(text: str, first: str) -> list[str]:
    lines = text.splitlines() or [""]
    return [f"{first} {lines[0]}"] + [f"{INDENT}{line}" for line in lines[1:]]


def timeline_lines(result: ReplayResult, mark_every: timedelta | None = MARK_EVERY) -> list[str]:
    """Return the day's events in time order, rendered as the channel would show them.

    With ``mark_every`` a trade's P&L update is shown only when that long has passed since its
    last one shown; ``None`` shows every update.
    """
    out: list[str] = []
    thread_of_position: dict[int, int] = {}
    last_mark: dict[int, datetime] = {}
    for e in result.events:
        if isinstance(e, PositionMarked) and mark_every is not None:
            seen = last_mark.get(e.position_id)
            if seen is not None and e.at - seen < mark_every:
                continue
            last_mark[e.position_id] = e.at
        stamp = _stamp(e)
        if isinstance(e, SetupParsed):
            out.append(f"{stamp} {event_line(e)}")
            for embed in setup_embeds(result.parsed):
                out.extend(_block(embed_to_text(embed), INDENT[:-1]))
            continue
        if isinstance(e, ProposalCreated) and e.proposal_id in result.proposals:
            out.extend(_block(embed_to_text(proposal_embed(result.proposals[e.proposal_id])),
                              stamp))
            continue
        line = event_line(e)
        if line is None:
            continue
        thread = None
        if isinstance(e, OrderEvent):
            thread = e.proposal_id
            if e.position_id is not None and e.proposal_id is not None:
                thread_of_position[e.position_id] = e.proposal_id
        elif isinstance(e, ProposalEvent):
            thread = e.proposal_id
        elif isinstance(e, (PositionMarked, ExitTriggered, PositionClosed)):
            thread = thread_of_position.get(e.position_id)
        out.append(f"{stamp}   ↳ #{thread} {line}" if thread is not None else f"{stamp} {line}")
    return out


def day_summary_lines(result: ReplayResult) -> list[str]:
    """Return the short summary printed after the timeline."""
    c = result.counts
    head = f"Replay {result.trading_date} ({', '.join(result.symbols)})"
    if result.synthetic:
        head += " · SYNTHETIC bars, not market data"
    lines = [head,
             f"  signals {c.signals} · triggered {c.triggered} · proposals {c.proposals} · "
             f"orders {c.orders} · fills {c.fills} · trades {c.trades} · "
             f"realized {money(c.realized_pnl)}"]
    if result.missing_bars:
        lines.append(f"  not replayed (no bars): {', '.join(result.missing_bars)}")
    if result.open_positions:
        lines.append(f"  {result.open_positions} position(s) still open at the close")
    return lines


def performance_lines(report: PerformanceReport) -> list[str]:
    """Return a backtest's figures: trades, ratios, daily risk, then the three breakdowns."""
    t, d = report.trades, report.daily
    lines = [
        f"trades {t.trades} · wins {t.wins} · losses {t.losses} · win rate "
        + ("–" if t.win_rate is None else f"{t.win_rate:.1%}"),
        f"net P&L {money(t.net_pnl)} · profit factor {format_ratio(t.profit_factor)} · "
        f"average R {format_ratio(t.average_r)} · expectancy {money(t.expectancy)}/trade",
        f"average win {money(t.average_win)} · average loss {money(t.average_loss)} · "
        f"max drawdown {money(-t.max_drawdown) if t.max_drawdown else '$0.00'}",
        f"days {d.days} · Sharpe {format_ratio(d.sharpe)} · Sortino {format_ratio(d.sortino)} "
        f"(daily P&L, ×√252)",
    ]
    for title, groups in (("by ticker", report.by_ticker), ("by category", report.by_category),
                          ("by aggressiveness", report.by_aggressiveness)):
        lines.append(f"{title}:")
        lines.extend(f"  {g.key:<14} {g.trades:>4} trades  win {'–' if g.win_rate is None else f'{g.win_rate:.0%}':>4}"
                     f"  P&L {money(g.net_pnl):>12}  PF {format_ratio(g.profit_factor):>5}"
                     for g in groups)
    return lines


def _money_json(x: float | None) -> str:
    return "–" if x is None else money(Decimal(str(x)).quantize(Decimal("0.01")))


def _ratio_json(x: float | None, *, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:.1%}" if pct else f"{x:.2f}"


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Return (figure, run A, run B) rows from two backtest ``summary.json`` objects."""
    rows: list[tuple[str, str, str]] = []

    def add(label: str, fmt: Any, *path: str) -> None:
        vals = []
        for run in (a, b):
            v: Any = run
            for key in path:
                v = v.get(key) if isinstance(v, dict) else None
            vals.append(fmt(v))
        rows.append((label, vals[0], vals[1]))

    add("days", str, "days")
    add("first day", str, "first_day")
    add("last day", str, "last_day")
    add("policy", str, "policy")
    for key in ("signals", "triggered", "proposals", "orders", "fills", "trades"):
        add(key, str, "counts", key)
    add("win rate", lambda v: _ratio_json(v, pct=True), "performance", "trades", "win_rate")
    add("net P&L", _money_json, "performance", "trades", "net_pnl")
    add("profit factor", lambda v: "∞/–" if v is None else f"{v:.2f}",
        "performance", "trades", "profit_factor")
    add("average R", _ratio_json, "performance", "trades", "average_r")
    add("expectancy", _money_json, "performance", "trades", "expectancy")
    add("max drawdown", _money_json, "performance", "trades", "max_drawdown")
    add("Sharpe", _ratio_json, "performance", "daily", "sharpe")
    add("Sortino", _ratio_json, "performance", "daily", "sortino")
    keys = sorted(set(_flat(a.get("parameters", {}))) | set(_flat(b.get("parameters", {}))))
    for key in keys:
        rows.append((key, str(_flat(a.get("parameters", {})).get(key, "default")),
                     str(_flat(b.get("parameters", {})).get(key, "default"))))
    return rows


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def compare_lines(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> list[str]:
    """Return two backtest summaries side by side, one figure per line."""
    rows = compare_rows(a, b)
    w0 = max(len(r[0]) for r in rows)
    w1 = max([len(r[1]) for r in rows] + [len(names[0])])
    out = [f"{'':<{w0}}  {names[0]:<{w1}}  {names[1]}"]
    out += [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows]
    return out
