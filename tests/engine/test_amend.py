"""Choosing an alternate contract or a smaller quantity before confirming."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine.base import EngineError
from core.engine.engine import ConfirmOutcome
from core.events import ProposalRefreshed
from tests.engine.test_confirm import orders, proposal_rig


async def test_switching_to_an_alternate_reprices_resizes_and_bumps_the_version(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    before = await rig.engine.proposal(pid)
    alt = before.details["alternates"][0]
    after = await rig.engine.amend(pid, "alice", contract=alt["contract"])
    assert after.contract == alt["contract"] and after.version == before.version + 1
    assert before.contract in [a["contract"] for a in after.details["alternates"]]
    assert after.est_cost == after.limit_price * after.quantity * 100
    await rig.bus.drain()
    assert "switched to " + alt["contract"] in rig.of(ProposalRefreshed)[-1].reason
    result = await rig.engine.confirm(pid, "bob", expected_version=after.version)
    assert result.outcome is ConfirmOutcome.SUBMITTED and alt["contract"] in result.message


async def test_a_confirm_of_what_was_shown_before_an_amend_sends_nothing(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    shown = await rig.engine.proposal(pid)
    await rig.engine.amend(pid, "alice", quantity=1)
    stale = await rig.engine.confirm(pid, "bob", expected_version=shown.version)
    assert stale.outcome is ConfirmOutcome.REFRESHED and "changed since you saw it" in stale.message
    assert await orders(rig) == 0


async def test_quantity_outside_the_budget_or_an_unknown_contract_is_refused(
    rig_factory, tmp_path: Path
) -> None:
    rig, pid = await proposal_rig(rig_factory, tmp_path)
    prop = await rig.engine.proposal(pid)
    with pytest.raises(EngineError, match="between 1 and"):
        await rig.engine.amend(pid, "alice", quantity=prop.quantity + 1)
    with pytest.raises(EngineError, match="not an alternate"):
        await rig.engine.amend(pid, "alice", contract="SPY991231C00001000")
    assert (await rig.engine.proposal(pid)).version == prop.version  # nothing half-applied
    await rig.engine.reject(pid, "bob")
    with pytest.raises(EngineError, match="already rejected"):
        await rig.engine.amend(pid, "alice", quantity=1)
