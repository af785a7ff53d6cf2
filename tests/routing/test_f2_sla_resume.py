"""After a resume (the bot solved the question, the customer wrote again days later, the bot
had it again, then handed off) the response clocks run from that handoff: the days the
ticket stood solved are nobody's wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.sla import Post, SlaPolicy, ticket_clocks

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
POLICY = SlaPolicy(
    "Chat",
    targets={
        "normal": {"first_response": timedelta(minutes=60), "next_response": timedelta(minutes=30)}
    },
)
BACK = T0 + timedelta(days=2)  # the customer writes again
HANDOFF = BACK + timedelta(minutes=5)
STATES = [
    (T0, "new"),
    (T0, "bot"),
    (T0 + timedelta(minutes=10), "solved"),  # the customer said "yes"
    (BACK, "open"),
    (BACK, "bot"),
    (HANDOFF, "new"),
]


def clocks(posts, now, states=STATES):
    found = ticket_clocks(POLICY, "normal", created_at=T0, states=states, posts=posts, now=now)
    return {clock.target: clock for clock in found}


def test_the_first_response_runs_from_the_last_handoff_after_a_resume():
    posts = [Post(T0, True, False), Post(BACK, True, False)]
    found = clocks(posts, HANDOFF + timedelta(minutes=5))
    first = found["first_response"]
    assert first.started_at == HANDOFF
    assert first.elapsed == timedelta(minutes=5)
    assert first.due_at == HANDOFF + timedelta(minutes=60)


def test_the_reply_after_the_handoff_meets_it_in_time():
    reply = HANDOFF + timedelta(minutes=20)
    posts = [Post(T0, True, False), Post(BACK, True, False), Post(reply, False, True)]
    first = clocks(posts, reply + timedelta(minutes=1))["first_response"]
    assert first.met_at == reply and first.elapsed == timedelta(minutes=20)


def test_without_the_bot_the_clock_runs_from_creation_as_before():
    states = [(T0, "new"), (T0 + timedelta(minutes=10), "open")]
    posts = [Post(T0, True, False)]
    first = clocks(posts, T0 + timedelta(minutes=30), states)["first_response"]
    assert first.started_at == T0 and first.elapsed == timedelta(minutes=30)
