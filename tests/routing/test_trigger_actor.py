"""A trigger's own changes on a ticket name the trigger on its timeline ("Trigger «name»
changed the priority ..."), not "the desk"; a person's changes still name the person."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from routing.automation_models import Trigger
from routing.triggers import TRIGGER_FIELDS, run_actors, save
from tests.fixtures import sign_in
from tickets.actions import Actor, update_ticket
from tickets.inbox import receive
from tickets.queries import get_ticket
from tresen.handlers import run_due
from tresen.inbound import InboundMessage


def mail(external_id: str, text: str) -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "channel": "email",
            "external_id": external_id,
            "from": {"kind": "email", "value": "kim@example.com", "name": "Kim Meyer"},
            "subject": "Printer",
            "text": text,
        }
    )


async def test_a_triggers_changes_name_the_trigger_on_the_timeline(runtime, client, agent):
    async with runtime.transaction() as tx:
        await save(
            tx,
            Trigger,
            None,
            {
                "name": "Urgent words",
                "events": ["inbound"],
                "conditions": [{"field": "text", "operator": "contains", "value": ["urgent"]}],
                "actions": {"priority": "high", "add_tags": ["urgent"]},
            },
            fields=TRIGGER_FIELDS,
        )
    ticket_id = (await receive(runtime, mail("a1", "This is urgent: no printing."))).ticket_id
    await run_due(runtime)
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, ticket_id)
        await update_ticket(tx, ticket, {"state": "pending"}, Actor(user_id=agent.id))
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200
    text = page.text
    assert "Trigger «Urgent words» changed the priority from" in text
    assert "Trigger «Urgent words» set the tags to urgent" in text
    assert "The desk changed the priority" not in text
    assert "Anna Agent changed the state from" in text  # a person is still named


def row(row_id, field, at, user=None, customer=None, old=None):
    return SimpleNamespace(
        id=row_id,
        field=field,
        at=at,
        actor_user_id=user,
        actor_customer_id=customer,
        old_value=old,
    )


def test_a_runs_changes_are_the_system_rows_of_its_instant_after_it():
    one = datetime(2026, 12, 3, 10, tzinfo=UTC)
    two = datetime(2026, 12, 3, 11, tzinfo=UTC)
    rows = [
        row(1, "priority", one),  # routing at creation: the desk
        row(2, "automation", one, old="Remind"),
        row(3, "state", one),
        row(4, "tags", one, user=7),  # a person in the same instant: theirs
        row(5, "trigger", two, old="Tag it"),
        row(6, "tags", two),
        row(7, "trigger", two, old="Then this"),
        row(8, "queue_id", two),
        row(9, "state", datetime(2026, 12, 3, 12, tzinfo=UTC)),  # later: the desk
    ]
    assert run_actors(rows) == {
        3: ("automation", "Remind"),
        6: ("trigger", "Tag it"),
        8: ("trigger", "Then this"),
    }
