"""Which components a user can actually use: the Discord client's own limits."""

from __future__ import annotations

import discord

from tests.discord.payloads import JsonDict


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
