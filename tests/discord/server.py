"""The fake Discord side: what the server stores and the gateway events it sends back.

:class:`FakeServer` holds every message (with its edit history), thread and uploaded file,
and survives a simulated bot restart. :class:`HarnessHttp` extends dpytest's fake HTTP client
with the REST calls dpytest lacks or gets wrong (components, threads, edits, history, command
sync); like Discord, each write is answered with the object and echoed as a gateway event
(``MESSAGE_CREATE``, ``MESSAGE_UPDATE``, ``THREAD_CREATE``...) parsed by discord.py itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import discord
import discord.ext.test.backend as dpy_backend
from discord.ext.test import callbacks as dpy_callbacks
from discord.http import MultipartParameters

from tests.discord import payloads
from tests.discord.payloads import JsonDict, Snowflakes
from tests.discord.records import InteractionRecord

if TYPE_CHECKING:
    from discord.ext.test.state import FakeState

log = logging.getLogger(__name__)

LOADING = 1 << 7
EPHEMERAL = 1 << 6
HAS_THREAD = 1 << 5


def http_error(status: int, code: int, message: str) -> discord.HTTPException:
    """Return the discord.py exception Discord's JSON error ``code`` becomes."""
    response = dpy_backend.FakeRequest(status, message)
    body = {"code": code, "message": message}
    if status == 403:
        return discord.Forbidden(response, body)
    if status == 404:
        return discord.NotFound(response, body)
    return discord.HTTPException(response, body)


