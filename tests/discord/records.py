"""What the bot showed: message snapshots and interaction records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import discord

from tests.discord.payloads import JsonDict


class ResponseKind(IntEnum):
    """How the bot answered an interaction (Discord's interaction callback types)."""

    MESSAGE = 4
    DEFERRED_MESSAGE = 5
    DEFERRED_UPDATE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE = 8
    MODAL = 9


@dataclass(frozen=True)
class Component:
    """One interactive component of a message (button or select), flattened out of its row."""

    type: discord.ComponentType
    custom_id: str | None
    label: str | None
    disabled: bool
    style: int | None
    options: tuple[str, ...]
    placeholder: str | None
    url: str | None

    @classmethod
    def from_payload(cls, data: JsonDict) -> Component:
        """Build a component from its API payload."""
        return cls(
            type=discord.ComponentType(data["type"]),
            custom_id=data.get("custom_id"),
            label=data.get("label"),
            disabled=bool(data.get("disabled", False)),
            style=data.get("style"),
            options=tuple(o["value"] for o in data.get("options", ())),
            placeholder=data.get("placeholder"),
            url=data.get("url"),
        )


def flatten_components(components: list[JsonDict]) -> list[JsonDict]:
    """Return the components inside action rows (and other containers), in display order."""
    out: list[JsonDict] = []
    for c in components:
        if "components" in c:
            out.extend(flatten_components(c["components"]))
        else:
            out.append(c)
    return out


@dataclass(frozen=True)
class Posted:
    """A message as Discord holds it at one moment (after any edits up to then)."""

    id: int
    channel_id: int
    author_id: int
    content: str
    embeds: tuple[discord.Embed, ...]
    components: tuple[Component, ...]
    attachments: tuple[str, ...]
    ephemeral: bool
    edited: bool
    raw: JsonDict = field(repr=False, compare=False)

    @classmethod
    def from_payload(cls, data: JsonDict) -> Posted:
        """Build a snapshot from a message payload."""
        flags = discord.MessageFlags._from_value(int(data.get("flags", 0)))
        return cls(
            id=int(data["id"]),
            channel_id=int(data["channel_id"]),
            author_id=int(data["author"]["id"]),
            content=data.get("content") or "",
            embeds=tuple(discord.Embed.from_dict(e) for e in data.get("embeds", ())),
            components=tuple(
                Component.from_payload(c) for c in flatten_components(data.get("components", []))
            ),
            attachments=tuple(a["filename"] for a in data.get("attachments", ())),
            ephemeral=flags.ephemeral,
            edited=data.get("edited_timestamp") is not None,
            raw=data,
        )

    @property
    def embed(self) -> discord.Embed | None:
        """Return the first embed, if any."""
        return self.embeds[0] if self.embeds else None

    @property
    def custom_ids(self) -> list[str]:
        """Return the custom ids of the interactive components, in display order."""
        return [c.custom_id for c in self.components if c.custom_id is not None]

    def component(self, custom_id: str) -> Component:
        """Return the component with ``custom_id``; raise ``KeyError`` naming the ones present."""
        for c in self.components:
            if c.custom_id == custom_id:
                return c
        raise KeyError(f"no component {custom_id!r} on message {self.id}; has {self.custom_ids}")

    def button(self, label: str) -> Component:
        """Return the button labelled ``label``."""
        for c in self.components:
            if c.type is discord.ComponentType.button and c.label == label:
                return c
        labels = [c.label for c in self.components if c.type is discord.ComponentType.button]
        raise KeyError(f"no button {label!r} on message {self.id}; has {labels}")

    def text(self) -> str:
        """Return the content and every embed's title, description, fields and footer."""
        return text_of(self.content, self.embeds)


def text_of(content: str | None, embeds: Iterable[discord.Embed]) -> str:
    """Return what a reader sees of a message: content, then each embed's text, one per line."""
    parts = [content or ""]
    for e in embeds:
        parts += [e.title or "", e.description or ""]
        parts += [f"{f.name}: {f.value}" for f in e.fields]
        parts.append(e.footer.text or "")
    return "\n".join(p for p in parts if p)


@dataclass
class InteractionRecord:
    """Everything the bot answered to one interaction.

    ``response`` is ``None`` until the bot answers; ``content``, ``embeds``, ``components`` and
    ``ephemeral`` describe the initial response (for an update, the new state of the message);
    ``edits`` are edits of the original response, ``followups`` the follow-up messages, and
    ``choices`` the autocomplete choices as ``(name, value)`` pairs;
    ``queries_before_response`` counts the SQL statements run while it was still unanswered.
    """

    interaction_id: int
    token: str
    type: discord.InteractionType
    channel_id: int
    source_message_id: int | None = None
    response: ResponseKind | None = None
    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    ephemeral: bool = False
    original_id: int | None = None
    edits: list[Posted] = field(default_factory=list)
    followups: list[Posted] = field(default_factory=list)
    choices: list[tuple[str, Any]] = field(default_factory=list)
    modal: JsonDict | None = None
    original_deleted: bool = False
    errors: list[logging.LogRecord] = field(default_factory=list)
    queries_before_response: int = 0

    @property
    def answered_first(self) -> bool:
        """Return whether the bot answered (or deferred) before any database statement.

        Counted only for a database the harness watches (:meth:`Harness.watch_database`).
        """
        return self.response is not None and self.queries_before_response == 0

    @property
    def embed(self) -> discord.Embed | None:
        """Return the first embed of the initial response, if any."""
        return self.embeds[0] if self.embeds else None

    @property
    def deferred(self) -> bool:
        """Return whether the bot deferred (thinking or silent update)."""
        return self.response in (ResponseKind.DEFERRED_MESSAGE, ResponseKind.DEFERRED_UPDATE)

    @property
    def last(self) -> Posted | None:
        """Return the latest message the user sees from this interaction.

        The last follow-up if there is one, else the latest edit of the original response.
        """
        if self.followups:
            return self.followups[-1]
        if self.edits:
            return self.edits[-1]
        return None

    def texts(self) -> list[str]:
        """Return the text of the response, every edit and every follow-up, in order."""
        out: list[str] = []
        if self.response in (ResponseKind.MESSAGE, ResponseKind.UPDATE_MESSAGE):
            out.append(text_of(self.content, self.embeds))
        out += [p.text() for p in (*self.edits, *self.followups)]
        return out

    def __repr__(self) -> str:
        errors = [r.getMessage() for r in self.errors]
        return (
            f"<InteractionRecord {self.type.name} response={self.response!r} "
            f"content={self.content!r} embeds={[e.title for e in self.embeds]} "
            f"ephemeral={self.ephemeral} edits={len(self.edits)} "
            f"followups={[f.content for f in self.followups]} choices={self.choices} "
            f"errors={errors}>"
        )
