"""Embeds of the trading commands: positions, P&L, orders, setups, signals, stats, help."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import discord

from cogs.common.paginate import number_pages
from cogs.render.style import (
    ARROW,
    CATEGORY_ICON,
    MUTED,
    NEUTRAL,
    WARNING,
    clip,
    colour_for,
    pct,
    price,
    usd,
    when,
)
from core.brokers.models import OPTION_MULTIPLIER
from core.db.models import SetupMessage, SignalRow
from core.db.models.trading import OrderRow, PositionRow, PositionStatus
from core.engine.base import Exposure
from core.engine.queries import Period, PnlReport, SignalState
from core.marketdata.models import OptionContract, OptionRight
from core.reporting.stats import PerformanceReport, format_ratio

POSITIONS_PER_PAGE = 5
ORDERS_PER_PAGE = 10
SIGNALS_PER_PAGE = 15
TICKERS_PER_PAGE = 6
CHART_NAME = "pnl.png"
STATUS_ICON = {"pending": "⏸️", "watching": "👀", "triggered": "🎯", "expired": "⌛",
               "invalidated": "🚫"}


def contract_label(contract: str) -> str:
    """Return ``SPY 600 C 2025-06-13`` for an OCC symbol (the symbol itself if unreadable)."""
    try:
        c = OptionContract.parse(contract)
    except ValueError:
        return contract
    right = "C" if c.right is OptionRight.CALL else "P"
    return f"{c.underlying} {price(Decimal(str(c.strike)))} {right} {c.expiry.isoformat()}"


def position_choice(pos: PositionRow) -> str:
    """Return the autocomplete line of an open position (at most 100 characters)."""
    pnl = f" · {usd(pos.unrealized_pnl, sign=True)}" if pos.unrealized_pnl is not None else ""
    return clip(f"#{pos.id} {contract_label(pos.contract)} ×{pos.qty_open}{pnl}", 100)


def _greeks_line(pos: PositionRow) -> str:
    g = pos.greeks or {}
    units = pos.qty_open * float(OPTION_MULTIPLIER)
    parts = []
    if isinstance(g.get("delta"), int | float):
        parts.append(f"Δ {g['delta'] * units:+,.0f} sh")
    if isinstance(g.get("gamma"), int | float):
        parts.append(f"Γ {g['gamma'] * units:+,.1f}")
    if isinstance(g.get("theta"), int | float):
        parts.append(f"Θ {usd(g['theta'] * units, sign=True)}/day")
    if isinstance(g.get("vega"), int | float):
        parts.append(f"V {usd(g['vega'] * units, sign=True)}/pt")
    if isinstance(g.get("iv"), int | float):
        parts.append(f"IV {g['iv'] * 100:.1f}%")
    return " · ".join(parts) or "Greeks not marked yet"


def _pnl_pct(pos: PositionRow) -> str:
    cost = pos.avg_entry * pos.qty_open * OPTION_MULTIPLIER
    if pos.unrealized_pnl is None or cost <= 0:
        return ""
    return f" ({pct(pos.unrealized_pnl / cost * 100, sign=True)})"


def position_field(pos: PositionRow) -> tuple[str, str]:
    """Return the (name, value) of one position: size, prices, P&L, Greeks and plan."""
    arrow = ARROW.get(pos.direction, "")
    name = f"#{pos.id} {arrow} {contract_label(pos.contract)} · {pos.qty_open} open"
    if pos.status != PositionStatus.OPEN:
        name += f" ({pos.status})"
    lines = [
        f"entry {price(pos.avg_entry)} → mark {price(pos.last_mark)} · "
        f"P&L {usd(pos.unrealized_pnl, sign=True)}{_pnl_pct(pos)}"
        + (f" · realized {usd(pos.realized_pnl - pos.fees, sign=True)}"
           if pos.qty_closed else ""),
        _greeks_line(pos),
        f"underlying {price(pos.last_underlying)} · stop {price(pos.stop_price)} · targets "
        + (" · ".join(price(Decimal(str(t))) for t in pos.targets) or "none")
        + (f" ({pos.targets_hit} hit)" if pos.targets_hit else ""),
    ]
    if pos.opened_at is not None:
        lines.append(f"opened {when(pos.opened_at, 'R')} · `{pos.contract}`")
    return clip(name, 256), clip("\n".join(lines))


def positions_pages(positions: Sequence[PositionRow], exposure: Exposure) -> list[discord.Embed]:
    """Return the open positions, a few per page, with totals and portfolio Greeks on top."""
    if not positions:
        return [discord.Embed(title="Open positions", colour=MUTED,
                              description="No open positions.")]
    unreal = sum((p.unrealized_pnl or Decimal(0) for p in positions), Decimal(0))
    summary = (f"{len(positions)} open · unrealized {usd(unreal, sign=True)}\n"
               f"Portfolio Δ {exposure.delta:+,.0f} sh · Γ {exposure.gamma:+,.1f} · "
               f"Θ {usd(exposure.theta, sign=True)}/day · V {usd(exposure.vega, sign=True)}/pt")
    pages = []
    for i in range(0, len(positions), POSITIONS_PER_PAGE):
        embed = discord.Embed(title="Open positions", description=summary,
                              colour=colour_for("bullish" if unreal >= 0 else "bearish"))
        for pos in positions[i:i + POSITIONS_PER_PAGE]:
            name, value = position_field(pos)
            embed.add_field(name=name, value=value, inline=False)
        pages.append(embed)
    return number_pages(pages)


def order_line(o: OrderRow) -> str:
    """Return one order: id, purpose, side, size, contract, prices and state."""
    limit = f" limit {price(o.limit_price)}" if o.limit_price is not None else ""
    filled = (f" · filled {o.filled_qty} @ {price(o.avg_fill_price)}"
              if o.filled_qty and o.avg_fill_price is not None else "")
    reprices = f" · {o.reprices} reprices" if o.reprices else ""
    return (f"`#{o.id}` {o.purpose} {o.side} {o.qty} {contract_label(o.symbol)}{limit}{filled}"
            f"{reprices} · **{o.status}** · {when(o.created_at, 'R')}")


def orders_pages(orders: Sequence[OrderRow], *, open_only: bool) -> list[discord.Embed]:
    """Return the orders, newest first, ten per page."""
    title = "Working orders" if open_only else "Orders"
    if not orders:
        return [discord.Embed(title=title, colour=MUTED,
                              description="No working orders." if open_only else "No orders yet.")]
    pages = [discord.Embed(title=title, colour=NEUTRAL, description=clip(
        "\n".join(order_line(o) for o in orders[i:i + ORDERS_PER_PAGE]), 4096))
        for i in range(0, len(orders), ORDERS_PER_PAGE)]
    return number_pages(pages)


PERIOD_TITLE = {Period.DAY: "today", Period.WEEK: "this week", Period.MONTH: "this month",
                Period.ALL: "all time"}


def pnl_embed(r: PnlReport) -> discord.Embed:
    """Return the P&L of a period (the equity chart is attached as ``pnl.png``)."""
    since = f"since {r.start.isoformat()}" if r.start else "since the first trade"
    embed = discord.Embed(
        title=f"P&L {PERIOD_TITLE[r.period]}", description=f"{since} to {r.end.isoformat()}",
        colour=colour_for("bullish" if r.total >= 0 else "bearish"))
    embed.add_field(name="Realized", value=f"{usd(r.realized, sign=True)}\n"
                    f"{r.closed_trades} closed · fees {usd(r.fees)}", inline=True)
    embed.add_field(name="Unrealized (open now)",
                    value=f"{usd(r.unrealized, sign=True)}\n{r.open_positions} open", inline=True)
    embed.add_field(name="Total", value=usd(r.total, sign=True), inline=True)
    traded = [(d, p) for d, p in zip(r.days, r.daily_realized, strict=True) if p]
    if traded:
        best = max(traded, key=lambda x: x[1])
        worst = min(traded, key=lambda x: x[1])
        embed.add_field(name="Days", value=f"{len(r.days)} trading days, {len(traded)} with "
                        f"realized P&L · best {best[0].isoformat()} {usd(best[1], sign=True)} · "
                        f"worst {worst[0].isoformat()} {usd(worst[1], sign=True)}", inline=False)
    embed.set_image(url=f"attachment://{CHART_NAME}")
    return embed


def stats_embed(report: PerformanceReport, period: Period) -> discord.Embed:
    """Return the trade statistics of a period."""
    t, d = report.trades, report.daily
    embed = discord.Embed(title=f"Trading statistics · {PERIOD_TITLE[period]}", colour=NEUTRAL)
    if t.trades == 0:
        embed.description = "No closed trades in this period yet."
        return embed
    win_rate = pct(t.win_rate * 100) if t.win_rate is not None else "–"
    embed.add_field(name="Trades", value=f"{t.trades} ({t.wins} won, {t.losses} lost"
                    + (f", {t.breakeven} even" if t.breakeven else "") + ")", inline=True)
    embed.add_field(name="Win rate", value=win_rate, inline=True)
    embed.add_field(name="Profit factor", value=format_ratio(t.profit_factor), inline=True)
    embed.add_field(name="Net P&L", value=usd(t.net_pnl, sign=True), inline=True)
    embed.add_field(name="Average win", value=usd(t.average_win, sign=True)
                    if t.average_win is not None else "–", inline=True)
    embed.add_field(name="Average loss", value=usd(t.average_loss, sign=True)
                    if t.average_loss is not None else "–", inline=True)
    embed.add_field(name="Max drawdown", value=f"{usd(t.max_drawdown)} (trades) · "
                    f"{usd(d.max_drawdown)} (days)", inline=True)
    embed.add_field(name="Sharpe", value=format_ratio(d.sharpe), inline=True)
    embed.add_field(name="Average R", value=format_ratio(t.average_r), inline=True)
    if report.by_ticker:
        embed.add_field(name="By ticker", value=clip("\n".join(
            f"{g.key}: {g.trades} trades · {pct(g.win_rate * 100) if g.win_rate is not None else '–'}"
            f" won · {usd(g.net_pnl, sign=True)}" for g in report.by_ticker[:10])), inline=False)
    embed.set_footer(text=f"{d.days} trading days · Sharpe on daily P&L, annualised (√252)")
    return embed


def level_text(low: Decimal, high: Decimal | None, comparison: str) -> str:
    """Return a trigger as ``above 591.82`` or ``588.10–588.60``."""
    if high is not None and high != low:
        return f"{price(low)}–{price(high)}"
    return f"{comparison} {price(low)}"


def signal_row_line(s: SignalRow) -> str:
    """Return one stored signal with its status."""
    icon = CATEGORY_ICON.get(s.category, "•")
    agg = "" if s.aggressiveness == "none" else f" ({s.aggressiveness})"
    targets = " · ".join(price(t.price) for t in s.targets) or "no targets"
    return (f"{icon} **{s.category.capitalize()}**{agg} "
            f"{level_text(s.trigger_low, s.trigger_high, s.comparison)} → {targets} "
            f"{STATUS_ICON.get(s.status, '')} {s.status}")


def setups_pages(day: date, messages: Sequence[SetupMessage]) -> list[discord.Embed]:
    """Return the stored setups of a day: one field per ticker, a few tickers per page."""
    fields: list[tuple[str, str, str | None]] = []
    for m in messages:
        for setup in m.setups:
            if not setup.active:
                continue
            b = setup.bias
            if b is None:
                bias = "Bias: not stated"
            elif b.direction:
                bias = f"Bias: {ARROW.get(b.direction, '')} **{b.direction}**"
                if b.condition and b.price is not None:
                    bias += f" {b.condition} {price(b.price)}"
                if b.flip_direction and b.flip_price is not None:
                    bias += f", flips {b.flip_direction} at {price(b.flip_price)}"
            else:
                bias = f"Bias: “{clip(b.text, 200)}”"
            lines = [bias, *(signal_row_line(s) for s in setup.signals)]
            fields.append((f"{setup.symbol} · posted {when(m.posted_at, 'f')}",
                           clip("\n".join(lines)), b.direction if b else None))
    title = f"A+ setups for {day.isoformat()}"
    if not fields:
        return [discord.Embed(title=title, colour=MUTED,
                              description="No setups are stored for this date.")]
    pages = []
    for i in range(0, len(fields), TICKERS_PER_PAGE):
        chunk = fields[i:i + TICKERS_PER_PAGE]
        embed = discord.Embed(title=title, colour=colour_for(chunk[0][2]))
        for name, value, _ in chunk:
            embed.add_field(name=clip(name, 256), value=value, inline=False)
        embed.set_footer(text=f"{len(messages)} post{'s' if len(messages) != 1 else ''} · "
                              f"{len(fields)} tickers")
        pages.append(embed)
    return number_pages(pages)


def signal_state_line(s: SignalState) -> str:
    """Return one signal of the board: level, targets and where it stands."""
    icon = CATEGORY_ICON.get(s.category, "•")
    agg = "" if s.aggressiveness == "none" else f" {s.aggressiveness}"
    targets = " · ".join(price(t) for t in s.targets) or "no targets"
    if s.watched and s.touched_at is not None:
        state = (f"👆 touched {price(s.touch_price)} {when(s.touched_at)}, waiting for the "
                 "confirming close")
    elif s.watched:
        state = "👀 watching"
    else:
        state = f"{STATUS_ICON.get(s.status, '')} {s.status} {when(s.status_changed_at)}"
        if s.status_reason and s.status != "watching":
            state += f": {clip(s.status_reason, 120)}"
    return (f"{icon} **{s.symbol}**{agg} {s.category} "
            f"{level_text(s.trigger_low, s.trigger_high, s.comparison)} → {targets}\n  {state}")


def signals_pages(day: date, states: Sequence[SignalState]) -> list[discord.Embed]:
    """Return the day's signals and their state, fifteen per page."""
    title = f"Signals for {day.isoformat()}"
    if not states:
        return [discord.Embed(title=title, colour=MUTED,
                              description="No signals for today. Post an A+ setup in a setup "
                                          "channel and I will watch its levels.")]
    watched = sum(1 for s in states if s.watched)
    triggered = sum(1 for s in states if s.status == "triggered")
    summary = f"{watched} watched · {triggered} triggered · {len(states)} in all"
    pages = [discord.Embed(title=title, colour=NEUTRAL, description=clip(
        summary + "\n\n" + "\n".join(signal_state_line(s)
                                     for s in states[i:i + SIGNALS_PER_PAGE]), 4096))
        for i in range(0, len(states), SIGNALS_PER_PAGE)]
    return number_pages(pages)


def close_embed(pos: PositionRow, *, outcome: str | None = None) -> discord.Embed:
    """Return the close confirmation of a position (and, once decided, what happened)."""
    name, value = position_field(pos)
    embed = discord.Embed(
        title=f"Close position #{pos.id}?" if outcome is None else f"Position #{pos.id}",
        colour=WARNING if outcome is None else MUTED,
        description=outcome or "Press **Close now** to sell the whole position at the bid "
                               "(marketable limit, repriced like any exit), or **Keep** to "
                               "leave it.")
    embed.add_field(name=name, value=value, inline=False)
    return embed


def help_embed(entries: Sequence[tuple[str, str, str]]) -> discord.Embed:
    """Return every command, what it does, and who may use it."""
    embed = discord.Embed(title="A+ bot commands", colour=NEUTRAL, description=clip("\n".join(
        f"**/{name}** — {description} *({who})*" for name, description, who in entries), 4096))
    embed.set_footer(text="Answers are private unless you set public: True. "
                          "Buttons check your role when pressed.")
    return embed
