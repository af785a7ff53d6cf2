"""The agent's desk over HTTP: views and counts, bulk changes, merge/split/link, macros,
mentions, the customer 360 and its merge, search, languages; each as a plain form post."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from tests.fixtures import csrf_of, sign_in
from tickets.models import Message, Ticket
from tresen.accounts import create_user
from tresen.models import Notification, User


def inbound(n: int, subject: str, sender: str = "kunde@x.example", **extra) -> dict:
    return {
        "channel": "email",
        "external_id": f"<desk-{n}@x>",
        "from": {"kind": "email", "value": sender, "name": sender.split("@")[0].title()},
        "subject": subject,
        "text": f"Nachricht {n}: {subject}",
        **extra,
    }


async def deliver(client, headers, n, subject, **extra) -> dict:
    answer = await client.post(
        "/api/v1/inbound", json=inbound(n, subject, **extra), headers=headers
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="ticket-(\d+)"', html)]


def count_of(html: str, view: str) -> int:
    match = re.search(rf'data-view="{view}".*?data-count="(\d+)"', html, re.S)
    return int(match.group(1))


async def test_views_count_filter_sort_and_page_by_keyset(client, agent, agent_headers, runtime):
    made = [await deliver(client, agent_headers, n, f"Frage {n}") for n in range(5)]
    ids = [m["ticket_id"] for m in made]
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(Ticket)
            .where(Ticket.id == ids[1])
            .values(assignee_id=agent.id, priority="urgent")
        )
        now = runtime.clock.now()
        # One ticket breached its SLA, one is at risk (the columns routing keeps).
        await tx.session.execute(
            update(Ticket)
            .where(Ticket.id == ids[2])
            .values(sla_due_at=now - timedelta(minutes=5), sla_warn_at=now - timedelta(hours=1))
        )
        await tx.session.execute(
            update(Ticket)
            .where(Ticket.id == ids[3])
            .values(sla_due_at=now + timedelta(minutes=20), sla_warn_at=now - timedelta(minutes=1))
        )
    await sign_in(client)
    page = await client.get("/")
    assert page.status_code == 200
    assert count_of(page.text, "mine") == 1
    assert count_of(page.text, "unassigned") == 4
    assert count_of(page.text, "sla_breached") == 1
    assert count_of(page.text, "sla_risk") == 1
    assert row_ids((await client.get("/?view=mine")).text) == [ids[1]]
    assert row_ids((await client.get("/?view=sla_breached")).text) == [ids[2]]
    assert row_ids((await client.get("/?view=sla_risk")).text) == [ids[3]]
    # Sorted by SLA: due first (breached, then at risk), then those without a clock.
    by_sla = row_ids((await client.get("/?sort=sla")).text)
    assert by_sla[:2] == [ids[2], ids[3]] and sorted(by_sla) == sorted(ids)
    assert row_ids((await client.get("/?sort=priority")).text)[0] == ids[1]
    assert row_ids((await client.get("/?priority=urgent")).text) == [ids[1]]
    assert row_ids((await client.get("/?q=Frage+4")).text) == [ids[4]]
    # Keyset pages: two at a time in every sort, each ticket exactly once.
    for sort in ("updated", "sla", "priority", "created"):
        seen, cursor = [], None
        while True:
            answer = await client.get(
                "/api/v1/tickets",
                params={"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})},
                headers=agent_headers,
            )
            assert answer.status_code == 200, answer.text
            seen += [item["id"] for item in answer.json()["items"]]
            cursor = answer.json()["next"]
            if not cursor:
                break
        assert sorted(seen) == sorted(ids) and len(seen) == len(ids), sort
    bad = await client.get("/?sort=sideways")
    assert bad.status_code == 400 and "sideways" in bad.text
    assert (await client.get("/?view=saved-999")).status_code == 404


async def test_saved_view_is_the_agents_own(client, agent, agent_headers, runtime):
    first = await deliver(client, agent_headers, 10, "Rechnung")
    second = await deliver(client, agent_headers, 11, "Passwort")
    await sign_in(client)
    page = await client.get("/?q=Rechnung")
    saved = await client.post(
        "/views/save",
        data={"name": "Rechnungen", "q": "Rechnung", "csrf_token": csrf_of(page.text)},
    )
    assert saved.status_code == 303
    view_url = saved.headers["location"]
    listed = await client.get(view_url)
    assert "Rechnungen" in listed.text and row_ids(listed.text) == [first["ticket_id"]]
    view_id = view_url.rsplit("-", 1)[1]
    changed = await client.post(
        f"/views/{view_id}/update",
        data={"name": "Passwörter", "q": "Passwort", "csrf_token": csrf_of(page.text)},
    )
    assert changed.status_code == 303
    listed = await client.get(view_url)
    assert "Passwörter" in listed.text and row_ids(listed.text) == [second["ticket_id"]]
    shared = await client.post(
        "/views/save",
        data={"name": "Alle", "shared": "on", "csrf_token": csrf_of(page.text)},
    )
    assert shared.status_code == 403  # agents keep their views to themselves
    await create_user(
        runtime, email="other@example.com", name="Otto", role="agent", password="other-password"
    )
    client.cookies.clear()
    await sign_in(client, "other@example.com", "other-password")
    assert (await client.get(view_url)).status_code == 404


async def test_bulk_assign_state_tag_and_merge(client, agent, agent_headers, runtime):
    ids = [
        (await deliver(client, agent_headers, 20 + n, f"Bulk {n}"))["ticket_id"] for n in range(3)
    ]
    await sign_in(client)
    page = await client.get("/")
    token = csrf_of(page.text)
    changed = await client.post(
        "/tickets/bulk",
        data={
            "ids": ids[:2],
            "assignee_id": "me",
            "state": "pending",
            "tag": "VIP",
            "confirm": "yes",
            "csrf_token": token,
        },
    )
    assert changed.status_code == 303
    async with runtime.read() as session:
        rows = {t.id: t for t in (await session.scalars(select(Ticket))).unique()}
    for ticket_id in ids[:2]:
        assert rows[ticket_id].assignee_id == agent.id
        assert rows[ticket_id].state == "pending" and rows[ticket_id].tags == ["vip"]
    assert rows[ids[2]].assignee_id is None
    assert "2 tickets changed" in (await client.get("/")).text
    merged = await client.post(
        "/tickets/bulk",
        data={"ids": ids, "action": "merge", "confirm": "yes", "csrf_token": token},
    )
    assert merged.status_code == 303
    async with runtime.read() as session:
        target = await session.get(Ticket, ids[0])
        others = [await session.get(Ticket, i) for i in ids[1:]]
        moved = list(
            await session.scalars(select(Message.ticket_id).where(Message.ticket_id.in_(ids)))
        )
    assert all(o.merged_into_id == target.id and o.state == "closed" for o in others)
    assert moved == [target.id] * 3  # every message kept, now in the oldest ticket
    nothing = await client.post("/tickets/bulk", data={"ids": ids, "csrf_token": token})
    assert nothing.status_code == 400 and "choose" in nothing.text
    bad = await client.post(
        "/tickets/bulk", data={"ids": ["x"], "state": "open", "csrf_token": token}
    )
    assert bad.status_code == 400


async def test_merge_split_link_and_replies_to_a_merged_number(
    client, agent, agent_headers, runtime
):
    a = await deliver(client, agent_headers, 30, "Lieferung fehlt")
    b = await deliver(
        client, agent_headers, 31, "Lieferung immer noch nicht da", sender="kunde@x.example"
    )
    await sign_in(client)
    page = await client.get(f"/tickets/{b['ticket_id']}")
    token = csrf_of(page.text)
    answer = await client.post(
        f"/tickets/{b['ticket_id']}/merge",
        data={"into": f"#{a['ticket_number']}", "confirm": "yes", "csrf_token": token},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/tickets/{a['ticket_id']}"
    target = await client.get(f"/tickets/{a['ticket_id']}")
    assert "Lieferung immer noch nicht da" in target.text  # the conversation moved along
    assert f"merged ticket #{b['ticket_number']} into this one" in target.text
    # A reply quoting the old number lands in the ticket it was merged into.
    reply = await deliver(
        client, agent_headers, 32, f"Re: [#{b['ticket_number']}] Lieferung", text="Noch etwas"
    )
    assert reply["ticket_id"] == a["ticket_id"]
    again = await client.post(
        f"/tickets/{b['ticket_id']}/merge",
        data={"into": str(a["ticket_number"]), "confirm": "yes", "csrf_token": token},
    )
    assert again.status_code == 422 and "merged already" in again.text
    # Split the customer's later message off into a ticket of its own.
    split = await client.post(f"/messages/{reply['message_id']}/split", data={"csrf_token": token})
    assert split.status_code == 303
    new_id = int(split.headers["location"].rsplit("/", 1)[1])
    new_page = await client.get(f"/tickets/{new_id}")
    assert "Noch etwas" in new_page.text and f"#{a['ticket_number']}" in new_page.text  # linked
    async with runtime.read() as session:
        first = await session.scalar(
            select(Message.id).where(Message.ticket_id == a["ticket_id"]).order_by(Message.id)
        )
    refused = await client.post(f"/messages/{first}/split", data={"csrf_token": token})
    assert refused.status_code == 422
    c = await deliver(client, agent_headers, 33, "Andere Sache", sender="b@x.example")
    linked = await client.post(
        f"/tickets/{a['ticket_id']}/links", data={"number": c["ticket_number"], "csrf_token": token}
    )
    assert linked.status_code == 303
    assert "Andere Sache" in (await client.get(f"/tickets/{a['ticket_id']}")).text
    unknown = await client.post(
        f"/tickets/{a['ticket_id']}/links", data={"number": "999999", "csrf_token": token}
    )
    assert unknown.status_code == 404


async def test_macro_fills_placeholders_and_sets_fields(client, agent, agent_headers, runtime):
    made = await deliver(client, agent_headers, 40, "Rückerstattung", sender="karl.kunde@x.example")
    supervisor = await create_user(
        runtime,
        email="sup@example.com",
        name="Sina Super",
        role="supervisor",
        password="super-password",
    )
    await sign_in(client, supervisor.email, "super-password")
    page = await client.get("/macros")
    bad = await client.post(
        "/macros",
        data={
            "name": "Kaputt",
            "body": "Hallo {{customer.shoe_size}}",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert bad.status_code == 422 and "shoe_size" in bad.text
    created = await client.post(
        "/macros",
        data={
            "name": "Erstattung zugesagt",
            "body": "Hallo {{customer.first_name}}, Ihre Erstattung zu #{{ticket.number}} ist "
            "unterwegs. Viele Grüße, {{agent.first_name}}",
            "state": "pending",
            "priority": "high",
            "add_tags": "refund",
            "shared": "on",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert created.status_code == 303
    ticket_page = await client.get(f"/tickets/{made['ticket_id']}")
    macro_id = re.search(r'<option value="(\d+)"[^>]*>Erstattung zugesagt', ticket_page.text).group(
        1
    )
    # Without JavaScript: the page with ?macro= shows the composer filled in.
    filled = await client.get(f"/tickets/{made['ticket_id']}?macro={macro_id}")
    number = made["ticket_number"]
    text = f"Hallo Karl.Kunde, Ihre Erstattung zu #{number} ist unterwegs. Viele Grüße, Sina"
    assert text in filled.text
    sent = await client.post(
        f"/tickets/{made['ticket_id']}/messages",
        data={"text": text, "macro_id": macro_id, "csrf_token": csrf_of(filled.text)},
    )
    assert sent.status_code == 303
    async with runtime.read() as session:
        ticket = await session.get(Ticket, made["ticket_id"])
        last = await session.scalar(
            select(Message.text).where(Message.ticket_id == ticket.id).order_by(Message.id.desc())
        )
    assert (ticket.state, ticket.priority, ticket.tags) == ("pending", "high", ["refund"])
    assert last == text
    # Agents keep macros of their own: theirs alone; the shared ones are the supervisors'.
    client.cookies.clear()
    await sign_in(client)
    page = await client.get("/macros")
    assert page.status_code == 200 and "Erstattung zugesagt" in page.text
    token = csrf_of(page.text)
    mine = await client.post(
        "/macros", data={"name": "Meine Grüße", "body": "Viele Grüße", "csrf_token": token}
    )
    assert mine.status_code == 303
    share = await client.post(
        "/macros", data={"name": "Für alle", "body": "x", "shared": "on", "csrf_token": token}
    )
    assert share.status_code == 403
    edit_shared = await client.post(
        f"/macros/{macro_id}", data={"name": "Kaputt gemacht", "body": "x", "csrf_token": token}
    )
    assert edit_shared.status_code == 403
    ticket_page = await client.get(f"/tickets/{made['ticket_id']}")
    assert "Meine Grüße" in ticket_page.text and "Erstattung zugesagt" in ticket_page.text
    client.cookies.clear()
    await sign_in(client, supervisor.email, "super-password")
    ticket_page = await client.get(f"/tickets/{made['ticket_id']}")
    assert "Meine Grüße" not in ticket_page.text  # someone else's
    mine_id = re.search(
        r'/macros/(\d+)"[^>]*aria-label="Edit macro Meine', (await client.get("/macros")).text
    )
    assert mine_id is None


async def test_note_mentions_notify_the_colleague(client, agent, agent_headers, runtime):
    made = await deliver(client, agent_headers, 50, "Bitte prüfen")
    colleague = await create_user(
        runtime,
        email="bernd.berater@example.com",
        name="Bernd Berater",
        role="agent",
        password="bernd-password",
    )
    await sign_in(client)
    page = await client.get(f"/tickets/{made['ticket_id']}")
    answer = await client.post(
        f"/tickets/{made['ticket_id']}/messages",
        data={
            "text": "@bernd kannst du das übernehmen?",
            "internal": "on",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert answer.status_code == 303
    async with runtime.read() as session:
        notes = list(
            await session.scalars(select(Notification).where(Notification.user_id == colleague.id))
        )
        mine = list(
            await session.scalars(select(Notification).where(Notification.user_id == agent.id))
        )
    assert [n.kind for n in notes] == ["mention"] and mine == []
    assert f"#{made['ticket_number']}" in notes[0].text
    client.cookies.clear()
    await sign_in(client, colleague.email, "bernd-password")
    listed = await client.get("/notifications")
    assert "mentioned you on ticket" in listed.text and "kannst du das" in listed.text
    # Assigning a ticket to someone else tells them too.
    page = await client.get(f"/tickets/{made['ticket_id']}")
    await client.post(
        f"/tickets/{made['ticket_id']}/update",
        data={
            "assignee_id": str(agent.id),
            "assignee_id_was": "",
            "csrf_token": csrf_of(page.text),
        },
    )
    async with runtime.read() as session:
        kinds = list(
            await session.scalars(select(Notification.kind).where(Notification.user_id == agent.id))
        )
    assert kinds == ["assigned"]


async def test_customer_360_edit_link_identity_and_merge(client, agent, agent_headers, runtime):
    first = await deliver(client, agent_headers, 60, "Erste Frage", sender="karla@x.example")
    second = await deliver(
        client, agent_headers, 61, "Zweite Frage", sender="karla.privat@y.example"
    )
    await sign_in(client)
    page = await client.get(f"/tickets/{first['ticket_id']}")
    token = csrf_of(page.text)
    async with runtime.read() as session:
        karla = (await session.get(Ticket, first["ticket_id"])).customer_id
        other = (await session.get(Ticket, second["ticket_id"])).customer_id
    edited = await client.post(
        f"/customers/{karla}/edit",
        data={
            "name": "Karla Kundin",
            "tier": "vip",
            "language": "de",
            "notes": "Ruft lieber an.",
            "consent_shown": "1",
            "consent_sms": "on",
            "back": f"/tickets/{first['ticket_id']}",
            "csrf_token": token,
        },
    )
    assert (
        edited.status_code == 303 and edited.headers["location"] == f"/tickets/{first['ticket_id']}"
    )
    page = await client.get(f"/tickets/{first['ticket_id']}")
    assert "Karla Kundin" in page.text and "Ruft lieber an." in page.text
    # Linking the other address: it belongs to another record, so the page offers a merge.
    linked = await client.post(
        f"/customers/{karla}/identities",
        data={
            "kind": "email",
            "value": "Karla.Privat@y.example",
            "back": f"/tickets/{first['ticket_id']}",
            "csrf_token": token,
        },
    )
    assert linked.status_code == 303
    page = await client.get(f"/tickets/{first['ticket_id']}")
    assert "belongs to" in page.text and f'name="other" value="{other}"' in page.text
    merged = await client.post(
        f"/customers/{karla}/merge",
        data={"other": str(other), "back": f"/tickets/{first['ticket_id']}", "csrf_token": token},
    )
    assert merged.status_code == 303
    page = await client.get(f"/tickets/{first['ticket_id']}")
    assert "karla.privat@y.example" in page.text and "Zweite Frage" in page.text  # other tickets
    async with runtime.read() as session:
        assert (await session.get(Ticket, second["ticket_id"])).customer_id == karla
    # The merged record's page leads to the one kept; the customer's own page works too.
    assert (await client.get(f"/customers/{other}")).headers["location"] == f"/customers/{karla}"
    assert "Karla Kundin" in (await client.get(f"/customers/{karla}")).text
    # A new message from the second address now belongs to Karla.
    third = await deliver(
        client, agent_headers, 62, "Dritte Frage", sender="karla.privat@y.example"
    )
    async with runtime.read() as session:
        assert (await session.get(Ticket, third["ticket_id"])).customer_id == karla
    bad = await client.post(
        f"/customers/{karla}/identities", data={"kind": "fax", "value": "1", "csrf_token": token}
    )
    assert bad.status_code == 400 and "fax" in bad.text
    # A duplicate found by its address is merged straight from the sidebar.
    dup = await deliver(client, agent_headers, 63, "Vierte Frage", sender="k.k@z.example")
    merged = await client.post(
        f"/customers/{karla}/merge", data={"other": "K.K@z.example", "csrf_token": token}
    )
    assert merged.status_code == 303
    async with runtime.read() as session:
        assert (await session.get(Ticket, dup["ticket_id"])).customer_id == karla
    unknown = await client.post(
        f"/customers/{karla}/merge", data={"other": "nobody@z.example", "csrf_token": token}
    )
    assert unknown.status_code == 404 and "nobody@z.example" in unknown.text
    itself = await client.post(
        f"/customers/{karla}/merge", data={"other": str(karla), "csrf_token": token}
    )
    assert itself.status_code == 422 and "itself" in itself.text


async def test_search_box_and_german_ui(client, agent, agent_headers, runtime):
    made = await deliver(client, agent_headers, 70, "Drucker streikt", sender="druck@x.example")
    await sign_in(client)
    found = await client.get("/search", params={"q": "Drucker"})
    assert "Drucker streikt" in found.text and "Druck" in found.text
    # Words of the messages (as prefixes, all of them), not only the subject.
    other = await deliver(
        client, agent_headers, 71, "Hilfe", text="Die Druckerpatrone ist schon wieder leer."
    )
    by_text = await client.get("/search", params={"q": "druckerpat wieder"})
    assert f"#{other['ticket_number']}" in by_text.text
    assert f"#{made['ticket_number']}" not in by_text.text
    none = await client.get("/search", params={"q": "druckerpat Kaffee"})
    assert f"#{other['ticket_number']}" not in none.text
    assert row_ids((await client.get("/?q=Druckerpatrone")).text) == [other["ticket_id"]]
    by_number = await client.get("/search", params={"q": f"#{made['ticket_number']}"})
    assert (
        by_number.status_code == 303
        and by_number.headers["location"] == f"/tickets/{made['ticket_id']}"
    )
    page = await client.get("/settings")
    saved = await client.post(
        "/settings",
        data={"locale": "de", "timezone": "Europe/Berlin", "csrf_token": csrf_of(page.text)},
    )
    assert saved.status_code == 303
    listed = await client.get("/")
    assert '<html lang="de">' in listed.text and "Meine offenen Tickets" in listed.text
    assert "Abmelden" in listed.text and "Sign out" not in listed.text
    ticket = await client.get(f"/tickets/{made['ticket_id']}")
    assert "Dem Kunden antworten" in ticket.text
    bad = await client.post(
        "/settings",
        data={"locale": "fr", "timezone": "Mars/Olympus", "csrf_token": csrf_of(page.text)},
    )
    assert bad.status_code == 400 and "fr" in bad.text
    async with runtime.read() as session:
        assert (await session.get(User, agent.id)).locale == "de"


async def test_every_sort_pages_exactly_like_a_full_sort(runtime):
    """Lists are paged by keyset over a per-state walk of the indexes; each page must be
    what sorting everything would give."""
    import random

    from customers.models import Customer
    from tickets.queries import PRIORITY_RANK, TicketFilter, list_tickets

    rng = random.Random(5)
    now = runtime.clock.now()
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            Customer.__table__.insert(),
            [
                {
                    "id": 1,
                    "name": "K",
                    "tier": "standard",
                    "notes": "",
                    "consent": {},
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        rows = []
        for i in range(60):
            due = None if rng.random() < 0.3 else now + timedelta(minutes=rng.randint(-50, 50))
            stamp = now - timedelta(minutes=rng.randint(0, 30))  # many ties on purpose
            rows.append(
                {
                    "id": i + 1,
                    "number": 500 + i,
                    "subject": f"T{i}",
                    "channel": "email",
                    "customer_id": 1,
                    "state": rng.choice(("new", "open", "pending", "solved")),
                    "priority": rng.choice(("low", "normal", "high", "urgent")),
                    "created_at": stamp,
                    "updated_at": stamp,
                    "sla_due_at": due,
                    "sla_warn_at": due - timedelta(minutes=10) if due else None,
                    "queue_id": None,
                }
            )
        await connection.execute(Ticket.__table__.insert(), rows)

    def expected(sort, states, priorities=None):
        chosen = [r for r in rows if (states is None or r["state"] in states)]
        chosen = [r for r in chosen if priorities is None or r["priority"] in priorities]
        keys = {
            "updated": lambda r: (-r["updated_at"].timestamp(), -r["id"]),
            "created": lambda r: (-r["created_at"].timestamp(), -r["id"]),
            "priority": lambda r: (
                -PRIORITY_RANK[r["priority"]],
                -r["updated_at"].timestamp(),
                -r["id"],
            ),
            "sla": lambda r: (
                r["sla_due_at"] is None,
                r["sla_due_at"].timestamp() if r["sla_due_at"] else 0,
                r["id"],
            ),
        }
        return [r["id"] for r in sorted(chosen, key=keys[sort])]

    cases = [
        (None, None),
        (["new", "open", "pending"], None),
        (["open"], None),
        (["new", "pending"], ["urgent", "low"]),
    ]
    for sort in ("updated", "created", "priority", "sla"):
        for states, priorities in cases:
            filters = TicketFilter(state=states, priority=priorities, sort=sort)
            seen, cursor = [], None
            async with runtime.read() as session:
                while True:
                    page, cursor = await list_tickets(
                        session, filters, cursor=cursor, limit=4, now=now
                    )
                    seen += [t.id for t in page]
                    if not cursor:
                        break
            assert seen == expected(sort, states, priorities), (sort, states, priorities)


async def test_reply_with_attachments_to_a_chosen_address(client, agent, agent_headers, runtime):
    made = await deliver(client, agent_headers, 80, "Formular")
    await sign_in(client)
    async with runtime.read() as session:
        customer_id = (await session.get(Ticket, made["ticket_id"])).customer_id
    page = await client.get(f"/tickets/{made['ticket_id']}")
    token = csrf_of(page.text)
    await client.post(
        f"/customers/{customer_id}/identities",
        data={"kind": "email", "value": "zweite@x.example", "csrf_token": token},
    )
    sent = await client.post(
        f"/tickets/{made['ticket_id']}/messages",
        data={
            "text": "Anbei das Formular.",
            "send_via": "email:zweite@x.example",
            "csrf_token": token,
        },
        files=[
            ("files", ("formular.pdf", b"%PDF-1.4 test", "application/pdf")),
            ("files", ("foto.png", b"\x89PNG\r\n\x1a\nxx", "image/png")),
        ],
    )
    assert sent.status_code == 303
    ticket = (
        await client.get(f"/api/v1/tickets/{made['ticket_id']}", headers=agent_headers)
    ).json()
    last = ticket["messages"][-1]
    assert last["text"] == "Anbei das Formular."
    assert [a["filename"] for a in last["attachments"]] == ["formular.pdf", "foto.png"]
    async with runtime.read() as session:
        recipient = await session.scalar(select(Message.recipient).where(Message.id == last["id"]))
    assert recipient == "zweite@x.example"
    # An address that is not the customer's is refused, and nothing is sent.
    refused = await client.post(
        f"/tickets/{made['ticket_id']}/messages",
        data={"text": "Falsch", "send_via": "email:fremd@evil.example", "csrf_token": token},
    )
    assert refused.status_code == 422 and "fremd@evil.example" in refused.text
    count = len(
        (await client.get(f"/api/v1/tickets/{made['ticket_id']}", headers=agent_headers)).json()[
            "messages"
        ]
    )
    assert count == 2