class FakeServer:
    """Discord's storage for one test: messages, threads, files, interactions, commands."""

    def __init__(self, ids: Snowflakes) -> None:
        self.ids = ids
        # channel or thread id -> message payloads in id order (shared with dpytest's backend)
        self.messages: dict[int, list[JsonDict]] = {}
        self.versions: dict[int, list[JsonDict]] = {}
        self.ephemeral: dict[int, JsonDict] = {}
        self.threads: dict[int, JsonDict] = {}
        self.files: dict[int, bytes] = {}
        self.records: dict[str, InteractionRecord] = {}
        self.command_ids: dict[tuple[int | None, str], int] = {}
        self.synced: dict[int | None, list[JsonDict]] = {}  # guild (None: global) -> commands
        self.overwrites: dict[int, dict[int, JsonDict]] = {}  # channel -> target -> overwrite
        self.state: FakeState | None = None

    # -- lookups -------------------------------------------------------------------------
    @property
    def bot_user(self) -> discord.ClientUser:
        """Return the bot's user."""
        assert self.state is not None and self.state.user is not None
        return self.state.user

    def channel(self, channel_id: int) -> discord.TextChannel | discord.Thread:
        """Return the channel or thread ``channel_id``; raise ``NotFound`` (10003) otherwise."""
        assert self.state is not None
        for guild in self.state.guilds:
            found = guild.get_channel_or_thread(channel_id)
            if isinstance(found, discord.TextChannel | discord.Thread):
                return found
        raise http_error(404, 10003, "Unknown Channel")

    def payload(self, message_id: int) -> JsonDict:
        """Return the current payload of a message; raise ``NotFound`` (10008) if unknown."""
        versions = self.versions.get(message_id)
        if not versions:  # maybe stored by dpytest itself (``dpytest.message(...)``)
            found = [m for ms in self.messages.values() for m in ms if int(m["id"]) == message_id]
            if not found:
                raise http_error(404, 10008, "Unknown Message")
            versions = self.versions[message_id] = found
        return versions[-1]

    def exists(self, message_id: int) -> bool:
        """Return whether the message is still in its channel (or is a live ephemeral)."""
        channel_id = (
            int(self.versions[message_id][-1]["channel_id"])
            if message_id in self.versions
            else None
        )
        if channel_id is None:
            return False
        if message_id in self.ephemeral:
            return True
        return any(int(m["id"]) == message_id for m in self.messages.get(channel_id, ()))

    def overwrites_by_channel(self) -> dict[int, list[JsonDict]]:
        """Return every channel's permission overwrites."""
        return {cid: list(o.values()) for cid, o in self.overwrites.items()}

    def channel_overwrites(self, channel_id: int) -> list[JsonDict]:
        """Return the permission overwrites set on a channel."""
        return list(self.overwrites.get(channel_id, {}).values())

    # -- writes, each echoed as a gateway event --------------------------------------------
    def create(self, data: JsonDict, *, dispatch: bool = True) -> JsonDict:
        """Store a new message and send ``MESSAGE_CREATE`` (ephemerals are stored apart)."""
        message_id = int(data["id"])
        self.versions[message_id] = [data]
        if int(data.get("flags", 0)) & EPHEMERAL:
            self.ephemeral[message_id] = data
            return data
        channel_id = int(data["channel_id"])
        self.messages.setdefault(channel_id, []).append(data)
        self._bump_thread(channel_id)
        if dispatch and self.state is not None:
            self.state.parse_message_create(data)
        return data

    def update(self, message_id: int, changes: JsonDict, *, edited: bool = True) -> JsonDict:
        """Apply ``changes`` to a message, keep the old version, send ``MESSAGE_UPDATE``."""
        old = self.payload(message_id)
        new = {**old, **{k: v for k, v in changes.items() if k in _EDITABLE}}
        if new.get("content") is None:
            new["content"] = ""
        for key in ("embeds", "components", "attachments"):
            if new.get(key) is None:
                new[key] = []
        if edited:
            new["edited_timestamp"] = payloads.iso(self.ids.next())
        self.versions[message_id].append(new)
        if message_id in self.ephemeral:
            self.ephemeral[message_id] = new
            return new
        channel = self.messages.get(int(new["channel_id"]), [])
        for i, m in enumerate(channel):
            if int(m["id"]) == message_id:
                channel[i] = new
        if self.state is not None:
            self.state.parse_message_update(new)
        return new

    def delete(self, message_id: int) -> None:
        """Remove a message and send ``MESSAGE_DELETE``."""
        data = self.payload(message_id)
        if self.ephemeral.pop(message_id, None) is not None:
            return
        channel_id = int(data["channel_id"])
        channel = self.messages.get(channel_id, [])
        if not any(int(m["id"]) == message_id for m in channel):
            raise http_error(404, 10008, "Unknown Message")
        channel[:] = [m for m in channel if int(m["id"]) != message_id]
        if self.state is not None:
            event: JsonDict = {"id": str(message_id), "channel_id": str(channel_id)}
            if "guild_id" in data:
                event["guild_id"] = data["guild_id"]
            self.state.parse_message_delete(event)

    def open_thread(
        self,
        thread_id: int,
        parent: discord.TextChannel | discord.Thread,
        name: str,
        auto_archive_duration: int,
        *,
        type_: int = discord.ChannelType.public_thread.value,
    ) -> JsonDict:
        """Store a new thread of the bot's and send ``THREAD_CREATE``; return its object."""
        data = payloads.thread_object(
            thread_id,
            parent_id=parent.id,
            guild_id=parent.guild.id,
            owner_id=self.bot_user.id,
            name=name,
            type_=type_,
            auto_archive_duration=auto_archive_duration,
            newly_created=True,
        )
        self.threads[thread_id] = data
        self.messages.setdefault(thread_id, [])
        if self.state is not None:
            self.state.parse_thread_create(data)
        return data

    def _bump_thread(self, channel_id: int) -> None:
        thread = self.threads.get(channel_id)
        if thread is not None:
            thread["message_count"] += 1
            thread["total_message_sent"] += 1

    def attachments(self, files: Sequence[discord.File] | None, channel_id: int) -> list[JsonDict]:
        """Store uploaded files and return their attachment objects."""
        out: list[JsonDict] = []
        for file in files or ():
            content = payloads.file_bytes(file)
            attachment_id = self.ids.next()
            self.files[attachment_id] = content
            out.append(
                {
                    "id": str(attachment_id),
                    "filename": file.filename,
                    "size": len(content),
                    "url": f"https://cdn.discordapp.test/attachments/{channel_id}/{attachment_id}/{file.filename}",
                    "proxy_url": f"https://media.discordapp.test/{attachment_id}/{file.filename}",
                    "content_type": _content_type(file.filename),
                }
            )
        return out

    def bot_message(
        self,
        channel_id: int,
        body: JsonDict,
        files: Sequence[discord.File] | None = None,
        *,
        message_id: int | None = None,
        extra: JsonDict | None = None,
    ) -> JsonDict:
        """Build (not store) the payload of a message the bot sends with request ``body``."""
        channel = self.channel(channel_id) if int(body.get("flags", 0)) & EPHEMERAL == 0 else None
        guild_id = channel.guild.id if channel is not None else None
        attachments = self.attachments(files, channel_id)
        if body.get("message_reference"):  # a reply
            extra = {**(extra or {}), "message_reference": body["message_reference"]}
        return payloads.message_object(
            message_id or self.ids.next(),
            channel_id=channel_id,
            guild_id=guild_id,
            author=payloads.user_object(self.bot_user),
            content=body.get("content") or "",
            embeds=body.get("embeds") or (),
            components=body.get("components") or (),
            attachments=attachments,
            flags=int(body.get("flags") or 0),
            extra=extra,
        )


