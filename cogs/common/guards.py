"""Who may run a slash command, and how often: checks run on the server for every call.

``@allowed(Access.TRADERS)`` refuses members without the trader role with a sentence (through
:class:`cogs.common.checks.NotAllowed` and the one error path) and records the access level on
the command, where ``/help`` reads it. ``@per_user_cooldown()`` allows one command per user per
``COMMAND_COOLDOWN_SECONDS``, read when the command runs and timed by the engine's clock, so a
fake clock drives it in tests; a refusal is ``CommandOnCooldown``, which the error path turns
into "try again in N s". Put the cooldown above the access check so a member without rights is
told so rather than told to wait.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from cogs.common.checks import NotAllowed, is_admin, is_trader, require_admin, require_trader

if TYPE_CHECKING:
    from bot.app import AplusBot

T = TypeVar("T")
ACCESS_KEY = "access"


class Access(StrEnum):
    """Who may use a command (shown by ``/help``)."""

    EVERYONE = "everyone"
    VIEWERS = "traders and admins"
    TRADERS = "traders"
    ADMINS = "admins"


def viewer_refusal() -> str:
    """Return the sentence a member who may not see the book gets."""
    return ("Only traders and admins can see the trading book; ask an admin for the trader "
            "role.")


def check_access(member: discord.abc.User, bot: AplusBot, access: Access) -> None:
    """Raise :class:`NotAllowed` unless ``member`` has ``access``."""
    settings = bot.settings
    if access is Access.TRADERS:
        require_trader(member, settings)
    elif access is Access.ADMINS:
        require_admin(member, settings)
    elif access is Access.VIEWERS and not (is_trader(member, settings)
                                           or is_admin(member, settings)):
        raise NotAllowed(viewer_refusal())


def access_of(command: app_commands.Command[Any, ..., Any] | app_commands.Group) -> Access:
    """Return the access recorded on a command (or its group), ``everyone`` when none."""
    node: Any = command
    while node is not None:
        found = node.extras.get(ACCESS_KEY) or getattr(
            getattr(node, "callback", None), "__aplus_extras__", {}).get(ACCESS_KEY)
        if found is not None:
            return Access(found)
        node = node.parent
    return Access.EVERYONE


def allowed(access: Access) -> Callable[[T], T]:
    """Refuse the command to members without ``access``, checked on every call."""

    async def predicate(interaction: discord.Interaction) -> bool:
        check_access(interaction.user, interaction.client, access)  # type: ignore[arg-type]
        return True

    add_check = app_commands.check(predicate)

    def decorator(func: T) -> T:
        if isinstance(func, app_commands.Command):
            func.extras[ACCESS_KEY] = str(access)
        else:
            extras = getattr(func, "__aplus_extras__", {})
            extras[ACCESS_KEY] = str(access)
            func.__aplus_extras__ = extras  # type: ignore[attr-defined]
        return add_check(func)

    return decorator


class UserCooldowns:
    """When each user last ran a command."""

    def __init__(self) -> None:
        self._last: dict[int, datetime] = {}

    def hit(self, user_id: int, now: datetime, seconds: float) -> float | None:
        """Record a call at ``now``; return the seconds to wait instead when too soon."""
        last = self._last.get(user_id)
        if last is not None:
            waited = (now - last).total_seconds()
            if 0 <= waited < seconds:
                return seconds - waited
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget the oldest half rather than grow forever
            for uid, _ in sorted(self._last.items(), key=lambda kv: kv[1])[:5_000]:
                del self._last[uid]
        return None


_TRACKERS: weakref.WeakKeyDictionary[discord.Client, UserCooldowns] = weakref.WeakKeyDictionary()


def cooldowns(client: discord.Client) -> UserCooldowns:
    """Return the cooldown tracker of a bot (one per bot, shared by all its commands)."""
    tracker = _TRACKERS.get(client)
    if tracker is None:
        tracker = _TRACKERS[client] = UserCooldowns()
    return tracker


def enforce_cooldown(interaction: discord.Interaction) -> None:
    """Raise ``CommandOnCooldown`` when the user ran a command too recently."""
    bot: AplusBot = interaction.client  # type: ignore[assignment]
    seconds = float(bot.settings.command_cooldown_seconds)
    if seconds <= 0:
        return
    retry = cooldowns(bot).hit(interaction.user.id, bot.services.clock.now(), seconds)
    if retry is not None:
        raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, seconds), retry)


def per_user_cooldown() -> Callable[[T], T]:
    """Allow one command per user per ``COMMAND_COOLDOWN_SECONDS`` (read at call time)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        enforce_cooldown(interaction)
        return True

    return app_commands.check(predicate)
