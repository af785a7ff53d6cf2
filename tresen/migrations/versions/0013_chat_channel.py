"""live chat: chat channels, visitors' sessions, offers to agents, chat capacity

Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:00:00
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "chat_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("colors", sa.JSON(), nullable=False),
        sa.Column("greeting", sa.JSON(), nullable=False),
        sa.Column("avatar_url", sa.String(length=500), nullable=True),
        sa.Column("prechat", sa.JSON(), nullable=False),
        sa.Column("identity_secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.Column("updated_at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["queue_id"], ["queues.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("public_key"),
    )
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("page_url", sa.String(length=2000), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_seen_at", Moment(timezone=True), nullable=True),
        sa.Column("left_at", Moment(timezone=True), nullable=True),
        sa.Column("visitor_read_id", sa.Integer(), nullable=False),
        sa.Column("agent_read_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=True),
        sa.Column("code_expires_at", Moment(timezone=True), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("transcript_sent_at", Moment(timezone=True), nullable=True),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.Column("ended_at", Moment(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["chat_channels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_chat_sessions_visitor", "chat_sessions", ["channel_id", "visitor_id"])
    op.create_index("ix_chat_sessions_ticket", "chat_sessions", ["ticket_id"])
    op.create_index("ix_chat_sessions_identity", "chat_sessions", ["identity", "channel_id"])
    op.create_table(
        "chat_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("offered_at", Moment(timezone=True), nullable=False),
        sa.Column("expires_at", Moment(timezone=True), nullable=False),
        sa.Column("answered_at", Moment(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chat_offers_state_expires", "chat_offers", ["state", "expires_at"])
    op.create_index(op.f("ix_chat_offers_ticket_id"), "chat_offers", ["ticket_id"])
    op.create_index(op.f("ix_chat_offers_agent_id"), "chat_offers", ["agent_id"])
    with op.batch_alter_table("agent_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_capacity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agent_profiles", schema=None) as batch_op:
        batch_op.drop_column("chat_capacity")
    op.drop_index(op.f("ix_chat_offers_agent_id"), table_name="chat_offers")
    op.drop_index(op.f("ix_chat_offers_ticket_id"), table_name="chat_offers")
    op.drop_index("ix_chat_offers_state_expires", table_name="chat_offers")
    op.drop_table("chat_offers")
    op.drop_index("ix_chat_sessions_identity", table_name="chat_sessions")
    op.drop_index("ix_chat_sessions_ticket", table_name="chat_sessions")
    op.drop_index("ix_chat_sessions_visitor", table_name="chat_sessions")
    op.drop_table("chat_sessions")
    op.drop_table("chat_channels")
