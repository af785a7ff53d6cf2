"""staff sessions and api tokens (hardening)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00

Each staff user gets a session generation (kept in the session cookie at sign-in; raised
on sign-out, deactivation and a new password, which ends the sessions signed in before).
API tokens get an expiry (none for the tokens issued so far) and scopes:
`POST /api/v1/inbound` now needs a token with the `integration` scope. The tokens issued
so far keep what they could do (they get that scope): an integration running today must
not stop on upgrade; `tresen tokens list` shows them, and an administrator replaces the
ones that need less.
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", tresen.database.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=200), nullable=False, server_default="")
        )
    op.execute("UPDATE api_tokens SET scopes = 'integration'")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
