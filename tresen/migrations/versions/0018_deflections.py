"""deflections: portal requests a knowledge base article answered (no ticket made)

Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 18:00:00
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "kb_deflections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_deflections_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_deflections")),
        sa.UniqueConstraint("request_key", name=op.f("uq_kb_deflections_request_key")),
    )
    with op.batch_alter_table("kb_deflections", schema=None) as batch_op:
        batch_op.create_index("ix_kb_deflections_article_at", ["article_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_deflections_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_kb_deflections_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("kb_deflections")
