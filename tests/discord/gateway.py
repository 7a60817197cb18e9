"""Connecting a bot to the fake server, the way a process connects to Discord.

dpytest supplies the fake connection state and websocket; these functions then give the bot
its fixed identity, the harness's HTTP client and webhook recorder, and send the gateway's
opening events (``GUILD_CREATE`` with channels, roles, members, threads and overwrites, then
``READY``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpy_backend
import discord.ext.test.runner as dpy_runner
import discord.interactions
import discord.webhook.async_
from discord.ext import commands

from tests.discord.server import FakeServer, HarnessHttp
from tests.discord.world import World


def record_interaction_responses(adapter: Any) -> Callable[[], None]:
    """Route discord.py's interaction responses and follow-ups to ``adapter``; return undo.

    discord.py reads the adapter from the ``async_context`` context variable, imported by
    name into ``discord.interactions`` and ``discord.webhook.async_``; both names are pointed
    at a new variable whose default is ``adapter``.
    """
    saved = (discord.interactions.async_context, discord.webhook.async_.async_context)
    context: contextvars.ContextVar[Any] = contextvars.ContextVar(
        "async_webhook_context", default=adapter
    )
    discord.interactions.async_context = context  # type: ignore[attr-defined]
    discord.webhook.async_.async_context = context

    def restore() -> None:
        discord.interactions.async_context = saved[0]  # type: ignore[attr-defined]
        discord.webhook.async_.async_context = saved[1]

    return restore


async def connect(bot: commands.Bot, world: World, server: FakeServer) -> None:
    """Give ``bot`` dpytest's fake state, the harness HTTP client and its fixed identity."""
    await bot._async_setup_hook()
    old_state = bot._connection
    dpytest.configure(bot, guilds=0, text_channels=0, voice_channels=0, members=0)
    state = bot._connection
    http = HarnessHttp(server)
    http.state = state
    bot.http = http
    state.http = http
    state.user = discord.ClientUser(
        state=state,
        data={
            "id": str(world.bot_id),
            "username": world.bot_name,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
        },
    )
    state.application_id = world.bot_id
    # dpytest's new state starts without what the bot had set on its own: put it back
    state._command_tree = bot.tree
    bot.tree._http = http  # the tree keeps the HTTP client it was built with
    state._translator = old_state._translator
    state.allowed_mentions = old_state.allowed_mentions
    dpy_backend._cur_config = dpy_backend._cur_config._replace(messages=server.messages)
    server.state = state


def guild_create_and_ready(bot: commands.Bot, world: World, server: FakeServer) -> None:
    """Send ``GUILD_CREATE`` for the world (as the server now holds it), then ``READY``."""
    state = bot._connection
    threads = list(server.threads.values())
    state.parse_guild_create(world.guild_create(threads, server.overwrites_by_channel()))
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    members = [guild.get_member(m.id) for m in world.members]
    dpy_runner._cur_config = dpy_runner.RunnerConfig(
        bot, [guild], list(guild.text_channels), [m for m in members if m is not None]
    )
    bot._ready.set()
    state.dispatch("ready")
