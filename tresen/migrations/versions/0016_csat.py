"""satisfaction (CSAT): ratings per ticket, the requests that asked for them

Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "csat_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("rated_at", Moment(timezone=True), nullable=False),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["queue_id"], ["queues.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_index("ix_csat_ratings_rated_at", "csat_ratings", ["rated_at"])
    op.create_index("ix_csat_ratings_week", "csat_ratings", ["week"])
    op.create_index(op.f("ix_csat_ratings_customer_id"), "csat_ratings", ["customer_id"])
    op.create_index(op.f("ix_csat_ratings_queue_id"), "csat_ratings", ["queue_id"])
    op.create_index(op.f("ix_csat_ratings_agent_id"), "csat_ratings", ["agent_id"])
    op.create_table(
        "csat_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("solved_at", Moment(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("skipped", sa.String(length=200), nullable=True),
        sa.Column("asked_at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "solved_at", "via"),
    )


def downgrade() -> None:
    op.drop_table("csat_requests")
    op.drop_index(op.f("ix_csat_ratings_agent_id"), table_name="csat_ratings")
    op.drop_index(op.f("ix_csat_ratings_queue_id"), table_name="csat_ratings")
    op.drop_index(op.f("ix_csat_ratings_customer_id"), table_name="csat_ratings")
    op.drop_index("ix_csat_ratings_week", table_name="csat_ratings")
    op.drop_index("ix_csat_ratings_rated_at", table_name="csat_ratings")
    op.drop_table("csat_ratings")
