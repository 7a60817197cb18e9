"""simulated exchange: account, orders, fills, positions

Revision ID: 0002_sim_exchange
Revises: 0001_setups
Create Date: 2026-11-21 12:50:01.284643
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db.base

revision = '0002_sim_exchange'
down_revision = '0001_setups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sim_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cash', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('starting_cash', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('processed_until', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_accounts'))
    )
    op.create_table('sim_orders',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('client_order_id', sa.String(length=128), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=True),
    sa.Column('asset_class', sa.String(length=16), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=True),
    sa.Column('type', sa.String(length=8), nullable=False),
    sa.Column('time_in_force', sa.String(length=8), nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('filled_qty', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('filled_avg_price', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('limit_price', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('reject_reason', sa.String(length=255), nullable=True),
    sa.Column('replaces', sa.String(length=36), nullable=True),
    sa.Column('replaced_by', sa.String(length=36), nullable=True),
    sa.Column('legs', sa.JSON(), nullable=True),
    sa.Column('last_fill_minute', sa.BigInteger(), nullable=True),
    sa.Column('created_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_sim_orders_client_order_id'))
    )
    with op.batch_alter_table('sim_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sim_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sim_orders_symbol'), ['symbol'], unique=False)

    op.create_table('sim_positions',
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('asset_class', sa.String(length=16), nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('avg_entry_price', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('realized_pl', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('updated_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('symbol', name=op.f('pk_sim_positions'))
    )
    op.create_table('sim_fills',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('price', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('fee', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('filled_at', core.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['sim_orders.id'], name=op.f('fk_sim_fills_order_id_sim_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sim_fills'))
    )
    with op.batch_alter_table('sim_fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_fills_filled_at'), ['filled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sim_fills_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sim_fills', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_fills_order_id'))
        batch_op.drop_index(batch_op.f('ix_sim_fills_filled_at'))

    op.drop_table('sim_fills')
    op.drop_table('sim_positions')
    with op.batch_alter_table('sim_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_orders_symbol'))
        batch_op.drop_index(batch_op.f('ix_sim_orders_status'))
        batch_op.drop_index(batch_op.f('ix_sim_orders_created_at'))

    op.drop_table('sim_orders')
    op.drop_table('sim_accounts')
