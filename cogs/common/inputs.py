"""Slash-command input checked on our side too: Discord's limits are never trusted.

Discord enforces an option's ``max_length`` and ranges in its client, but an interaction is
just a payload: :class:`Text` re-checks length and refuses control characters on the server, and
:class:`BadInput` carries a sentence that says what is wrong and what to type instead (it is an
:class:`~core.errors.AplusError`, so the one error path shows it as is).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import discord
from discord import app_commands

from core.errors import AplusError


class BadInput(app_commands.AppCommandError, AplusError):
    """An option value was refused; the message says why and what would work."""


def shown(value: Any, limit: int = 40) -> str:
    """Return user input fit to quote back: clipped, without mentions or markdown."""
    text = str(value)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text))


def clean_text(value: str, *, max_length: int, what: str) -> str:
    """Return ``value`` stripped; refuse it when too long or holding control characters."""
    text = str(value).strip()
    if len(text) > max_length:
        raise BadInput(f"{what} is too long ({len(text):,} characters; at most {max_length}).")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise BadInput(f"{what} contains control characters; type plain text.")
    return text


class Text(app_commands.Transformer):
    """A short text option, its length checked on the server (``Text(32)``)."""

    def __init__(self, max_length: int, what: str = "that value") -> None:
        self._max = max_length
        self._what = what

    @property
    def type(self) -> discord.AppCommandOptionType:
        """Return the Discord option type (string)."""
        return discord.AppCommandOptionType.string

    @property
    def min_value(self) -> int:
        """Return the shortest text Discord accepts."""
        return 1

    @property
    def max_value(self) -> int:
        """Return the longest text Discord accepts (checked here again)."""
        return self._max

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> str:
        """Return the cleaned text or raise :class:`BadInput`."""
        return clean_text(value, max_length=self._max, what=self._what)
