"""The portal sign-in after its security review: a session key per account (an erased
record's cookie opens no one), the answer to "mail me a link" sent before any lookup, a
double-click on "Sign in", the current password to change it, two first sign-ins at once,
the longest password, the logo setting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from customers.actions import create_customer
from customers.erasure import erase
from customers.merge import merge_customers
from customers.models import Customer
from customers.portal_access import issue_link, redeem_link, set_password
from customers.portal_models import PortalAccount, PortalSignInLink
from tests.fixtures import csrf_of
from tresen.clock import FrozenClock
from tresen.settings import Settings, SettingsError


def new_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def signed_in_as(client) -> str | None:
    page = await client.get("/portal/account")
    if page.status_code != 200:
        return None
    return page.text.split("Signed in as ", 1)[1].split(".<", 1)[0]


async def link_path(runtime, email: str) -> str:
    async with runtime.transaction() as tx:
        link = await issue_link(tx, email, source="cli")
    return link.url.removeprefix("http://127.0.0.1:8000")


async def test_an_erased_customer_s_cookie_opens_nobody_else(
    app, runtime, portal_customer, portal_sign_in
):
    async with new_client(app) as kims:
        await portal_sign_in(kims, portal_customer)
        kept_cookie = kims.cookies.get("tresen_portal")
    await erase(runtime, portal_customer.id, source="agent", actor_user_id=None, mode="delete")
    async with runtime.transaction() as tx:
        newcomer = await create_customer(
            tx, name="Nora Neu", identities=[("email", "nora@example.com")]
        )
    if not runtime.settings.is_postgres:
        assert newcomer.id == portal_customer.id  # SQLite hands the id out again
    async with new_client(app) as copy:
        copy.cookies.set("tresen_portal", kept_cookie)
        assert await signed_in_as(copy) is None
        async with new_client(app) as noras:  # the newcomer's own account now exists
            await portal_sign_in(noras, newcomer)
            assert await signed_in_as(noras) == "Nora Neu"
        assert await signed_in_as(copy) is None
        assert (await copy.get("/portal/tickets")).status_code == 303


async def test_signing_out_ends_sessions_begun_on_a_record_merged_in(app, runtime, portal_sign_in):
    async with runtime.transaction() as tx:
        kept = await create_customer(tx, name="Jonas Berg", identities=[("email", "j@example.com")])
        twin = await create_customer(tx, name="J. Berg", identities=[("email", "jb@example.com")])
    async with new_client(app) as old, new_client(app) as new:
        await portal_sign_in(old, "jb@example.com")
        await portal_sign_in(new, "j@example.com")
        async with runtime.transaction() as tx:
            await merge_customers(
                tx, await tx.session.get(Customer, twin.id), await tx.session.get(Customer, kept.id)
            )
        assert await signed_in_as(old) == "Jonas Berg"
        page = await new.get("/portal/account")
        await new.post("/portal/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert await signed_in_as(old) is None  # "on every device" includes this one


async def test_the_answer_is_sent_before_the_address_is_looked_up(app, runtime, portal_customer):
    """What is known and what is not takes the same time: the request answers, then the
    link is issued and mailed (after the answer's last byte)."""
    async with new_client(app) as client:
        page = await client.get("/portal/sign-in")
        csrf = csrf_of(page.text)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    body = f"email=kim%40example.com&csrf_token={csrf}".encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/portal/sign-in",
        "raw_path": b"/portal/sign-in",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", cookie.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            sent.append(message["status"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            async with runtime.read() as session:
                links = await session.scalar(select(func.count()).select_from(PortalSignInLink))
            sent.append(("links when answered", links))

    await app(scope, receive, send)
    assert sent == [303, ("links when answered", 0)]
    async with runtime.read() as session:  # and then it was issued
        assert await session.scalar(select(func.count()).select_from(PortalSignInLink)) == 1


async def test_a_double_click_on_sign_in_signs_in(app, runtime, portal_customer):
    runtime.clock = FrozenClock(runtime.clock.now())
    path = await link_path(runtime, "kim@example.com")
    async with new_client(app) as client:
        page = await client.get(path)
        csrf = csrf_of(page.text)
        form = {"csrf_token": csrf, "next": "/portal/account"}
        first = await client.post(path, data=form)
        second = await client.post(path, data=form)
        assert first.status_code == second.status_code == 303
        assert second.headers["location"] == "/portal/account"
        assert await signed_in_as(client) == "Kim Meyer"

        # Another browser, not signed in, is refused as before.
        async with new_client(app) as other:
            page = await other.get(path)
            assert page.status_code == 410
            answer = await other.post(path, data={"csrf_token": csrf_of(page.text)})
            assert answer.status_code == 410 and "was used already" in answer.text
            # ... and so is one signed in as somebody else.
            async with runtime.transaction() as tx:
                await create_customer(tx, name="Ole Ost", identities=[("email", "ole@example.com")])
            other_path = await link_path(runtime, "ole@example.com")
            page = await other.get(other_path)
            await other.post(other_path, data={"csrf_token": csrf_of(page.text)})
            assert await signed_in_as(other) == "Ole Ost"
            answer = await other.post(path, data={"csrf_token": csrf_of(page.text)})
            assert answer.status_code == 410
            assert await signed_in_as(other) == "Ole Ost"

        # A minute later the used link is refused even here.
        runtime.clock.advance(timedelta(seconds=61))
        late = await client.post(path, data=form)
        assert late.status_code == 410 and "was used already" in late.text


async def _change_password(client, csrf, new, current=None) -> httpx.Response:
    data = {"csrf_token": csrf, "action": "password", "password": new, "password_again": new}
    if current is not None:
        data["current_password"] = current
    return await client.post("/portal/account", data=data)


async def _password_works(app, password: str) -> bool:
    async with new_client(app) as client:
        page = await client.get("/portal/sign-in")
        answer = await client.post(
            "/portal/sign-in",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "kim@example.com",
                "password": password,
            },
        )
        return answer.status_code == 303


