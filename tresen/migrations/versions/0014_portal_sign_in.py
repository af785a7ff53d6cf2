"""customer portal sign-in: portal accounts (password, sessions) and sign-in links

Carries its own SQL: imports nothing of today's code but the column type.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 17:00:00
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "portal_accounts",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("session_key", sa.String(length=32), nullable=False),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.Column("updated_at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "portal_sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.Column("expires_at", Moment(timezone=True), nullable=False),
        sa.Column("used_at", Moment(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_portal_sign_in_links_customer_id", "portal_sign_in_links", ["customer_id"])
    op.create_index("ix_portal_sign_in_links_address_key", "portal_sign_in_links", ["address_key"])


def downgrade() -> None:
    op.drop_index("ix_portal_sign_in_links_address_key", table_name="portal_sign_in_links")
    op.drop_index("ix_portal_sign_in_links_customer_id", table_name="portal_sign_in_links")
    op.drop_table("portal_sign_in_links")
    op.drop_table("portal_accounts")