_EDITABLE = frozenset(
    {"content", "embeds", "components", "attachments", "flags", "thread", "reactions", "pinned"}
)


def _content_type(filename: str) -> str | None:
    lowered = filename.lower()
    for suffix, kind in ((".png", "image/png"), (".jpg", "image/jpeg"), (".txt", "text/plain")):
        if lowered.endswith(suffix):
            return kind
    return None


def _snowflake(value: Any) -> int | None:
    return None if value is None else int(getattr(value, "id", value))


class HarnessHttp(dpy_backend.FakeHttp):
    """dpytest's fake HTTP client, completed for threads, components, edits and history.

    Every method here answers as Discord's REST API documents, checks the bot's permissions
    where Discord does (so a test can take a permission away and see the bot cope), stores the
    result in the :class:`FakeServer` and echoes the matching gateway event.
    """

    def __init__(self, server: FakeServer) -> None:
        super().__init__()
        self.server = server

    async def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse any REST call the harness does not implement, naming it."""
        route = args[0]
        raise NotImplementedError(
            f"the test harness does not fake {route.method} {route.path}; add it to "
            "tests/discord/server.py:HarnessHttp"
        )

    # -- permissions ----------------------------------------------------------------------
    def _require(self, channel: discord.TextChannel | discord.Thread, **perms: bool) -> None:
        me = channel.guild.me
        have = channel.permissions_for(me)
        missing = [name for name in perms if not getattr(have, name)]
        if missing and not have.administrator:
            raise http_error(403, 50013, f"Missing Permissions: {', '.join(missing)}")

    # -- messages -------------------------------------------------------------------------
    async def send_message(self, channel_id: Any, *, params: MultipartParameters) -> JsonDict:
        """``POST /channels/{id}/messages``."""
        channel = self.server.channel(int(channel_id))
        body = payloads.params_body(params)
        if isinstance(channel, discord.Thread):
            self._require(channel, send_messages_in_threads=True)
        else:
            self._require(channel, send_messages=True)
        if params.files:
            self._require(channel, attach_files=True)
        data = self.server.bot_message(channel.id, body, params.files)
        data["member"] = payloads.member_object(channel.guild.me, with_user=False)
        self.server.create(data)
        message = self.server.state._get_message(int(data["id"])) if self.server.state else None
        if message is not None:
            await dpy_callbacks.dispatch_event("send_message", message)
        return data

    async def edit_message(
        self, channel_id: Any, message_id: Any, *, params: MultipartParameters
    ) -> JsonDict:
        """``PATCH /channels/{id}/messages/{id}``: only the bot's own messages."""
        data = self.server.payload(int(message_id))
        if int(data["author"]["id"]) != self.server.bot_user.id:
            raise http_error(403, 50005, "Cannot edit a message authored by another user")
        body = payloads.params_body(params)
        if params.files:
            kept = [a for a in data.get("attachments", []) if a in body.get("attachments", [])]
            body["attachments"] = kept + self.server.attachments(params.files, int(channel_id))
        return self.server.update(int(message_id), body)

    async def delete_message(
        self, channel_id: Any, message_id: Any, *, reason: str | None = None
    ) -> None:
        """``DELETE /channels/{id}/messages/{id}``: own messages, or any with Manage Messages."""
        data = self.server.payload(int(message_id))
        if int(data["author"]["id"]) != self.server.bot_user.id:
            self._require(self.server.channel(int(channel_id)), manage_messages=True)
        self.server.delete(int(message_id))

    async def get_message(self, channel_id: Any, message_id: Any) -> JsonDict:
        """``GET /channels/{id}/messages/{id}``."""
        data = self.server.payload(int(message_id))
        if int(data["channel_id"]) != int(channel_id) or not self.server.exists(int(message_id)):
            raise http_error(404, 10008, "Unknown Message")
        return data

    async def logs_from(
        self,
        channel_id: Any,
        limit: int,
        before: Any = None,
        after: Any = None,
        around: Any = None,
    ) -> list[JsonDict]:
        """``GET /channels/{id}/messages``: newest first, as Discord returns them."""
        self._require(self.server.channel(int(channel_id)), read_message_history=True)
        stored = sorted(self.server.messages.get(int(channel_id), []), key=lambda m: int(m["id"]))
        before_id, after_id, around_id = _snowflake(before), _snowflake(after), _snowflake(around)
        if around_id is not None:
            older = [m for m in stored if int(m["id"]) <= around_id][-(limit // 2 + 1) :]
            newer = [m for m in stored if int(m["id"]) > around_id][: limit // 2]
            return list(reversed(older + newer))
        if after_id is not None:
            picked = [m for m in stored if int(m["id"]) > after_id][:limit]
            return list(reversed(picked))
        if before_id is not None:
            stored = [m for m in stored if int(m["id"]) < before_id]
        return list(reversed(stored[-limit:])) if limit else []

    async def add_reaction(self, channel_id: Any, message_id: Any, emoji: str) -> None:
        """``PUT .../reactions/{emoji}/@me``."""
        self._require(self.server.channel(int(channel_id)), add_reactions=True)
        data = self.server.payload(int(message_id))
        reactions = [dict(r) for r in data.get("reactions", [])]
        for r in reactions:
            if r["emoji"]["name"] == emoji:
                if not r["me"]:
                    r["count"] += 1
                    r["me"] = True
                break
        else:
            reactions.append({"count": 1, "me": True, "emoji": {"id": None, "name": emoji}})
        self.server.update(int(message_id), {"reactions": reactions}, edited=False)

    # -- channels and threads --------------------------------------------------------------
    async def get_channel(self, channel_id: Any) -> JsonDict:
        """``GET /channels/{id}`` for text channels and threads."""
        channel = self.server.channel(int(channel_id))
        return payloads.channel_object(channel, self.server.channel_overwrites(channel.id))

    async def start_thread_with_message(
        self,
        channel_id: Any,
        message_id: Any,
        *,
        name: str,
        auto_archive_duration: int,
        rate_limit_per_user: int | None = None,
        reason: str | None = None,
    ) -> JsonDict:
        """``POST /channels/{id}/messages/{id}/threads``: the thread takes the message's id."""
        channel = self.server.channel(int(channel_id))
        self._require(channel, create_public_threads=True)
        message = self.server.payload(int(message_id))
        if int(message["channel_id"]) != channel.id or not self.server.exists(int(message_id)):
            raise http_error(404, 10008, "Unknown Message")
        if int(message_id) in self.server.threads:
            raise http_error(400, 160004, "A thread has already been created for this message")
        data = self.server.open_thread(int(message_id), channel, name, auto_archive_duration)
        flags = int(message.get("flags", 0)) | HAS_THREAD
        thread_ref = {k: v for k, v in data.items() if k != "newly_created"}
        self.server.update(int(message_id), {"thread": thread_ref, "flags": flags}, edited=False)
        return data

    async def start_thread_without_message(
        self,
        channel_id: Any,
        *,
        name: str,
        auto_archive_duration: int,
        type: int,
        invitable: bool = True,
        rate_limit_per_user: int | None = None,
        reason: str | None = None,
    ) -> JsonDict:
        """``POST /channels/{id}/threads``."""
        channel = self.server.channel(int(channel_id))
        private = type == discord.ChannelType.private_thread.value
        self._require(
            channel, **{"create_private_threads" if private else "create_public_threads": True}
        )
        return self.server.open_thread(
            self.server.ids.next(), channel, name, auto_archive_duration, type_=type
        )

    async def join_thread(self, channel_id: Any) -> None:
        """``PUT /channels/{id}/thread-members/@me``: the bot already belongs to its threads."""
        self.server.channel(int(channel_id))

    # -- application commands ------------------------------------------------------------
    async def bulk_upsert_global_commands(
        self, application_id: Any, payload: list[JsonDict]
    ) -> list[JsonDict]:
        """``PUT /applications/{id}/commands``: give each command a stable id."""
        return self._upsert(int(application_id), None, payload)

    async def bulk_upsert_guild_commands(
        self, application_id: Any, guild_id: Any, payload: list[JsonDict]
    ) -> list[JsonDict]:
        """``PUT /applications/{id}/guilds/{id}/commands``."""
        return self._upsert(int(application_id), int(guild_id), payload)

    def _upsert(
        self, application_id: int, guild_id: int | None, payload: list[JsonDict]
    ) -> list[JsonDict]:
        out = []
        for command in payload:
            key = (guild_id, command["name"])
            command_id = self.server.command_ids.setdefault(key, self.server.ids.next())
            entry = {
                **command,
                "id": str(command_id),
                "application_id": str(application_id),
                "version": str(command_id),
                "type": command.get("type", 1),
                "description": command.get("description", ""),
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            out.append(entry)
        self.server.synced[guild_id] = out
        return out

    async def get_global_commands(self, application_id: Any) -> list[JsonDict]:
        """``GET /applications/{id}/commands``: what was last synced."""
        return list(self.server.synced.get(None, []))

    async def get_guild_commands(self, application_id: Any, guild_id: Any) -> list[JsonDict]:
        """``GET /applications/{id}/guilds/{id}/commands``."""
        return list(self.server.synced.get(int(guild_id), []))
