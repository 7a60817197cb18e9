"""The setup channel: posts read into a thread, edits diffed, deletes invalidating, catch-up."""

from __future__ import annotations

from sqlalchemy import select

from core.db.models import SignalRow
from tests.conftest import CORPUS
from tests.engine.conftest import ny
from tests.engine.test_full_day import SETUP

REAL = (CORPUS / "2025-05-29_below_above.txt").read_text()


async def test_a_real_post_gets_a_thread_with_one_embed_per_ticker(app_factory) -> None:
    app = await app_factory()
    post = await app.h.post(REAL, member="trader", at=ny("08:45"))
    replies = app.h.thread_messages(post)
    assert len(replies) == 1
    titles = [e.title for e in replies[0].embeds]
    assert titles == ["NVDA · 2025-05-29", "SPY · 2025-05-29", "TSLA · 2025-05-29"]
    assert "Aggressive" not in titles[0]
    assert app.h.thread_of(post).name.startswith("A+ 2025-05-29 · NVDA, SPY, TSLA")


async def test_chatter_is_ignored_silently(app_factory) -> None:
    app = await app_factory()
    post = await app.h.post("gm everyone, coffee first", member="outsider")
    assert app.h.thread_of(post) is None
    assert [m for m in app.h.channel_messages("setup") if m.author_id == app.world.bot_id] == []


async def test_posts_outside_the_setup_channel_or_from_bots_are_not_read(app_factory) -> None:
    app = await app_factory()
    post = await app.h.post(SETUP, channel="general")
    assert app.h.thread_of(post) is None
    assert await app.engine.setups.get(post.id) is None


async def test_only_allowed_posters_are_read_when_a_list_is_set(app_factory, world) -> None:
    app = await app_factory(allowed_poster_role_ids=[world.role_id("manager")])
    ignored = await app.h.post(SETUP, member="trader")
    assert await app.engine.setups.get(ignored.id) is None
    read = await app.h.post(SETUP, member="manager")
    assert app.h.thread_of(read) is not None


async def test_an_edit_posts_a_diff_and_a_delete_invalidates(app_factory) -> None:
    app = await app_factory()
    post = await app.h.post(SETUP, at=ny("08:45"))
    await app.h.edit_post(post, SETUP.replace("606.75", "607.10"))
    lines = [m.content for m in app.h.thread_messages(post)]
    assert any("edited" in (c or "") and "607.1" in (c or "") for c in lines), lines
    await app.h.delete_post(post)
    lines = [m.content or "" for m in app.h.thread_messages(post)]
    assert "deleted" in lines[-1] and "invalidated" in lines[-1]
    async with app.services.db.sessions() as s:
        statuses = {r.status for r in (await s.execute(select(SignalRow))).scalars()}
    assert statuses == {"invalidated"}


async def test_posts_made_while_offline_are_read_once_on_start(app_factory) -> None:
    app = await app_factory()
    first = await app.h.post(SETUP, at=ny("08:30"))
    await app.bot.remove_cog("Setups")  # the bot is "down": nobody reads the channel
    missed = await app.h.post(REAL, at=ny("08:40"))
    assert app.h.thread_of(missed) is None
    await app.restart()
    assert app.h.thread_of(missed) is not None
    assert len(app.h.thread_messages(first)) == 1  # not answered twice
    await app.restart()
    assert len(app.h.thread_messages(missed)) == 1


async def test_missing_thread_permission_answers_in_the_channel_and_is_reported_once(
    app_factory,
) -> None:
    app = await app_factory()
    await app.h.set_permissions("setup", create_public_threads=False)
    first = await app.h.post(SETUP, at=ny("08:30"))
    await app.h.post(SETUP.replace("606.75", "606.80"), at=ny("08:31"))
    assert app.h.thread_of(first) is None
    replies = [m for m in app.h.channel_messages("setup") if m.author_id == app.world.bot_id]
    assert len(replies) == 2 and replies[0].embeds[0].title.startswith("SPY")
    warnings = [m.content for m in app.h.channel_messages("log") if "threads" in m.content]
    assert len(warnings) == 1 and "cannot create threads" in warnings[0]
    assert app.h.errors == []
