"""The portal's IDOR matrix: two organizations, each with a manager and a member, and a
customer without one. Every portal route is tried by each of them on each one's tickets,
messages, attachments and data; what they may not see is a 404 (never a 403, never a
hint of it), what they may see works. The test reads the app's routes under /portal and
fails for a route the table below does not list.

Kinds of route (ROUTES):
- TICKET: a path with `{number}`; tried with every person's ticket number (and numbers
  nobody has). Visible (own, or a manager's organization's) → works; otherwise 404.
- FILE: `{number}` and `{attachment_id}`; tried with every person's files under their own
  and under other numbers, and with internal notes' files (always 404).
- LIST: a page listing the viewer's things: shows exactly the visible tickets.
- OWN_DATA: a download of the viewer's own data (an export): holds nothing of the others,
  and no internal note. Add `OWN_DATA` for a GET route whose answer is a ZIP or JSON.
- NO_OBJECT: a route that names nothing of anyone (a form, sign-in, a signed link whose
  own test covers it): a GET shows nothing of the others; listed with the reason.
"""

from __future__ import annotations

import io
import re
import zipfile

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Mount, Route, WebSocketRoute

from tests.fixtures import csrf_of, portal_world
from tickets.models import Message, Ticket, TicketHistory

TICKET, FILE, LIST, OWN_DATA, NO_OBJECT = "ticket", "file", "list", "own data", "no object"

# (method, path) → kind. A new portal route must be added here (with its kind) to pass.
ROUTES = {
    ("GET", "/portal"): NO_OBJECT,  # home: redirects
    ("GET", "/portal/sign-in"): NO_OBJECT,
    ("POST", "/portal/sign-in"): NO_OBJECT,
    ("GET", "/portal/sign-in/{token:str}"): NO_OBJECT,  # tests/portal/test_sign_in.py
    ("POST", "/portal/sign-in/{token:str}"): NO_OBJECT,
    ("POST", "/portal/sign-out"): NO_OBJECT,
    ("POST", "/portal/language"): NO_OBJECT,
    ("GET", "/portal/account"): NO_OBJECT,  # the viewer's own account only
    ("POST", "/portal/account"): NO_OBJECT,
    # A signed link bound to one ticket and its customer (tests/portal/test_rating*.py).
    ("GET", "/portal/rate/{token:str}"): NO_OBJECT,
    ("POST", "/portal/rate/{token:str}"): NO_OBJECT,
    # A new request: the viewer's own (tests/portal/test_requests*.py).
    ("GET", "/portal/requests/new"): NO_OBJECT,
    ("POST", "/portal/requests/new"): NO_OBJECT,
    ("POST", "/portal/requests/suggest"): NO_OBJECT,  # public articles only
    ("POST", "/portal/requests/solved"): NO_OBJECT,
    # My data: the viewer's own record only; no path names anyone (tests/portal/test_my_data.py).
    ("GET", "/portal/data"): NO_OBJECT,
    ("POST", "/portal/data/consent"): NO_OBJECT,
    ("GET", "/portal/data/export"): OWN_DATA,
    ("POST", "/portal/data/erasure"): NO_OBJECT,  # a request an administrator confirms
    ("POST", "/portal/data/erasure/withdraw"): NO_OBJECT,
    ("GET", "/portal/tickets"): LIST,
    ("GET", "/portal/tickets/{number:int}"): TICKET,
    ("POST", "/portal/tickets/{number:int}/reply"): TICKET,
    ("POST", "/portal/tickets/{number:int}/close"): TICKET,
    ("POST", "/portal/tickets/{number:int}/reopen"): TICKET,
    ("GET", "/portal/tickets/{number:int}/attachments/{attachment_id:int}"): FILE,
}
# Numbers and ids nobody has, or that are no number at all.
NOBODYS = ("99999", "0", "2147483648", "abc", "-1")


def portal_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/portal"):
            continue
        if isinstance(route, WebSocketRoute):
            found.add(("WEBSOCKET", path))
        elif isinstance(route, Mount):
            found.add(("MOUNT", path))
        elif isinstance(route, Route):
            found |= {(m, path) for m in route.methods or {"GET"} if m != "HEAD"}
    return found


def test_every_portal_route_is_in_the_matrix(app):
    routes = portal_routes(app)
    assert sorted(routes - set(ROUTES)) == [], "add these to ROUTES with their kind"
    assert sorted(set(ROUTES) - routes) == [], "these are gone: remove them from ROUTES"


def may_see(world: dict, viewer: str, owner: str) -> bool:
    me, them = world[viewer], world[owner]
    return viewer == owner or (
        me["org_role"] == "manager"
        and me["organization_id"] is not None
        and me["organization_id"] == them["organization_id"]
    )


def secrets_of(world: dict, person: str) -> list[str]:
    """What must not reach anyone who may not see the person's ticket."""
    facts = world[person]
    return [facts["subject"], f"Text of {person}", f"Answer to {person}", f"{person}-photo.png"]


def fill(path: str, number, attachment_id=None) -> str:
    path = re.sub(r"\{number(:\w+)?\}", str(number), path)
    return re.sub(r"\{attachment_id(:\w+)?\}", str(attachment_id), path)


@pytest.fixture
async def world(runtime, agent):
    return await portal_world(runtime, agent)


@pytest.fixture
async def viewers(app, world, portal_sign_in):
    """A client signed in to the portal per person, with a CSRF token of its session."""
    clients = {}
    for person, facts in world.items():
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        await portal_sign_in(client, facts["email"])
        clients[person] = (client, csrf_of((await client.get("/portal/tickets")).text))
    yield clients
    for client, _csrf in clients.values():
        await client.aclose()


