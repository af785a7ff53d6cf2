"""The rules preview and the inbox's engine judge a message by the same facts (routing.facts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from customers.actions import create_customer, create_organization
from routing.actions import create_calendar, create_rule
from routing.facts import facts_for
from routing.models import RoutingDecision, RoutingRule
from routing.status import preview
from tickets.inbox import receive
from tresen.clock import FrozenClock
from tresen.inbound import InboundMessage

MONDAY_MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
MONDAY_NIGHT = MONDAY_MORNING + timedelta(hours=12)

GERMAN = (
    "Seit heute druckt unser Drucker nicht mehr, und die Rechnung vom März ist auch falsch. "
    "Bitte helfen Sie uns schnell."
)
ENGLISH = "Our printer stopped working this morning and nobody here knows why. Please help us."


async def desk(runtime) -> int:
    """Rules on every fact routing has, a default calendar, and a premium customer of ACME."""
    async with runtime.transaction() as tx:
        await create_calendar(
            tx,
            name="Office",
            weekly={str(day): [["09:00", "17:00"]] for day in range(5)},
            is_default=True,
        )
        acme = await create_organization(tx, name="ACME")
        await create_customer(
            tx,
            name="Kim Meyer",
            identities=[("email", "kim@acme.example")],
            organization_id=acme.id,
            tier="premium",
        )
        rules = {
            "email": [("channel", "is", "email")],
            "sms": [("channel", "is", "sms")],
            "billing account": [("account", "matches", r"^billing@")],
            "german": [("language", "is", "de")],
            "english": [("language", "in", ["en"])],
            "printer subject": [("subject", "contains", ["drucker", "printer"])],
            "invoice in text": [("text", "contains", "rechnung")],
            "premium": [("tier", "is", "premium")],
            "acme": [("organization_id", "is", acme.id)],
            "after hours": [("business_hours", "is", False)],
            "no intent": [("intent_confidence", "at_most", 0.5)],
        }
        for name, conditions in rules.items():
            await create_rule(
                tx,
                name=name,
                conditions=[{"field": f, "operator": o, "value": v} for f, o, v in conditions],
                actions={"tags": [name.replace(" ", "-")]},
            )
        # Stored before a check existed: the engine skips it, and so must the preview.
        tx.session.add(
            RoutingRule(
                position=99,
                name="broken",
                active=True,
                conditions=[{"field": "mood", "operator": "is", "value": "angry"}],
                actions={"tags": ["broken"]},
                created_at=tx.now(),
                updated_at=tx.now(),
            )
        )
        return acme.id


CASES = {
    "German invoice mail from ACME at night": dict(
        now=MONDAY_NIGHT,
        sender="kim@acme.example",
        to="billing@tresen.test",
        subject="Drucker und Rechnung",
        text=GERMAN,
        expected=[
            "email",
            "billing account",
            "german",
            "printer subject",
            "invoice in text",
            "premium",
            "acme",
            "after hours",
            "no intent",
        ],
    ),
    "English mail from a stranger in office hours": dict(
        now=MONDAY_MORNING,
        sender="someone@example.org",
        to="support@tresen.test",
        subject="Printer broken",
        text=ENGLISH,
        expected=["email", "english", "printer subject", "no intent"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_the_preview_matches_what_the_engine_decided(runtime, case):
    message = CASES[case]
    runtime.clock = FrozenClock(message["now"])
    acme = await desk(runtime)
    received = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "email",
                "external_id": "<facts-1@example.org>",
                "from": {"kind": "email", "value": message["sender"]},
                "to": message["to"],
                "subject": message["subject"],
                "text": message["text"],
            }
        ),
    )
    async with runtime.read() as session:
        decided = await session.scalar(
            select(RoutingDecision).where(RoutingDecision.ticket_id == received.ticket_id)
        )
        customer = message["sender"] == "kim@acme.example"
        previewed = await preview(
            session,
            runtime.settings,
            channel="email",
            account=message["to"],
            subject=message["subject"],
            text=message["text"],
            tier="premium" if customer else "standard",
            organization_id=acme if customer else None,
            now=runtime.clock.now(),
        )
    assert decided.matched_rules == message["expected"]
    assert previewed["matched_rules"] == decided.matched_rules
    assert previewed["language"] == decided.language
    assert previewed["intent"] == decided.intent
    assert decided.intent is None  # no intent model on this desk
    assert previewed["business_hours"] is (message["now"] == MONDAY_MORNING)
    assert previewed["decision"]["tags"] == decided.tags


def test_rules_read_the_new_part_of_a_mail_and_an_unknown_sender_is_a_standard_customer(
    settings,
):
    facts = facts_for(
        settings,
        channel="email",
        account=None,
        subject=None,
        text="Danke, geht wieder.\n\n> Am Montag schrieb Anna: Ihre Rechnung ...",
        visible_text="Danke, geht wieder.",
        customer=None,
        calendar=None,
        now=MONDAY_NIGHT,
    )
    assert facts.text == "Danke, geht wieder."
    assert facts.subject == ""
    assert (facts.tier, facts.organization_id) == ("standard", None)
    assert facts.business_hours is True  # no calendar: always open
