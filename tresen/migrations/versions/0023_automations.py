"""automations: triggers, time-based automations and the tickets each acted on

Carries its own SQL: imports nothing of today's code but the column type. Seeds two
switched-off examples of time-based automations.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 10:30:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import tresen.database

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

Moment = tresen.database.UTCDateTime

REMINDER_EN = (
    "Hello {{customer.first_name}},\n\nwe are still waiting for your answer on ticket"
    " #{{ticket.number}} ({{ticket.subject}}). Just reply to this message and we will"
    " carry on.\n"
)
REMINDER_DE = (
    "Hallo {{customer.first_name}},\n\nwir warten noch auf Ihre Antwort zu Ticket"
    " #{{ticket.number}} ({{ticket.subject}}). Antworten Sie einfach auf diese Nachricht,"
    " dann machen wir weiter.\n"
)


def _common() -> list:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    ]


def _tail(table: str) -> list:
    return [
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_run_at", Moment(timezone=True), nullable=True),
        sa.Column("created_at", Moment(timezone=True), nullable=False),
        sa.Column("updated_at", Moment(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "triggers",
        *_common(),
        sa.Column("events", sa.JSON(), nullable=False),
        *_tail("triggers"),
    )
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triggers_position"), ["position"], unique=False)
    automations = op.create_table("automations", *_common(), *_tail("automations"))
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_automations_position"), ["position"], unique=False)
    op.create_table(
        "automation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.String(length=200), nullable=False),
        sa.Column("ran_at", Moment(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_runs_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_automation_runs_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint(
            "automation_id",
            "ticket_id",
            "episode",
            name=op.f("uq_automation_runs_automation_id_ticket_id_episode"),
        ),
    )
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_automation_runs_automation_id"), ["automation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_automation_runs_ticket_id"), ["ticket_id"], unique=False
        )
    now = datetime.now(UTC)
    pending = {"field": "state", "operator": "is", "value": "pending"}
    op.bulk_insert(
        automations,
        [
            {
                "position": 1,
                "name": "Pending 7 days → remind the customer",
                "active": False,
                "conditions": [
                    pending,
                    {"field": "hours_in_state", "operator": "at_least", "value": 168},
                ],
                "actions": {"message": {"en": REMINDER_EN, "de": REMINDER_DE}},
                "runs": 0,
                "created_at": now,
                "updated_at": now,
            },
            {
                "position": 2,
                "name": "3 days later → close",
                "active": False,
                "conditions": [
                    pending,
                    {"field": "hours_in_state", "operator": "at_least", "value": 240},
                ],
                "actions": {"state": "closed"},
                "runs": 0,
                "created_at": now,
                "updated_at": now,
            },
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_runs_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_automation_runs_automation_id"))
    op.drop_table("automation_runs")
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automations_position"))
    op.drop_table("automations")
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triggers_position"))
    op.drop_table("triggers")
