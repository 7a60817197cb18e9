"""Who clicks Confirm in a replay: a policy that answers every new proposal.

:class:`ProposalDecider` subscribes to :class:`~core.events.ProposalCreated` on the engine's bus
and calls :meth:`TradingEngine.confirm` or :meth:`TradingEngine.reject`, exactly as a trader's
button click would (the actor is ``replay:<policy>``). The replay driver drains the bus after
each bar, so the decision lands at the proposal's simulated minute and every run decides the
same way.

Policies: ``all`` confirms every proposal; ``none`` rejects every one; ``first-per-ticker``
confirms the first proposal of each underlying in the day and rejects the rest. A confirm that
comes back *refreshed* (the option's mid moved past the slippage guard) is confirmed again on
the refreshed version, as a trader clicking again would, at most :data:`MAX_RECONFIRMS` times.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from core.db.models.trading import ProposalRow
from core.engine.base import ConfirmOutcome
from core.engine.engine import TradingEngine
from core.events import Event, EventBus, ProposalCreated

log = logging.getLogger(__name__)

MAX_RECONFIRMS = 2


class ConfirmPolicy(StrEnum):
    """How a replay decides proposals."""

    ALL = "all"
    NONE = "none"
    FIRST_PER_TICKER = "first-per-ticker"


class ProposalDecider:
    """Decide each new proposal by a :class:`ConfirmPolicy`; keep the proposal as first shown."""

    def __init__(self, engine: TradingEngine, policy: ConfirmPolicy) -> None:
        self.engine = engine
        self.policy = policy
        self.actor = f"replay:{policy}"
        self.shown: dict[int, ProposalRow] = {}
        self._traded: set[str] = set()

    def attach(self, bus: EventBus) -> None:
        """Subscribe to new proposals on ``bus``."""
        bus.subscribe("replay-decider", self.on_event, (ProposalCreated,))

    async def on_event(self, event: Event) -> None:
        """Record the proposal as a trader would have seen it, then decide it."""
        assert isinstance(event, ProposalCreated)
        self.shown[event.proposal_id] = await self.engine.proposal(event.proposal_id)
        if self.policy is ConfirmPolicy.NONE:
            await self.engine.reject(event.proposal_id, self.actor, "replay policy: confirm none")
            return
        if self.policy is ConfirmPolicy.FIRST_PER_TICKER and event.symbol in self._traded:
            await self.engine.reject(event.proposal_id, self.actor,
                                     f"replay policy: {event.symbol} already had its first proposal")
            return
        self._traded.add(event.symbol)
        for _ in range(1 + MAX_RECONFIRMS):
            result = await self.engine.confirm(event.proposal_id, self.actor)
            if result.outcome is not ConfirmOutcome.REFRESHED:
                break
        log.debug("proposal %s: %s", event.proposal_id, result.message)
