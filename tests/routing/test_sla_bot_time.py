"""Time a conversation spent with the bot is nobody's to answer: every SLA clock runs from
the handoff (routing.sla pauses them in the state "bot")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.sla import Post, SlaPolicy, ticket_clocks

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
POLICY = SlaPolicy(
    "Chat",
    targets={"normal": {"first_response": timedelta(minutes=60), "resolution": timedelta(hours=8)}},
)


def clocks(states, now):
    posts = [Post(T0, True, False)]
    found = ticket_clocks(POLICY, "normal", created_at=T0, states=states, posts=posts, now=now)
    return {clock.target: clock for clock in found}


def test_the_clocks_count_from_the_handoff():
    handoff = T0 + timedelta(minutes=30)
    found = clocks([(T0, "new"), (T0, "bot"), (handoff, "new")], handoff + timedelta(minutes=5))
    assert found["first_response"].due_at == handoff + timedelta(minutes=60)
    assert found["resolution"].due_at == handoff + timedelta(hours=8)
    assert found["first_response"].elapsed == timedelta(minutes=5)


def test_while_the_bot_has_it_the_clocks_stand_still():
    found = clocks([(T0, "new"), (T0, "bot")], T0 + timedelta(hours=3))
    assert found["first_response"].paused and found["first_response"].elapsed == timedelta(0)
