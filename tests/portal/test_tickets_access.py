"""What a portal viewer may see (portal/access.py), without sessions: own tickets, an
organization manager's colleagues' tickets, public messages and their files only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from customers.actions import CustomerError, set_organization_role, update_customer
from customers.models import Customer
from portal import access
from tests.fixtures import csrf_of, portal_world, sign_in
from tickets.actions import Actor, update_ticket
from tickets.merge import merge_tickets
from tickets.models import Ticket
from tresen.accounts import create_user


@dataclass(frozen=True)
class Viewer:
    customer_id: int
    organization_id: int | None
    org_role: str | None


def viewer_of(facts: dict) -> Viewer:
    return Viewer(facts["customer_id"], facts["organization_id"], facts["org_role"])


def may_see(world: dict, viewer: str, owner: str) -> bool:
    """The rule, written out: one's own, and a manager's organization's."""
    me, them = world[viewer], world[owner]
    if viewer == owner:
        return True
    return (
        me["org_role"] == "manager"
        and me["organization_id"] is not None
        and me["organization_id"] == them["organization_id"]
    )


@pytest.fixture
async def world(runtime, agent):
    return await portal_world(runtime, agent)


async def test_each_viewer_sees_exactly_the_tickets_the_rule_allows(runtime, world):
    async with runtime.read() as session:
        for viewer in world:
            listed = await access.list_tickets(session, viewer_of(world[viewer]))
            expected = {world[o]["number"] for o in world if may_see(world, viewer, o)}
            assert {t.number for t in listed} == expected, viewer
            assert all(t.own == (t.number == world[viewer]["number"]) for t in listed)
            for owner in world:
                found = await access.find_ticket(
                    session, viewer_of(world[viewer]), world[owner]["number"]
                )
                assert (found is not None) == may_see(world, viewer, owner), (viewer, owner)
            # A number nobody has is as absent as another's.
            assert await access.find_ticket(session, viewer_of(world[viewer]), 99_999) is None


async def test_the_conversation_holds_public_messages_and_their_files_only(runtime, world):
    async with runtime.read() as session:
        for person, facts in world.items():
            viewer = viewer_of(facts)
            ticket = await access.find_ticket(session, viewer, facts["number"])
            messages = await access.public_conversation(session, viewer, ticket)
            texts = [m.text for m in messages]
            assert texts == [f"Text of {person}", f"Answer to {person}"]
            assert all(facts["note_text"] not in text for text in texts)
            files = {a.id for m in messages for a in m.attachments}
            assert files == {facts["inbound_file"], facts["reply_file"]}
            assert messages[0].by_viewer and messages[0].author_name
            assert not messages[1].by_viewer and messages[1].author_name is None
            # The ticket as shown carries nothing of the desk's own fields.
            assert not hasattr(ticket, "queue_id") and not hasattr(ticket, "assignee_id")


async def test_files_are_found_only_on_visible_public_messages(runtime, world):
    async with runtime.read() as session:
        for viewer in world:
            for owner, facts in world.items():
                for kind in ("inbound_file", "reply_file", "note_file"):
                    found = await access.find_attachment(
                        session, viewer_of(world[viewer]), facts["number"], facts[kind]
                    )
                    visible = may_see(world, viewer, owner) and kind != "note_file"
                    assert (found is not None) == visible, (viewer, owner, kind)
                    if visible:
                        assert found.content  # loaded with the row
        # A visible file asked for under another (visible) ticket's number is not found.
        manager = viewer_of(world["alpha_manager"])
        assert (
            await access.find_attachment(
                session,
                manager,
                world["alpha_manager"]["number"],
                world["alpha_member"]["reply_file"],
            )
            is None
        )


async def test_a_manager_demoted_or_moved_sees_their_own_again(runtime, world):
    manager = world["alpha_manager"]
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, manager["customer_id"])
        await set_organization_role(tx, customer, "member")
    async with runtime.read() as session:
        customer = await session.get(Customer, manager["customer_id"])
        viewer = Viewer(customer.id, customer.organization_id, customer.org_role)
        listed = await access.list_tickets(session, viewer)
    assert [t.number for t in listed] == [manager["number"]]
    # Moving a manager to another organization makes them a member there.
    async with runtime.transaction() as tx:
        customer = await tx.session.get(Customer, manager["customer_id"])
        await set_organization_role(tx, customer, "manager")
        await update_customer(
            tx, customer, {"organization_id": world["beta_member"]["organization_id"]}
        )
        assert customer.org_role == "member"


