"""Interaction responses: a recording stand-in for discord.py's webhook HTTP adapter.

discord.py sends interaction callbacks, follow-ups and edits of the original response through
``async_context.get()`` (an ``AsyncWebhookAdapter``), not through the bot's ``HTTPClient``.
:class:`RecordingAdapter` answers those calls as Discord does and writes them into the
:class:`~tests.discord.records.InteractionRecord` of the interaction's token; messages that
Discord would show in the channel are stored on the :class:`~tests.discord.server.FakeServer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import discord
from discord.http import MultipartParameters
from discord.webhook.async_ import AsyncWebhookAdapter

from tests.discord import payloads
from tests.discord.payloads import JsonDict
from tests.discord.records import (
    Component,
    InteractionRecord,
    Posted,
    ResponseKind,
    flatten_components,
)
from tests.discord.server import EPHEMERAL, LOADING, FakeServer, http_error


class RecordingAdapter(AsyncWebhookAdapter):
    """Answer interaction callbacks and follow-ups from the fake server, recording them."""

    def __init__(self, server: FakeServer) -> None:
        super().__init__()
        self.server = server

    async def request(self, route: Any, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse webhook calls the harness does not implement, naming them."""
        raise NotImplementedError(
            f"the test harness does not fake webhook call {route.method} {route.path}"
        )

    def _record(self, token: str) -> InteractionRecord:
        try:
            return self.server.records[token]
        except KeyError:
            raise http_error(404, 10015, "Unknown Webhook") from None

    # -- the initial response ----------------------------------------------------------------
    async def create_interaction_response(
        self,
        interaction_id: int,
        token: str,
        *,
        session: Any = None,
        proxy: Any = None,
        proxy_auth: Any = None,
        params: MultipartParameters,
    ) -> JsonDict:
        """``POST /interactions/{id}/{token}/callback`` (with ``with_response``)."""
        record = self._record(token)
        if record.response is not None:
            raise http_error(400, 40060, "Interaction has already been acknowledged.")
        body = payloads.params_body(params)
        kind = ResponseKind(body["type"])
        data: JsonDict = dict(body.get("data") or {})
        record.response = kind
        message: JsonDict | None = None
        if kind is ResponseKind.AUTOCOMPLETE:
            record.choices = [(c["name"], c["value"]) for c in data.get("choices", [])]
        elif kind is ResponseKind.MODAL:
            record.modal = data
        elif kind in (ResponseKind.MESSAGE, ResponseKind.DEFERRED_MESSAGE):
            flags = int(data.get("flags") or 0)
            record.ephemeral = bool(flags & EPHEMERAL)
            if kind is ResponseKind.DEFERRED_MESSAGE:
                data = {"flags": flags | LOADING}
            else:
                self._fill(record, data)
            message = self._new_message(record, data, params.files)
            record.original_id = int(message["id"])
        elif kind is ResponseKind.UPDATE_MESSAGE:
            self._fill(record, data)
            record.original_id = record.source_message_id
            if record.source_message_id is not None:
                message = self._edit(record.source_message_id, data, params.files)
        elif kind is ResponseKind.DEFERRED_UPDATE:
            record.original_id = record.source_message_id
        return self._callback(record, kind, message)

    def _fill(self, record: InteractionRecord, data: JsonDict) -> None:
        record.content = data.get("content")
        record.embeds = [discord.Embed.from_dict(e) for e in data.get("embeds") or ()]
        record.components = [
            Component.from_payload(c) for c in flatten_components(data.get("components") or [])
        ]

    def _callback(
        self, record: InteractionRecord, kind: ResponseKind, message: JsonDict | None
    ) -> JsonDict:
        out: JsonDict = {
            "interaction": {
                "id": str(record.interaction_id),
                "type": record.type.value,
                "response_message_loading": kind is ResponseKind.DEFERRED_MESSAGE,
                "response_message_ephemeral": record.ephemeral,
            },
            "resource": {"type": kind.value},
        }
        if message is not None:
            out["interaction"]["response_message_id"] = message["id"]
            out["resource"]["message"] = message
        return out

    def _new_message(
        self, record: InteractionRecord, body: JsonDict, files: Sequence[discord.File] | None
    ) -> JsonDict:
        extra = {
            "application_id": str(self.server.bot_user.id),
            "webhook_id": str(self.server.bot_user.id),
            "interaction_metadata": {
                "id": str(record.interaction_id),
                "type": record.type.value,
                "user": {"id": "0", "username": "user", "discriminator": "0", "avatar": None},
                "authorizing_integration_owners": {},
            },
        }
        data = self.server.bot_message(record.channel_id, body, files, extra=extra)
        data["channel_id"] = str(record.channel_id)
        return self.server.create(data)

    def _edit(
        self, message_id: int, body: JsonDict, files: Sequence[discord.File] | None
    ) -> JsonDict:
        current = self.server.payload(message_id)
        if files:
            kept = [a for a in current.get("attachments", []) if a in body.get("attachments", [])]
            body = {
                **body,
                "attachments": kept + self.server.attachments(files, int(current["channel_id"])),
            }
        if "flags" in body or int(current.get("flags", 0)) & LOADING:
            keep = int(current.get("flags", 0)) & EPHEMERAL
            body = {**body, "flags": (int(body.get("flags") or 0) & ~LOADING) | keep}
        return self.server.update(message_id, body)

    # -- the original response ---------------------------------------------------------------
    def _original(self, record: InteractionRecord) -> int:
        if record.original_id is None or record.original_deleted:
            raise http_error(404, 10008, "Unknown Message")
        return record.original_id

    async def get_original_interaction_response(
        self, application_id: int, token: str, **_: Any
    ) -> JsonDict:
        """``GET /webhooks/{app}/{token}/messages/@original``."""
        return self.server.payload(self._original(self._record(token)))

    async def edit_original_interaction_response(
        self,
        application_id: int,
        token: str,
        *,
        payload: JsonDict | None = None,
        multipart: list[JsonDict] | None = None,
        files: Sequence[discord.File] | None = None,
        **_: Any,
    ) -> JsonDict:
        """``PATCH /webhooks/{app}/{token}/messages/@original``."""
        record = self._record(token)
        data = self._edit(self._original(record), payloads.request_body(payload, multipart), files)
        record.edits.append(Posted.from_payload(data))
        return data

    async def delete_original_interaction_response(
        self, application_id: int, token: str, **_: Any
    ) -> None:
        """``DELETE /webhooks/{app}/{token}/messages/@original``."""
        record = self._record(token)
        self.server.delete(self._original(record))
        record.original_deleted = True

    # -- follow-ups --------------------------------------------------------------------------
    async def execute_webhook(
        self,
        webhook_id: int,
        token: str,
        *,
        payload: JsonDict | None = None,
        multipart: list[JsonDict] | None = None,
        files: Sequence[discord.File] | None = None,
        thread_id: int | None = None,
        wait: bool = False,
        **_: Any,
    ) -> JsonDict:
        """``POST /webhooks/{app}/{token}``: a follow-up message.

        The first follow-up after a deferred "thinking" response replaces the loading message
        and keeps the ephemeral choice made when deferring, as Discord does.
        """
        record = self._record(token)
        if record.response is None:
            raise http_error(404, 10015, "Unknown Webhook")
        body = payloads.request_body(payload, multipart)
        original = record.original_id
        if (
            record.response is ResponseKind.DEFERRED_MESSAGE
            and original is not None
            and not record.followups
            and not record.edits
            and int(self.server.payload(original).get("flags", 0)) & LOADING
        ):
            data = self._edit(original, body, files)
        else:
            data = self._new_message(record, body, files)
        record.followups.append(Posted.from_payload(data))
        return data

    async def get_webhook_message(
        self, webhook_id: int, token: str, message_id: int, **_: Any
    ) -> JsonDict:
        """``GET /webhooks/{app}/{token}/messages/{id}``."""
        self._record(token)
        return self.server.payload(int(message_id))

    async def edit_webhook_message(
        self,
        webhook_id: int,
        token: str,
        message_id: int,
        *,
        payload: JsonDict | None = None,
        multipart: list[JsonDict] | None = None,
        files: Sequence[discord.File] | None = None,
        **_: Any,
    ) -> JsonDict:
        """``PATCH /webhooks/{app}/{token}/messages/{id}``: edit a follow-up."""
        record = self._record(token)
        data = self._edit(int(message_id), payloads.request_body(payload, multipart), files)
        if int(message_id) == record.original_id:
            record.edits.append(Posted.from_payload(data))
        return data

    async def delete_webhook_message(
        self, webhook_id: int, token: str, message_id: int, **_: Any
    ) -> None:
        """``DELETE /webhooks/{app}/{token}/messages/{id}``."""
        self._record(token)
        self.server.delete(int(message_id))
