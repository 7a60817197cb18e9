"""Closed trades from the engine's tables, as :class:`~core.reporting.stats.TradeRecord` rows."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.db.models import SignalRow
from core.db.models.trading import PositionRow, PositionStatus, ProposalRow
from core.db.session import Database
from core.reporting.stats import TradeRecord


async def closed_trades(
    db: Database, *, since: date | None = None, until: date | None = None
) -> list[TradeRecord]:
    """Return every closed position that filled, oldest close first, with its plan and signal.

    P&L is net of fees (the engine's realized P&L minus the position's fees); ``max_loss`` is the
    proposal's planned maximum loss; category and aggressiveness come from the signal (the
    proposal's category, and ``none``, when the signal is gone).
    """
    stmt = (
        select(PositionRow, ProposalRow.max_loss, ProposalRow.category, SignalRow.category,
               SignalRow.aggressiveness)
        .outerjoin(ProposalRow, ProposalRow.id == PositionRow.proposal_id)
        .outerjoin(SignalRow, SignalRow.id == PositionRow.signal_id)
        .where(PositionRow.status == PositionStatus.CLOSED, PositionRow.qty_filled > 0)
        .order_by(PositionRow.closed_at, PositionRow.id)
    )
    if since is not None:
        stmt = stmt.where(PositionRow.trading_date >= since)
    if until is not None:
        stmt = stmt.where(PositionRow.trading_date <= until)
    async with db.sessions() as session:
        rows = (await session.execute(stmt)).all()
    out = []
    for pos, max_loss, prop_category, sig_category, aggressiveness in rows:
        out.append(TradeRecord(
            trading_date=pos.trading_date, symbol=pos.underlying, contract=pos.contract,
            direction=pos.direction, category=sig_category or prop_category or "unknown",
            aggressiveness=aggressiveness or "none", qty=pos.qty_filled,
            entry_price=pos.avg_entry, exit_price=pos.avg_exit,
            realized_pnl=pos.realized_pnl - pos.fees, max_loss=max_loss,
            opened_at=pos.opened_at, closed_at=pos.closed_at, exit_reason=pos.exit_reason,
            position_id=pos.id))
    return out
