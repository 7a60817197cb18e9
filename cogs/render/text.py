"""Embeds as terminal text, for the replay and for logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import discord

from core.clock import NEW_YORK

_TIMESTAMP = re.compile(r"<t:(\d+)(?::([tTdDfFR]))?>")
_MARKDOWN = re.compile(r"(\*\*|__|~~|`)")


def plain(text: str) -> str:
    """Turn Discord markdown and timestamp tags into plain text (times in New York)."""

    def stamp(m: re.Match[str]) -> str:
        at = datetime.fromtimestamp(int(m.group(1)), UTC).astimezone(NEW_YORK)
        style = m.group(2) or "f"
        if style in "tT":
            return at.strftime("%H:%M" if style == "t" else "%H:%M:%S")
        if style in "dD":
            return at.strftime("%Y-%m-%d")
        return at.strftime("%Y-%m-%d %H:%M ET")

    return _MARKDOWN.sub("", _TIMESTAMP.sub(stamp, text))


def embed_to_text(embed: discord.Embed) -> str:
    """Return an embed as indented lines: title, description, fields, footer."""
    lines: list[str] = []
    if embed.author and embed.author.name:
        lines.append(plain(embed.author.name))
    if embed.title:
        lines.append(plain(embed.title))
    if embed.description:
        lines.extend("  " + plain(x) for x in embed.description.splitlines())
    for f in embed.fields:
        value = plain(f.value or "").splitlines() or [""]
        name = plain(f.name or "")
        if len(value) == 1 and f.inline:
            lines.append(f"  {name}: {value[0]}")
        else:
            lines.append(f"  {name}:")
            lines.extend("    " + v for v in value)
    if embed.footer and embed.footer.text:
        lines.append("  — " + plain(embed.footer.text))
    return "\n".join(lines)
