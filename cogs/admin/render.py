"""Embeds and sentences of the admin commands."""

from __future__ import annotations

import math
from collections.abc import Sequence

import discord

from cogs.render.style import BEARISH, BULLISH, MUTED, NEUTRAL, WARNING, clip, usd, when
from core.engine.queries import EngineStatus
from core.engine.risk import RiskLimits, TradingState

STATE_TEXT = {
    TradingState.ACTIVE: "🟢 active: entries and exits allowed",
    TradingState.REDUCING: "⏸️ paused: no new entries; exits, stops and closes still run",
    TradingState.HALTED: "🛑 kill switch: no orders at all (/admin resume lifts it)",
}
STATE_COLOUR = {TradingState.ACTIVE: BULLISH, TradingState.REDUCING: WARNING,
                TradingState.HALTED: BEARISH}


def status_embed(s: EngineStatus, *, latency: float, broker: str,
                 setup_channels: Sequence[int], log_channel: int | None,
                 problems: Sequence[str]) -> discord.Embed:
    """Return the bot's status: connections, broker, market, book, state."""
    embed = discord.Embed(title="A+ bot status", colour=STATE_COLOUR[s.trading_state])
    ping = f"{latency * 1000:.0f} ms" if math.isfinite(latency) and latency > 0 else "n/a"
    embed.add_field(name="Discord", value=f"gateway latency {ping}", inline=True)
    embed.add_field(name="Broker", value=broker, inline=True)
    if s.next_change is None:
        market = "open" if s.market_open else "closed"
    elif s.market_open:
        market = f"🔔 open, closes {when(s.next_change, 'R')}"
    else:
        market = f"💤 closed, opens {when(s.next_change, 'R')} ({when(s.next_change, 'f')})"
    embed.add_field(name="Market", value=market, inline=True)
    embed.add_field(name="Trading", value=STATE_TEXT[s.trading_state], inline=False)
    embed.add_field(name="Auto-confirm", value="on" if s.auto_confirm else "off", inline=True)
    embed.add_field(name="Book", value=f"{s.open_positions} open positions · "
                    f"{s.working_orders} working orders · {s.watched_signals} levels watched",
                    inline=False)
    embed.add_field(name="Setup channels", value=clip(
        " ".join(f"<#{c}>" for c in setup_channels) or "none (add one with /admin channel add)"),
        inline=False)
    embed.add_field(name="Log channel", value=f"<#{log_channel}>" if log_channel else "not set",
                    inline=True)
    failures = ", ".join(f"{name}: {n}" for name, n in sorted(s.event_failures.items()))
    embed.add_field(name="Event failures", value=failures or "none", inline=True)
    if problems:
        embed.add_field(name="Problems reported", value=clip("\n".join(
            f"• {p}" for p in problems[-5:])), inline=False)
    return embed


def limit_value(limits: RiskLimits, name: str) -> str:
    """Return one limit's value as text (dollars for dollar limits)."""
    value = getattr(limits, name)
    if isinstance(value, bool):
        return "yes" if value else "no"
    field = type(limits).model_fields[name]
    if "USD" in (field.description or ""):
        return usd(value)
    return str(value)


def risk_embed(limits: RiskLimits, defaults: RiskLimits) -> discord.Embed:
    """Return every risk limit with its value, what it does, and whether it was changed."""
    embed = discord.Embed(title="Risk limits", colour=NEUTRAL,
                          description="Change one with `/admin risk set <limit> <value>`.")
    for name, field in type(limits).model_fields.items():
        changed = getattr(limits, name) != getattr(defaults, name)
        note = f" (default {limit_value(defaults, name)})" if changed else ""
        embed.add_field(name=name, value=f"**{limit_value(limits, name)}**{note}\n"
                        f"{field.description or ''}", inline=True)
    return embed


def flatten_request_embed(open_positions: int, working_orders: int) -> discord.Embed:
    """Return the flatten confirmation: what would be closed and canceled."""
    return discord.Embed(
        title="Flatten everything?", colour=BEARISH,
        description=f"This sells all **{open_positions}** open positions at the bid "
                    f"(marketable limits, repriced like any exit) and cancels working entries "
                    f"({working_orders} working orders now). Only an admin's click counts; the "
                    "request expires in 5 minutes.")


def flatten_done_embed(outcome: str) -> discord.Embed:
    """Return the flatten confirmation once decided."""
    return discord.Embed(title="Flatten", colour=MUTED, description=clip(outcome, 4096))


def flatten_summary(done: Sequence[str]) -> str:
    """Return what flatten did, one line per action."""
    if not done:
        return "Nothing was open: no orders sent."
    return clip("\n".join(f"• {line}" for line in done), 1800)