async def test_organization_roles_are_checked(runtime, world):
    async with runtime.transaction() as tx:
        solo = await tx.session.get(Customer, world["solo"]["customer_id"])
        with pytest.raises(CustomerError, match="belongs to no organization"):
            await set_organization_role(tx, solo, "manager")
        with pytest.raises(CustomerError, match="is not one of member, manager"):
            await set_organization_role(tx, solo, "boss")


async def test_the_list_filters_by_state_and_leaves_merged_tickets_out(runtime, world, agent):
    facts = world["alpha_manager"]
    viewer = viewer_of(facts)
    colleague = world["alpha_member"]
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, colleague["ticket_id"])
        await update_ticket(tx, ticket, {"state": "solved"}, Actor(user_id=agent.id))
    async with runtime.read() as session:
        assert [t.number for t in await access.list_tickets(session, viewer, show="open")] == [
            facts["number"]
        ]
        closed = await access.list_tickets(session, viewer, show="closed")
        assert [t.number for t in closed] == [colleague["number"]]
        assert closed[0].done and not closed[0].own
    # The colleague's ticket merged into the manager's: listed once, found under both numbers.
    async with runtime.transaction() as tx:
        source = await tx.session.get(Ticket, colleague["ticket_id"])
        target = await tx.session.get(Ticket, facts["ticket_id"])
        await merge_tickets(tx, source, target, Actor(user_id=agent.id))
    async with runtime.read() as session:
        assert [t.number for t in await access.list_tickets(session, viewer)] == [facts["number"]]
        found = await access.find_ticket(session, viewer, colleague["number"])
        assert found.number == facts["number"]
        # The member cannot follow their merged ticket into the manager's.
        member = viewer_of(colleague)
        assert await access.find_ticket(session, member, colleague["number"]) is None


def test_reopening_is_allowed_for_a_while_after_solving():
    solved = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ticket = access.PortalTicket(
        id=1,
        number=10000,
        subject="x",
        state="solved",
        channel="email",
        created_at=solved,
        updated_at=solved,
        solved_at=solved,
        customer_id=1,
        customer_name="Kim",
        own=True,
    )
    assert access.may_reopen(ticket, solved + timedelta(days=14), 14)
    assert not access.may_reopen(ticket, solved + timedelta(days=14, seconds=1), 14)
    assert access.may_reply(ticket) and not access.may_close(ticket)
    closed = access.PortalTicket(**{**ticket.__dict__, "state": "closed"})
    assert not access.may_reply(closed)
    open_ = access.PortalTicket(**{**ticket.__dict__, "state": "open", "solved_at": None})
    assert not access.may_reopen(open_, solved, 14) and access.may_close(open_)


async def test_administrators_set_the_role_through_the_api(client, world, admin_headers):
    member = world["beta_member"]
    path = f"/api/v1/customers/{member['customer_id']}/organization-role"
    answer = await client.put(path, json={"org_role": "manager"}, headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["org_role"] == "manager"
    answer = await client.put(path, json={"org_role": "owner"}, headers=admin_headers)
    assert answer.status_code == 422 and "org_role" in answer.text
    solo = f"/api/v1/customers/{world['solo']['customer_id']}/organization-role"
    answer = await client.put(solo, json={"org_role": "manager"}, headers=admin_headers)
    assert answer.status_code == 422 and "no organization" in answer.text


async def test_administrators_set_the_role_in_the_console(client, runtime, world, agent):
    member = world["alpha_member"]
    page_path = f"/customers/{member['customer_id']}"
    await sign_in(client)  # an agent: sees no role form, may not post one
    page = await client.get(page_path)
    assert "organization-role" not in page.text
    data = {"csrf_token": csrf_of(page.text), "org_role": "manager"}
    refused = await client.post(page_path + "/organization-role", data=data)
    assert refused.status_code == 403
    await create_user(
        runtime, email="root@example.com", name="Root", role="admin", password="root-password"
    )
    await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(client, "root@example.com", "root-password")
    page = await client.get(page_path)
    assert "organization-role" in page.text
    data = {"csrf_token": csrf_of(page.text), "org_role": "manager", "back": page_path}
    answer = await client.post(page_path + "/organization-role", data=data)
    assert answer.status_code == 303
    async with runtime.read() as session:
        assert (await session.get(Customer, member["customer_id"])).org_role == "manager"
    page = await client.get(page_path)
    assert "organization manager" in page.text
    data["org_role"] = "owner"
    assert (await client.post(page_path + "/organization-role", data=data)).status_code == 422
