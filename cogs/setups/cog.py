"""Read setup posts from the configured channels and reply in a thread on each.

* A new post from an allowed poster is stored and parsed; when it is an A+ post the bot opens
  a thread on it with a compact embed per ticker and any lines it could not read. Chatter is
  stored (so it is never re-read) and ignored silently.
* An edit is re-parsed; the thread gets a short diff. A delete invalidates the post's live
  levels and says so in the thread.
* On start-up (and after every reconnect) the channel history since the last stored message
  is read once, oldest first, so posts made while the bot was offline are not missed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from cogs.render.setups import delete_text, edit_text, setup_embeds
from core.errors import AplusError
from core.setups import IncomingMessage, IngestOutcome, IngestResult

if TYPE_CHECKING:
    from bot.app import AplusBot

log = logging.getLogger(__name__)
CATCH_UP_LIMIT = 500  # newest messages read when the channel was never seen before


class SetupsCog(commands.Cog, name="Setups"):
    """The setup channel listener."""

    def __init__(self, bot: AplusBot) -> None:
        self.bot = bot
        self.settings = bot.settings
        self.engine = bot.engine
        self._catch_up_lock = asyncio.Lock()

    # ------------------------------------------------------------- filters -----

    def watches(self, channel_id: int) -> bool:
        """Tell whether ``channel_id`` is a setup channel."""
        return channel_id in self.settings.setup_channel_ids

    def allowed_poster(self, author: discord.abc.User) -> bool:
        """Tell whether ``author`` may post setups (anyone when no list is configured)."""
        users, roles = self.settings.allowed_poster_ids, self.settings.allowed_poster_role_ids
        if getattr(author, "bot", False):
            return False
        if not users and not roles:
            return True
        if author.id in users:
            return True
        return bool({r.id for r in getattr(author, "roles", [])} & set(roles))

    # ------------------------------------------------------------ listeners ----

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Read a new post in a setup channel."""
        if not self.watches(message.channel.id) or not self.allowed_poster(message.author):
            return
        await self.read(message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """Re-read an edited post (the raw event also covers posts older than the cache)."""
        if not self.watches(payload.channel_id):
            return
        data = payload.data
        content = data.get("content")
        author = data.get("author") or {}
        if content is None or author.get("bot"):
            return  # an embed-only update, or our own message
        message = payload.message if getattr(payload, "message", None) else None
        member = message.author if message is not None else None
        if member is not None and not self.allowed_poster(member):
            return
        if member is None and not self._allowed_from_payload(data):
            return
        edited = data.get("edited_timestamp")
        msg = IncomingMessage(
            discord_message_id=payload.message_id, channel_id=payload.channel_id,
            author_id=int(author.get("id", 0)), guild_id=payload.guild_id,
            posted_at=discord.utils.snowflake_time(payload.message_id),
            edited_at=datetime.fromisoformat(edited) if edited else datetime.now(UTC),
            content=content)
        result = await self._ingest(msg, payload.channel_id)
        if result is None:
            return
        if result.outcome is IngestOutcome.CREATED:
            await self._reply(payload.channel_id, payload.message_id, result, None)
        elif result.outcome is IngestOutcome.UPDATED:
            await self._note(payload.channel_id, payload.message_id, result, edit_text(result))

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """Invalidate the levels of a deleted post."""
        if not self.watches(payload.channel_id):
            return
        try:
            result = await self.engine.delete_message(payload.message_id, payload.channel_id)
        except AplusError as exc:
            log.error("could not delete setup %s: %s", payload.message_id, exc)
            await self.bot.outbox.announce(f"⚠️ A deleted setup post could not be processed: {exc}")
            return
        if result.outcome is IngestOutcome.DELETED:
            await self._note(payload.channel_id, payload.message_id, result, delete_text(result))

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Catch up on posts made while the bot was offline."""
        await self.catch_up()

    # -------------------------------------------------------------- actions ----

    async def read(self, message: discord.Message) -> IngestResult | None:
        """Store and parse ``message``; open its thread when it is an A+ post."""
        msg = IncomingMessage(
            discord_message_id=message.id, channel_id=message.channel.id,
            author_id=message.author.id, guild_id=message.guild.id if message.guild else None,
            posted_at=message.created_at, content=message.content,
            edited_at=message.edited_at)
        result = await self._ingest(msg, message.channel.id)
        if result is None:
            return None
        if result.outcome is IngestOutcome.CREATED:
            await self._reply(message.channel.id, message.id, result, message)
        elif result.outcome is IngestOutcome.UPDATED:
            await self._note(message.channel.id, message.id, result, edit_text(result))
        return result

    async def catch_up(self) -> int:
        """Read every setup channel's history since the last stored post; return how many."""
        count = 0
        async with self._catch_up_lock:
            for channel_id in self.settings.setup_channel_ids:
                channel = self.bot.get_channel(channel_id)
                if not isinstance(channel, discord.TextChannel):
                    await self.bot.outbox.problem(channel_id, "missing",
                                                  f"setup channel {channel_id} is not visible to me")
                    continue
                last = await self.engine.setups.last_message_id(channel_id)
                after = discord.Object(id=last) if last else None
                try:
                    async for message in channel.history(
                            limit=None if after else CATCH_UP_LIMIT, after=after,
                            oldest_first=True):
                        if self.allowed_poster(message.author):
                            await self.read(message)
                            count += 1
                except discord.Forbidden:
                    await self.bot.outbox.problem(channel_id, "history",
                                                  f"I cannot read the history of <#{channel_id}>")
        if count:
            log.info("caught up on %d setup-channel messages", count)
        return count

    # ------------------------------------------------------------- internals ----

    def _allowed_from_payload(self, data: dict) -> bool:
        users, roles = self.settings.allowed_poster_ids, self.settings.allowed_poster_role_ids
        if not users and not roles:
            return True
        author_id = int((data.get("author") or {}).get("id", 0))
        member_roles = {int(r) for r in (data.get("member") or {}).get("roles", [])}
        return author_id in users or bool(member_roles & set(roles))

    async def _ingest(self, msg: IncomingMessage, channel_id: int) -> IngestResult | None:
        try:
            return await self.engine.ingest(msg)
        except AplusError as exc:
            log.error("could not store setup %s: %s", msg.discord_message_id, exc)
            await self.bot.outbox.announce(
                f"⚠️ The setup post {msg.discord_message_id} in <#{channel_id}> could not be "
                f"stored ({exc}); it is not being watched. Edit or repost it to retry.")
            return None

    async def _reply(self, channel_id: int, message_id: int, result: IngestResult,
                     message: discord.Message | None) -> None:
        parsed = result.parsed
        if parsed is None or not parsed.is_aplus:
            return  # chatter: stored so it is never re-read, otherwise ignored
        embeds = setup_embeds(parsed)
        symbols = ", ".join(s.symbol for s in parsed.setups) or "no tickers"
        day = parsed.trading_date.isoformat() if parsed.trading_date else "undated"
        name = f"A+ {day} · {symbols}"[:100]
        thread = await self._open_thread(channel_id, message_id, message, name)
        if thread is not None:
            await thread.send(embeds=embeds)
            await self.bot.links.save("setup", message_id, channel_id=channel_id,
                                      message_id=message_id, thread_id=thread.id,
                                      guild_id=thread.guild.id)
        else:  # no thread permission: answer in the channel instead
            sent = await self.bot.outbox.send(
                channel_id, embeds=embeds,
                reference=discord.MessageReference(message_id=message_id, channel_id=channel_id,
                                                   fail_if_not_exists=False))
            if sent is not None:
                await self.bot.links.save("setup", message_id, channel_id=channel_id,
                                          message_id=sent.id)

    async def _open_thread(self, channel_id: int, message_id: int,
                           message: discord.Message | None, name: str) -> discord.Thread | None:
        channel = await self.bot.outbox.channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            return None
        if not await self.bot.outbox.allowed(channel, "create threads", create_public_threads=True,
                                             send_messages_in_threads=True):
            return None
        try:
            if message is None:
                message = await channel.fetch_message(message_id)
            return await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.Forbidden:
            await self.bot.outbox.problem(channel_id, "threads",
                                          f"I cannot create threads in <#{channel_id}>")
        except discord.HTTPException:
            log.warning("could not open a thread on %s", message_id, exc_info=True)
        return None

    async def _note(self, channel_id: int, message_id: int, result: IngestResult,
                    text: str) -> None:
        link = await self.bot.links.get("setup", message_id)
        if link is None:
            if result.parsed is not None and result.parsed.is_aplus:
                await self._reply(channel_id, message_id, result, None)
            return
        target = link.thread_id or link.channel_id
        await self.bot.outbox.send(target, content=text,
                                   allowed_mentions=discord.AllowedMentions.none())
        if result.parsed is not None and result.parsed.is_aplus and result.changes:
            await self.bot.outbox.send(target, embeds=setup_embeds(result.parsed))
