"""Proposals end to end on the simulated exchange: post, trigger, click, fill, thread, restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db.models.trading import OrderRow, ProposalRow
from core.engine.config import EngineConfig
from core.options.select import SelectionRules
from tests.discord.records import Posted
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import SETUP, SPY_PATH


def config(**kw: object) -> EngineConfig:
    return EngineConfig(selection=SelectionRules(scalp_min_hours_left=31), **kw)


async def proposal_app(app_factory, tmp_path: Path, **kw: object):
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    app = await app_factory(config(**kw))
    await app.h.post(SETUP, at=ny("08:45"))
    await app.run_until("10:02")  # SPY breaks out at 10:00
    return app, proposal_message(app)


def proposal_message(app) -> Posted:
    bot_posts = [m for m in app.h.channel_messages("setup")
                 if m.author_id == app.world.bot_id and m.embeds
                 and (m.embeds[0].footer.text or "").startswith("proposal #")]
    assert len(bot_posts) == 1, [m.text() for m in app.h.channel_messages("setup")]
    return bot_posts[0]


def confirm_id(message: Posted) -> str:
    return next(c for c in message.custom_ids if c.startswith("proposal:confirm:"))


async def order_count(app) -> int:
    async with app.services.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(OrderRow))).scalar_one()


async def test_a_trigger_posts_a_proposal_with_contract_greeks_cost_and_buttons(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    text = msg.text()
    for needle in ("SPY breakout", "Contract", "bid", "ask", "mid", "Δ", "IV", "Θ", "OI",
                   "est. cost", "max loss", "targets 608.30 · 610.20 · 612.60", "stop",
                   "Awaiting a decision"):
        assert needle in text, needle
    assert {c.label for c in msg.components if c.label} >= {"Confirm", "Reject"}
    assert app.h.thread_of(msg) is not None


async def test_a_non_trader_is_refused_and_nothing_is_sent(app_factory, tmp_path: Path) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    rec = await app.h.click(msg, confirm_id(msg), member="outsider")
    assert rec.ephemeral and "trader role" in rec.content
    assert await order_count(app) == 0
    assert app.h.message(msg.id).button("Confirm").disabled is False


async def test_confirm_fills_and_the_thread_tells_the_story(app_factory, tmp_path: Path) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    rec = await app.h.click(msg, confirm_id(msg), member="trader")
    assert rec.deferred and rec.last.ephemeral
    assert rec.last.content == ("✅ order sent: buy 3 SPY250613C00607000 limit 3.17. Fills "
                                "follow in the proposal's thread.")
    await app.run_until("10:40", since="10:02")
    now = app.h.message(msg.id)
    assert now.button("Confirm").disabled and now.button("Reject").disabled
    assert "Confirmed by trader" in now.text()
    thread = "\n".join(m.text() for m in app.h.thread_messages(msg))
    assert "confirmed by trader" in thread
    assert "entry order sent: buy" in thread
    assert "entry filled" in thread and "vs the proposal" in thread
    assert "scale-out" in thread  # T1 608.30 was reached at 10:30


async def test_double_click_and_two_traders_at_once_give_one_order(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    cid = confirm_id(msg)
    records = [app.h.dispatch(*app.h.component_payload(msg, cid, member=who))
               for who in ("trader", "trader", "trader2")]
    await app.h.settle()
    await app.settle()
    assert await order_count(app) == 1
    answers = [r.last.content for r in records]
    assert sum("order sent" in a for a in answers) == 1
    assert sum("already confirmed" in a or "decided" in a for a in answers) == 2


async def test_reject_disables_the_buttons_and_says_who(app_factory, tmp_path: Path) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    reject = next(c for c in msg.custom_ids if c.startswith("proposal:reject:"))
    rec = await app.h.click(msg, reject, member="trader2")
    assert "rejected" in rec.last.content
    await app.settle()
    now = app.h.message(msg.id)
    assert now.button("Confirm").disabled and "Rejected by trader2" in now.text()
    assert await order_count(app) == 0


async def test_an_alternate_can_be_chosen_and_an_old_confirm_is_not_sent(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    select_id = next(c for c in msg.custom_ids if c.startswith("proposal:contract:"))
    options = msg.component(select_id).options
    alternate = options[1]
    switch = await app.h.select(msg, select_id, [alternate], member="trader")
    assert alternate in switch.last.content
    await app.settle()
    # trader2 clicked Confirm on the first version while the switch was being applied: the
    # interaction carries the message as it was and the old custom id.
    fresh = app.h.message(msg.id)
    payload, record = app.h.component_payload(fresh, confirm_id(fresh), member="trader2")
    assert confirm_id(fresh) != confirm_id(msg)
    payload["data"]["custom_id"] = confirm_id(msg)
    payload["message"] = msg.raw
    stale = app.h.dispatch(payload, record)
    await app.h.settle()
    assert "changed since you saw it" in stale.last.content
    assert await order_count(app) == 0
    fresh = app.h.message(msg.id)
    assert alternate in fresh.text()
    ok = await app.h.click(fresh, confirm_id(fresh), member="trader")
    assert "order sent" in ok.last.content and alternate in ok.last.content


async def test_a_button_still_works_after_a_restart(app_factory, tmp_path: Path) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    await app.restart()
    rec = await app.h.click(msg, confirm_id(msg), member="trader")
    assert "order sent" in rec.last.content
    assert await order_count(app) == 1
    await app.settle()
    assert "Confirmed by trader" in app.h.message(msg.id).text()


async def test_the_closed_trade_gets_a_summary_with_a_chart(app_factory, tmp_path: Path) -> None:
    app, msg = await proposal_app(app_factory, tmp_path, auto_confirm=True)
    await app.run_until("16:01", since="10:02")
    posts = app.h.thread_messages(msg)
    summary = [m for m in posts if m.embeds and m.embeds[0].title.startswith("🏁")]
    assert len(summary) == 1, [m.text() for m in posts]
    assert summary[0].attachments == (f"trade-{summary[0].embeds[0].footer.text.split('#')[1]}.png",)
    assert "time stop" in summary[0].text() or "15:50" in summary[0].text()


async def test_an_expired_proposal_disables_its_buttons_and_says_so(
    app_factory, tmp_path: Path
) -> None:
    from datetime import timedelta

    app, msg = await proposal_app(app_factory, tmp_path, proposal_ttl_seconds=60)
    app.clock.advance(timedelta(seconds=61))
    await app.step()
    now = app.h.message(msg.id)
    assert now.button("Confirm").disabled and now.button("Reject").disabled
    assert "Expired" in now.text()
    assert "expired" in "\n".join(m.text() for m in app.h.thread_messages(msg))
    assert await order_count(app) == 0


async def proposal_row(app) -> ProposalRow:
    async with app.services.db.sessions() as s:
        [row] = (await s.execute(select(ProposalRow))).scalars().all()
        return row


@pytest.mark.parametrize("component", ["reject", "contract", "qty"])
async def test_a_non_trader_cannot_reject_or_change_the_proposal(
    app_factory, tmp_path: Path, component: str
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    before = await proposal_row(app)
    custom_id = next(c for c in msg.custom_ids if c.startswith(f"proposal:{component}:"))
    if component == "reject":
        rec = await app.h.click(msg, custom_id, member="outsider")
    else:
        rec = await app.h.select(msg, custom_id, [msg.component(custom_id).options[-1]],
                                 member="outsider")
    assert rec.ephemeral and "Only members with the trader role" in " ".join(rec.texts())
    after = await proposal_row(app)
    assert (after.status, after.version, after.contract, after.quantity) == (
        before.status, before.version, before.contract, before.quantity)
    assert app.h.message(msg.id).text() == msg.text()
    assert not app.h.message(msg.id).button("Reject").disabled


async def test_the_quantity_select_sets_the_quantity_that_is_then_sent(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    assert (await proposal_row(app)).quantity == 3
    qty = next(c for c in msg.custom_ids if c.startswith("proposal:qty:"))
    rec = await app.h.select(msg, qty, ["1"], member="trader")
    assert rec.ephemeral and "Quantity set to 1 (est. cost $317.00)" in rec.last.content
    await app.settle()
    fresh = app.h.message(msg.id)
    assert "buy 1 × SPY" in fresh.text() and "est. cost $317.00" in fresh.text()
    ok = await app.h.click(fresh, confirm_id(fresh), member="trader")
    assert "order sent" in ok.last.content
    async with app.services.db.sessions() as s:
        [order] = (await s.execute(select(OrderRow))).scalars().all()
    assert order.qty == 1
