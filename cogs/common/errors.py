"""The one user-facing error path: a short ephemeral sentence, the full error in the log."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from core.errors import AplusError

if TYPE_CHECKING:
    from cogs.common.outbox import Outbox

log = logging.getLogger(__name__)


def user_message(exc: BaseException) -> str:
    """Return what the user is told about ``exc``: its own words when safe, else a reference."""
    if isinstance(exc, app_commands.CommandInvokeError) and exc.original is not None:
        exc = exc.original
    if isinstance(exc, AplusError):
        return f"⚠️ {exc}"
    if isinstance(exc, app_commands.CommandOnCooldown):
        return f"⏳ Slow down: try again in {exc.retry_after:.1f} s."
    if isinstance(exc, app_commands.TransformerError):
        return f"⚠️ I could not read {str(exc.value)[:50]!r} here. Pick a value from the list."
    if isinstance(exc, app_commands.CheckFailure):
        return f"⛔ {exc}" if str(exc) else "⛔ You are not allowed to do that."
    if isinstance(exc, discord.Forbidden):
        return "⚠️ I lack a permission in this channel; an admin has been told."
    ref = secrets.token_hex(3)
    log.error("unexpected error (ref %s)", ref, exc_info=exc)
    return f"⚠️ Something went wrong on my side (ref {ref}); it is in the log. Try again."


async def tell(interaction: discord.Interaction, text: str, *,
               embed: discord.Embed | None = None) -> None:
    """Answer ``interaction`` ephemerally, whether or not it was already answered."""
    kwargs = {"content": text[:2000], "ephemeral": True}
    if embed is not None:
        kwargs["embed"] = embed
    try:
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs)
        else:
            await interaction.response.send_message(**kwargs)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


async def report(interaction: discord.Interaction, exc: BaseException) -> None:
    """Tell the user what went wrong in one sentence (never a traceback); log the unexpected.

    A missing permission (``discord.Forbidden``) is also said in the log channel, once per
    channel, through the outbox's problem path: the user is told an admin has been told.
    """
    await tell(interaction, user_message(exc))
    if isinstance(exc, app_commands.CommandInvokeError):
        exc = exc.original
    outbox: Outbox | None = getattr(interaction.client, "outbox", None)
    if isinstance(exc, discord.Forbidden) and outbox is not None:
        where = interaction.channel_id
        await outbox.problem(where or 0, "forbidden",
                             f"I lack a permission in <#{where}> for {_what(interaction)} "
                             f"({exc.text or 'Forbidden'})")


def _what(interaction: discord.Interaction) -> str:
    command = interaction.command
    if command is not None:
        return f"/{command.qualified_name}"
    return "a button" if interaction.type is discord.InteractionType.component else "a command"
