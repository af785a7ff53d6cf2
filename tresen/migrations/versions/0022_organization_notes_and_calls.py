"""organization notes and calls

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 10:30:00
"""

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


# Nothing to change: organizations.notes exists since 0001, and a ticket opened by hand
# needs no column of its own (the voice channel and an "opened_by_hand" history row say it).
# The revision stays so that the chain 0021 -> 0022 -> 0023 holds.


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
