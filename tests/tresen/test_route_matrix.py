"""Who may call what: every route × method × kind of caller, and CSRF on every console form.

The tables below are the expectation, written by hand; the test reads the app's routes
and fails when a route exists that the table does not name (a new door needs a decision
about who may open it) or the table names a route that is gone.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.routing import Mount, Route, WebSocketRoute

from customers.actions import create_customer
from tests.fixtures import csrf_of, load_kb_samples, sign_in, sign_in_to_portal
from tests.support import AsgiSocket
from tresen.accounts import create_token, create_user
from tresen.database import Base
from tresen.models import ROLES, User

PUBLIC = "public"
VISITOR = "visitor"  # a chat visitor: the channel's key and an allowed Origin, no session
# Only a token made for an integration (`tresen tokens create EMAIL --scope integration`).
INTEGRATION = "integration"
# A customer signed in to the portal (its own cookie, apart from the staff session): every
# other caller is sent to the portal's sign-in page; a signed-in customer is let in.
PORTAL = "customer"

# (method, path) → the least role that may call it; PUBLIC: anyone.
API = {
    ("GET", "/api/v1/customers"): "agent",
    ("POST", "/api/v1/customers"): "agent",
    ("GET", "/api/v1/customers/{customer_id:int}"): "agent",
    ("PATCH", "/api/v1/customers/{customer_id:int}"): "agent",
    ("POST", "/api/v1/customers/{customer_id:int}/identities"): "agent",
    ("GET", "/api/v1/customers/{customer_id:int}/timeline"): "agent",
    ("PUT", "/api/v1/customers/{customer_id:int}/organization-role"): "admin",
    ("GET", "/api/v1/customers/{customer_id:int}/consent"): "agent",
    ("PUT", "/api/v1/customers/{customer_id:int}/consent"): "agent",
    ("GET", "/api/v1/customers/{customer_id:int}/export"): "admin",
    ("POST", "/api/v1/customers/{customer_id:int}/erasure"): "admin",
    ("POST", "/api/v1/customers/{customer_id:int}/erasure-requests"): "agent",
    ("GET", "/api/v1/data-requests"): "admin",
    ("POST", "/api/v1/data-requests/{request_id:int}/reject"): "admin",
    ("GET", "/api/v1/organizations"): "agent",
    ("POST", "/api/v1/organizations"): "supervisor",
    ("GET", "/api/v1/tickets"): "agent",
    ("POST", "/api/v1/tickets"): "agent",
    ("GET", "/api/v1/tickets/{ticket_id:int}"): "agent",
    ("PATCH", "/api/v1/tickets/{ticket_id:int}"): "agent",
    ("POST", "/api/v1/tickets/{ticket_id:int}/messages"): "agent",
    ("GET", "/api/v1/tickets/{ticket_id:int}/history"): "agent",
    ("POST", "/api/v1/inbound"): INTEGRATION,
    ("POST", "/api/v1/bot/ticket-status"): INTEGRATION,
    ("GET", "/api/v1/inbox/quarantined"): "admin",
    ("POST", "/api/v1/inbox/{inbox_id:int}/retry"): "admin",
    ("GET", "/api/v1/queues"): "agent",
    ("POST", "/api/v1/queues"): "admin",
    ("PATCH", "/api/v1/queues/{queue_id:int}"): "admin",
    ("GET", "/api/v1/routing/rules"): "agent",
    ("POST", "/api/v1/routing/rules"): "admin",
    ("GET", "/api/v1/routing/rules/{rule_id:int}"): "agent",
    ("PATCH", "/api/v1/routing/rules/{rule_id:int}"): "admin",
    ("DELETE", "/api/v1/routing/rules/{rule_id:int}"): "admin",
    ("POST", "/api/v1/routing/preview"): "agent",
    ("GET", "/api/v1/routing/calendars"): "agent",
    ("POST", "/api/v1/routing/calendars"): "admin",
    ("GET", "/api/v1/routing/sla-policies"): "agent",
    ("POST", "/api/v1/routing/sla-policies"): "admin",
    ("PUT", "/api/v1/routing/queues/{queue_id:int}"): "admin",
    ("GET", "/api/v1/routing/queues/{queue_id:int}"): "agent",
    ("PUT", "/api/v1/routing/agents/{user_id:int}"): "admin",
    ("PUT", "/api/v1/routing/presence"): "agent",
    ("GET", "/api/v1/tickets/{ticket_id:int}/routing"): "agent",
    ("GET", "/api/v1/tickets/{ticket_id:int}/suggestions"): "agent",
    ("POST", "/api/v1/tickets/{ticket_id:int}/suggestions/{article_id:int}"): "agent",
    ("GET", "/api/v1/kb/articles"): "agent",
    ("POST", "/api/v1/kb/articles"): "agent",
    ("GET", "/api/v1/kb/articles/{article_id:int}"): "agent",
    ("PATCH", "/api/v1/kb/articles/{article_id:int}"): "agent",
    ("GET", "/api/v1/kb/articles/{article_id:int}/versions"): "agent",
    ("POST", "/api/v1/kb/articles/{article_id:int}/versions/{version:int}/restore"): "agent",
    ("POST", "/api/v1/kb/import"): "supervisor",
    ("GET", "/api/v1/kb/search"): PUBLIC,
    ("POST", "/api/v1/kb/suggest"): PUBLIC,
    ("POST", "/api/v1/kb/articles/{article_id:int}/feedback"): PUBLIC,
    ("GET", "/api/v1/kb/gaps"): "supervisor",
    ("GET", "/api/v1/tickets/{ticket_id:int}/rating"): "agent",
    ("GET", "/api/v1/csat/report"): "supervisor",
    ("GET", "/api/v1/kb/deflections"): "supervisor",
    ("PUT", "/api/v1/kb/articles/{article_id:int}/files/{filename}"): "agent",
    ("DELETE", "/api/v1/kb/articles/{article_id:int}/files/{filename}"): "agent",
    ("GET", "/api/v1/channels/email"): "admin",
    ("POST", "/api/v1/channels/email"): "admin",
    ("GET", "/api/v1/channels/email/{account_id:int}"): "admin",
    ("PATCH", "/api/v1/channels/email/{account_id:int}"): "admin",
    ("GET", "/api/v1/chat/channels"): "admin",
    ("POST", "/api/v1/chat/channels"): "admin",
    ("GET", "/api/v1/chat/channels/{channel_id:int}"): "admin",
    ("PATCH", "/api/v1/chat/channels/{channel_id:int}"): "admin",
    ("POST", "/api/v1/chat/channels/{channel_id:int}/rotate-secret"): "admin",
    # A conversational channel's bot (bots/settings_api.py; tests/agent_ui/test_bots_admin.py).
    ("GET", "/api/v1/bot/settings/{channel}"): "admin",
    ("PUT", "/api/v1/bot/settings/{channel}"): "admin",
    # The FAQ bot's decision for other bot platforms: any token (bots/api.py).
    ("POST", "/api/v1/bot/reply"): "agent",
    # People and tokens (tresen/users_api.py; tests/tresen/test_people_api.py).
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{user_id:int}"): "admin",
    ("POST", "/api/v1/users/{user_id:int}/invite"): "admin",
    ("POST", "/api/v1/users/me/sign-out-everywhere"): "agent",
    ("GET", "/api/v1/tokens"): "agent",
    ("DELETE", "/api/v1/tokens/{token_id:int}"): "agent",
}

# The console and the public pages (session cookie, CSRF token on every form).
PAGES = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    # The sign-in's second step (a code); without a password given just before, it says so.
    ("GET", "/login/two-factor"): PUBLIC,
    ("POST", "/login/two-factor"): PUBLIC,
    ("POST", "/logout"): "agent",
    ("GET", "/messages/{message_id:int}/attachments/{attachment_id:int}"): "agent",
    ("GET", "/messages/{message_id:int}/source"): "agent",
    ("POST", "/messages/{message_id:int}/resend"): "agent",
    ("GET", "/"): "agent",
    ("POST", "/views/save"): "agent",
    ("POST", "/views/{view_id:int}/update"): "agent",
    ("POST", "/views/{view_id:int}/delete"): "agent",
    ("POST", "/tickets/bulk"): "agent",
    # Undoing a merge or a bulk change (H6): who made it, or a supervisor (checked inside).
    ("POST", "/merges/{merge_id:int}/undo"): "agent",
    ("POST", "/tickets/bulk/{change_id:int}/undo"): "agent",
    ("GET", "/tickets/{ticket_id:int}"): "agent",
    ("GET", "/tickets/{ticket_id:int}/composer"): "agent",
    ("POST", "/tickets/{ticket_id:int}/update"): "agent",
    ("POST", "/tickets/{ticket_id:int}/messages"): "agent",
    ("POST", "/tickets/{ticket_id:int}/merge"): "agent",
    ("POST", "/tickets/{ticket_id:int}/links"): "agent",
    ("POST", "/messages/{message_id:int}/split"): "agent",
    # Tickets by hand and the customer directory (agent_ui/new_ticket.py, directory.py).
    ("GET", "/tickets/new"): "agent",
    ("POST", "/tickets/new"): "agent",
    ("GET", "/tickets/new/customers"): "agent",
    ("GET", "/customers"): "agent",
    ("GET", "/organizations"): "agent",
    ("GET", "/organizations/{organization_id:int}"): "agent",
    ("POST", "/organizations/{organization_id:int}/notes"): "agent",
    ("GET", "/customers/{customer_id:int}"): "agent",
    ("POST", "/customers/{customer_id:int}/edit"): "agent",
    ("POST", "/customers/{customer_id:int}/identities"): "agent",
    ("POST", "/customers/{customer_id:int}/merge"): "agent",
    ("POST", "/customers/{customer_id:int}/portal-link"): "agent",
    ("GET", "/customers/{customer_id:int}/export"): "admin",
    ("POST", "/customers/{customer_id:int}/erase"): "admin",
    ("GET", "/admin/data-requests"): "admin",
    ("POST", "/admin/data-requests/{request_id:int}/reject"): "admin",
    ("GET", "/macros"): "agent",
    ("POST", "/macros"): "agent",
    ("POST", "/macros/{macro_id:int}"): "agent",
    ("GET", "/board"): "supervisor",
    ("GET", "/search"): "agent",
    # The demo's mail page (agent_ui/demo_mail.py): 404 unless `tresen demo` runs.
    ("GET", "/demo/mail"): "agent",
    ("GET", "/demo/mail/{number:int}"): "agent",
    ("GET", "/demo/mail/{number:int}/source"): "agent",
    ("POST", "/admin/queues/{queue_id:int}"): "admin",
    ("GET", "/admin/email"): "admin",
    ("POST", "/admin/email/accounts"): "admin",
    ("POST", "/admin/email/accounts/{account_id:int}"): "admin",
    ("POST", "/admin/email/accounts/{account_id:int}/test"): "admin",
    ("GET", "/settings"): "agent",
    ("POST", "/settings"): "agent",
    ("GET", "/presence"): "agent",
    ("POST", "/presence"): "agent",
    ("GET", "/notifications"): "agent",
    ("POST", "/notifications/read"): "agent",
    # One's own account (agent_ui/account.py) and the desk's settings (agent_ui/admin_settings.py).
    ("GET", "/account/password"): "agent",
    ("POST", "/account/password"): "agent",
    ("GET", "/account/two-factor"): "agent",
    ("POST", "/account/two-factor"): "agent",
    ("POST", "/account/two-factor/recovery-codes"): "agent",
    ("POST", "/account/two-factor/disable"): "agent",
    ("POST", "/account/sign-out-everywhere"): "agent",
    ("GET", "/admin/settings"): "admin",
    ("POST", "/admin/settings"): "admin",
    ("GET", "/admin/routing"): "admin",
    ("POST", "/admin/routing/rules"): "admin",
    ("POST", "/admin/routing/rules/{rule_id:int}"): "admin",
    ("POST", "/admin/routing/preview"): "admin",
    ("POST", "/admin/routing/queues/{queue_id:int}"): "admin",
    ("POST", "/admin/routing/agents/{user_id:int}"): "admin",
    ("POST", "/admin/routing/policies"): "admin",
    ("POST", "/admin/routing/calendars"): "admin",
    # The routing admin's pages (agent_ui/admin_routing.py, admin_queues.py, admin_sla.py).
    ("GET", "/admin/routing/rules"): "admin",
    ("GET", "/admin/routing/rules/{rule_id:int}"): "admin",
    ("POST", "/admin/routing/rules/{rule_id:int}/preview"): "admin",
    ("GET", "/admin/routing/queues"): "admin",
    ("POST", "/admin/routing/queues"): "admin",
    ("GET", "/admin/routing/queues/{queue_id:int}"): "admin",
    ("GET", "/admin/routing/policies"): "admin",
    ("GET", "/admin/routing/policies/{policy_id:int}"): "admin",
    ("POST", "/admin/routing/policies/{policy_id:int}"): "admin",
    ("GET", "/admin/routing/calendars"): "admin",
    ("GET", "/admin/routing/calendars/{calendar_id:int}"): "admin",
    ("POST", "/admin/routing/calendars/{calendar_id:int}"): "admin",
    # Triggers and time-based automations (agent_ui/admin_automations.py).
    ("GET", "/admin/triggers"): "admin",
    ("POST", "/admin/triggers"): "admin",
    ("GET", "/admin/triggers/new"): "admin",
    ("GET", "/admin/triggers/{row_id:int}"): "admin",
    ("POST", "/admin/triggers/{row_id:int}"): "admin",
    ("POST", "/admin/triggers/{row_id:int}/change"): "admin",
    ("POST", "/admin/triggers/preview"): "admin",
    ("GET", "/admin/automations"): "admin",
    ("POST", "/admin/automations"): "admin",
    ("GET", "/admin/automations/new"): "admin",
    ("GET", "/admin/automations/{row_id:int}"): "admin",
    ("POST", "/admin/automations/{row_id:int}"): "admin",
    ("POST", "/admin/automations/{row_id:int}/change"): "admin",
    ("GET", "/tickets/{ticket_id:int}/suggestions"): "agent",
    ("POST", "/tickets/{ticket_id:int}/suggestions/{article_id:int}"): "agent",
    ("GET", "/kb"): "agent",
    ("GET", "/kb/new"): "agent",
    ("POST", "/kb/new"): "agent",
    ("GET", "/kb/{article_id:int}"): "agent",
    ("POST", "/kb/{article_id:int}"): "agent",
    ("POST", "/kb/{article_id:int}/files"): "agent",
    ("GET", "/help"): PUBLIC,
    ("GET", "/help/{slug:str}/files/{filename:str}"): PUBLIC,
    ("GET", "/help/{slug:str}"): PUBLIC,
    ("POST", "/help/{slug:str}"): PUBLIC,
    # The help centre's categories, logo and what search engines read (test_help_centre*.py).
    ("GET", "/help/assets/logo"): PUBLIC,
    ("GET", "/help/category/{key:str}"): PUBLIC,
    ("GET", "/sitemap.xml"): PUBLIC,
    ("GET", "/robots.txt"): PUBLIC,
    # The help centre's branding, and the knowledge base's categories (agent_ui).
    ("POST", "/admin/settings/help"): "admin",
    ("GET", "/kb/categories"): "agent",
    ("POST", "/kb/categories/{category_id:int}"): "supervisor",
    # Rating a ticket by its signed link, without signing in (tests/portal/test_rating.py).
    ("GET", "/portal/rate/{token:str}"): PUBLIC,
    ("POST", "/portal/rate/{token:str}"): PUBLIC,
    ("GET", "/admin/chat"): "admin",
    ("POST", "/admin/chat/channels"): "admin",
    ("POST", "/admin/chat/channels/{channel_id:int}"): "admin",
    ("POST", "/admin/chat/channels/{channel_id:int}/rotate-secret"): "admin",
    ("GET", "/chats"): "agent",
    ("POST", "/chats/{ticket_id:int}/accept"): "agent",
    ("POST", "/chats/{ticket_id:int}/decline"): "agent",
    ("POST", "/tickets/{ticket_id:int}/chat/end"): "agent",
    ("POST", "/tickets/{ticket_id:int}/chat/transfer"): "agent",
    # The bot in the console (agent_ui/bots.py).
    ("GET", "/admin/bots"): "admin",
    ("POST", "/admin/bots/try"): "admin",
    ("POST", "/admin/bots/{channel}"): "admin",
    ("POST", "/admin/bots/{channel}/test"): "admin",
    ("POST", "/tickets/{ticket_id:int}/take-over"): "agent",
    ("GET", "/reports/bots"): "supervisor",
    # The chat widget's doors: any page of an allowed site (tests/channels/chat/).
    ("GET", "/chat/widget.js"): PUBLIC,
    ("GET", "/chat/{key}/config"): PUBLIC,
    ("POST", "/chat/{key}/files"): PUBLIC,
    ("GET", "/chat/{key}/files/{attachment_id}"): PUBLIC,
    # The customer portal (portal/): PORTAL routes need a customer signed in to it.
    ("GET", "/portal"): PUBLIC,
    ("GET", "/portal/sign-in"): PUBLIC,
    ("POST", "/portal/sign-in"): PUBLIC,
    ("GET", "/portal/sign-in/{token:str}"): PUBLIC,
    ("POST", "/portal/sign-in/{token:str}"): PUBLIC,
    ("POST", "/portal/language"): PUBLIC,
    ("POST", "/portal/sign-out"): PORTAL,
    ("GET", "/portal/account"): PORTAL,
    ("POST", "/portal/account"): PORTAL,
    # A new request (portal/requests.py): the form, its live suggestions, "this solved it".
    ("GET", "/portal/requests/new"): PORTAL,
    ("POST", "/portal/requests/new"): PORTAL,
    ("POST", "/portal/requests/suggest"): PORTAL,
    ("POST", "/portal/requests/solved"): PORTAL,
    # My tickets (portal/tickets.py); who sees which ticket: tests/portal/test_idor_matrix.py.
    ("GET", "/portal/data"): PORTAL,
    ("POST", "/portal/data/consent"): PORTAL,
    ("GET", "/portal/data/export"): PORTAL,
    ("POST", "/portal/data/erasure"): PORTAL,
    ("POST", "/portal/data/erasure/withdraw"): PORTAL,
    ("GET", "/portal/tickets"): PORTAL,
    ("GET", "/portal/tickets/{number:int}"): PORTAL,
    ("POST", "/portal/tickets/{number:int}/reply"): PORTAL,
    ("POST", "/portal/tickets/{number:int}/close"): PORTAL,
    ("POST", "/portal/tickets/{number:int}/reopen"): PORTAL,
    ("GET", "/portal/tickets/{number:int}/attachments/{attachment_id:int}"): PORTAL,
    ("POST", "/customers/{customer_id:int}/organization-role"): "admin",
    # People (agent_ui/people.py): staff admin, one's own tokens, an invitation's link.
    ("GET", "/admin/people"): "admin",
    ("POST", "/admin/people"): "admin",
    ("GET", "/admin/people/{user_id:int}"): "admin",
    ("POST", "/admin/people/{user_id:int}"): "admin",
    ("POST", "/admin/people/{user_id:int}/active"): "admin",
    ("POST", "/admin/people/{user_id:int}/invite"): "admin",
    ("POST", "/admin/people/{user_id:int}/two-factor"): "admin",
    ("GET", "/account/tokens"): "agent",
    ("POST", "/account/tokens"): "agent",
    ("POST", "/account/tokens/{token_id:int}/revoke"): "agent",
    ("GET", "/invite/{token:str}"): PUBLIC,
    ("POST", "/invite/{token:str}"): PUBLIC,
}

SOCKETS = {
    "/ws/console": "agent",
    "/ws/tickets/{ticket_id:int}": "agent",
    "/ws/desk": "agent",
    "/ws/board": "supervisor",
    "/ws/chats": "agent",
    # Opened by a page of a site on the chat channel's allow-list, whoever is signed in
    # here: refused (1008) for every caller of this file (no such channel, not that
    # origin); what it accepts is tested in tests/channels/chat/test_socket.py.
    "/chat/{key}/socket": VISITOR,
}

MOUNTS = {"/static": PUBLIC}

# Routes that end the caller's session: checked with a session of their own.
ENDS_SESSION = {
    ("POST", "/logout"),
    ("POST", "/portal/sign-out"),
    ("POST", "/account/sign-out-everywhere"),
}
# Forms that read no session (a chat visitor's token comes in the form, the origin is
# checked): a CSRF token would protect nothing.
WITHOUT_SESSION = {("POST", "/chat/{key}/files")}

CALLERS = ("anonymous", "deactivated", *ROLES)


def app_routes(app) -> tuple[set, set, set]:
    pairs, sockets, mounts = set(), set(), set()
    for route in app.routes:
        if isinstance(route, Route):
            pairs |= {(method, route.path) for method in route.methods - {"HEAD"}}
        elif isinstance(route, WebSocketRoute):
            sockets.add(route.path)
        elif isinstance(route, Mount):
            mounts.add(route.path)
    return pairs, sockets, mounts


# A published article: the CSRF matrix names it (so a form is refused for its token, not
# for a 404); the role matrix names ids of nothing (who may call a route, not what they
# may do to one object: that is each room's tests).
ARTICLE = "refund-en"
NOTHING = 999_999


def concrete(path: str, article_id: int = NOTHING) -> str:
    path = path.replace("{article_id:int}", str(article_id))
    path = path.replace("{slug:str}", ARTICLE)
    path = re.sub(r"\{\w+:int\}", str(NOTHING), path)
    return re.sub(r"\{\w+(:\w+)?\}", "nothing", path)


def may(caller: str, needed: str) -> bool:
    if needed == PUBLIC:
        return True
    if caller == INTEGRATION or needed == INTEGRATION:
        return caller == needed or (caller == INTEGRATION and needed == "agent")
    if caller in ("anonymous", "deactivated"):
        return False
    return ROLES.index(caller) >= ROLES.index(needed)


def show(wrong: list[str]) -> str:
    return "\n".join(wrong)


@pytest.fixture
async def callers(app, runtime):
    """A client (session cookie, CSRF token) and an API token for each kind of caller; the
    deactivated one was an administrator, signed in and given a token before deactivation."""
    made = {}
    for role in (*ROLES, "deactivated"):
        email = f"{role}@matrix.example"
        await create_user(
            runtime,
            email=email,
            name=role.title(),
            role="admin" if role == "deactivated" else role,
            password=f"{role}-password",
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        assert (await sign_in(client, email, f"{role}-password")).status_code == 303
        csrf = csrf_of((await client.get("/settings")).text)
        made[role] = (client, csrf, await create_token(runtime, email))
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User).where(User.email == "deactivated@matrix.example").values(active=False)
        )
    # Anonymous, but with the sign-in page's CSRF token, as a browser would have.
    anonymous = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    made["anonymous"] = (anonymous, csrf_of((await anonymous.get("/login")).text), None)
    # An agent's token for an integration: the inbound door, and what an agent may.
    made[INTEGRATION] = (
        None,
        "",
        await create_token(runtime, "agent@matrix.example", scopes=[INTEGRATION]),
    )
    made["article_id"] = (await load_kb_samples(runtime))[ARTICLE]
    yield made
    for role in ("anonymous", "deactivated", *ROLES):
        await made[role][0].aclose()


async def row_counts(runtime) -> dict[str, int]:
    async with runtime.read() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def test_every_route_has_an_expectation(app):
    pairs, sockets, mounts = app_routes(app)
    expected = set(API) | set(PAGES)
    assert pairs - expected == set(), "routes without an expectation in this file's tables"
    assert expected - pairs == set(), "expectations for routes that no longer exist"
    assert sockets == set(SOCKETS)
    assert mounts == set(MOUNTS)


async def test_api_refuses_whoever_may_not(callers):
    """401 without a valid token (a deactivated user's included), 403 below the role,
    and never 401/403/5xx for whoever may."""
    client = callers["anonymous"][0]
    wrong = []
    for (method, path), needed in sorted(API.items()):
        for caller in (*CALLERS, INTEGRATION):
            token = callers[caller][2]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            body = {} if method in ("POST", "PUT", "PATCH") else None
            answer = await client.request(method, concrete(path), headers=headers, json=body)
            status = answer.status_code
            if caller == "deactivated":
                ok = status == 401  # a public operation too: the token is not valid
            elif may(caller, needed):
                ok = status not in (401, 403) and status < 500
            elif caller == "anonymous":
                ok = status == 401
            else:
                ok = status == 403
            if not ok:
                wrong.append(f"{caller:12} {method:6} {path} → {status} {answer.text[:80]}")
    assert not wrong, show(wrong)


async def test_console_refuses_whoever_may_not(callers):
    """Without a session (or with a deactivated user's) a page sends to the sign-in page;
    below the role 403; whoever may gets neither (nor a 5xx). Forms carry their CSRF token
    here, so only the role decides."""
    wrong = []
    for (method, path), needed in sorted(PAGES.items()):
        if (method, path) in ENDS_SESSION:
            continue
        for caller in CALLERS:
            client, csrf, _ = callers[caller]
            data = {"csrf_token": csrf} if method == "POST" else None
            answer = await client.request(method, concrete(path), data=data)
            status = answer.status_code
            to_login = status == 303 and answer.headers["location"].startswith("/login")
            if needed == PORTAL:  # nobody here is signed in to the portal
                ok = status == 303 and answer.headers["location"].startswith("/portal/sign-in")
            elif may(caller, needed):
                ok = not to_login and status != 403 and status < 500
            elif caller in ("anonymous", "deactivated"):
                # A form without a session has no CSRF token to match: 403 is a refusal too.
                ok = to_login or (method == "POST" and status == 403)
            else:
                ok = status == 403
            if not ok:
                wrong.append(f"{caller:12} {method:6} {path} → {status}")
    assert not wrong, show(wrong)


async def test_sockets_refuse_whoever_may_not(app, callers):
    wrong = []
    for path, needed in sorted(SOCKETS.items()):
        for caller in CALLERS:
            client = callers[caller][0]
            cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
            socket = AsgiSocket(app, concrete(path), cookie)
            first = await socket.connect()
            accepted = first["type"] == "websocket.accept"
            expected = needed != VISITOR and may(caller, needed) and caller != "deactivated"
            if accepted != expected:
                wrong.append(f"{caller:12} {path} → {first}")
            if accepted:
                await socket.close()
            else:
                assert first == {"type": "websocket.close", "code": 1008, "reason": ""}
                await socket.task
    assert not wrong, show(wrong)


async def test_static_files_are_public(callers):
    answer = await callers["anonymous"][0].get("/static/console.css")
    assert answer.status_code in (200, 404)
    assert answer.status_code != 303


async def test_every_console_form_needs_its_csrf_token(callers, runtime):
    """Every non-GET page route, called by an administrator (who may do everything) without
    the token, with another session's token and with a wrong one: 403, nothing written."""
    client, csrf, _ = callers["admin"]
    others = callers["agent"][1]
    before = await row_counts(runtime)
    wrong = []
    for method, path in sorted(PAGES):
        if method == "GET" or (method, path) in WITHOUT_SESSION or PAGES[method, path] == PORTAL:
            continue
        for sent in (None, others, csrf[:-2] + "xx", ""):
            data = {"csrf_token": sent} if sent is not None else {"subject": "x"}
            answer = await client.request(method, concrete(path, callers["article_id"]), data=data)
            if answer.status_code != 403:
                wrong.append(f"{method} {path} token={sent!r:.12} → {answer.status_code}")
    assert not wrong, show(wrong)
    assert await row_counts(runtime) == before
    # The session is still good: nothing above signed the administrator out.
    assert (await client.get("/settings")).status_code == 200


async def test_sign_out_needs_the_csrf_token(callers):
    client, csrf, _ = callers["agent"]
    assert (await client.post("/logout", data={})).status_code == 403
    assert (await client.get("/settings")).status_code == 200
    answer = await client.post("/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert (await client.get("/settings")).status_code == 303


@pytest.fixture
async def customer(app, runtime):
    """A client signed in to the portal as a customer (through a sign-in link), with the
    CSRF token of its pages."""
    async with runtime.transaction() as tx:
        await create_customer(tx, name="Pia Portal", identities=[("email", "pia@matrix.example")])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await sign_in_to_portal(runtime, client, "pia@matrix.example")
    csrf = csrf_of((await client.get("/portal/account")).text)
    yield client, csrf
    await client.aclose()


async def test_portal_lets_its_customer_in_and_nobody_else(customer):
    """A customer signed in to the portal opens every portal page (ids of nothing: a 404),
    the public ones too, and no console page."""
    client, csrf = customer
    wrong = []
    for (method, path), needed in sorted(PAGES.items()):
        if (method, path) in ENDS_SESSION:
            continue
        data = {"csrf_token": csrf} if method == "POST" else None
        answer = await client.request(method, concrete(path), data=data)
        status = answer.status_code
        location = answer.headers.get("location", "")
        if needed in (PORTAL, PUBLIC):  # (a wrong staff password is a 401 on /login)
            ok = status != 403 and status < 500 and (needed == PUBLIC or status != 401)
            ok = ok and not (status == 303 and location.startswith(("/login", "/portal/sign-in")))
        else:  # a customer is no member of staff
            ok = (
                status == 303
                and location.startswith("/login")
                or (method == "POST" and status == 403)
            )
        if not ok:
            wrong.append(f"customer     {method:6} {path} → {status} {location}")
    assert not wrong, show(wrong)


async def test_every_portal_form_needs_its_csrf_token(app, customer, runtime):
    """Every non-GET portal route, called by its signed-in customer without the token, with
    another session's token and with a wrong one: 403, nothing written, still signed in."""
    client, csrf = customer
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    others = csrf_of((await other.get("/portal/sign-in")).text)
    await other.aclose()
    before = await row_counts(runtime)
    wrong = []
    for (method, path), needed in sorted(PAGES.items()):
        if method == "GET" or needed != PORTAL:
            continue
        for sent in (None, others, csrf[:-2] + "xx", ""):
            data = {"csrf_token": sent} if sent is not None else {"subject": "x"}
            answer = await client.request(method, concrete(path), data=data)
            if answer.status_code != 403:
                wrong.append(f"{method} {path} token={sent!r:.12} → {answer.status_code}")
    assert not wrong, show(wrong)
    assert await row_counts(runtime) == before
    assert (await client.get("/portal/account")).status_code == 200


async def test_portal_sign_out_needs_the_csrf_token(customer):
    client, csrf = customer
    assert (await client.post("/portal/sign-out", data={})).status_code == 403
    assert (await client.get("/portal/account")).status_code == 200
    answer = await client.post("/portal/sign-out", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert (await client.get("/portal/account")).headers["location"].startswith("/portal/sign-in")
