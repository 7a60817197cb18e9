"""Proposal embeds: the contract, its quote, Greeks and liquidity, size, cost, risk and plan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import discord

from cogs.render.style import (
    ARROW,
    MUTED,
    WARNING,
    clip,
    colour_for,
    pct,
    price,
    usd,
    when,
)
from core.db.models.trading import ProposalRow, ProposalStatus

DECIDED = {
    ProposalStatus.CONFIRMED: "✅ Confirmed by {who} {at}",
    ProposalStatus.REJECTED: "❌ Rejected by {who} {at}",
    ProposalStatus.EXPIRED: "⌛ Expired {at}: nobody confirmed in time",
    ProposalStatus.REFUSED: "⛔ Not sent {at}: {note}",
    ProposalStatus.FAILED: "⚠️ Entry not filled {at}: {note}",
}


def contract_label(view: dict[str, Any], trading_date: date) -> str:
    """Return ``SPY 600 C 2025-06-13 (2 DTE)`` for a candidate view."""
    expiry = date.fromisoformat(view["expiry"])
    right = "C" if str(view.get("right", "")).lower().startswith("c") else "P"
    dte = (expiry - trading_date).days
    strike = Decimal(str(view["strike"]))
    return f"{price(strike)} {right} {expiry.isoformat()} ({dte} DTE)"


def _greeks(view: dict[str, Any]) -> str:
    parts = [f"Δ {view['delta']:+.2f}"]
    if view.get("iv") is not None:
        parts.append(f"IV {view['iv'] * 100:.1f}%")
    if view.get("theta") is not None:
        parts.append(f"Θ {view['theta']:+.3f}/day")
    if view.get("gamma") is not None:
        parts.append(f"Γ {view['gamma']:.4f}")
    return " · ".join(parts)


def _quote(bid: Decimal, ask: Decimal, view: dict[str, Any]) -> str:
    mid = (bid + ask) / 2
    return (f"bid {price(bid)} · ask {price(ask)} · mid {price(mid.quantize(Decimal('0.001')))}"
            f" · spread {pct(view.get('spread_pct'))}")


def _scenarios(view: dict[str, Any]) -> str:
    lines = []
    for s in view.get("scenarios", []):
        lines.append(f"{s['label']} {price(s['level'])}: ≈ {price(round(s['value'], 2))} "
                     f"({pct(s['change_pct'], digits=0, sign=True)})")
    return "\n".join(lines)


def status_line(p: ProposalRow) -> str:
    """Return who decided the proposal and when, or until when it can be confirmed."""
    if p.status == ProposalStatus.OPEN:
        return f"⏳ Awaiting a decision · expires {when(p.expires_at, 'R')} ({when(p.expires_at)})"
    template = DECIDED.get(ProposalStatus(p.status), "{status}")
    at = when(p.decided_at) if p.decided_at else ""
    return template.format(who=p.decided_by or "someone", at=at, note=p.decision_note or "",
                           status=p.status)


def proposal_embed(p: ProposalRow) -> discord.Embed:
    """Return the proposal as an embed; its colour and status follow the decision."""
    best: dict[str, Any] = p.details.get("best", {})
    arrow = ARROW.get(p.direction, "")
    colour = colour_for(p.direction) if p.status == ProposalStatus.OPEN else MUTED
    trigger = p.details.get("trigger")
    embed = discord.Embed(
        title=f"{arrow} {p.underlying} {p.category} · buy {p.quantity} × "
              f"{p.underlying} {contract_label(best, p.trading_date) if best else p.contract}",
        colour=colour,
        description=status_line(p))
    embed.add_field(name="Signal",
                    value=f"{p.category} at {price(Decimal(trigger)) if trigger else '—'}, "
                          f"underlying {price(p.underlying_price)} ({p.direction})",
                    inline=False)
    embed.add_field(name="Contract", value=f"`{p.contract}`", inline=True)
    if best:
        embed.add_field(name="Quote", value=_quote(p.bid, p.ask, best), inline=False)
        embed.add_field(name="Greeks", value=_greeks(best), inline=True)
        embed.add_field(name="Liquidity",
                        value=f"OI {best.get('open_interest', 0):,} · vol {best.get('volume', 0):,}",
                        inline=True)
    embed.add_field(
        name="Order",
        value=f"{p.quantity} × limit {price(p.limit_price)} · est. cost {usd(p.est_cost)} · "
              f"max loss {usd(p.max_loss)}",
        inline=False)
    targets = " · ".join(price(Decimal(t)) for t in p.targets) or "none"
    plan = f"targets {targets} · stop {price(p.stop_price)} (underlying)"
    scen = _scenarios(best) if best else ""
    embed.add_field(name="Plan", value=clip(plan + ("\n" + scen if scen else "")), inline=False)
    alternates = p.details.get("alternates") or []
    if alternates and p.status == ProposalStatus.OPEN:
        embed.add_field(name="Alternates", value=clip("\n".join(
            f"`{a['contract']}` {price(Decimal(str(a['mid'])).quantize(Decimal('0.01')))} · "
            f"Δ {a['delta']:+.2f} · OI {a.get('open_interest', 0):,}" for a in alternates)),
            inline=False)
    if p.details.get("bias_warning"):
        embed.add_field(name="⚠️ Against the bias", value=clip(p.details["bias_warning"]),
                        inline=False)
        if p.status == ProposalStatus.OPEN:
            embed.colour = WARNING
    embed.set_footer(text=f"proposal #{p.id} · v{p.version}")
    return embed

