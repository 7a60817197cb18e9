"""The final summary of a trade, posted in its thread with a chart of the underlying."""

from __future__ import annotations

from decimal import Decimal

import discord

from cogs.render.style import BEARISH, BULLISH, MUTED, pct, price, usd, when
from core.engine.records import TradeRecord
from core.marketdata.models import Bar
from core.reporting.charts import ChartLevel, ChartMarker, LevelKind, underlying_chart


def trade_summary_embed(trade: TradeRecord) -> discord.Embed:
    """Return the closing summary: realized P&L, entries and exits, R and duration."""
    pos = trade.position
    pnl = pos.realized_pnl - pos.fees
    cost = pos.avg_entry * pos.qty_filled * 100
    colour = BULLISH if pnl > 0 else BEARISH if pnl < 0 else MUTED
    embed = discord.Embed(
        title=f"🏁 {pos.underlying} {pos.contract} closed: {usd(pnl, sign=True)}"
              + (f" ({pct(pnl / cost * 100, sign=True)})" if cost else ""),
        colour=colour)
    embed.add_field(name="Entry", value=f"{pos.qty_filled} × {price(pos.avg_entry)}", inline=True)
    embed.add_field(name="Exit", value=f"{pos.qty_closed} × {price(pos.avg_exit)}", inline=True)
    if trade.proposal is not None and trade.proposal.max_loss:
        r = pnl / trade.proposal.max_loss
        embed.add_field(name="R", value=f"{r:+.2f}", inline=True)
    if pos.opened_at and pos.closed_at:
        minutes = int((pos.closed_at - pos.opened_at).total_seconds() // 60)
        embed.add_field(name="Held", value=f"{minutes} min ({when(pos.opened_at)}–"
                                           f"{when(pos.closed_at)})", inline=True)
    if pos.fees:
        embed.add_field(name="Fees", value=usd(pos.fees), inline=True)
    embed.add_field(name="Why it closed", value=pos.exit_reason or "closed", inline=False)
    lines = [f"{when(f.at)} {f.purpose} {f.side} {f.qty} @ {price(f.price)}" for f in trade.fills]
    if lines:
        embed.add_field(name="Fills", value="\n".join(lines[-15:]), inline=False)
    embed.set_footer(text=f"position #{pos.id}")
    return embed


def trade_chart(trade: TradeRecord, bars: list[Bar]) -> bytes:
    """Draw the underlying with the signal's levels, the entry and the exits."""
    levels: list[ChartLevel] = []
    prop = trade.proposal
    if prop is not None:
        trigger = prop.details.get("trigger")
        if trigger:
            levels.append(ChartLevel(price=float(trigger), category=prop.category))
        levels += [ChartLevel(price=float(t), category=prop.category, kind=LevelKind.TARGET,
                              label=f"T{i} {Decimal(t):g}")
                   for i, t in enumerate(prop.targets, 1)]
        if prop.stop_price is not None:
            levels.append(ChartLevel(price=float(prop.stop_price), category="stop",
                                     label=f"stop {prop.stop_price:g}"))

    def under(at_ts: object) -> float | None:
        best = None
        for b in bars:
            if b.timestamp <= at_ts:  # type: ignore[operator]
                best = b.close
            else:
                break
        return best

    entries, exits = [], []
    for f in trade.fills:
        u = under(f.at)
        if u is None:
            continue
        marker = ChartMarker(at=f.at, price=u, label=f"{f.qty}@{price(f.price)}")
        (entries if f.purpose == "entry" else exits).append(marker)
    pos = trade.position
    return underlying_chart(bars, levels, entries, exits,
                            title=f"{pos.underlying} · {pos.contract} · {pos.trading_date}")