async def _counts(runtime) -> tuple[int, int, tuple]:
    async with runtime.read() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        history = await session.scalar(select(func.count()).select_from(TicketHistory))
        states = tuple((await session.execute(select(Ticket.id, Ticket.state))).all())
    return messages, history, states


def _form(method: str, path: str, csrf: str, person: str, target: str) -> dict | None:
    if method != "POST":
        return None
    data = {"csrf_token": csrf}
    if path.endswith("/reply"):
        data.update(nonce=f"matrix-{person}-{target}-nonce", text=f"{person} writes to {target}")
    return data


async def test_nobody_reaches_what_is_not_theirs(runtime, world, viewers):
    wrong = []

    def check(ok: bool, *what) -> None:
        if not ok:
            wrong.append(what)

    for viewer, (client, csrf) in viewers.items():
        hidden = [s for o in world if not may_see(world, viewer, o) for s in secrets_of(world, o)]
        notes = [world[o]["note_text"] for o in world] + [f"{o}-note.txt" for o in world]
        for (method, path), kind in sorted(ROUTES.items()):
            if kind == LIST:
                page = await client.get(path)
                check(page.status_code == 200, viewer, path, page.status_code)
                for owner in world:
                    shown = world[owner]["subject"] in page.text
                    check(shown == may_see(world, viewer, owner), viewer, path, owner, shown)
                check(not any(n in page.text for n in notes), viewer, path, "note")
            elif kind == TICKET:
                # Others' tickets and numbers nobody has first: nothing may change.
                before = await _counts(runtime)
                for target in [o for o in world if not may_see(world, viewer, o)]:
                    url = fill(path, world[target]["number"])
                    data = _form(method, path, csrf, viewer, target)
                    answer = await client.request(method, url, data=data)
                    check(answer.status_code == 404, viewer, method, url, answer.status_code)
                    check(
                        not any(s in answer.text for s in secrets_of(world, target)),
                        viewer,
                        url,
                        "leaks",
                    )
                for number in NOBODYS:
                    url = fill(path, number)
                    data = _form(method, path, csrf, viewer, "nobody")
                    answer = await client.request(method, url, data=data)
                    check(answer.status_code == 404, viewer, method, url, answer.status_code)
                check(await _counts(runtime) == before, viewer, method, path, "changed")
                # Visible ones work (reply, then close, then reopen: the ticket stays open).
                for target in [o for o in world if may_see(world, viewer, o)]:
                    url = fill(path, world[target]["number"])
                    data = _form(method, path, csrf, viewer, target)
                    answer = await client.request(method, url, data=data)
                    expected = 200 if method == "GET" else 303
                    check(answer.status_code == expected, viewer, method, url, answer.status_code)
                    if method == "GET":
                        check(world[target]["subject"] in answer.text, viewer, url, "missing")
                        check(not any(n in answer.text for n in notes), viewer, url, "note")
                        check(not any(h in answer.text for h in hidden), viewer, url, "leaks")
            elif kind == FILE:
                for owner, facts in world.items():
                    for name in ("inbound_file", "reply_file", "note_file"):
                        visible = may_see(world, viewer, owner) and name != "note_file"
                        url = fill(path, facts["number"], facts[name])
                        answer = await client.get(url)
                        check(
                            answer.status_code == (200 if visible else 404),
                            viewer,
                            url,
                            answer.status_code,
                        )
                        # The file asked for under the viewer's own (visible) number.
                        if owner != viewer:
                            url = fill(path, world[viewer]["number"], facts[name])
                            answer = await client.get(url)
                            check(answer.status_code == 404, viewer, url, answer.status_code)
                    for number in NOBODYS:
                        url = fill(path, number, facts["reply_file"])
                        check((await client.get(url)).status_code == 404, viewer, url)
                        url = fill(path, facts["number"], number)
                        check((await client.get(url)).status_code == 404, viewer, url)
            elif kind == OWN_DATA:
                answer = await client.get(path)
                check(answer.status_code == 200, viewer, path, answer.status_code)
                body = _readable(answer.content)
                others = [o for o in world if o != viewer]
                for other in others:  # a manager's colleagues' tickets are not their data
                    for secret in [*secrets_of(world, other), world[other]["email"]]:
                        check(secret not in body, viewer, path, "holds", secret)
                check(not any(n in body for n in notes), viewer, path, "note")
            elif kind == NO_OBJECT and method == "GET" and "{" not in path:
                answer = await client.get(path)
                check(answer.status_code < 500, viewer, path, answer.status_code)
                check(not any(h in answer.text for h in hidden), viewer, path, "leaks")
                check(not any(n in answer.text for n in notes), viewer, path, "note")
    assert wrong == []


def _readable(content: bytes) -> str:
    """The text of a download: every member of a ZIP, or the body itself."""
    if content.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "\n".join(
                archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
            )
    return content.decode("utf-8", "replace")


async def test_a_portal_session_opens_no_staff_api(client, world, portal_sign_in):
    """The customer's cookie is no key to the API or the console: another's ticket, record
    or export there is refused like for anyone without a token."""
    await portal_sign_in(client, world["alpha_manager"]["email"])
    other = world["beta_member"]
    for path in (
        f"/api/v1/tickets/{other['ticket_id']}",
        f"/api/v1/customers/{other['customer_id']}",
        f"/api/v1/customers/{other['customer_id']}/timeline",
        "/api/v1/tickets",
    ):
        answer = await client.get(path)
        assert answer.status_code == 401, (path, answer.status_code)
    answer = await client.get(f"/tickets/{other['ticket_id']}")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
