"""Who may do what, checked on the server side for every click and command."""

from __future__ import annotations

import discord
from discord import app_commands

from core.config import Settings


class NotAllowed(app_commands.CheckFailure):
    """The member lacks the role or permission; the message says which."""


def _role_ids(member: discord.abc.User) -> set[int]:
    return {r.id for r in getattr(member, "roles", [])}


def _manages_guild(member: discord.abc.User) -> bool:
    perms = getattr(member, "guild_permissions", None)
    return bool(perms and (perms.manage_guild or perms.administrator))


def is_admin(member: discord.abc.User, settings: Settings) -> bool:
    """Tell whether ``member`` has Manage Server or one of the admin roles."""
    return _manages_guild(member) or bool(_role_ids(member) & set(settings.admin_role_ids))


def is_trader(member: discord.abc.User, settings: Settings) -> bool:
    """Tell whether ``member`` may decide trades (trader role; Manage Server when none is set)."""
    if settings.trader_role_ids:
        return bool(_role_ids(member) & set(settings.trader_role_ids))
    return _manages_guild(member)


def trader_refusal(settings: Settings) -> str:
    """Return the sentence a non-trader sees."""
    if settings.trader_role_ids:
        roles = ", ".join(f"<@&{r}>" for r in settings.trader_role_ids)
        return f"Only members with the trader role ({roles}) can do this."
    return ("Only members with Manage Server can do this (no trader role is configured: "
            "an admin can set TRADER_ROLE_IDS).")


def admin_refusal() -> str:
    """Return the sentence a non-admin sees."""
    return "Only members with Manage Server or the bot's admin role can use /admin."


def require_trader(member: discord.abc.User, settings: Settings) -> None:
    """Raise :class:`NotAllowed` unless ``member`` is a trader."""
    if not is_trader(member, settings):
        raise NotAllowed(trader_refusal(settings))


def require_admin(member: discord.abc.User, settings: Settings) -> None:
    """Raise :class:`NotAllowed` unless ``member`` is an admin."""
    if not is_admin(member, settings):
        raise NotAllowed(admin_refusal())


def actor(member: discord.abc.User) -> str:
    """Return how a member is named in the audit log and embeds: ``name (id)``."""
    return f"{member.name} ({member.id})"[:64]