async def test_changing_a_password_asks_for_the_current_one(app, portal_client):
    page = await portal_client.get("/portal/account")
    assert 'name="current_password"' not in page.text
    csrf = csrf_of(page.text)
    # The first password right after signing in by a link: no current one to give.
    first = await _change_password(portal_client, csrf, "first-password")
    assert first.status_code == 200 and "Your password is set" in first.text
    assert 'name="current_password"' in first.text

    # Whoever holds the session (a borrowed phone, a stolen cookie) cannot change it.
    for current in (None, "", "wrong-password"):
        answer = await _change_password(portal_client, csrf, "taken-over-1", current)
        assert answer.status_code == 400
        assert "current password" in answer.text
        assert "Your password is set" not in answer.text
    assert await _password_works(app, "first-password")
    assert not await _password_works(app, "taken-over-1")
    assert await signed_in_as(portal_client) == "Kim Meyer"  # the session stays

    changed = await _change_password(portal_client, csrf, "second-password", "first-password")
    assert changed.status_code == 200 and "Your password is set" in changed.text
    assert await _password_works(app, "second-password")
    assert not await _password_works(app, "first-password")


async def test_wrong_current_passwords_are_throttled(app, portal_client):
    csrf = csrf_of((await portal_client.get("/portal/account")).text)
    await _change_password(portal_client, csrf, "first-password")
    statuses = [
        (await _change_password(portal_client, csrf, "next-password", f"guess-{n}")).status_code
        for n in range(12)
    ]
    assert statuses[0] == 400 and statuses[-1] == 429
    assert await _password_works(app, "first-password")


async def test_a_too_long_password_is_told_the_maximum(portal_client):
    csrf = csrf_of((await portal_client.get("/portal/account")).text)
    answer = await _change_password(portal_client, csrf, "x" * 1001)
    assert answer.status_code == 400
    assert "at most 1000 characters" in answer.text
    assert "needs at least" not in answer.text
    just = await _change_password(portal_client, csrf, "x" * 1000)
    assert just.status_code == 200 and "Your password is set" in just.text


async def test_two_first_sign_ins_at_once_make_one_account(app, runtime, portal_customer):
    paths = [await link_path(runtime, "kim@example.com") for _ in range(3)]
    async with new_client(app) as a, new_client(app) as b, new_client(app) as c:
        clients = (a, b, c)
        pages = [await client.get(path) for client, path in zip(clients, paths, strict=True)]
        answers = await asyncio.gather(
            *(
                client.post(path, data={"csrf_token": csrf_of(page.text)})
                for client, path, page in zip(clients, paths, pages, strict=True)
            )
        )
        assert [answer.status_code for answer in answers] == [303, 303, 303]
        for client in clients:
            assert await signed_in_as(client) == "Kim Meyer"
    async with runtime.read() as session:
        assert await session.scalar(select(func.count()).select_from(PortalAccount)) == 1


async def test_first_sign_ins_racing_in_the_database_make_one_account(runtime, portal_customer):
    """The same below the pages, the race made certain: one sign-in has made the account
    and not committed yet while the others (and a new password) make theirs."""
    tokens = []
    for _ in range(3):
        async with runtime.transaction() as tx:
            tokens.append((await issue_link(tx, "kim@example.com", source="cli")).token)
    made = asyncio.Event()

    async def first():
        async with runtime.transaction() as tx:
            signed_in = await redeem_link(tx, tokens[0])
            made.set()
            await asyncio.sleep(0.3)  # the account is there, not committed
        return signed_in

    async def later(token):
        await made.wait()
        async with runtime.transaction() as tx:
            return await redeem_link(tx, token)

    async def password_later():
        await made.wait()
        return await set_password(runtime, portal_customer.id, "set-meanwhile")

    results = await asyncio.gather(
        first(), *(later(token) for token in tokens[1:]), password_later(), return_exceptions=True
    )
    assert [type(result).__name__ for result in results] == ["SignedIn"] * 4, results
    async with runtime.read() as session:
        assert await session.scalar(select(func.count()).select_from(PortalAccount)) == 1


@pytest.mark.parametrize(
    "logo",
    [
        "/static/logo.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "https://desk.example.com/static/logo.png",
        "",
    ],
)
def test_a_logo_the_pages_can_show(tmp_path, logo):
    env = {
        "TRESEN_DATA_DIR": str(tmp_path),
        "TRESEN_SECRET_KEY": "s" * 40,
        "TRESEN_BASE_URL": "https://desk.example.com",
        "TRESEN_COMPANY_LOGO_URL": logo,
    }
    assert Settings.from_env(env).company_logo_url == logo


@pytest.mark.parametrize(
    "logo",
    [
        "https://cdn.example.net/logo.png",
        "//cdn.example.net/logo.png",
        "https://desk.example.com.evil.example/logo.png",
        "javascript:alert(1)",
        "logo.png",
    ],
)
def test_a_logo_of_another_site_is_refused_by_name(tmp_path, logo):
    env = {
        "TRESEN_DATA_DIR": str(tmp_path),
        "TRESEN_SECRET_KEY": "s" * 40,
        "TRESEN_BASE_URL": "https://desk.example.com",
        "TRESEN_COMPANY_LOGO_URL": logo,
    }
    with pytest.raises(SettingsError, match="TRESEN_COMPANY_LOGO_URL") as refused:
        Settings.from_env(env)
    assert repr(logo) in str(refused.value)
