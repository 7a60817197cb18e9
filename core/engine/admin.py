"""Admin state the engine facade does not cover: the setup channels and bot-level actions.

The setup channels come from the ``SETUP_CHANNEL_IDS`` setting; an admin can add or remove
channels at runtime. The changes are kept in ``engine_state`` (key ``setup_channels``) as what
was added and what was removed, so the effective list after a restart is the configured one
with the same changes applied, and a channel added later to the setting is still honoured.
Every change, and every bot-level action (reloading the cogs, syncing the command tree), writes
an ``audit_log`` row naming who did it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.models.trading import EngineStateRow
from core.engine.state import EngineStateStore, audit

SETUP_CHANNELS_KEY = "setup_channels"


@dataclass(frozen=True, slots=True)
class ChannelChanges:
    """The runtime changes to the configured setup channels."""

    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()

    def apply(self, configured: Iterable[int]) -> list[int]:
        """Return the effective channel ids: configured plus added, minus removed, in order."""
        out = [c for c in configured if c not in self.removed]
        out += [c for c in self.added if c not in out and c not in self.removed]
        return out

    def with_added(self, channel_id: int, configured: Iterable[int]) -> ChannelChanges:
        """Return the changes after adding ``channel_id``."""
        configured = set(configured)
        added = self.added if channel_id in configured or channel_id in self.added else (
            *self.added, channel_id)
        return ChannelChanges(added, tuple(c for c in self.removed if c != channel_id))

    def with_removed(self, channel_id: int, configured: Iterable[int]) -> ChannelChanges:
        """Return the changes after removing ``channel_id``."""
        removed = (*self.removed, channel_id) if channel_id in set(configured) and (
            channel_id not in self.removed) else self.removed
        return ChannelChanges(tuple(c for c in self.added if c != channel_id), removed)


class AdminStore:
    """Persist the setup-channel changes and audit admin actions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], state: EngineStateStore) -> None:
        self._sessions = sessions
        self._state = state

    async def channel_changes(self) -> ChannelChanges:
        """Return the stored setup-channel changes (none when never changed)."""
        async with self._sessions() as session:
            row = await session.get(EngineStateRow, SETUP_CHANNELS_KEY)
        if row is None:
            return ChannelChanges()
        return ChannelChanges(tuple(int(c) for c in row.value.get("added", [])),
                              tuple(int(c) for c in row.value.get("removed", [])))

    async def save_channels(self, changes: ChannelChanges, *, at: datetime, actor: str,
                            action: str, detail: str) -> None:
        """Store the channel changes and audit them in one transaction."""
        await self._state.save(SETUP_CHANNELS_KEY,
                               {"added": list(changes.added), "removed": list(changes.removed)},
                               at=at, actor=actor, action=action, detail=detail)

    async def record(self, *, at: datetime, actor: str, action: str, detail: str,
                     entity: str = "bot") -> None:
        """Write one audit row for an action that changes no engine state."""
        async with self._sessions.begin() as session:
            await audit(session, at, actor, action, entity, None, detail=detail)
