"""chat posts: the Discord message and thread of each setup and proposal

Revision ID: 0004_chat_posts
Revises: 0003_trading
Create Date: 2026-11-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.base

revision = "0004_chat_posts"
down_revision = "0003_trading"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_posts")),
        sa.UniqueConstraint("kind", "ref_id", name="uq_chat_posts_kind_ref"),
    )
    op.create_index(op.f("ix_chat_posts_thread_id"), "chat_posts", ["thread_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_posts_thread_id"), table_name="chat_posts")
    op.drop_table("chat_posts")
