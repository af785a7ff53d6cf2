"""The console's pages over HTTP: sign-in, CSRF, roles, plain-form fallbacks."""

from __future__ import annotations

import pytest

from tests.fixtures import csrf_of, sign_in

INBOUND = {
    "channel": "email",
    "external_id": "<c1@x>",
    "from": {"kind": "email", "value": "kunde@x.example", "name": "Karl Kunde"},
    "subject": "Passwort vergessen",
    "text": "Ich komme nicht mehr rein.",
    "html": "<p>Ich komme <b>nicht</b> mehr rein.<img src=x onerror=alert(1)></p>",
}


async def test_signed_out_visitor_is_sent_to_login(client):
    answer = await client.get("/tickets/1")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/tickets/1"


async def test_login_wrong_password_and_missing_csrf(client, agent):
    page = await client.get("/login")
    wrong = await client.post(
        "/login",
        data={"email": agent.email, "password": "nope-nope", "csrf_token": csrf_of(page.text)},
    )
    assert wrong.status_code == 401 and "wrong" in wrong.text
    no_csrf = await client.post("/login", data={"email": agent.email, "password": "agent-password"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    ok = await sign_in(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/"


async def test_login_never_redirects_off_site(client, agent):
    page = await client.get("/login?next=//evil.example/")
    answer = await client.post(
        "/login",
        data={
            "email": agent.email,
            "password": "agent-password",
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/",
        },
    )
    assert answer.headers["location"] == "/"


async def test_reply_by_plain_form_post_and_csrf_required(client, agent, agent_headers):
    created = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    await sign_in(client)
    page = await client.get(f"/tickets/{created['ticket_id']}")
    assert page.status_code == 200
    assert "Passwort vergessen" in page.text and "<b>nicht</b>" in page.text
    assert "onerror" not in page.text
    forged = await client.post(f"/tickets/{created['ticket_id']}/messages", data={"text": "forged"})
    assert forged.status_code == 403
    sent = await client.post(
        f"/tickets/{created['ticket_id']}/messages",
        data={"text": "Hier ist der Link zum Zurücksetzen.", "csrf_token": csrf_of(page.text)},
    )
    assert sent.status_code == 303
    ticket = (
        await client.get(f"/api/v1/tickets/{created['ticket_id']}", headers=agent_headers)
    ).json()
    assert ticket["messages"][-1]["text"] == "Hier ist der Link zum Zurücksetzen."
    assert ticket["messages"][-1]["author_user_id"] == agent.id
    assert ticket["state"] == "open"


async def test_list_filters_and_bad_filter(client, agent, agent_headers):
    await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)
    await sign_in(client)
    assert "Passwort vergessen" in (await client.get("/")).text
    assert "Passwort vergessen" not in (await client.get("/?assignee=me")).text
    assert (await client.get("/?state=bogus")).status_code == 400


async def test_security_headers(client):
    answer = await client.get("/login")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_logout_ends_the_session(client, agent):
    await sign_in(client)
    page = await client.get("/")
    assert page.status_code == 200
    await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert (await client.get("/")).status_code == 303


async def test_saving_a_stale_form_changes_only_what_the_agent_changed(
    client, agent, agent_headers
):
    created = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    tid = created["ticket_id"]
    await sign_in(client)
    page = await client.get(f"/tickets/{tid}")
    # Meanwhile someone else sets the ticket to pending.
    await client.patch(f"/api/v1/tickets/{tid}", json={"state": "pending"}, headers=agent_headers)
    # The agent's page still shows "new"; they raise the priority and save.
    answer = await client.post(
        f"/tickets/{tid}/update",
        data={
            "csrf_token": csrf_of(page.text),
            "state": "new",
            "state_was": "new",
            "priority": "high",
            "priority_was": "normal",
            "queue_id": "",
            "queue_id_was": "",
        },
    )
    assert answer.status_code == 303
    ticket = (await client.get(f"/api/v1/tickets/{tid}", headers=agent_headers)).json()
    assert (ticket["state"], ticket["priority"]) == ("pending", "high")
    assigned = await client.post(
        f"/tickets/{tid}/update",
        data={"csrf_token": csrf_of(page.text), "assignee_id": "me", "assignee_id_was": ""},
    )
    assert assigned.status_code == 303
    ticket = (await client.get(f"/api/v1/tickets/{tid}", headers=agent_headers)).json()
    assert ticket["assignee"]["id"] == agent.id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_repeated_wrong_passwords_are_throttled(client, app, agent):
    for _ in range(10):
        page = await client.get("/login")
        wrong = await client.post(
            "/login",
            data={
                "email": agent.email,
                "password": "guess-guess",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert wrong.status_code == 401
    page = await client.get("/login")
    blocked = await client.post(
        "/login",
        data={"email": agent.email, "password": "agent-password", "csrf_token": csrf_of(page.text)},
    )
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    # Another account from elsewhere is not affected.
    throttle = app.state.login_throttle
    assert throttle.wait_seconds("someone@example.com", "10.0.0.9") == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_empty_reply_shows_its_error_in_the_composer(client, agent, agent_headers):
    created = (await client.post("/api/v1/inbound", json=INBOUND, headers=agent_headers)).json()
    await sign_in(client)
    page = await client.get(f"/tickets/{created['ticket_id']}")
    answer = await client.post(
        f"/tickets/{created['ticket_id']}/messages",
        data={"text": "   ", "csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    # htmx swaps only 2xx answers: the error must come back as one, inside the composer.
    assert answer.status_code == 200
    assert 'role="alert"' in answer.text and "needs text" in answer.text
    plain = await client.post(
        f"/tickets/{created['ticket_id']}/messages",
        data={"text": "   ", "csrf_token": csrf_of(page.text)},
    )
    assert plain.status_code == 422
