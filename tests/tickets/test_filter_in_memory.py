"""The list filter in memory (queries.matches, sort_key) agrees with the SQL filter on random
tickets, and the grouped counts agree with counting each filter by itself."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from customers.models import Customer, Organization
from tickets import queries
from tickets.models import PRIORITIES, STATES, Queue, Ticket, TicketTag
from tickets.queries import SLA_FILTERS, SORTS, TicketFilter
from tickets.states import OPEN_STATES
from tresen.models import User

TICKETS = 200
FILTERS = 150
CHANNELS = ("email", "chat", "sms")
TAGS = ("refund", "vip", "printer")


async def _random_desk(runtime, rng: random.Random):
    now = runtime.clock.now()
    async with runtime.transaction() as tx:
        session = tx.session
        organizations = [Organization(name=f"Org {n}", created_at=now) for n in range(3)]
        queues = [Queue(name=f"Queue {n}") for n in range(3)]
        users = [
            User(email=f"a{n}@example.com", name=f"Agent {n}", role="agent", created_at=now)
            for n in range(3)
        ]
        session.add_all([*organizations, *queues, *users])
        await session.flush()
        customers = [
            Customer(
                name=f"Kunde {n}",
                organization_id=rng.choice([None, *(o.id for o in organizations)]),
                created_at=now,
                updated_at=now,
            )
            for n in range(8)
        ]
        session.add_all(customers)
        await session.flush()
        for n in range(TICKETS):
            due = rng.choice([None, now - timedelta(hours=2), now + timedelta(hours=3)])
            warn = None if due is None else rng.choice([None, due - timedelta(hours=4)])
            created = now - timedelta(minutes=rng.randrange(10_000))
            ticket = Ticket(
                number=10_000 + n,
                subject=f"Anfrage {n}",
                state=rng.choice(STATES),
                priority=rng.choice(PRIORITIES),
                channel=rng.choice(CHANNELS),
                customer_id=rng.choice(customers).id,
                queue_id=rng.choice([None, *(q.id for q in queues)]),
                assignee_id=rng.choice([None, *(u.id for u in users)]),
                created_at=created,
                # Ties on purpose: the id breaks them, in SQL and in memory alike.
                updated_at=created + timedelta(minutes=rng.randrange(3) * 10),
                sla_due_at=due,
                sla_warn_at=warn,
            )
            ticket.tag_rows = [TicketTag(tag=t) for t in rng.sample(TAGS, rng.randrange(3))]
            session.add(ticket)
    return now, organizations, queues, users, customers


def _random_filter(rng: random.Random, organizations, queues, users, customers) -> TicketFilter:
    def maybe(choices):
        return rng.choice([None, None, *choices])

    assignee = rng.choice(["any", "any", "none", *(u.id for u in users)])
    return TicketFilter(
        state=rng.choice([None, list(OPEN_STATES), [rng.choice(STATES)]]),
        queue_id=maybe([q.id for q in queues]),
        assignee_id=assignee if isinstance(assignee, int) else None,
        unassigned=assignee == "none",
        customer_id=maybe([c.id for c in customers]) if rng.random() < 0.2 else None,
        organization_id=maybe([o.id for o in organizations]),
        channel=maybe(CHANNELS),
        tag=maybe(TAGS),
        priority=rng.choice([None, rng.sample(PRIORITIES, 2)]),
        sla=maybe(SLA_FILTERS),
        sort=rng.choice(SORTS),
    )


async def test_the_filter_in_memory_finds_what_the_sql_finds(runtime):
    rng = random.Random(13)
    now, organizations, queues, users, customers = await _random_desk(runtime, rng)
    async with runtime.read() as session:
        tickets = list(
            (await session.scalars(select(Ticket).options(joinedload(Ticket.tag_rows)))).unique()
        )
        checked_rows = 0
        for _ in range(FILTERS):
            filters = _random_filter(rng, organizations, queues, users, customers)
            in_sql = set(await session.scalars(queries.filtered(select(Ticket.id), filters, now)))
            in_memory = {t.id for t in tickets if queries.matches(t, filters, now)}
            assert in_memory == in_sql, filters
            checked_rows += len(in_sql)
            # The page's order in memory is the page's order in SQL.
            page, _next = await queries.list_tickets(session, filters, limit=40, now=now)
            mine = sorted(
                (t for t in tickets if t.id in in_sql),
                key=lambda t: queries.sort_key(t, filters.sort),
            )
            assert [t.id for t in mine[:40]] == [t.id for t in page], filters.sort
        assert checked_rows > FILTERS  # the filters found something, not only nothing


async def test_shared_counts_equal_counting_each_filter(runtime):
    rng = random.Random(7)
    now, organizations, queues, users, customers = await _random_desk(runtime, rng)
    filters = [_random_filter(rng, organizations, queues, users, customers) for _ in range(60)]
    # The built-in views' shapes, which the grouped query answers.
    filters += [
        TicketFilter(state=list(OPEN_STATES), assignee_id=users[0].id, sort="sla"),
        TicketFilter(state=list(OPEN_STATES), unassigned=True),
        TicketFilter(state=list(OPEN_STATES), sla="at_risk"),
        TicketFilter(state=list(OPEN_STATES), sla="breached"),
        TicketFilter(state=["pending"]),
        TicketFilter(state=list(OPEN_STATES), queue_id=queues[1].id),
    ]
    async with runtime.read() as session:
        shared = await queries.count_tickets_shared(session, filters, now)
        one_by_one = await queries.count_tickets(session, filters, now)
    assert [shared[queries.filter_key(f)] for f in filters] == one_by_one
    assert len(set(one_by_one)) > 5
