"""Everything the bot posts goes through here: batched thread updates, permission problems
reported once, and no exception escaping into a cog.

Thread updates (fills, P&L, exits) are lines queued per channel or thread and sent together
``window`` seconds after the first of them, so a busy minute is one message per thread rather
than dozens (more only when the lines do not fit in one message); Discord's own rate limits are
left to discord.py. The window is timed by the injected clock, so tests move it by hand. A line
may carry a callback run once its batch was sent, for whoever must know it went out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import discord

from core.clock import Clock, SystemClock
from core.tasks import TaskSupervisor

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 2000


def chunk_lines(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join ``lines`` into as few messages of at most ``limit`` characters as possible."""
    out: list[str] = []
    current = ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


class Outbox:
    """Send messages for the cogs; report missing permissions once in the log channel."""

    def __init__(self, client: discord.Client, *, log_channel_id: int | None = None,
                 window: float = 1.0, clock: Clock | None = None) -> None:
        self._client = client
        self._log_channel_id = log_channel_id
        self.window = window
        self._clock = clock or SystemClock()
        self._lines: defaultdict[int, list[str]] = defaultdict(list)
        self._after: defaultdict[int, list[Callable[[], Awaitable[None]]]] = defaultdict(list)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._scheduled: set[int] = set()
        self._reported: set[tuple[int, str]] = set()
        self._tasks = TaskSupervisor("outbox")
        self.problems: list[str] = []

    async def channel(self, channel_id: int) -> discord.abc.Messageable | None:
        """Return a channel or thread by id (cache first, then the API), or None."""
        ch = self._client.get_channel(channel_id)
        if ch is None:
            try:
                ch = await self._client.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                await self.problem(channel_id, "missing", f"channel {channel_id} cannot be found")
                return None
            except discord.HTTPException:
                log.warning("could not fetch channel %s", channel_id, exc_info=True)
                return None
        return ch if isinstance(ch, discord.abc.Messageable) else None

    async def allowed(self, channel: discord.abc.GuildChannel | discord.Thread, what: str,
                      **perms: bool) -> bool:
        """Tell whether the bot has ``perms`` in ``channel``; report it once when not."""
        guild = channel.guild
        me = guild.me if guild is not None else None
        if me is None:
            return True
        have = channel.permissions_for(me)
        missing = [name for name, wanted in perms.items() if wanted and not getattr(have, name)]
        if missing:
            await self.problem(channel.id, what, f"I cannot {what} in <#{channel.id}> "
                                                 f"(missing: {', '.join(missing)})")
            return False
        return True

    async def send(self, channel_id: int, **kwargs: Any) -> discord.Message | None:
        """Send a message to ``channel_id``; return None (after reporting) when it cannot."""
        ch = await self.channel(channel_id)
        if ch is None:
            return None
        try:
            return await ch.send(**kwargs)
        except discord.Forbidden:
            await self.problem(channel_id, "send", f"I cannot send messages in <#{channel_id}>")
        except discord.HTTPException:
            log.warning("sending to %s failed", channel_id, exc_info=True)
        return None

    def line(self, channel_id: int, text: str, *,
             then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Queue one update line for ``channel_id`` (a thread, usually); it goes out with the
        others of its window. ``then`` is awaited after the batch holding the line was sent
        (or its sending failed and was reported)."""
        self._lines[channel_id].append(text)
        if then is not None:
            self._after[channel_id].append(then)
        if self.window <= 0:
            self._tasks.spawn(self.flush(channel_id), f"flush-{channel_id}")
        elif channel_id not in self._scheduled:
            self._scheduled.add(channel_id)
            self._tasks.spawn(self._flush_later(channel_id), f"flush-{channel_id}")

    async def _flush_later(self, channel_id: int) -> None:
        await self._clock.sleep_until(self._clock.now() + timedelta(seconds=self.window))
        self._scheduled.discard(channel_id)
        await self.flush(channel_id)

    async def flush(self, channel_id: int | None = None) -> None:
        """Send the queued lines now (of one channel, or of all)."""
        ids = [channel_id] if channel_id is not None else list(self._lines)
        for cid in ids:
            async with self._locks[cid]:
                lines, self._lines[cid] = self._lines[cid], []
                after, self._after[cid] = self._after[cid], []
                for text in chunk_lines(lines):
                    await self.send(cid, content=text,
                                    allowed_mentions=discord.AllowedMentions.none())
                for callback in after:
                    try:
                        await callback()
                    except Exception:  # one caller's bookkeeping must not stop the others'
                        log.exception("after sending to %s", cid)

    async def problem(self, channel_id: int, kind: str, text: str) -> None:
        """Log a problem and say it once in the log channel (once per channel and kind)."""
        key = (channel_id, kind)
        if key in self._reported:
            return
        self._reported.add(key)
        self.problems.append(text)
        log.warning("%s", text)
        if self._log_channel_id is not None and channel_id != self._log_channel_id:
            await self.send(self._log_channel_id, content=f"⚠️ {text}. Please check my permissions.")

    async def announce(self, text: str, *, embed: discord.Embed | None = None) -> None:
        """Post in the log channel when one is configured (admin actions, refusals)."""
        if self._log_channel_id is None:
            log.info("%s", text)
            return
        kwargs: dict[str, Any] = {"content": text[:MESSAGE_LIMIT],
                                  "allowed_mentions": discord.AllowedMentions.none()}
        if embed is not None:
            kwargs["embed"] = embed
        await self.send(self._log_channel_id, **kwargs)

    async def drain(self) -> None:
        """Send everything queued and wait for the flush tasks (tests, shutdown)."""
        await self.flush()
        await self._tasks.join()

    async def close(self) -> None:
        """Flush what is queued and stop."""
        await self.flush()
        await self._tasks.close()
