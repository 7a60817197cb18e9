"""One line per engine event, as posted in a proposal's thread (or the log channel)."""

from __future__ import annotations

from decimal import Decimal
from functools import singledispatch

from cogs.render.style import ARROW, price, usd, when
from core.events import (
    BiasFlipped,
    DailySummary,
    EngineStateChanged,
    Event,
    ExitTriggered,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderRepriced,
    OrderSubmitted,
    PositionClosed,
    PositionMarked,
    ProposalConfirmed,
    ProposalCreated,
    ProposalExpired,
    ProposalRefreshed,
    ProposalRejected,
    Reconciliation,
    RiskRefused,
    SetupParsed,
    SignalSkipped,
    SignalTriggered,
)

PURPOSE = {"entry": "entry", "scale_out": "scale-out", "stop": "stop", "exit": "exit"}


@singledispatch
def event_line(event: Event) -> str | None:
    """Return the line a trader sees for ``event``, or None when it is not shown."""
    return None


@event_line.register
def _(e: SetupParsed) -> str:
    if e.outcome == "deleted":
        return f"🗑️ Setup message {e.discord_message_id} deleted"
    return (f"📋 Setup {e.outcome}: {', '.join(e.symbols) or 'no tickers'}, "
            f"{e.signal_count} levels" + (f", {len(e.warnings)} warnings" if e.warnings else ""))


@event_line.register
def _(e: SignalTriggered) -> str:
    return (f"🎯 {e.symbol} {e.category} ({e.aggressiveness}) triggered at {price(e.price)}: "
            f"{e.reason}")


@event_line.register
def _(e: SignalSkipped) -> str:
    return f"⏭️ {e.symbol} level not traded: {e.reason}"


@event_line.register
def _(e: BiasFlipped) -> str:
    return (f"🔄 {e.symbol} bias flipped to {ARROW.get(e.to_direction, '')} {e.to_direction} "
            f"at {price(e.price)}: {e.reason}")


@event_line.register
def _(e: ProposalCreated) -> str:
    return f"💡 Proposal #{e.proposal_id}: {e.contract}"


@event_line.register
def _(e: ProposalRefreshed) -> str:
    return f"🔁 Proposal #{e.proposal_id} refreshed: {e.reason}"


@event_line.register
def _(e: ProposalConfirmed) -> str:
    return f"✅ Proposal #{e.proposal_id} confirmed by {e.actor}"


@event_line.register
def _(e: ProposalRejected) -> str:
    return f"❌ Proposal #{e.proposal_id} rejected by {e.actor}" + (
        f" ({e.reason})" if e.reason and e.reason != "rejected" else "")


@event_line.register
def _(e: ProposalExpired) -> str:
    return f"⌛ Proposal #{e.proposal_id} expired: nobody confirmed in time"


@event_line.register
def _(e: OrderSubmitted) -> str:
    limit = f" limit {price(e.limit_price)}" if e.limit_price is not None else " at market"
    return f"📤 {PURPOSE.get(e.purpose, e.purpose)} order sent: {e.side} {e.qty} {e.symbol}{limit}"


@event_line.register
def _(e: OrderRepriced) -> str:
    return (f"↗️ {PURPOSE.get(e.purpose, e.purpose)} order repriced {price(e.old_price)} → "
            f"{price(e.limit_price)}")


def fill_line(e: OrderFilled, proposal_price: Decimal | None = None,
              proposal_contract: str | None = None) -> str:
    """Return a fill; an entry fill shows its slippage against the proposal's price.

    An entry in another contract than the proposal's (the fallback to an alternate) is
    measured against its own limit: the proposal's price is another option's.
    """
    what = "filled" if e.complete else "partial fill"
    total = f" ({e.filled_qty}/{e.qty})" if not e.complete or e.fill_qty != e.qty else ""
    slip = ""
    if e.purpose == "entry":
        if proposal_price is not None and proposal_contract in (None, e.symbol):
            per_share = e.fill_price - proposal_price
            slip = f", slippage {usd(per_share * 100, sign=True)}/contract vs the proposal"
        elif e.slippage is not None:
            slip = f", slippage {usd(e.slippage * 100, sign=True)}/contract vs the limit"
    return (f"💰 {PURPOSE.get(e.purpose, e.purpose)} {what}: {e.side} {e.fill_qty} {e.symbol} "
            f"@ {price(e.fill_price)}{total}{slip}")


@event_line.register
def _(e: OrderFilled) -> str:
    return fill_line(e)


@event_line.register
def _(e: OrderCanceled) -> str:
    return f"🚫 {PURPOSE.get(e.purpose, e.purpose)} order canceled: {e.reason}"


@event_line.register
def _(e: OrderRejected) -> str:
    return f"⛔ {PURPOSE.get(e.purpose, e.purpose)} order rejected by the broker: {e.reason}"


@event_line.register
def _(e: PositionMarked) -> str:
    under = f" · underlying {price(e.underlying_price)}" if e.underlying_price is not None else ""
    return f"📈 P&L {usd(e.unrealized_pnl, sign=True)} · mark {price(e.mark)}{under}"


@event_line.register
def _(e: ExitTriggered) -> str:
    return f"🚪 Exit {e.qty} {e.contract}: {e.reason}"


@event_line.register
def _(e: PositionClosed) -> str:
    return f"🏁 Position closed ({e.reason}): realized {usd(e.realized_pnl, sign=True)}"


@event_line.register
def _(e: RiskRefused) -> str:
    return f"⛔ Risk check refused {e.symbol or 'the order'}: {e.reason}"


@event_line.register
def _(e: EngineStateChanged) -> str:
    return f"⚙️ {e.what} → {e.detail} (by {e.actor} {when(e.at)})"


@event_line.register
def _(e: Reconciliation) -> str:
    return f"🧾 Reconciliation: {e.problem}: {e.detail}"


@event_line.register
def _(e: DailySummary) -> str:
    return (f"📊 {e.trading_date}: {e.trades} trades ({e.wins} won, {e.losses} lost), realized "
            f"{usd(e.realized_pnl, sign=True)}, {e.open_positions} still open")
