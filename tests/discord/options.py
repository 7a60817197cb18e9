"""Slash command and autocomplete ``data`` as the Discord client builds it.

The Discord client only lets a user send options the command declares, of the declared type,
within its choices and ranges, and with every required one filled; :func:`command_data`
refuses anything else with :class:`InvalidOptions`, so a test cannot deliver an interaction
production could never see.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import discord
from discord import AppCommandOptionType as T
from discord import app_commands

from tests.discord.payloads import JsonDict, member_object, user_object


class InvalidOptions(TypeError):
    """The options could not have been sent by a Discord client for this command."""


def find_command(
    tree: app_commands.CommandTree, path: str, guild: discord.abc.Snowflake
) -> tuple[app_commands.Command[Any, ..., Any], bool]:
    """Return the command at ``path`` ("admin risk set") and whether it is a guild command."""
    parts = path.split()
    if not parts:
        raise InvalidOptions("empty command name")
    root = tree.get_command(parts[0], guild=guild)
    guild_only = root is not None
    if root is None:
        root = tree.get_command(parts[0])
    if root is None:
        names = sorted(c.name for c in (*tree.get_commands(guild=guild), *tree.get_commands()))
        raise InvalidOptions(f"no slash command {parts[0]!r}; the tree has {names}")
    command: Any = root
    for part in parts[1:]:
        if not isinstance(command, app_commands.Group):
            raise InvalidOptions(f"{command.qualified_name!r} has no subcommand {part!r}")
        sub = command.get_command(part)
        if sub is None:
            names = sorted(c.name for c in command.commands)
            raise InvalidOptions(f"{command.qualified_name!r} has no {part!r}; it has {names}")
        command = sub
    if not isinstance(command, app_commands.Command):
        names = sorted(c.name for c in command.commands)
        raise InvalidOptions(f"{path!r} is a group; pick one of {names}")
    return command, guild_only


def command_data(
    command: app_commands.Command[Any, ..., Any],
    *,
    command_id: int,
    guild: discord.Guild,
    guild_only: bool,
    values: Mapping[str, Any],
    focused: str | None = None,
) -> JsonDict:
    """Return the interaction ``data`` for ``command`` with option ``values`` (by Python name).

    With ``focused`` (autocomplete), values are what the user has typed so far: they are sent
    as-is, unvalidated, and missing required options are allowed, as Discord does.
    """
    params = {p.name: p for p in command.parameters}
    by_display = {p.display_name: p for p in command.parameters}
    resolved: dict[str, dict[str, JsonDict]] = {}
    options: list[JsonDict] = []
    for key, value in values.items():
        param = params.get(key) or by_display.get(key)
        if param is None:
            raise InvalidOptions(
                f"/{command.qualified_name} has no option {key!r}; it has {sorted(params)}"
            )
        option: JsonDict = {"name": param.display_name, "type": param.type.value}
        if focused is not None:
            option["value"] = value.value if isinstance(value, Enum) else value
            if focused in (param.name, param.display_name):
                option["focused"] = True
        else:
            option["value"] = _wire_value(param, value, guild, resolved)
        options.append(option)
    if focused is not None:
        if not any(o.get("focused") for o in options):
            raise InvalidOptions(f"focused option {focused!r} needs a value (what was typed)")
    else:
        given = {o["name"] for o in options}
        missing = [p.name for p in command.parameters if p.required and p.display_name not in given]
        if missing:
            raise InvalidOptions(f"/{command.qualified_name} needs {missing}")
    data: JsonDict = {
        "id": str(command_id),
        "name": command.root_parent.name if command.root_parent else command.name,
        "type": discord.AppCommandType.chat_input.value,
        "options": _nest(command, options),
    }
    if guild_only:
        data["guild_id"] = str(guild.id)
    if resolved:
        data["resolved"] = resolved
    return data


def _nest(command: app_commands.Command[Any, ..., Any], options: list[JsonDict]) -> list[JsonDict]:
    """Wrap ``options`` in the subcommand / subcommand-group options of ``command``'s path."""
    if command.parent is None:
        return options
    nested = [{"type": T.subcommand.value, "name": command.name, "options": options}]
    group = command.parent
    if group.parent is not None:
        nested = [{"type": T.subcommand_group.value, "name": group.name, "options": nested}]
    return nested


def _wire_value(
    param: app_commands.Parameter,
    value: Any,
    guild: discord.Guild,
    resolved: dict[str, dict[str, JsonDict]],
) -> Any:
    if isinstance(value, Enum):
        value = value.value
    kind = param.type
    if kind in (T.string, T.integer, T.number):
        out = _scalar(param, value)
        if param.choices and out not in [c.value for c in param.choices]:
            choices = [c.value for c in param.choices]
            raise InvalidOptions(f"option {param.name!r}: {out!r} is not one of {choices}")
        return out
    if kind is T.boolean:
        if not isinstance(value, bool):
            raise InvalidOptions(f"option {param.name!r} takes a bool, not {value!r}")
        return value
    if kind in (T.user, T.mentionable) and isinstance(value, discord.Member):
        resolved.setdefault("users", {})[str(value.id)] = user_object(value)
        resolved.setdefault("members", {})[str(value.id)] = member_object(value, with_user=False)
        return str(value.id)
    if kind in (T.role, T.mentionable) and isinstance(value, discord.Role):
        resolved.setdefault("roles", {})[str(value.id)] = {
            "id": str(value.id),
            "name": value.name,
            "color": 0,
            "hoist": False,
            "position": value.position,
            "permissions": str(value.permissions.value),
            "managed": False,
            "mentionable": False,
        }
        return str(value.id)
    if kind is T.channel and isinstance(value, discord.TextChannel | discord.Thread):
        resolved.setdefault("channels", {})[str(value.id)] = {
            "id": str(value.id),
            "type": value.type.value,
            "name": value.name,
            "permissions": str(value.permissions_for(guild.me).value),
            **({"parent_id": str(value.parent_id)} if isinstance(value, discord.Thread) else {}),
        }
        return str(value.id)
    raise InvalidOptions(f"option {param.name!r} ({kind.name}) cannot take {value!r}")


def _scalar(param: app_commands.Parameter, value: Any) -> Any:
    kind = param.type
    if kind is T.string:
        if not isinstance(value, str):
            raise InvalidOptions(f"option {param.name!r} takes text, not {value!r}")
        size: float = len(value)
    elif kind is T.integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidOptions(f"option {param.name!r} takes a whole number, not {value!r}")
        size = value
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidOptions(f"option {param.name!r} takes a number, not {value!r}")
        value = float(value)
        size = value
    if param.min_value is not None and size < param.min_value:
        raise InvalidOptions(f"option {param.name!r}: {value!r} is below {param.min_value}")
    if param.max_value is not None and size > param.max_value:
        raise InvalidOptions(f"option {param.name!r}: {value!r} is above {param.max_value}")
    return value
