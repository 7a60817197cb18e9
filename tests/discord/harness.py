"""Drive a real ``commands.Bot`` offline: messages, clicks, selects, slash commands, threads.

dpytest fakes the REST side of Discord for messages; this harness adds what it lacks. Users'
actions are delivered as the gateway payloads Discord documents (``MESSAGE_CREATE``,
``MESSAGE_UPDATE``, ``MESSAGE_DELETE``, ``INTERACTION_CREATE`` types 2, 3 and 4) and parsed by
discord.py's own ``ConnectionState``; the bot's answers are caught at the HTTP boundary (the
bot's ``HTTPClient`` and the webhook adapter used for interaction responses). discord.py
itself is not patched.

Usage (``make_harness`` is the fixture in ``tests/discord/conftest.py``)::

    h = await make_harness(MyBot(...), world)         # setup_hook, GUILD_CREATE, READY
    msg = await h.post("A+ SPY ...", channel="setup", member="trader")
    [reply] = h.thread_messages(msg)                  # Posted: content, embeds, components
    rec = await h.click(proposal_id, "proposal:confirm:7", member="outsider")
    assert rec.ephemeral and "trader" in rec.content  # InteractionRecord of the answer
    rec = await h.slash("admin risk set", limit="max_loss", value=500, member="manager")
    rec = await h.autocomplete("close", "position", "SP")       # rec.choices
    await h.restart(MyBot(...))                       # same server, new process

``World.build()`` fixes every id (put them in the bot's settings before building it). Each
action returns once the bot is idle (:meth:`Harness.settle`); ``h.dispatch(*h.component_payload
(...))`` delivers without waiting, to click twice at once. Discord echoes the bot's own edits,
and the start of a thread on a message, as ``MESSAGE_UPDATE``: edit handlers see those too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import discord
import discord.ext.test as dpytest
import sqlalchemy
from discord.ext import commands
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.discord import gateway, interactions, payloads
from tests.discord import options as opts
from tests.discord.interactions import ComponentUnavailable
from tests.discord.payloads import JsonDict, Snowflakes
from tests.discord.records import InteractionRecord, Posted
from tests.discord.responses import RecordingAdapter
from tests.discord.server import FakeServer
from tests.discord.settle import SettleTimeout, settle
from tests.discord.world import World

__all__ = [
    "ComponentUnavailable",
    "Harness",
    "InteractionRecord",
    "Posted",
    "SettleTimeout",
    "World",
]

log = logging.getLogger(__name__)

MemberRef = str | discord.Member
ChannelRef = str | int | discord.TextChannel | discord.Thread
MessageRef = int | Posted | discord.Message | discord.PartialMessage


class _ErrorCollector(logging.Handler):
    def __init__(self, harness: Harness) -> None:
        super().__init__(logging.ERROR)
        self.harness = harness

    def emit(self, record: logging.LogRecord) -> None:
        self.harness.errors.append(record)
        for open_record in self.harness._open:
            open_record.errors.append(record)


class Harness:
    """A bot connected to a fake Discord server; see the module docstring."""

    _active: Harness | None = None

    def __init__(
        self,
        world: World,
        *,
        clock: Callable[[], datetime] | None = None,
        ignore_tasks: Iterable[str] = (),
        settle_timeout: float = 10.0,
    ) -> None:
        self.world = world
        self.server = FakeServer(Snowflakes(clock))
        self.ignore_tasks = tuple(ignore_tasks)
        self.settle_timeout = settle_timeout
        self.errors: list[logging.LogRecord] = []
        self._open: list[InteractionRecord] = []
        self._handler = _ErrorCollector(self)
        self._restore_webhooks: Callable[[], None] = lambda: None
        self._baseline: set[asyncio.Task[Any]] = set()
        self._unwatch: list[Callable[[], None]] = []
        self.bot: commands.Bot = None  # type: ignore[assignment]  # set by attach()

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    async def start(
        cls,
        bot: commands.Bot,
        world: World | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        ignore_tasks: Iterable[str] = (),
        settle_timeout: float = 10.0,
    ) -> Harness:
        """Connect ``bot`` to a new fake server: run ``setup_hook``, send the guild, send READY.

        ``clock`` (e.g. ``FakeClock.now``) dates the snowflakes of new messages;
        ``ignore_tasks`` are name prefixes of tasks that are busy forever by design.
        """
        if cls._active is not None:
            raise RuntimeError("a Harness is already running; close it first")
        harness = cls(
            world or World.build(),
            clock=clock,
            ignore_tasks=ignore_tasks,
            settle_timeout=settle_timeout,
        )
        cls._active = harness
        harness._install()
        try:
            await harness.attach(bot)
        except BaseException:
            await harness.close()
            raise
        return harness

    def _install(self) -> None:
        self._baseline = set(asyncio.all_tasks())
        self._restore_webhooks = gateway.record_interaction_responses(RecordingAdapter(self.server))
        logging.getLogger().addHandler(self._handler)

    async def attach(self, bot: commands.Bot) -> None:
        """Connect ``bot`` as a fresh process would: ``setup_hook``, GUILD_CREATE, READY."""
        await gateway.connect(bot, self.world, self.server)
        self.bot = bot
        await bot.setup_hook()
        gateway.guild_create_and_ready(bot, self.world, self.server)
        await self.settle()

    async def close(self) -> None:
        """Stop the bot, cancel what it left running, restore discord.py's webhook adapter."""
        try:
            await self.stop()
        finally:
            for unwatch in self._unwatch:
                unwatch()
            self._unwatch.clear()
            self._restore_webhooks()
            logging.getLogger().removeHandler(self._handler)
            Harness._active = None

    async def stop(self) -> None:
        """Take the bot offline; the server keeps everything.

        As if its process died: the bot is closed and every task started since the harness
        started is cancelled (tasks that existed before, e.g. other fixtures', are left). While
        offline, :meth:`post_offline` stores posts no bot sees; :meth:`restart` brings
        a bot back.
        """
        if self.server.state is None:
            return
        try:
            await self.settle()
        except SettleTimeout:
            log.warning("stopping the bot while tasks are still busy", exc_info=True)
        await dpytest.empty_queue()
        self.bot.ws = None  # dpytest's fake gateway has no socket; Client.close would trip on it
        await self.bot.close()
        self.server.state = None
        current = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks() - self._baseline if t is not current]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)

    async def restart(self, bot: commands.Bot) -> None:
        """Stop the current bot (if running) and connect ``bot`` to the same server.

        This is what a process restart looks like to a bot: empty caches, a new ``setup_hook``
        (which must re-register persistent views and dynamic items), then GUILD_CREATE (with
        the threads and overwrites made so far) and READY.
        """
        await self.stop()
        await self.attach(bot)

    def watch_database(self, engine: AsyncEngine | Engine) -> None:
        """Count the SQL statements each interaction waits for before its first response.

        Discord drops an interaction unanswered after 3 seconds, and a database may wait
        longer (SQLite's busy timeout is 5 s): a handler must answer or defer first. Every
        statement ``engine`` runs while an interaction is still unanswered adds one to its
        record's ``queries_before_response``. The database runs for real; nothing is replaced.
        """
        sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

        def counted(*_: Any) -> None:
            for record in self._open:
                if record.response is None:
                    record.queries_before_response += 1

        sqlalchemy.event.listen(sync, "before_cursor_execute", counted)
        self._unwatch.append(lambda: sqlalchemy.event.remove(sync, "before_cursor_execute",
                                                             counted))

    async def settle(self) -> None:
        """Run the loop until the bot is idle (see :mod:`tests.discord.settle`)."""
        try:
            await settle(within=self.settle_timeout, ignore=self.ignore_tasks)
        finally:
            self._open.clear()

    # -- the world --------------------------------------------------------------------------
    @property
    def guild(self) -> discord.Guild:
        """Return the test guild as the bot sees it."""
        guild = self.bot.get_guild(self.world.guild_id)
        assert guild is not None
        return guild

    def member(self, ref: MemberRef) -> discord.Member:
        """Return a member by world name (``"trader"``) or as given."""
        if isinstance(ref, discord.Member):
            return ref
        found = self.guild.get_member(self.world.member_id(ref))
        assert found is not None
        return found

    def role(self, name: str) -> discord.Role:
        """Return a role by world name."""
        found = self.guild.get_role(self.world.role_id(name))
        assert found is not None
        return found

    def channel(self, ref: ChannelRef) -> discord.TextChannel | discord.Thread:
        """Return a text channel or thread by world name, id or object."""
        if isinstance(ref, discord.TextChannel | discord.Thread):
            return ref
        channel_id = self.world.channel_id(ref) if isinstance(ref, str) else ref
        return self.server.channel(channel_id)

    async def set_permissions(
        self, channel: ChannelRef, target: MemberRef | discord.Role | None = None, **perms: bool
    ) -> None:
        """Set a channel permission overwrite (on the bot by default), as an admin would.

        ``perms`` are ``discord.Permissions`` names: ``True`` allows, ``False`` denies.
        """
        chan = self.channel(channel)
        if not isinstance(chan, discord.TextChannel):
            raise TypeError("overwrites are set on text channels (threads inherit them)")
        who = self.guild.me if target is None else target
        who = self.member(who) if isinstance(who, str) else who
        overwrite = chan.overwrites_for(who)
        overwrite.update(**perms)
        allow, deny = overwrite.pair()
        self.server.overwrites.setdefault(chan.id, {})[who.id] = {
            "id": str(who.id),
            "type": 0 if isinstance(who, discord.Role) else 1,
            "allow": str(allow.value),
            "deny": str(deny.value),
        }
        update = payloads.channel_object(chan, self.server.channel_overwrites(chan.id))
        self.bot._connection.parse_channel_update(update)
        await self.settle()

    # -- users' messages (gateway events) ----------------------------------------------------
    async def post(
        self,
        content: str,
        *,
        channel: ChannelRef = "setup",
        member: MemberRef = "trader",
        at: datetime | None = None,
    ) -> discord.Message:
        """Have ``member`` post ``content`` (``MESSAGE_CREATE``); ``at`` dates its snowflake."""
        target, author = self.channel(channel), self.member(member)
        member_data = payloads.member_object(author)
        message_id = self._store_post(content, target.id, member_data, at)
        await self.settle()
        return self._message(message_id)

    def post_offline(
        self,
        content: str,
        *,
        channel: str = "setup",
        member: str = "trader",
        at: datetime | None = None,
    ) -> Posted:
        """Store a post while the bot is offline (after :meth:`stop`): no bot sees it arrive."""
        if self.server.state is not None:
            raise RuntimeError("the bot is online; use post(), or stop() first")
        member_data = self.world.member_object(member)
        message_id = self._store_post(content, self.world.channel_id(channel), member_data, at)
        return Posted.from_payload(self.server.payload(message_id))

    def _store_post(
        self, content: str, channel_id: int, member: JsonDict, at: datetime | None
    ) -> int:
        message_id = self.server.ids.at(at) if at is not None else self.server.ids.next()
        data = payloads.message_object(
            message_id,
            channel_id=channel_id,
            guild_id=self.world.guild_id,
            author=member["user"],
            content=content,
            author_member={k: v for k, v in member.items() if k != "user"},
        )
        self.server.create(data)
        return message_id

    async def edit_post(self, message: MessageRef, content: str) -> discord.Message:
        """Have the author edit their message (``MESSAGE_UPDATE``)."""
        message_id = _message_id(message)
        if int(self.server.payload(message_id)["author"]["id"]) == self.world.bot_id:
            raise ValueError("only the bot edits its own messages (through its HTTP client)")
        self.server.update(message_id, {"content": content})
        await self.settle()
        return self._message(message_id)

    async def delete_post(self, message: MessageRef) -> None:
        """Delete a message as its author or a moderator would (``MESSAGE_DELETE``)."""
        self.server.delete(_message_id(message))
        await self.settle()

    def _message(self, message_id: int) -> discord.Message:
        cached = self.bot._connection._get_message(message_id)
        if cached is not None:
            return cached
        data = self.server.payload(message_id)
        return self.bot._connection.create_message(
            channel=self.channel(int(data["channel_id"])),
            data=data,  # type: ignore[arg-type]
        )

    # -- interactions -----------------------------------------------------------------------
    def component_payload(
        self,
        message: MessageRef,
        custom_id: str,
        *,
        member: MemberRef = "trader",
        values: Sequence[str] | None = None,
    ) -> tuple[JsonDict, InteractionRecord]:
        """Build the INTERACTION_CREATE (type 3) of a click or a select on ``message``."""
        data = self.server.payload(_message_id(message))
        if not self.server.exists(int(data["id"])):
            raise ComponentUnavailable(f"message {data['id']} was deleted")
        inner = interactions.component_data(data, custom_id, values)
        channel = self.channel(int(data["channel_id"]))
        return interactions.new_interaction(
            self.server, 3, inner, channel, self.member(member), message=data
        )

    def command_payload(
        self,
        command: str,
        *,
        member: MemberRef = "trader",
        channel: ChannelRef = "setup",
        focused: str | None = None,
        **values: Any,
    ) -> tuple[JsonDict, InteractionRecord]:
        """Build the INTERACTION_CREATE of a slash command (type 2) or autocomplete (type 4)."""
        found, guild_only = opts.find_command(self.bot.tree, command, self.guild)
        root = found.root_parent.name if found.root_parent else found.name
        key = (self.guild.id if guild_only else None, root)
        command_id = self.server.command_ids.setdefault(key, self.server.ids.next())
        data = opts.command_data(
            found,
            command_id=command_id,
            guild=self.guild,
            guild_only=guild_only,
            values=values,
            focused=focused,
        )
        type_ = 2 if focused is None else 4
        return interactions.new_interaction(
            self.server, type_, data, self.channel(channel), self.member(member)
        )

    def dispatch(self, payload: JsonDict, record: InteractionRecord) -> InteractionRecord:
        """Deliver an INTERACTION_CREATE now, without waiting for the bot (see :meth:`settle`)."""
        self.server.records[record.token] = record
        self._open.append(record)
        self.bot._connection.parse_interaction_create(payload)
        return record

    async def click(
        self, message: MessageRef, custom_id: str, *, member: MemberRef = "trader"
    ) -> InteractionRecord:
        """Click button ``custom_id`` on ``message`` as ``member``; return the bot's answer."""
        record = self.dispatch(*self.component_payload(message, custom_id, member=member))
        await self.settle()
        return record

    async def select(
        self,
        message: MessageRef,
        custom_id: str,
        values: Sequence[str],
        *,
        member: MemberRef = "trader",
    ) -> InteractionRecord:
        """Pick ``values`` in select ``custom_id`` on ``message``; return the bot's answer."""
        payload = self.component_payload(message, custom_id, member=member, values=values)
        record = self.dispatch(*payload)
        await self.settle()
        return record

    async def slash(
        self,
        command: str,
        *,
        member: MemberRef = "trader",
        channel: ChannelRef = "setup",
        **values: Any,
    ) -> InteractionRecord:
        """Run ``/command`` ("admin risk set") with options by Python name; return the answer."""
        record = self.dispatch(
            *self.command_payload(command, member=member, channel=channel, **values)
        )
        await self.settle()
        return record

    async def autocomplete(
        self,
        command: str,
        focused: str,
        typed: Any,
        *,
        member: MemberRef = "trader",
        channel: ChannelRef = "setup",
        **values: Any,
    ) -> InteractionRecord:
        """Type ``typed`` into option ``focused`` of ``/command``; ``record.choices`` holds the offer."""
        payload = self.command_payload(
            command, member=member, channel=channel, focused=focused, **{focused: typed, **values}
        )
        record = self.dispatch(*payload)
        await self.settle()
        return record

    # -- what the bot showed ----------------------------------------------------------------
    def channel_messages(self, channel: ChannelRef) -> list[Posted]:
        """Return the messages now in ``channel`` (current versions, oldest first)."""
        stored = self.server.messages.get(self.channel(channel).id, [])
        return [Posted.from_payload(m) for m in sorted(stored, key=lambda m: int(m["id"]))]

    def thread_messages(self, thread: ChannelRef | MessageRef) -> list[Posted]:
        """Return the messages in a thread: given as thread, thread id, or its starter message."""
        # a thread started on a message has that message's id
        thread_id = self.channel(thread).id if isinstance(thread, str) else _message_id(thread)
        if thread_id not in self.server.threads:
            raise LookupError(f"no thread {thread_id}; threads: {sorted(self.server.threads)}")
        return self.channel_messages(thread_id)

    @property
    def threads(self) -> set[int]:
        """Return the ids of every thread the bot created."""
        return set(self.server.threads)

    def thread_of(self, message: MessageRef) -> discord.Thread | None:
        """Return the thread started from ``message``, if any."""
        return self.guild.get_thread(_message_id(message))

    def message(self, message: MessageRef) -> Posted:
        """Return the current version of a message (ephemeral ones included)."""
        return Posted.from_payload(self.server.payload(_message_id(message)))

    def versions(self, message: MessageRef) -> list[Posted]:
        """Return every version of a message: as first sent, then after each edit."""
        return [Posted.from_payload(v) for v in self.server.versions[_message_id(message)]]

    def attachment(self, message: MessageRef, filename: str) -> bytes:
        """Return the bytes of file ``filename`` attached to ``message``."""
        attached = self.server.payload(_message_id(message)).get("attachments", [])
        for a in attached:
            if a["filename"] == filename:
                return self.server.files[int(a["id"])]
        raise LookupError(f"no {filename!r}; attached: {[a['filename'] for a in attached]}")


def _message_id(ref: Any) -> int:
    if isinstance(ref, int):
        return ref
    return int(ref.id)
