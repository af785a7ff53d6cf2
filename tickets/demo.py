"""Demo tickets across channels and states, delivered through the inbox like real ones."""

from __future__ import annotations

from sqlalchemy import select, update

from tickets.actions import Actor, add_message, update_ticket
from tickets.inbox import receive
from tickets.macros import create_macro
from tickets.models import OutboxMessage, Ticket
from tickets.queues import create_queue
from tresen.inbound import InboundMessage
from tresen.models import User
from tresen.runtime import Runtime

MESSAGES = (
    # channel, sender kind, sender, name, subject, text, (state, queue, assignee email, reply)
    (
        "email",
        "email",
        "jonas.mueller@mueller-maschinenbau.example",
        "Jonas Müller",
        "Rechnung 2026-1147 doppelt abgebucht",
        "Guten Tag,\n\nder Betrag der Rechnung 2026-1147 wurde zweimal abgebucht. "
        "Bitte erstatten Sie die doppelte Zahlung.\n\nMit freundlichen Grüßen\nJonas Müller",
        (
            "open",
            "Billing",
            "agent@demo.tresen.test",
            "Guten Tag Herr Müller, wir prüfen die Buchung und melden uns heute noch.",
        ),
    ),
    (
        "whatsapp",
        "whatsapp",
        "+49 151 2345678",
        "Petra Schneider",
        None,
        "Hallo, die Lieferung für Auftrag 5531 ist noch nicht angekommen. Können Sie nachsehen?",
        (
            "pending",
            "Support",
            "lena@demo.tresen.test",
            "Hallo Frau Schneider, die Sendung ist unterwegs; Zustellung morgen. Passt das?",
        ),
    ),
    (
        "email",
        "email",
        "emma.wilson@nordlicht-reisen.example",
        "Emma Wilson",
        "Cannot log in to the booking portal",
        "Hi, since this morning none of our team can log in to the booking portal. "
        "We get 'session expired' right after entering the password.",
        None,
    ),
    (
        "telegram",
        "telegram",
        "emmaw",
        "Emma Wilson",
        None,
        "Any news on the login problem? Our agents are blocked.",
        None,
    ),
    (
        "chat",
        "chat",
        "visitor-7f3a",
        "Lukas Becker",
        None,
        "Wie kann ich meine Lieferadresse ändern?",
        (
            "solved",
            "Support",
            "agent@demo.tresen.test",
            "Unter Konto → Adressen können Sie die Lieferadresse jederzeit ändern.",
        ),
    ),
    (
        "sms",
        "phone",
        "030 98765432",
        "Lukas Becker",
        None,
        "Bitte rufen Sie mich wegen meiner Reklamation zurück.",
        None,
    ),
    (
        "email",
        "email",
        "new.customer@startup.example",
        "Mia Hoffmann",
        "Angebot für 25 Lizenzen",
        "Hallo, wir interessieren uns für 25 Lizenzen. Gibt es Mengenrabatt?",
        None,
    ),
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


async def seed(runtime: Runtime) -> None:
    async with runtime.transaction() as tx:
        queues = {name: await create_queue(tx, name=name) for name in ("Support", "Billing")}
        for name, body, changes in MACROS:
            await create_macro(
                tx, name=name, body=body, internal=name.endswith("(note)"), actions=changes
            )
    for index, (channel, kind, sender, name, subject, text, work) in enumerate(MESSAGES):
        received = await receive(
            runtime,
            InboundMessage.model_validate(
                {
                    "channel": channel,
                    "external_id": f"demo-{index}",
                    "from": {"kind": kind, "value": sender, "name": name},
                    "subject": subject,
                    "text": text,
                }
            ),
        )
        if work is None:
            continue
        state, queue, assignee_email, reply = work
        async with runtime.transaction() as tx:
            agent = await tx.session.scalar(select(User).where(User.email == assignee_email))
            ticket = await tx.session.get(Ticket, received.ticket_id)
            actor = Actor(user_id=agent.id)
            await update_ticket(
                tx, ticket, {"queue_id": queues[queue].id, "assignee_id": agent.id}, actor
            )
            # The demo's replies are history, on channels that may not send here.
            await add_message(
                tx, ticket, direction="outbound", text=reply, actor=actor, delivered=True
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
    async with runtime.transaction() as tx:
        # The demo's replies are history: shown as delivered, never sent to anyone.
        await tx.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "queued")
            .values(status="sent", sent_at=tx.now(), next_attempt_at=None)
        )
