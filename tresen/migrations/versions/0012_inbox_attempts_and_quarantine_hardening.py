"""inbox attempts and quarantine (hardening)

An inbound record that failed to be processed is tried again a few times, then put in
quarantine (status "quarantined", kept with its error) for an administrator to look at.
Carries its own SQL: imports nothing of today's code but the column type. Also an index
on messages (direction, created_at): the automatic mails of the last hour are counted for
the confirmations' limit across all addresses.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("last_attempt_at", tresen.database.UTCDateTime(timezone=True), nullable=True)
        )
    # A record that failed before counts one attempt (it is tried again, then quarantined).
    op.execute("UPDATE inbox SET attempts = 1 WHERE status = 'failed'")
    # The automatic mails of the last hour, counted for the limit across all addresses.
    op.create_index("ix_messages_direction_created", "messages", ["direction", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_direction_created", table_name="messages")
    # Quarantined records go back to plain failed ones (retried for ever, as before).
    op.execute("UPDATE inbox SET status = 'failed' WHERE status = 'quarantined'")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("last_attempt_at")
        batch_op.drop_column("attempts")
