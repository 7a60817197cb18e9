"""Remember which chat message and thread belong to each setup post and proposal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db.models.chat import ChatPost


class ChatLinks:
    """A small repository over ``chat_posts``; one session per call."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def get(self, kind: str, ref_id: int) -> ChatPost | None:
        """Return the post of ``kind`` for ``ref_id`` (setup message id or proposal id)."""
        async with self._sessions() as session:
            return (await session.execute(select(ChatPost).where(
                ChatPost.kind == kind, ChatPost.ref_id == ref_id))).scalar_one_or_none()

    async def by_thread(self, thread_id: int) -> ChatPost | None:
        """Return the post whose thread is ``thread_id``."""
        async with self._sessions() as session:
            return (await session.execute(select(ChatPost).where(
                ChatPost.thread_id == thread_id))).scalars().first()

    async def save(self, kind: str, ref_id: int, *, channel_id: int, message_id: int | None,
                   thread_id: int | None = None, guild_id: int | None = None) -> ChatPost:
        """Record (or update) where the post of ``kind``/``ref_id`` lives."""
        now = self._clock.now()
        for _ in range(2):
            try:
                async with self._sessions.begin() as session:
                    row = (await session.execute(select(ChatPost).where(
                        ChatPost.kind == kind, ChatPost.ref_id == ref_id))).scalar_one_or_none()
                    if row is None:
                        row = ChatPost(kind=kind, ref_id=ref_id, state={}, created_at=now)
                        session.add(row)
                    row.channel_id = channel_id
                    row.guild_id = guild_id if guild_id is not None else row.guild_id
                    row.message_id = message_id if message_id is not None else row.message_id
                    row.thread_id = thread_id if thread_id is not None else row.thread_id
                    row.updated_at = now
                return row
            except IntegrityError:  # inserted concurrently: the second pass updates it
                continue
        raise RuntimeError(f"could not record chat post {kind} {ref_id}")

    async def forget_thread(self, thread_id: int) -> int:
        """Note that thread ``thread_id`` is gone (its updates go to the channel); return how
        many posts had it."""
        async with self._sessions.begin() as session:
            rows = (await session.execute(select(ChatPost).where(
                ChatPost.thread_id == thread_id))).scalars().all()
            for row in rows:
                row.thread_id = None
                row.updated_at = self._clock.now()
            return len(rows)

    async def update_state(self, kind: str, ref_id: int, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into the post's state and return the new state."""
        async with self._sessions.begin() as session:
            row = (await session.execute(select(ChatPost).where(
                ChatPost.kind == kind, ChatPost.ref_id == ref_id))).scalar_one_or_none()
            if row is None:
                return {}
            row.state = {**row.state, **values}
            row.updated_at = self._clock.now()
            return dict(row.state)

    async def recent(self, kind: str, since: datetime) -> list[ChatPost]:
        """Return the posts of ``kind`` created since ``since``, oldest first."""
        async with self._sessions() as session:
            return list((await session.execute(select(ChatPost).where(
                ChatPost.kind == kind, ChatPost.created_at >= since)
                .order_by(ChatPost.id))).scalars().all())
