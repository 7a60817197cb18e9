"""The fake Discord server's storage on disk, so it outlives a bot process killed with SIGKILL.

Discord keeps what a bot posted when the bot dies; the crash tests need the same. A
:class:`PersistentServer` writes its messages, versions, threads, files and id counter to
one pickle after every write (atomically: a temporary file renamed over the old one), and a
new process loads it back with :func:`load_server`. The parent test reads the same file with
:class:`DiscordRecord` to check what the threads show.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.discord.payloads import JsonDict, Snowflakes
from tests.discord.records import Posted
from tests.discord.server import FakeServer

_FIELDS = ("messages", "versions", "ephemeral", "threads", "files", "command_ids")


class PersistentServer(FakeServer):
    """A :class:`FakeServer` that saves itself to ``path`` after every change."""

    def __init__(self, ids: Snowflakes, path: Path) -> None:
        super().__init__(ids)
        self.path = path

    def save(self) -> None:
        """Write the whole state to ``path`` (atomically)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        data["ids"] = (self.ids._last, self.ids._used)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def create(self, data: JsonDict, *, dispatch: bool = True) -> JsonDict:
        out = super().create(data, dispatch=dispatch)
        self.save()
        return out

    def update(self, message_id: int, changes: JsonDict, *, edited: bool = True) -> JsonDict:
        out = super().update(message_id, changes, edited=edited)
        self.save()
        return out

    def delete(self, message_id: int) -> None:
        super().delete(message_id)
        self.save()

    def open_thread(self, *args: Any, **kwargs: Any) -> JsonDict:
        out = super().open_thread(*args, **kwargs)
        self.save()
        return out


def load_server(path: Path, clock: Callable[[], datetime]) -> PersistentServer:
    """Return the server saved at ``path`` (a new, empty one when there is none yet)."""
    server = PersistentServer(Snowflakes(clock), path)
    if path.exists():
        data = pickle.loads(path.read_bytes())
        for name in _FIELDS:
            setattr(server, name, data[name])
        server.ids._last, server.ids._used = data["ids"]
    return server


@dataclass
class DiscordRecord:
    """Read-only view of a saved server, for the parent test's checks."""

    data: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> DiscordRecord:
        """Load the state saved at ``path``."""
        return cls(pickle.loads(path.read_bytes()))

    def channel(self, channel_id: int) -> list[Posted]:
        """Return the messages in a channel or thread, oldest first."""
        stored = self.data["messages"].get(channel_id, [])
        return [Posted.from_payload(m) for m in sorted(stored, key=lambda m: int(m["id"]))]

    def message(self, message_id: int) -> Posted:
        """Return the current version of a message."""
        return Posted.from_payload(self.data["versions"][message_id][-1])

    @property
    def threads(self) -> set[int]:
        """Return the ids of the threads the bot opened."""
        return set(self.data["threads"])
