"""Where the chat layer put things: the message and thread of each setup and proposal.

The engine never reads these; the Discord cogs do, so that an edit, a late fill or a click
after a restart finds the right message and thread. ``state`` keeps what the thread has
already been told (e.g. the last fill announced), so missed updates can be posted after a
crash without repeating the ones already shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, UTCDateTime


class ChatPost(Base):
    """One bot message (and its thread) about a setup post or a proposal."""

    __tablename__ = "chat_posts"
    __table_args__ = (UniqueConstraint("kind", "ref_id", name="uq_chat_posts_kind_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "setup" (ref: discord message id) / "proposal"
    ref_id: Mapped[int] = mapped_column(BigInteger)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"ChatPost({self.kind} {self.ref_id} → message {self.message_id}, thread {self.thread_id})"
