"""Triggers: they act on a ticket's messages and changes, write each run on the ticket, and
never loop (each trigger at most once per chain; their own changes start no chain)."""

from __future__ import annotations

from sqlalchemy import func, select

from routing.automation_models import Trigger
from routing.triggers import TRIGGER_FIELDS, AutomationError, save
from tickets.actions import Actor, update_ticket
from tickets.inbox import receive
from tickets.models import Message, Ticket, TicketHistory
from tickets.queries import get_ticket
from tickets.replies import reply
from tresen.desk_settings import put_setting
from tresen.handlers import run_due
from tresen.inbound import InboundMessage
from tresen.models import EventJob, Notification


def mail(
    external_id: str, text: str = "My printer does not print.", subject: str = "Printer"
) -> InboundMessage:
    return InboundMessage.model_validate(
        {
            "channel": "email",
            "external_id": external_id,
            "from": {"kind": "email", "value": "kim@example.com"},
            "subject": subject,
            "text": text,
        }
    )


async def make_trigger(runtime, name, events, conditions, actions) -> int:
    async with runtime.transaction() as tx:
        row = await save(
            tx,
            Trigger,
            None,
            {"name": name, "events": events, "conditions": conditions, "actions": actions},
            fields=TRIGGER_FIELDS,
        )
        return row.id


async def ticket_of(runtime, ticket_id):
    async with runtime.read() as session:
        return await get_ticket(session, ticket_id)


async def runs_on(runtime, ticket_id) -> list[tuple[str, str]]:
    async with runtime.read() as session:
        rows = await session.execute(
            select(TicketHistory.old_value, TicketHistory.new_value)
            .where(TicketHistory.ticket_id == ticket_id, TicketHistory.field == "trigger")
            .order_by(TicketHistory.id)
        )
        return [tuple(row) for row in rows]


async def change(runtime, ticket_id, changes, user_id):
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, ticket_id)
        await update_ticket(tx, ticket, changes, Actor(user_id=user_id))


async def test_a_keyword_in_a_reply_tags_the_ticket_and_the_run_is_on_the_ticket(runtime, agent):
    await make_trigger(
        runtime,
        "Refunds",
        ["reply"],
        [{"field": "text", "operator": "contains", "value": ["refund"]}],
        {"add_tags": ["refund"]},
    )
    ticket_id = (await receive(runtime, mail("t1"))).ticket_id
    await run_due(runtime)
    assert (await ticket_of(runtime, ticket_id)).tags == []  # a customer's mail: not a reply
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, ticket_id)
        await reply(tx, ticket, Actor(user_id=agent.id), text="We sent the Refund today.")
    await run_due(runtime)
    assert (await ticket_of(runtime, ticket_id)).tags == ["refund"]
    assert await runs_on(runtime, ticket_id) == [("Refunds", "+refund")]


async def test_a_trigger_does_not_fire_on_its_own_change(runtime, agent):
    trigger_id = await make_trigger(
        runtime, "Touch", ["update"], [], {"add_tags": ["touched"], "priority": "high"}
    )
    ticket_id = (await receive(runtime, mail("t2"))).ticket_id
    await run_due(runtime)
    runs_before = len(await runs_on(runtime, ticket_id))  # routing's changes at creation
    await change(runtime, ticket_id, {"state": "pending"}, agent.id)
    await run_due(runtime)
    async with runtime.read() as session:
        pending = await session.scalar(
            select(func.count()).select_from(EventJob).where(EventJob.status == "pending")
        )
        runs = await session.scalar(select(Trigger.runs).where(Trigger.id == trigger_id))
    assert pending == 0
    assert len(await runs_on(runtime, ticket_id)) == runs_before + 1
    assert runs == runs_before + 1
    ticket = await ticket_of(runtime, ticket_id)
    assert ticket.tags == ["touched"] and ticket.priority == "high"
    # A person's next change is a chain of its own: the trigger runs once more.
    await change(runtime, ticket_id, {"state": "open"}, agent.id)
    await run_due(runtime)
    assert len(await runs_on(runtime, ticket_id)) == runs_before + 2


