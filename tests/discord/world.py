"""The Discord server a test runs in: guild, channels, roles, members, all with fixed ids.

Ids are fixed so a test can put them into the bot's settings before the bot exists (setup
channel ids, trader role id...) and so a restarted bot finds the same server.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import discord

from tests.discord import payloads
from tests.discord.payloads import JsonDict

#: Text channels of the default world.
DEFAULT_CHANNELS = ("setup", "trades", "log", "general")

#: Roles of the default world and their guild-wide permissions.
DEFAULT_ROLES: Mapping[str, discord.Permissions] = {
    "trader": discord.Permissions.none(),
    "admin": discord.Permissions.none(),  # a configured admin role, without Manage Server
    "manager": discord.Permissions(manage_guild=True),
}

#: Members of the default world and their roles. ``trader2`` exists for concurrent clicks.
DEFAULT_MEMBERS: Mapping[str, Sequence[str]] = {
    "trader": ("trader",),
    "trader2": ("trader",),
    "outsider": (),
    "admin": ("admin",),
    "manager": ("manager",),
}

#: What ``@everyone`` may do: read, talk, use commands and threads, nothing administrative.
EVERYONE = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_application_commands=True,
    use_external_emojis=True,
)

#: The bot's own role: everything a trading bot needs in text channels.
BOT_PERMISSIONS = discord.Permissions.text() | discord.Permissions(view_channel=True)

_EPOCH = datetime(2024, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class RoleSpec:
    """A role: its name, id and guild-wide permissions (a ``discord.Permissions`` value)."""

    name: str
    id: int
    permissions: int


@dataclass(frozen=True)
class MemberSpec:
    """A (human) member: name, id and role names."""

    name: str
    id: int
    roles: tuple[str, ...]


@dataclass(frozen=True)
class World:
    """One guild with text channels, roles and members; build it with :meth:`build`."""

    guild_id: int
    guild_name: str
    bot_id: int
    bot_name: str
    bot_role_id: int
    channels: tuple[tuple[str, int], ...]
    roles: tuple[RoleSpec, ...]
    members: tuple[MemberSpec, ...]
    everyone: int
    bot_permissions: int

    @classmethod
    def build(
        cls,
        *,
        channels: Sequence[str] = DEFAULT_CHANNELS,
        roles: Mapping[str, discord.Permissions] = DEFAULT_ROLES,
        members: Mapping[str, Sequence[str]] = DEFAULT_MEMBERS,
        everyone: discord.Permissions = EVERYONE,
        bot_permissions: discord.Permissions = BOT_PERMISSIONS,
        guild_name: str = "A+ Test Server",
        bot_name: str = "aplus-bot",
    ) -> World:
        """Return a world; ids are deterministic, so the same arguments give the same ids."""
        base = discord.utils.time_snowflake(_EPOCH, high=False)
        ids = (base + (n << 12) for n in itertools.count(1))
        unknown = {r for rs in members.values() for r in rs} - set(roles)
        if unknown:
            raise ValueError(f"members have undefined roles: {sorted(unknown)}")
        return cls(
            guild_id=next(ids),
            guild_name=guild_name,
            bot_id=next(ids),
            bot_name=bot_name,
            bot_role_id=next(ids),
            channels=tuple((name, next(ids)) for name in channels),
            roles=tuple(RoleSpec(name, next(ids), perms.value) for name, perms in roles.items()),
            members=tuple(MemberSpec(name, next(ids), tuple(rs)) for name, rs in members.items()),
            everyone=everyone.value,
            bot_permissions=bot_permissions.value,
        )

    def channel_id(self, name: str) -> int:
        """Return the id of text channel ``name``."""
        return _lookup(dict(self.channels), name, "channel")

    def role_id(self, name: str) -> int:
        """Return the id of role ``name``."""
        return _lookup({r.name: r.id for r in self.roles}, name, "role")

    def member_id(self, name: str) -> int:
        """Return the user id of member ``name``."""
        return _lookup({m.name: m.id for m in self.members}, name, "member")

    def member_object(self, name: str) -> JsonDict:
        """Return the guild member object (with its user) of member ``name``."""
        spec = next((m for m in self.members if m.name == name), None)
        if spec is None:
            raise KeyError(f"no member {name!r} in the test world")
        role_ids = {r.name: str(r.id) for r in self.roles}
        return _member(spec.id, spec.name, [role_ids[r] for r in spec.roles], bot=False)

    def guild_create(
        self,
        threads: Sequence[JsonDict] = (),
        overwrites: Mapping[int, Sequence[JsonDict]] | None = None,
    ) -> JsonDict:
        """Return the ``GUILD_CREATE`` event that introduces this guild to the bot."""
        overwrites = overwrites or {}
        role_objects = [_role(self.guild_id, "@everyone", self.everyone, 0)]
        role_objects += [
            _role(r.id, r.name, r.permissions, i + 1) for i, r in enumerate(self.roles)
        ]
        role_objects.append(
            _role(self.bot_role_id, self.bot_name, self.bot_permissions, 99, managed=True)
        )
        members = [self.member_object(m.name) for m in self.members]
        members.append(_member(self.bot_id, self.bot_name, [str(self.bot_role_id)], bot=True))
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "owner_id": str(self.guild_id + 1),  # nobody in the test: no member bypasses checks
            "roles": role_objects,
            "emojis": [],
            "stickers": [],
            "features": [],
            "member_count": len(members),
            "members": members,
            "channels": [
                {
                    "id": str(cid),
                    "type": discord.ChannelType.text.value,
                    "name": name,
                    "position": i,
                    "permission_overwrites": list(overwrites.get(cid, [])),
                    "parent_id": None,
                    "nsfw": False,
                }
                for i, (name, cid) in enumerate(self.channels)
            ],
            "threads": [{k: v for k, v in t.items() if k != "newly_created"} for t in threads],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "unavailable": False,
            "large": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": payloads.LOCALE,
            "nsfw_level": 0,
            "system_channel_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
        }


def _lookup(table: Mapping[str, int], name: str, kind: str) -> int:
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"no {kind} {name!r} in the test world; have {sorted(table)}") from None


def _role(
    role_id: int, name: str, permissions: int, position: int, *, managed: bool = False
) -> JsonDict:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "hoist": False,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": False,
        "flags": 0,
    }


def _member(user_id: int, name: str, roles: list[str], *, bot: bool) -> JsonDict:
    return {
        "user": {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
        },
        "roles": roles,
        "joined_at": _EPOCH.isoformat(),
        "nick": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }
