"""bots: the bot's settings per channel, its conversations, and messages' interactive part

Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 07:00:00
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "bot_settings",
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("engine", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("greeting_en", sa.Text(), nullable=False),
        sa.Column("greeting_de", sa.Text(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("hours", sa.String(length=30), nullable=False),
        sa.Column("rasa_url", sa.String(length=500), nullable=True),
        sa.Column("rasa_timeout", sa.Float(), nullable=False),
        sa.Column("updated_at", Moment(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_bot_settings")),
    )
    op.create_table(
        "bot_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=True),
        sa.Column("engine", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("state", sa.JSON(), nullable=True),
        sa.Column("started_at", Moment(timezone=True), nullable=False),
        sa.Column("updated_at", Moment(timezone=True), nullable=False),
        sa.Column("ended_at", Moment(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("handoff_reason", sa.String(length=50), nullable=True),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("last_article_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_bot_conversations_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_conversations")),
        sa.UniqueConstraint("channel", "key", name=op.f("uq_bot_conversations_channel_key")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_bot_conversations_ticket_id")),
    )
    with op.batch_alter_table("bot_conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bot_conversations_channel_started", ["channel", "started_at"], unique=False
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interactive", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Before 0019 no state "bot" exists: the bot's waiting conversations go to people.
    op.execute("UPDATE tickets SET state = 'new' WHERE state = 'bot'")
    if op.get_bind().dialect.name == "sqlite":
        # Not a batch copy: dropping the old `messages` table (foreign keys on) would
        # delete every attachment with it. SQLite >= 3.35 drops a column.
        op.execute("ALTER TABLE messages DROP COLUMN interactive")
    else:
        op.drop_column("messages", "interactive")
    op.drop_table("bot_conversations")
    op.drop_table("bot_settings")
