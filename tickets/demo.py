"""Demo tickets: queues and macros (`seed`), then messages on channels without a mailbox of
their own here, a phone call noted by hand, and the agents' work on a few tickets (`arrive`).

Everything arrives through the inbox like real messages (the mails in channels/email/demo.py,
the chat in channels/chat/demo.py, the portal's request in channels/portal/demo.py), so
routing decides each ticket by the rules; `arrive` runs after all of them.
"""

from __future__ import annotations

from sqlalchemy import select

from customers.models import Identity
from tickets.actions import Actor, TicketError, add_message, reply, update_ticket
from tickets.inbox import receive
from tickets.macros import create_macro
from tickets.manual import CALL, open_by_hand
from tickets.models import InboundRecord, Queue, Ticket
from tickets.queues import create_queue
from tresen.demo_clock import minutes_ago
from tresen.inbound import InboundMessage
from tresen.models import User

AGENT = "agent@demo.tresen.test"

MESSAGES = (
    # minutes ago, channel, sender kind, sender, name, text
    (240, "whatsapp", "whatsapp", "+49 151 2345678", "Petra Schneider",
     "Hallo, die Lieferung für Auftrag 5531 ist noch nicht angekommen. Können Sie nachsehen?"),
    (15, "telegram", "telegram", "emmaw", "Emma Wilson",
     "Any news on the login problem? Our agents are blocked."),
    (60, "sms", "phone", "030 98765432", "Lukas Becker",
     "Bitte rufen Sie mich wegen meiner Reklamation zurück."),
)  # fmt: skip

WORK = (
    # the ticket (its subject, or the external id its first message came with), the state it
    # is left in, the agent's reply (None: none)
    ("Angebot für 25 Lizenzen", "open",
     "Hallo Frau Hoffmann,\n\nab 20 Lizenzen gewähren wir 10 % Rabatt. Ich schicke Ihnen gern "
     "ein Angebot; wie viele Administratoren brauchen Sie?"),
    ("demo-0", "pending",
     "Hallo Frau Schneider, die Sendung ist unterwegs; Zustellung morgen. Passt das?"),
    ("Lieferschein fehlt", "solved",
     "Hallo Frau Schneider,\n\nanbei der Lieferschein als PDF; wir legen ihn künftig wieder bei."),
)  # fmt: skip

CALL_NOTE = (
    "Herr Becker rief an: Reklamation zu Auftrag 7781 (Gehäuse gerissen). Ersatzgerät "
    "zugesagt, Abholung des defekten Geräts am Freitag."
)

MACROS = (
    (
        "Rückerstattung zugesagt",
        "Hallo {{customer.first_name}},\n\nIhre Rückerstattung zu Ticket #{{ticket.number}} ist "
        "veranlasst; das Geld ist in 3–5 Werktagen auf Ihrem Konto.\n\nViele Grüße\n"
        "{{agent.first_name}}",
        {"state": "pending", "add_tags": ["refund"]},
    ),
    (
        "Password reset link",
        "Hello {{customer.first_name}},\n\nyou can set a new password here: "
        "https://example.com/reset\n\nBest regards\n{{agent.first_name}}",
        {"state": "solved"},
    ),
    ("Escalate to billing (note)", "Billing, please check this one.", {"priority": "high"}),
)


async def seed(runtime) -> None:
    async with runtime.transaction() as tx:
        for name in ("Support", "Billing"):
            await create_queue(tx, name=name)
        for name, body, changes in MACROS:
            await create_macro(
                tx, name=name, body=body, internal=name.endswith("(note)"), actions=changes
            )


async def arrive(runtime) -> None:
    for index, (minutes, channel, kind, sender, name, text) in enumerate(MESSAGES):
        async with minutes_ago(runtime, minutes):
            await receive(
                runtime,
                InboundMessage.model_validate(
                    {
                        "channel": channel,
                        "external_id": f"demo-{index}",
                        "from": {"kind": kind, "value": sender, "name": name},
                        "text": text,
                    }
                ),
            )
    async with runtime.transaction() as tx:
        agent = await tx.session.scalar(select(User).where(User.email == AGENT))
        customer_id = await tx.session.scalar(
            select(Identity.customer_id).where(Identity.value == "lukas.becker@mail.example")
        )
        support = await tx.session.scalar(select(Queue.id).where(Queue.name == "Support"))
        await open_by_hand(
            tx,
            kind=CALL,
            customer_id=customer_id,
            subject="Rückruf: Reklamation Auftrag 7781",
            text=CALL_NOTE,
            actor=Actor(user_id=agent.id),
            queue_id=support,
        )
    for key, state, text in WORK:
        await _work(runtime, key, state, text)


async def _work(runtime, key: str, state: str, text: str) -> None:
    """An agent answers the ticket (as the console's composer does) and sets its state."""
    async with runtime.transaction() as tx:
        ticket_id = await tx.session.scalar(
            select(Ticket.id).where(Ticket.subject == key)
        ) or await tx.session.scalar(
            select(InboundRecord.ticket_id).where(InboundRecord.external_id == key)
        )
        ticket = await tx.session.get(Ticket, ticket_id)
        agent_id = ticket.assignee_id or await tx.session.scalar(
            select(User.id).where(User.email == AGENT)
        )
        actor = Actor(user_id=agent_id)
        try:
            await reply(tx, ticket, actor, text=text)
        except TicketError:
            # Nothing here sends on this channel: the reply is the conversation's history.
            await add_message(
                tx, ticket, direction="outbound", text=text, actor=actor, delivered=True
            )
        await add_message(
            tx,
            ticket,
            direction="outbound",
            internal=True,
            actor=actor,
            text="Demo note: only agents see internal notes.",
        )
        await update_ticket(tx, ticket, {"state": state}, actor)