async def test_triggers_react_to_each_other_once_and_stop(runtime, agent):
    await make_trigger(
        runtime,
        "Urgent words",
        ["inbound"],
        [{"field": "text", "operator": "contains", "value": ["urgent"]}],
        {"priority": "urgent"},
    )
    await make_trigger(
        runtime,
        "Escalate urgent",
        ["update"],
        [
            {"field": "changed", "operator": "contains", "value": ["priority"]},
            {"field": "priority", "operator": "is", "value": "urgent"},
        ],
        {"add_tags": ["escalated"], "remove_tags": ["calm"]},
    )
    # Two triggers undoing each other: each acts once in a chain, and the chain ends.
    await make_trigger(
        runtime,
        "Calm",
        ["update"],
        [{"field": "tags", "operator": "contains", "value": ["escalated"]}],
        {"add_tags": ["calm"], "remove_tags": ["storm"]},
    )
    await make_trigger(
        runtime,
        "Storm",
        ["update"],
        [{"field": "tags", "operator": "contains", "value": ["calm"]}],
        {"add_tags": ["storm"], "remove_tags": ["calm"]},
    )
    ticket_id = (await receive(runtime, mail("t3", "This is urgent, please!"))).ticket_id
    await run_due(runtime)
    names = [name for name, _ in await runs_on(runtime, ticket_id)]
    assert names == ["Urgent words", "Escalate urgent", "Calm", "Storm"]
    ticket = await ticket_of(runtime, ticket_id)
    assert ticket.priority == "urgent"
    assert ticket.tags == ["escalated", "storm"]
    async with runtime.read() as session:
        left = await session.scalar(
            select(func.count()).select_from(EventJob).where(EventJob.status != "done")
        )
    assert left == 0


async def test_a_trigger_answers_with_a_message_in_the_customers_language(runtime):
    await make_trigger(
        runtime,
        "Thanks",
        ["inbound"],
        [{"field": "subject", "operator": "matches", "value": "print"}],
        {"message": {"en": "Hello {{customer.name}}, thanks!", "de": "Hallo!"}},
    )
    ticket_id = (await receive(runtime, mail("t4"))).ticket_id
    await run_due(runtime)
    async with runtime.read() as session:
        texts = (
            await session.scalars(
                select(Message.text).where(
                    Message.ticket_id == ticket_id, Message.direction == "outbound"
                )
            )
        ).all()
    assert any(text.startswith("Hello") and "thanks!" in text for text in texts)
    assert [name for name, _ in await runs_on(runtime, ticket_id)] == ["Thanks"]


async def test_wrong_triggers_are_refused_with_the_reason(runtime):
    async with runtime.transaction() as tx:
        for values, field in [
            ({"name": "", "events": ["reply"], "actions": {"priority": "high"}}, "name"),
            ({"name": "x", "events": [], "actions": {"priority": "high"}}, "events"),
            ({"name": "x", "events": ["reply"], "actions": {}}, "actions"),
            ({"name": "x", "events": ["reply"], "actions": {"state": "bot"}}, "state"),
            (
                {
                    "name": "x",
                    "events": ["reply"],
                    "conditions": [{"field": "text", "operator": "matches", "value": "(a"}],
                    "actions": {"priority": "high"},
                },
                "conditions",
            ),
        ]:
            try:
                await save(tx, Trigger, None, values, fields=TRIGGER_FIELDS)
            except AutomationError as error:
                assert error.field == field, (values, error)
            else:
                raise AssertionError(f"saved {values}")


async def test_a_reply_assigns_an_unassigned_ticket_to_the_replier_unless_switched_off(
    runtime, agent
):
    first = (await receive(runtime, mail("t5"))).ticket_id
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, first)
        assert ticket.assignee_id is None
        await reply(tx, ticket, Actor(user_id=agent.id), text="Looking into it.")
    assert (await ticket_of(runtime, first)).assignee_id == agent.id
    async with runtime.transaction() as tx:
        await put_setting(tx, "assign_on_reply", False)
    second = (await receive(runtime, mail("t6", "Another one", "Scanner"))).ticket_id
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, second)
        await reply(tx, ticket, Actor(user_id=agent.id), text="Note", internal=False)
    async with runtime.read() as session:
        assert await session.scalar(select(Ticket.assignee_id).where(Ticket.id == second)) is None


async def test_a_note_can_notify_the_assignee(runtime, agent):
    await make_trigger(
        runtime,
        "Escalation note",
        ["note"],
        [{"field": "text", "operator": "matches", "value": r"\bescalat"}],
        {"notify": "assignee"},
    )
    ticket_id = (await receive(runtime, mail("t7"))).ticket_id
    await change(runtime, ticket_id, {"assignee_id": agent.id}, agent.id)
    async with runtime.transaction() as tx:
        ticket = await get_ticket(tx.session, ticket_id)
        await reply(
            tx, ticket, Actor(user_id=agent.id), text="Please escalate this.", internal=True
        )
    await run_due(runtime)
    async with runtime.read() as session:
        kinds = list(
            await session.scalars(select(Notification.kind).where(Notification.user_id == agent.id))
        )
    assert "automation.notify" in kinds
    assert await runs_on(runtime, ticket_id) == [("Escalation note", "notified 1")]
