"""INTERACTION_CREATE events a Discord client could send, and the record of each.

A user can only click a component that is on the message, enabled, and of the right kind, and
only pick offered values; :func:`component_data` refuses anything else with
:class:`ComponentUnavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from tests.discord import payloads
from tests.discord.payloads import JsonDict
from tests.discord.records import InteractionRecord
from tests.discord.server import FakeServer


class ComponentUnavailable(LookupError):
    """The component cannot be used: absent, disabled, or the message is gone."""


def find_component(data: JsonDict, custom_id: str) -> JsonDict:
    """Return component ``custom_id`` of a message payload, or raise naming those present."""
    stack = list(data.get("components", []))
    seen = []
    while stack:
        c = stack.pop(0)
        stack.extend(c.get("components", []))
        if "custom_id" in c:
            seen.append(c["custom_id"])
            if c["custom_id"] == custom_id:
                return c
    raise ComponentUnavailable(f"no component {custom_id!r} on message {data['id']}; has {seen}")


def check_values(component: JsonDict, values: list[str]) -> None:
    """Refuse select values a Discord client could not send (count, or not on offer)."""
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(values) <= high:
        raise ComponentUnavailable(f"select takes {low}..{high} values, got {values}")
    if component["type"] == discord.ComponentType.string_select.value:
        offered = {o["value"] for o in component.get("options", [])}
        unknown = [v for v in values if v not in offered]
        if unknown:
            raise ComponentUnavailable(
                f"select does not offer {unknown}; it offers {sorted(offered)}"
            )


def component_data(message: JsonDict, custom_id: str, values: Sequence[str] | None) -> JsonDict:
    """Return the ``data`` of a click (``values=None``) or select on message payload ``message``."""
    component = find_component(message, custom_id)
    is_select = component["type"] != discord.ComponentType.button.value
    if (values is not None) != is_select:
        kind = "select" if is_select else "button"
        raise ComponentUnavailable(
            f"{custom_id!r} is a {kind}; use h.{'select' if is_select else 'click'}"
        )
    if component.get("disabled"):
        raise ComponentUnavailable(f"{custom_id!r} is disabled on message {message['id']}")
    data: JsonDict = {"custom_id": custom_id, "component_type": component["type"]}
    if values is not None:
        check_values(component, list(values))
        data["values"] = list(values)
    return data


def new_interaction(
    server: FakeServer,
    type_: int,
    data: JsonDict,
    channel: discord.TextChannel | discord.Thread,
    member: discord.Member,
    *,
    message: JsonDict | None = None,
) -> tuple[JsonDict, InteractionRecord]:
    """Return an INTERACTION_CREATE payload and the empty record of the bot's answer to it."""
    interaction_id = server.ids.next()
    guild = channel.guild
    payload = payloads.interaction_create(
        interaction_id=interaction_id,
        type_=type_,
        data=data,
        application_id=server.bot_user.id,
        guild=guild,
        channel=channel,
        member=member,
        app_permissions=channel.permissions_for(guild.me).value,
        message=message,
    )
    record = InteractionRecord(
        interaction_id=interaction_id,
        token=payload["token"],
        type=discord.InteractionType(type_),
        channel_id=channel.id,
        source_message_id=int(message["id"]) if message is not None else None,
    )
    return payload, record
