"""knowledge base anonymous feedback and gaps (hardening)

Search gaps become one row per normalized words, audience and (UTC) day with a count of the
searches, instead of one row per search: the rows there are are grouped into that shape (the
latest search of a group gives the wording, language and results kept).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

GROUP = "day, audience, normalized"
SAME_GROUP = (
    "g.day = kb_search_gaps.day AND g.audience = kb_search_gaps.audience "
    "AND g.normalized = kb_search_gaps.normalized"
)


def upgrade() -> None:
    with op.batch_alter_table("kb_search_gaps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("searches", sa.Integer(), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    # `at` is UTC: stored with its zone on PostgreSQL, as the UTC wall time on SQLite.
    op.execute(
        "UPDATE kb_search_gaps SET day = "
        + ("(at AT TIME ZONE 'UTC')::date" if postgres else "date(at)")
    )
    op.execute(
        "UPDATE kb_search_gaps SET searches = "
        f"(SELECT count(*) FROM kb_search_gaps g WHERE {SAME_GROUP}), "
        f"at = (SELECT max(g.at) FROM kb_search_gaps g WHERE {SAME_GROUP})"
    )
    op.execute(
        "DELETE FROM kb_search_gaps WHERE id NOT IN "
        f"(SELECT max(id) FROM kb_search_gaps GROUP BY {GROUP})"
    )
    with op.batch_alter_table("kb_search_gaps", schema=None) as batch_op:
        batch_op.alter_column("day", existing_type=sa.Date(), nullable=False)
        batch_op.alter_column("searches", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_kb_search_gaps_day_audience_normalized"),
            ["day", "audience", "normalized"],
        )


def downgrade() -> None:
    # The counts go; each group stays as the one row of its latest search.
    with op.batch_alter_table("kb_search_gaps", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_kb_search_gaps_day_audience_normalized"), type_="unique"
        )
        batch_op.drop_column("searches")
        batch_op.drop_column("day")
