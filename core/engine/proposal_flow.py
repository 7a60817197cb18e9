"""Proposals: create from a trigger, confirm idempotently, reject, expire."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.exc import InterfaceError, OperationalError

from core.brokers.errors import BrokerError
from core.brokers.models import (
    OPTION_MULTIPLIER,
    OrderSide,
    OrderType,
    TimeInForce,
    client_order_id_for,
)
from core.brokers.ticks import round_to_tick, tick_for
from core.db.models import SignalRow, SignalStatus
from core.db.models.trading import (
    OrderPurpose,
    OrderRow,
    PositionRow,
    PositionStatus,
    ProposalRow,
    ProposalStatus,
)
from core.engine.base import (
    ConfirmOutcome,
    ConfirmResult,
    EngineError,
    EngineParts,
    _d,
    _money,
    _SignalView,
)
from core.engine.exits import initial_stop
from core.engine.health import BrokerHealthMonitor
from core.engine.proposals import ProposalPlan, plan_proposal
from core.engine.risk import (
    EntryIntent,
    broker_refusal,
    check_entry,
)
from core.engine.state import audit
from core.errors import AplusError, NotFoundError
from core.events import (
    ProposalConfirmed,
    ProposalCreated,
    ProposalExpired,
    ProposalRefreshed,
    ProposalRejected,
    RiskRefused,
    SignalSkipped,
)
from core.marketdata.models import OptionContract
from core.options.sizing import size_position

log = logging.getLogger(__name__)


def storage_problem(exc: OperationalError | InterfaceError) -> str:
    """Return a failed database write as a sentence safe to show (the driver's words only)."""
    return f"the database cannot be written right now ({str(exc.orig).strip()[:120]})"


class ProposalFlow(EngineParts):
    """Turn triggers into proposals and decide them."""

    #: Set by the composition root (``bot.services``); its verdict gates new entries.
    health: BrokerHealthMonitor | None = None

    # ------------------------------------------------------------- proposals --------

    async def _propose(self, sig: _SignalView, price: Decimal, warning: str | None) -> None:
        now = self.clock.now()
        try:
            account = await self.broker.get_account()
            plan = await plan_proposal(
                market=self.market, config=self.config, limits=self.limits, now=now,
                symbol=sig.symbol, direction=sig.direction, trigger=sig.trigger,
                targets=sig.targets, spot=float(price), equity=account.equity,
            )
        except (BrokerError, AplusError) as exc:
            self.bus.publish(SignalSkipped(at=now, signal_id=sig.id, symbol=sig.symbol,
                                           reason=f"no proposal: {exc}"))
            return
        if isinstance(plan, str):
            self.bus.publish(SignalSkipped(at=now, signal_id=sig.id, symbol=sig.symbol, reason=plan))
            return
        stop = initial_stop(sig.direction, sig.trigger, self.config.exits)
        details = dict(plan.details)
        if warning:
            details["bias_warning"] = warning
        try:
            pid = await self._record_proposal(sig, plan, price, stop, details, now)
        except OperationalError as exc:
            self.bus.publish(SignalSkipped(at=now, signal_id=sig.id, symbol=sig.symbol,
                                           reason=f"no proposal: {storage_problem(exc)}"))
            return
        self.bus.publish(ProposalCreated(at=now, proposal_id=pid, symbol=sig.symbol,
                                         contract=plan.contract))
        if self.auto_confirm:
            await self.confirm(pid, "auto-confirm")

    async def _record_proposal(self, sig: _SignalView, plan: ProposalPlan, price: Decimal,
                               stop: Decimal, details: dict, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            prop = ProposalRow(
                signal_id=sig.id, trading_date=self.trading_date(now), underlying=sig.symbol,
                direction=sig.direction, category=sig.category, status=ProposalStatus.OPEN,
                contract=plan.contract, quantity=plan.quantity, limit_price=plan.limit_price,
                bid=plan.bid, ask=plan.ask, underlying_price=price, est_cost=plan.est_cost,
                max_loss=plan.max_loss, stop_price=stop, targets=[str(t) for t in sig.targets],
                details=details, version=1,
                expires_at=now + timedelta(seconds=self.config.proposal_ttl_seconds),
                created_at=now)
            session.add(prop)
            await session.flush()
            await audit(session, now, "engine", "proposal_created", "proposal", prop.id,
                        contract=plan.contract, qty=plan.quantity, limit=plan.limit_price)
            return int(prop.id)

    async def confirm(self, proposal_id: int, actor: str, *,
                      expected_version: int | None = None) -> ConfirmResult:
        """Confirm a proposal: re-quote, check risk, then send exactly one order.

        Two confirms of one proposal (a double click, two traders, a confirm racing the
        expiry) give one order or none: a lock per proposal in this process and a
        compare-and-set on the stored status across processes. With ``expected_version``
        (the version the trader saw) nothing is sent when the proposal changed since.
        """
        async with self._proposal_locks[proposal_id]:
            return await self._confirm_locked(proposal_id, actor, expected_version)

    async def _confirm_locked(self, proposal_id: int, actor: str,
                              expected_version: int | None = None) -> ConfirmResult:
        now = self.clock.now()
        async with self.db.sessions() as session:
            prop = await session.get(ProposalRow, proposal_id)
        if prop is None:
            raise NotFoundError(f"there is no proposal #{proposal_id}")
        if (expected_version is not None and prop.status == ProposalStatus.OPEN
                and prop.version != expected_version):
            return ConfirmResult(ConfirmOutcome.REFRESHED,
                                 f"proposal #{proposal_id} changed since you saw it (now "
                                 f"{prop.quantity} × {prop.contract} at {prop.limit_price}); "
                                 "nothing was sent: review it and confirm again", proposal_id)
        if prop.status == ProposalStatus.EXPIRED:
            return ConfirmResult(ConfirmOutcome.EXPIRED,
                                 f"proposal #{proposal_id} expired at {prop.expires_at:%H:%M} UTC; "
                                 "nothing was sent", proposal_id)
        if prop.status != ProposalStatus.OPEN:
            who = f" by {prop.decided_by}" if prop.decided_by else ""
            return ConfirmResult(ConfirmOutcome.ALREADY_DECIDED,
                                 f"proposal #{proposal_id} is already {prop.status}{who}", proposal_id)
        if now >= prop.expires_at:
            await self._expire(prop.id, now)
            return ConfirmResult(ConfirmOutcome.EXPIRED, f"proposal #{proposal_id} expired", proposal_id)
        # The signal may have been invalidated (message edited or deleted) since.
        if prop.signal_id is not None:
            async with self.db.sessions() as session:
                sig = await session.get(SignalRow, prop.signal_id)
            if sig is not None and sig.status == SignalStatus.INVALIDATED:
                await self._close_proposal(prop.id, ProposalStatus.REFUSED, now, actor,
                                           f"signal invalidated: {sig.status_reason}")
                return ConfirmResult(ConfirmOutcome.REFUSED,
                                     f"not sent: the signal was invalidated ({sig.status_reason})",
                                     proposal_id)
        # Underlying already at T1: the move happened without us.
        last = self._last_bar.get(prop.underlying)
        if last is not None and prop.targets:
            t1 = Decimal(prop.targets[0])
            reached = last.close >= t1 if prop.direction == "bullish" else last.close <= t1
            if reached:
                await self._close_proposal(prop.id, ProposalStatus.REFUSED, now, actor,
                                           f"underlying already reached T1 {t1}")
                return ConfirmResult(ConfirmOutcome.REFUSED,
                                     f"not sent: {prop.underlying} already reached T1 {t1} "
                                     f"(last {last.close})", proposal_id)
        # A degraded broker (see core.engine.health): refuse before calling it again.
        if self.health is not None and (problem := self.health.reason()):
            refusal = broker_refusal(problem)
            self.bus.publish(RiskRefused(at=now, rule=refusal.rule, reason=refusal.reason,
                                         proposal_id=prop.id, symbol=prop.underlying))
            return ConfirmResult(ConfirmOutcome.REFUSED, f"not sent: {refusal.reason}", proposal_id)
        # Re-quote at click time.
        try:
            snap = await self.market.option_quote(prop.contract)
        except BrokerError as exc:
            return ConfirmResult(ConfirmOutcome.REFUSED, f"not sent: could not re-quote ({exc})",
                                 proposal_id)
        mid = _d(snap.mid)
        if mid is None or mid <= 0:
            return ConfirmResult(ConfirmOutcome.REFUSED,
                                 f"not sent: {prop.contract} has no two-sided quote right now",
                                 proposal_id)
        ref_mid = Decimal(str(prop.details.get("ref_mid", prop.limit_price)))
        moved = abs(mid - ref_mid) / ref_mid * 100
        if moved > Decimal(str(self.config.slippage_guard_pct)):
            new_limit = round_to_tick(mid, tick_for(prop.contract, mid), OrderSide.BUY)
            async with self.db.sessions.begin() as session:
                row = await session.get(ProposalRow, prop.id)
                assert row is not None
                row.limit_price = new_limit
                row.bid = _d(snap.bid) or row.bid
                row.ask = _d(snap.ask) or row.ask
                row.est_cost = _money(new_limit * row.quantity * OPTION_MULTIPLIER)
                row.max_loss = row.est_cost
                row.details = {**row.details, "ref_mid": str(mid)}
                row.version += 1
                row.expires_at = now + timedelta(seconds=self.config.proposal_ttl_seconds)
                await audit(session, now, actor, "proposal_refreshed", "proposal", row.id,
                            old=str(prop.limit_price), new=str(new_limit))
            reason = (f"mid moved {moved:.1f}% ({ref_mid:.2f} → {mid:.3f}); "
                      f"refreshed at {new_limit:.2f}, confirm again")
            self.bus.publish(ProposalRefreshed(at=now, proposal_id=prop.id, symbol=prop.underlying,
                                               contract=prop.contract, reason=reason))
            return ConfirmResult(ConfirmOutcome.REFRESHED, reason, proposal_id)
        # Risk.
        decision = check_entry(
            EntryIntent(underlying=prop.underlying, contract=prop.contract,
                        expiry=OptionContract.parse(prop.contract).expiry, quantity=prop.quantity,
                        premium=prop.est_cost, signal_id=prop.signal_id),
            await self.portfolio_view(), self.limits, self.trading_state,
            self.health.reason() if self.health is not None else None)
        if not decision.allowed:
            first = decision.first
            assert first is not None
            self.bus.publish(RiskRefused(at=now, rule=first.rule, reason=first.reason,
                                         proposal_id=prop.id, symbol=prop.underlying))
            return ConfirmResult(ConfirmOutcome.REFUSED, f"not sent: {first.reason}", proposal_id)
        # Compare-and-set the status and write the order record before calling the broker:
        # in one transaction, so a failed write (locked database, full disk) leaves nothing.
        try:
            order_id = await self._record_entry(prop, actor, now)
        except OperationalError as exc:
            reason = storage_problem(exc)
            self.bus.publish(RiskRefused(at=now, rule="database", reason=reason,
                                         proposal_id=prop.id, symbol=prop.underlying))
            return ConfirmResult(ConfirmOutcome.REFUSED, f"not sent: {reason}; nothing was sent",
                                 proposal_id)
        if order_id is None:
            return ConfirmResult(ConfirmOutcome.ALREADY_DECIDED,
                                 f"proposal #{proposal_id} was decided by someone else", proposal_id)
        self.bus.publish(ProposalConfirmed(at=now, proposal_id=prop.id, symbol=prop.underlying,
                                           contract=prop.contract, actor=actor))
        await self._submit(order_id)
        return ConfirmResult(ConfirmOutcome.SUBMITTED,
                             f"order sent: buy {prop.quantity} {prop.contract} limit {prop.limit_price}",
                             proposal_id, order_id)

    async def _record_entry(self, prop: ProposalRow, actor: str, now: datetime) -> int | None:
        """Mark the proposal confirmed and write its position and entry order, atomically.

        Return the order's id, or None when the proposal was decided meanwhile.
        """
        async with self.db.sessions.begin() as session:
            res = await session.execute(
                update(ProposalRow)
                .where(ProposalRow.id == prop.id, ProposalRow.status == ProposalStatus.OPEN,
                       ProposalRow.version == prop.version)
                .values(status=ProposalStatus.CONFIRMED, decided_at=now, decided_by=actor))
            if res.rowcount != 1:
                return None
            pos = PositionRow(
                proposal_id=prop.id, signal_id=prop.signal_id, trading_date=prop.trading_date,
                contract=prop.contract, underlying=prop.underlying, direction=prop.direction,
                status=PositionStatus.OPENING, stop_price=prop.stop_price,
                entry_trigger=Decimal(str(prop.details.get("trigger", prop.underlying_price))),
                targets=list(prop.targets), updated_at=now)
            session.add(pos)
            await session.flush()
            order = OrderRow(
                client_order_id=client_order_id_for("entry", prop.id), proposal_id=prop.id,
                position_id=pos.id, purpose=OrderPurpose.ENTRY, symbol=prop.contract,
                side=OrderSide.BUY, order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY,
                qty=prop.quantity, limit_price=prop.limit_price, status="pending_submit",
                reason=f"entry for proposal #{prop.id}", created_at=now, updated_at=now)
            session.add(order)
            await session.flush()
            await audit(session, now, actor, "proposal_confirmed", "proposal", prop.id,
                        order=order.client_order_id)
            return int(order.id)

    async def amend(self, proposal_id: int, actor: str, *, contract: str | None = None,
                    quantity: int | None = None) -> ProposalRow:
        """Switch an open proposal to one of its alternates and/or a smaller quantity.

        A new contract is priced at its mid and sized again with the risk budget; a quantity
        must be between 1 and the size the budget allows. The proposal's version goes up, so a
        confirm of what was shown before is not sent (see :meth:`confirm`).
        """
        async with self._proposal_locks[proposal_id]:
            now = self.clock.now()
            equity = None
            if contract is not None:
                equity = (await self.broker.get_account()).equity
            async with self.db.sessions.begin() as session:
                prop = await session.get(ProposalRow, proposal_id)
                if prop is None:
                    raise NotFoundError(f"there is no proposal #{proposal_id}")
                if prop.status != ProposalStatus.OPEN:
                    raise EngineError(f"proposal #{proposal_id} is already {prop.status}")
                details = dict(prop.details)
                changes: list[str] = []
                old_qty = prop.quantity
                max_qty = int(details.get("max_quantity", prop.quantity))
                if contract is not None and contract != prop.contract:
                    alts = list(details.get("alternates") or [])
                    alt = next((a for a in alts if a.get("contract") == contract), None)
                    if alt is None:
                        raise EngineError(f"{contract} is not an alternate of proposal #{proposal_id}")
                    mid = Decimal(str(alt["mid"]))
                    limit = round_to_tick(mid, tick_for(contract, mid), OrderSide.BUY)
                    if limit <= 0:
                        limit = tick_for(contract, mid)
                    sizing = size_position(float(limit), float(equity or 0),
                                           float(self.limits.max_premium_per_trade),
                                           float(self.limits.max_equity_fraction_per_trade))
                    if not sizing.tradable:
                        raise EngineError(f"{contract} at {limit}: {sizing.reason}")
                    old_best = details.get("best")
                    details["alternates"] = [a for a in alts if a.get("contract") != contract] + (
                        [old_best] if old_best else [])
                    details["best"] = alt
                    details["ref_mid"] = str(mid)
                    prop.contract = contract
                    prop.limit_price = limit
                    prop.bid = Decimal(str(alt["bid"]))
                    prop.ask = Decimal(str(alt["ask"]))
                    max_qty = sizing.quantity
                    prop.quantity = min(quantity or max_qty, max_qty)
                    changes.append(f"switched to {contract} at {limit}")
                if quantity is not None and quantity != prop.quantity:
                    if not 1 <= quantity <= max_qty:
                        raise EngineError(f"quantity must be between 1 and {max_qty} "
                                          "(the risk budget of this proposal)")
                    prop.quantity = quantity
                if prop.quantity != old_qty:
                    changes.append(f"quantity {old_qty} → {prop.quantity}")
                details["max_quantity"] = max_qty
                prop.details = details
                prop.est_cost = _money(prop.limit_price * prop.quantity * OPTION_MULTIPLIER)
                prop.max_loss = prop.est_cost
                prop.version += 1
                await audit(session, now, actor, "proposal_amended", "proposal", prop.id,
                            contract=prop.contract, qty=prop.quantity, limit=prop.limit_price)
                reason = f"{actor}: " + (", ".join(changes) or "no change")
                sym, cur = prop.underlying, prop.contract
            self.bus.publish(ProposalRefreshed(at=now, proposal_id=proposal_id, symbol=sym,
                                               contract=cur, reason=reason))
            return prop

    async def reject(self, proposal_id: int, actor: str, reason: str = "rejected") -> ConfirmResult:
        """Reject an open proposal."""
        async with self._proposal_locks[proposal_id]:
            now = self.clock.now()
            async with self.db.sessions.begin() as session:
                prop = await session.get(ProposalRow, proposal_id)
                if prop is None:
                    raise NotFoundError(f"there is no proposal #{proposal_id}")
                if prop.status != ProposalStatus.OPEN:
                    who = f" by {prop.decided_by}" if prop.decided_by else ""
                    return ConfirmResult(ConfirmOutcome.ALREADY_DECIDED,
                                         f"proposal #{proposal_id} is already {prop.status}{who}",
                                         proposal_id)
                prop.status = ProposalStatus.REJECTED
                prop.decided_at = now
                prop.decided_by = actor
                prop.decision_note = reason[:255]
                await audit(session, now, actor, "proposal_rejected", "proposal", prop.id, reason=reason)
                sym, contract = prop.underlying, prop.contract
            self.bus.publish(ProposalRejected(at=now, proposal_id=proposal_id, symbol=sym,
                                              contract=contract, actor=actor, reason=reason))
            return ConfirmResult(ConfirmOutcome.REFUSED, f"proposal #{proposal_id} rejected", proposal_id)

    async def _close_proposal(self, pid: int, status: ProposalStatus, now: datetime, actor: str,
                              note: str) -> None:
        async with self.db.sessions.begin() as session:
            res = await session.execute(
                update(ProposalRow).where(ProposalRow.id == pid, ProposalRow.status == ProposalStatus.OPEN)
                .values(status=status, decided_at=now, decided_by=actor, decision_note=note[:255]))
            if res.rowcount:
                await audit(session, now, actor, f"proposal_{status}", "proposal", pid, note=note)

    async def _expire(self, pid: int, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            prop = await session.get(ProposalRow, pid)
            if prop is None or prop.status != ProposalStatus.OPEN:
                return
            prop.status = ProposalStatus.EXPIRED
            prop.decided_at = now
            prop.decision_note = "nobody confirmed in time"
            await audit(session, now, "engine", "proposal_expired", "proposal", pid)
            sym, contract = prop.underlying, prop.contract
        self.bus.publish(ProposalExpired(at=now, proposal_id=pid, symbol=sym, contract=contract))
