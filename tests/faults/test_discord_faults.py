"""Discord faults: reconnects, deleted messages and threads, missing permissions.

The real bot on the simulated exchange (``tests/cogs/conftest.py``): whatever Discord does,
no exception escapes a cog (the harness records every error logged), a post is read once, a
line is said once, and a problem the admins must fix is said once in the log channel.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db.models import SetupMessage
from core.db.models.trading import OrderRow
from tests.cogs.conftest import App
from tests.cogs.test_proposals import confirm_id, proposal_app
from tests.discord import gateway
from tests.engine.conftest import ny, write_bars
from tests.engine.test_full_day import NVDA_PATH, SETUP, SPY_PATH

SECOND_POST = """A+ Scalp Trade Setups — Wed Jun 11

TSLA
🔼 Aggressive Breakout 335.00 🔼 337.00, 339.00
"""


def everything(app: App) -> dict[int, list[tuple[int, str]]]:
    """Return every message the fake Discord holds, by channel or thread, with its text."""
    return {cid: [(m.id, m.text()) for m in app.h.channel_messages(cid)]
            for cid in list(app.h.server.messages)}


async def count(app: App, model: type) -> int:
    async with app.services.db.sessions() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


def no_errors(app: App) -> None:
    assert [r.getMessage() for r in app.h.errors] == []
    assert not any(app.services.bus.failures().values()), app.services.bus.failures()


def proposal_posts(app: App) -> list:
    return [m for m in app.h.channel_messages("setup")
            if m.author_id == app.world.bot_id and m.embeds
            and (m.embeds[0].footer.text or "").startswith("proposal #")]


async def both_breakouts(app: App, tmp_path: Path) -> None:
    """Post the setup and play SPY's (10:00) and NVDA's (10:15) breakouts, auto-confirmed."""
    write_bars(tmp_path / "bars", "SPY", SPY_PATH)
    write_bars(tmp_path / "bars", "NVDA", NVDA_PATH)
    await app.engine.set_auto_confirm(True, "test")
    await app.h.post(SETUP, at=ny("08:45"))
    await app.run_until("10:40", symbols=("SPY", "NVDA"))


async def test_a_reconnect_reads_a_missed_post_once_and_repeats_nothing(
    app_factory, tmp_path: Path
) -> None:
    app, _ = await proposal_app(app_factory, tmp_path, auto_confirm=True)
    await app.run_until("10:40", since="10:02")  # filled, scaled out: the thread has a story
    state = app.h.server.state
    app.h.server.state = None  # the gateway drops; a post arrives meanwhile
    app.h.post_offline(SECOND_POST, at=ny("10:41"))
    app.h.server.state = state
    gateway.guild_create_and_ready(app.bot, app.world, app.h.server)  # a new session: READY
    await app.settle()
    before = everything(app)
    assert await count(app, SetupMessage) == 2

    app.bot._connection.dispatch("resumed")  # a resumed session
    gateway.guild_create_and_ready(app.bot, app.world, app.h.server)  # and another READY
    await app.settle()
    assert everything(app) == before  # nothing read again, nothing said again
    assert await count(app, SetupMessage) == 2
    no_errors(app)


async def test_a_deleted_proposal_message_the_trade_goes_on_in_its_thread(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path)
    click = app.h.component_payload(msg, confirm_id(msg))  # a click already on its way
    await app.h.delete_post(msg)  # a moderator deletes the proposal
    record = app.h.dispatch(*click)
    await app.h.settle()
    await app.settle()
    assert "order sent" in record.last.content
    await app.run_until("10:40", since="10:02")
    thread = "\n".join(m.text() for m in app.h.thread_messages(msg.id))
    assert "confirmed by trader" in thread and "entry filled" in thread, thread
    no_errors(app)


async def test_a_deleted_thread_sends_the_trade_updates_to_the_channel(
    app_factory, tmp_path: Path
) -> None:
    app, msg = await proposal_app(app_factory, tmp_path, auto_confirm=True)
    thread = app.h.server.threads.pop(msg.id)  # an admin deletes the trade thread
    app.h.server.messages.pop(msg.id, None)
    app.bot._connection.parse_thread_delete({
        "id": str(msg.id), "guild_id": thread["guild_id"], "parent_id": thread["parent_id"],
        "type": thread["type"]})
    await app.run_until("10:40", since="10:02")
    channel = "\n".join(m.text() for m in app.h.channel_messages("setup"))
    assert "entry filled" in channel and "scale-out" in channel, channel
    no_errors(app)


PERMISSIONS = {
    # permission taken away: (what the log channel says once, proposal posts, where fills go)
    "create_public_threads": ("cannot create threads", 2, "setup"),
    "send_messages": ("cannot send messages", 0, None),
}


@pytest.mark.parametrize("permission", PERMISSIONS)
async def test_a_missing_permission_is_said_once_and_the_engine_carries_on(
    permission: str, app_factory, tmp_path: Path
) -> None:
    said, posts, fills_in = PERMISSIONS[permission]
    app = await app_factory()
    await app.h.set_permissions("setup", **{permission: False})
    await both_breakouts(app, tmp_path)
    assert len(proposal_posts(app)) == posts
    log = [m.text() for m in app.h.channel_messages("log")]
    assert sum(said in line for line in log) == 1, log
    assert await count(app, OrderRow) >= 2  # SPY and NVDA still traded (auto-confirm)
    if fills_in is not None:  # no thread: the trade's lines go to the channel
        channel = "\n".join(m.text() for m in app.h.channel_messages(fills_in))
        assert "entry filled" in channel, channel
    no_errors(app)
