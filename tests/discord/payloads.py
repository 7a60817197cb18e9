"""Gateway and REST payloads shaped as Discord's API documents them.

Only the harness uses these builders. Every payload here is what Discord itself would send
or return (a message object, a thread channel, a guild member, an INTERACTION_CREATE event), so
discord.py parses it with its own code exactly as in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import discord
from discord.http import MultipartParameters

JsonDict = dict[str, Any]

#: Upload limit Discord reports for a guild without boosts (10 MiB).
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
LOCALE = "en-US"


class Snowflakes:
    """Hand out increasing snowflakes whose timestamps follow ``clock``.

    Discord ids encode their creation time, and ``channel.history(after=...)`` or
    ``message.created_at`` depend on it; giving the harness the test's fake clock keeps those
    times in step with the rest of the test. Ids never go backwards, even if the clock does.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._last = 0
        self._used: set[int] = set()

    def next(self) -> int:
        """Return a new snowflake, later than every one handed out before."""
        candidate = max(discord.utils.time_snowflake(self._clock(), high=False), self._last + 1)
        while candidate in self._used:
            candidate += 1
        self._last = candidate
        self._used.add(candidate)
        return self._last

    def at(self, when: datetime) -> int:
        """Return an unused snowflake dated ``when`` (it may be older than the last one)."""
        candidate = discord.utils.time_snowflake(when, high=False)
        while candidate in self._used:
            candidate += 1
        self._used.add(candidate)
        return candidate


def iso(snowflake: int) -> str:
    """Return the ISO timestamp Discord gives an object created with ``snowflake``."""
    return discord.utils.snowflake_time(snowflake).isoformat()


def user_object(user: discord.abc.User) -> JsonDict:
    """Return the user object of ``user``."""
    return {
        "id": str(user.id),
        "username": user.name,
        "discriminator": "0",
        "global_name": getattr(user, "global_name", None),
        "avatar": None,
        "bot": user.bot,
    }


def member_object(
    member: discord.Member, *, with_user: bool = True, permissions: int | None = None
) -> JsonDict:
    """Return the guild member object of ``member`` (with its role ids).

    ``permissions`` adds the ``permissions`` field that interaction payloads carry: the member's
    resolved permissions in the channel the interaction came from.
    """
    data: JsonDict = {
        "roles": [str(r.id) for r in member.roles if not r.is_default()],
        "joined_at": (member.joined_at or datetime(2024, 1, 1, tzinfo=UTC)).isoformat(),
        "nick": member.nick,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }
    if with_user:
        data["user"] = user_object(member)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel_object(
    channel: discord.abc.GuildChannel | discord.Thread, overwrites: list[JsonDict] | None = None
) -> JsonDict:
    """Return the channel object of a text channel or thread (with its overwrites)."""
    if isinstance(channel, discord.Thread):
        return thread_object(
            channel.id,
            parent_id=channel.parent_id,
            guild_id=channel.guild.id,
            owner_id=channel.owner_id or 0,
            name=channel.name,
            type_=channel.type.value,
        )
    return {
        "id": str(channel.id),
        "type": channel.type.value,
        "guild_id": str(channel.guild.id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": str(channel.category_id) if channel.category_id else None,
        "permission_overwrites": list(overwrites or []),
        "nsfw": False,
    }


def thread_object(
    thread_id: int,
    *,
    parent_id: int,
    guild_id: int,
    owner_id: int,
    name: str,
    type_: int = discord.ChannelType.public_thread.value,
    auto_archive_duration: int = 1440,
    newly_created: bool = False,
) -> JsonDict:
    """Return a thread channel object (type 11 public thread by default)."""
    data: JsonDict = {
        "id": str(thread_id),
        "type": type_,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": iso(thread_id),
            "locked": False,
            "create_timestamp": iso(thread_id),
        },
    }
    if newly_created:
        data["newly_created"] = True
    return data


def message_object(
    message_id: int,
    *,
    channel_id: int,
    guild_id: int | None,
    author: JsonDict,
    content: str = "",
    embeds: Iterable[JsonDict] = (),
    components: Iterable[JsonDict] = (),
    attachments: Iterable[JsonDict] = (),
    flags: int = 0,
    author_member: JsonDict | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JsonDict:
    """Return a message object as ``MESSAGE_CREATE`` and the REST API give it."""
    data: JsonDict = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content or "",
        "timestamp": iso(message_id),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "pinned": False,
        "type": 0,
        "flags": flags,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if author_member is not None:
        data["member"] = author_member
    if extra:
        data.update(extra)
    return data


def request_body(payload: Mapping[str, Any] | None, multipart: list[JsonDict] | None) -> JsonDict:
    """Return the JSON body of a request, whether it was sent as JSON or as multipart."""
    if payload is not None:
        return dict(payload)
    for part in multipart or ():
        if part.get("name") == "payload_json":
            return json.loads(part["value"])
    return {}


def params_body(params: MultipartParameters) -> JsonDict:
    """Return the JSON body of ``params`` (``payload`` or the multipart ``payload_json``)."""
    return request_body(params.payload, params.multipart)


def file_bytes(file: discord.File) -> bytes:
    """Return the whole content of ``file`` without consuming it for discord.py."""
    fp = file.fp
    position = fp.tell()
    fp.seek(0)
    data = fp.read()
    fp.seek(position)
    return data


def interaction_create(
    *,
    interaction_id: int,
    type_: int,
    data: JsonDict,
    application_id: int,
    guild: discord.Guild,
    channel: discord.abc.GuildChannel | discord.Thread,
    member: discord.Member,
    app_permissions: int,
    message: JsonDict | None = None,
) -> JsonDict:
    """Return an ``INTERACTION_CREATE`` event as the gateway delivers it."""
    payload: JsonDict = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": type_,
        "data": data,
        "guild": {"id": str(guild.id), "locale": LOCALE, "features": []},
        "guild_id": str(guild.id),
        "channel": channel_object(channel),
        "channel_id": str(channel.id),
        "member": member_object(member, permissions=channel.permissions_for(member).value),
        "token": f"interaction-token-{interaction_id}",
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": LOCALE,
        "guild_locale": LOCALE,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if message is not None:
        payload["message"] = message
    return payload
