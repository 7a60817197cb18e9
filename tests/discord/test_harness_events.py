"""The harness delivers gateway events as Discord does: edits, deletes, history, restarts.

Also uploaded files, errors the bot logs, and how :meth:`Harness.settle` treats background work: it waits for work in progress, lets
sleepers on the fake clock sleep, names a task that never stops, and nothing outlives a test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import discord
import pytest

from core.clock import FakeClock
from tests.discord.conftest import MakeHarness
from tests.discord.harness import Harness, SettleTimeout
from tests.discord.test_harness import ToyBot
from tests.discord.world import World


@pytest.fixture
async def h(make_harness: MakeHarness, world: World, clock: FakeClock) -> Harness:
    return await make_harness(ToyBot(world, clock), clock=clock.now)


def _texts(h: Harness, message: discord.Message) -> list[str]:
    return [m.content or (m.embed.title if m.embed else "") for m in h.thread_messages(message)]


async def test_an_edited_post_reaches_raw_and_cached_edit_handlers(h: Harness) -> None:
    message = await h.post("A+ SPY 600")

    edited = await h.edit_post(message, "A+ SPY 601")

    assert edited.content == "A+ SPY 601" and edited.edited_at is not None
    assert _texts(h, message) == ["Setup read", "edited: A+ SPY 601"]
    assert h.bot.toy.edits == [("A+ SPY 600", "A+ SPY 601")]  # type: ignore[attr-defined]
    assert [v.content for v in h.versions(message)][-1] == "A+ SPY 601"


async def test_a_deleted_post_is_gone_and_its_thread_is_told(h: Harness) -> None:
    message = await h.post("A+ SPY 600")

    await h.delete_post(message)

    assert _texts(h, message) == ["Setup read", "the setup message was deleted"]
    assert h.channel_messages("setup") == []
    with pytest.raises(discord.NotFound):
        await h.channel("setup").fetch_message(message.id)


async def test_a_restarted_bot_answers_clicks_on_old_messages(
    h: Harness, world: World, clock: FakeClock
) -> None:
    record = await h.slash("propose", ticker="SPY", qty=2)
    message_id = record.original_id
    assert message_id is not None
    old_bot = h.bot

    await h.restart(ToyBot(world, clock))

    assert h.bot is not old_bot and old_bot.is_closed()
    size = await h.select(message_id, "toy:size:1", ["2"])
    record = await h.click(message_id, "toy:click:1", member="trader")
    assert size.content == "size set to 2"
    assert record.embed is not None and record.embed.description == "confirmed by trader"
    assert h.thread_messages(message_id)[-1].content == "order submitted for 1"


async def test_after_a_restart_only_the_raw_edit_event_fires(h: Harness, clock: FakeClock) -> None:
    message = await h.post("A+ SPY 600")
    await h.restart(ToyBot(h.world, clock))

    await h.edit_post(message, "A+ SPY 602")

    assert _texts(h, message)[-1] == "edited: A+ SPY 602"  # the thread survived the restart
    assert h.bot.toy.edits == []  # type: ignore[attr-defined]  # not cached: no on_message_edit


async def test_history_returns_what_was_posted_while_the_bot_was_away(
    h: Harness, clock: FakeClock
) -> None:
    start = clock.now()
    first = await h.post("one", channel="general", at=start)
    await h.post("two", channel="general", at=start + timedelta(minutes=1))
    await h.post("three", channel="general", at=start + timedelta(minutes=2))
    general = h.channel("general")

    newest = [m.content async for m in general.history(limit=2)]
    after = [m.content async for m in general.history(after=first, limit=None)]
    by_time = [m.content async for m in general.history(after=start + timedelta(seconds=30))]
    before = [m.content async for m in general.history(before=start + timedelta(seconds=90))]

    assert newest == ["three", "two"]
    assert after == ["two", "three"]
    assert by_time == ["two", "three"]
    assert before == ["two", "one"]
    assert discord.utils.snowflake_time(first.id) == start.replace(microsecond=0)


async def test_a_restarted_bot_catches_up_on_history_when_ready(
    h: Harness, clock: FakeClock
) -> None:
    seen = await h.post("A+ SPY 600")
    await h.stop()
    h.post_offline("A+ QQQ 500")
    h.post_offline("A+ NVDA 120", member="outsider")

    await h.restart(ToyBot(h.world, clock, catch_up_after=seen.id))

    assert h.bot.toy.caught_up == ["A+ QQQ 500", "A+ NVDA 120"]  # type: ignore[attr-defined]
    assert h.threads == {seen.id}  # the offline posts were never seen live


async def test_synced_commands_get_the_ids_their_interactions_carry(h: Harness) -> None:
    synced = {c.name: c.id for c in await h.bot.tree.sync()}
    h.bot.tree.copy_global_to(guild=h.guild)
    in_guild = {c.name: c.id for c in await h.bot.tree.sync(guild=h.guild)}

    fetched = {c.name: c.id for c in await h.bot.tree.fetch_commands(guild=h.guild)}
    assert fetched == in_guild and set(synced) == {c.name for c in h.bot.tree.get_commands()}
    payload, _ = h.command_payload("propose", ticker="SPY", qty=1)
    assert payload["data"]["id"] == str(in_guild["propose"]) != str(synced["propose"])
    assert payload["data"]["guild_id"] == str(h.guild.id)
    assert (await h.slash("propose", ticker="SPY", qty=1)).embed is not None


async def test_messages_posted_through_dpytest_are_known_to_the_server(h: Harness) -> None:
    import discord.ext.test as dpytest

    message = await dpytest.message("hi from dpytest", channel=h.channel("general"))

    assert h.message(message.id).content == "hi from dpytest"
    assert [m.content async for m in h.channel("general").history()] == ["hi from dpytest"]


async def test_a_thread_without_a_starter_message_takes_posts(h: Harness) -> None:
    trades = h.channel("trades")
    assert isinstance(trades, discord.TextChannel)

    thread = await trades.create_thread(name="daily", type=discord.ChannelType.public_thread)
    await thread.send("summary")

    assert h.guild.get_thread(thread.id) is not None and thread.id in h.threads
    assert [m.content for m in h.thread_messages(thread)] == ["summary"]
    assert h.channel_messages("trades") == []


async def test_a_reply_keeps_its_reference(h: Harness) -> None:
    message = await h.post("hello", channel="general")

    reply = await message.reply("hi back")

    assert reply.reference is not None and reply.reference.message_id == message.id
    assert [m.content for m in h.channel_messages("general")] == ["hello", "hi back"]


async def test_missing_thread_permission_is_a_forbidden_error_the_bot_sees(h: Harness) -> None:
    await h.set_permissions("setup", create_public_threads=False)

    message = await h.post("A+ SPY 600")

    assert h.thread_of(message) is None and h.threads == set()
    [notice] = h.channel_messages("log")
    assert notice.content == "Cannot create threads in #setup."


async def test_uploaded_files_are_kept_with_their_message(h: Harness) -> None:
    record = await h.slash("chart")

    [posted] = h.channel_messages("setup")
    assert posted.attachments == ("chart.png",) and posted.id == record.original_id
    assert h.attachment(posted, "chart.png") == b"\x89PNG not really"


async def test_errors_logged_while_answering_are_recorded_on_the_interaction(
    h: Harness,
) -> None:
    record = await h.slash("boom")

    assert record.response is None
    assert any("boom" in repr(r.exc_info) for r in record.errors)
    assert record.errors == h.errors


async def test_settle_lets_fake_clock_sleepers_sleep_and_waits_once_woken(
    h: Harness, clock: FakeClock
) -> None:
    record = await h.slash("remind", channel="general")
    assert record.content == "in a minute"
    assert [m.content for m in h.channel_messages("general")] == []

    clock.advance(timedelta(minutes=1))
    await h.settle()

    assert [m.content for m in h.channel_messages("general")] == ["reminder"]


async def test_settle_names_a_task_that_never_stops(
    make_harness: MakeHarness, world: World, clock: FakeClock
) -> None:
    h = await make_harness(ToyBot(world, clock), settle_timeout=0.2)

    async def spin() -> None:  # always working: one thread hop after another
        while True:
            await asyncio.to_thread(int)

    spinner = asyncio.create_task(spin(), name="spinner")
    try:
        with pytest.raises(SettleTimeout, match="spinner"):
            await h.settle()
        h.ignore_tasks = ("spinner",)
        await h.settle()
    finally:
        spinner.cancel()


async def test_closing_leaves_no_task_behind(world: World, clock: FakeClock) -> None:
    before = asyncio.all_tasks()
    h = await Harness.start(ToyBot(world, clock), world)
    await h.slash("close", position="SPY 600C")  # a view with a 60 s timeout task
    await h.slash("remind")  # a sleeper on the fake clock

    await h.close()

    assert asyncio.all_tasks() == before
    assert h.bot.is_closed()
