"""Signing in to the portal: links by mail, their single use and expiry, the same answer
for every address, limits, passwords, sessions on the customer record, sign-out everywhere."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from customers.actions import add_identity, create_customer
from customers.merge import merge_customers
from customers.models import Customer
from customers.portal_models import PortalSignInLink
from tests.fixtures import csrf_of, sign_in, sign_in_to_portal
from tickets.models import OutboxMessage
from tresen.app import create_app
from tresen.clock import FrozenClock
from tresen.desk_settings import put_setting

LINK = re.compile(r"http://127\.0\.0\.1:8000(/portal/sign-in/[A-Za-z0-9_-]+)")


def new_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def ask_for_link(client, email: str, **headers) -> httpx.Response:
    page = await client.get("/portal/sign-in", headers=headers)
    return await client.post(
        "/portal/sign-in",
        data={"email": email, "csrf_token": csrf_of(page.text)},
        headers=headers,
    )


async def mails_to(runtime, recipient: str) -> list[OutboxMessage]:
    async with runtime.read() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == recipient)
                .order_by(OutboxMessage.id)
            )
        )


async def link_rows(runtime) -> int:
    async with runtime.read() as session:
        return await session.scalar(select(func.count()).select_from(PortalSignInLink))


async def press_sign_in(client, path: str) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={"csrf_token": csrf_of(page.text)})


async def signed_in_as(client) -> str | None:
    page = await client.get("/portal/account")
    if page.status_code != 200:
        return None
    return re.search(r"Signed in as (.+?)\.<", page.text).group(1)


async def test_the_seam_signs_a_customer_in(client, portal_customer, portal_sign_in):
    assert (await client.get("/portal/account")).status_code == 303
    await portal_sign_in(client, portal_customer)
    page = await client.get("/portal/account")
    assert page.status_code == 200
    assert "Kim Meyer" in page.text
    assert 'action="/portal/sign-out"' in page.text


async def test_the_mail_names_the_portal_as_its_pages_do(client, runtime, portal_customer):
    async with runtime.transaction() as tx:
        await put_setting(tx, "help_name", "Fahrradladen Ost")
    await ask_for_link(client, "kim@example.com")
    (mail,) = await mails_to(runtime, "kim@example.com")
    assert mail.subject == "Your sign-in link for Fahrradladen Ost"
    assert "customer portal of Fahrradladen Ost" in mail.text


async def test_a_mailed_link_signs_in_once(app, client, runtime, portal_customer):
    answer = await ask_for_link(client, "  KIM@example.com ")
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/sign-in?sent=1"
    (mail,) = await mails_to(runtime, "kim@example.com")
    assert mail.subject == "Your sign-in link for Tresen"
    path = LINK.search(mail.text).group(1)
    assert "15 minutes" in mail.text

    # Opening the link (a mail scanner does) signs nobody in and does not use it up.
    for _ in range(2):
        page = await client.get(path)
        assert page.status_code == 200 and f'action="{path}"' in page.text
    assert await signed_in_as(client) is None

    answer = await press_sign_in(client, path)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/tickets"
    assert await signed_in_as(client) == "Kim Meyer"
    assert (await client.get("/portal")).headers["location"] == "/portal/tickets"

    # Used: refused with a clear page, on any browser.
    async with new_client(app) as other:
        page = await other.get(path)
        assert page.status_code == 410 and "was used already" in page.text
        assert 'action="' + path not in page.text
        answer = await other.post(path, data={"csrf_token": csrf_of(page.text)})
        assert answer.status_code == 410 and "was used already" in answer.text
        assert await signed_in_as(other) is None


async def test_every_address_gets_the_same_answer(client, runtime, portal_customer):
    known = await ask_for_link(client, "kim@example.com")
    unknown = await ask_for_link(client, "nobody@example.com")
    assert (known.status_code, known.headers["location"]) == (
        unknown.status_code,
        unknown.headers["location"],
    )
    assert await mails_to(runtime, "nobody@example.com") == []
    assert len(await mails_to(runtime, "kim@example.com")) == 1
    page = await client.get(unknown.headers["location"])
    assert "If this address belongs to a customer" in page.text


async def test_what_is_no_address_is_named(client, runtime):
    answer = await ask_for_link(client, "not an address")
    assert answer.status_code == 400
    assert "not an address is not an e-mail address" in answer.text
    empty = await ask_for_link(client, "")
    assert empty.status_code == 400 and "Please enter your e-mail address" in empty.text
    assert await link_rows(runtime) == 0


async def test_an_expired_or_altered_link_is_refused(client, runtime, portal_customer):
    runtime.clock = FrozenClock(runtime.clock.now())
    await ask_for_link(client, "kim@example.com")
    (mail,) = await mails_to(runtime, "kim@example.com")
    path = LINK.search(mail.text).group(1)

    altered = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    csrf = await _csrf(client)
    for method in ("GET", "POST"):
        page = await client.request(method, altered, data={"csrf_token": csrf})
        assert page.status_code == 404 and "not valid" in page.text
    page = await client.get("/portal/sign-in/x")
    assert page.status_code == 404 and "not valid" in page.text

    runtime.clock.advance(timedelta(minutes=15, seconds=1))
    page = await client.get(path)
    assert page.status_code == 410 and "has expired" in page.text
    answer = await client.post(path, data={"csrf_token": await _csrf(client)})
    assert answer.status_code == 410
    assert await signed_in_as(client) is None


async def _csrf(client) -> str:
    return csrf_of((await client.get("/portal/sign-in")).text)


async def test_links_to_one_address_are_limited_per_hour(client, runtime, portal_customer):
    runtime.clock = FrozenClock(runtime.clock.now())
    for _ in range(7):
        answer = await ask_for_link(client, "kim@example.com")
        assert answer.headers["location"] == "/portal/sign-in?sent=1"  # the same answer
    assert len(await mails_to(runtime, "kim@example.com")) == 5
    runtime.clock.advance(timedelta(hours=1, seconds=1))
    await ask_for_link(client, "kim@example.com")
    assert len(await mails_to(runtime, "kim@example.com")) == 6


async def test_asking_is_limited_per_client_address(runtime, portal_customer):
    runtime.settings = replace(runtime.settings, sign_ins_per_minute=3)
    async with new_client(create_app(runtime=runtime)) as client:
        statuses = [(await ask_for_link(client, "kim@example.com")).status_code for _ in range(4)]
        assert statuses == [303, 303, 303, 429]


async def test_sign_out_ends_every_session(app, runtime, portal_customer, portal_sign_in):
    async with new_client(app) as phone, new_client(app) as laptop:
        await portal_sign_in(phone, portal_customer)
        await portal_sign_in(laptop, portal_customer)
        kept_cookie = phone.cookies.get("tresen_portal")
        page = await phone.get("/portal/account")
        answer = await phone.post("/portal/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert answer.headers["location"] == "/portal/sign-in?signed_out=1"
        assert await signed_in_as(phone) is None
        assert await signed_in_as(laptop) is None
        # A copy of the old cookie opens nothing either.
        async with new_client(app) as copy:
            copy.cookies.set("tresen_portal", kept_cookie)
            assert await signed_in_as(copy) is None
        # Signing in again works.
        await portal_sign_in(phone, portal_customer)
        assert await signed_in_as(phone) == "Kim Meyer"


async def test_a_forged_cookie_opens_nothing(app, client, runtime, portal_customer):
    from itsdangerous import URLSafeTimedSerializer

    from customers.portal_access import session_key_of

    async with new_client(app) as first:  # the account (and its session key) exists
        await sign_in_to_portal(runtime, first, portal_customer)
    async with runtime.read() as session:
        key = await session_key_of(session, portal_customer.id)
    claim = {"c": portal_customer.id, "k": key}
    right_signer = URLSafeTimedSerializer("test-secret-key", salt="tresen.portal.session")
    for forged in (
        URLSafeTimedSerializer("another-key", salt="tresen.portal.session").dumps(claim),
        URLSafeTimedSerializer("test-secret-key", salt="another-salt").dumps(claim),
        json.dumps({"c": 1, "k": key}),
        # Signed right, but without the account's session key.
        right_signer.dumps({"c": portal_customer.id, "k": "0" * 32}),
        right_signer.dumps({"c": portal_customer.id, "g": 0}),
    ):
        client.cookies.set("tresen_portal", forged)
        assert await signed_in_as(client) is None
    # The right key and salt: the cookie the portal itself makes is accepted (so the
    # refusals above are for the forgery, not for the form of the cookie).
    right = right_signer.dumps(claim)
    client.cookies.set("tresen_portal", right)
    assert await signed_in_as(client) == "Kim Meyer"
    client.cookies.set("tresen_portal", forged)
    assert (await client.get("/portal/account")).headers["location"] == (
        "/portal/sign-in?next=/portal/account"
    )


async def test_the_staff_session_and_the_portal_are_apart(
    app, agent, client, portal_customer, portal_sign_in
):
    assert (await sign_in(client)).status_code == 303
    assert await signed_in_as(client) is None  # an agent is no customer
    await portal_sign_in(client, portal_customer)
    assert await signed_in_as(client) == "Kim Meyer"
    page = await client.get("/settings")
    assert page.status_code == 200  # still the agent in the console
    await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert await signed_in_as(client) == "Kim Meyer"  # signing out of the console is not this


async def test_a_password_the_customer_sets(app, runtime, portal_customer, portal_sign_in):
    async with new_client(app) as phone, new_client(app) as laptop, new_client(app) as other:
        await portal_sign_in(phone, portal_customer)
        await portal_sign_in(laptop, portal_customer)
        page = await phone.get("/portal/account")
        assert "Set password" in page.text
        csrf = csrf_of(page.text)
        short = await phone.post(
            "/portal/account",
            data={
                "csrf_token": csrf,
                "action": "password",
                "password": "short",
                "password_again": "short",
            },
        )
        assert short.status_code == 400 and "at least 8 characters" in short.text
        differ = await phone.post(
            "/portal/account",
            data={
                "csrf_token": csrf,
                "action": "password",
                "password": "long-enough-1",
                "password_again": "long-enough-2",
            },
        )
        assert differ.status_code == 400 and "not the same" in differ.text
        done = await phone.post(
            "/portal/account",
            data={
                "csrf_token": csrf,
                "action": "password",
                "password": "long-enough-1",
                "password_again": "long-enough-1",
            },
        )
        assert done.status_code == 200 and "Your password is set" in done.text
        assert await signed_in_as(phone) == "Kim Meyer"  # this device stays signed in
        assert await signed_in_as(laptop) is None  # the others do not

        page = await other.get("/portal/sign-in")
        wrong = await other.post(
            "/portal/sign-in",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "kim@example.com",
                "password": "long-enough-2",
            },
        )
        assert wrong.status_code == 401 and "password is wrong" in wrong.text
        unknown = await other.post(
            "/portal/sign-in",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "nobody@example.com",
                "password": "long-enough-1",
            },
        )
        assert unknown.status_code == 401 and "password is wrong" in unknown.text
        right = await other.post(
            "/portal/sign-in",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "Kim@Example.com",
                "password": "long-enough-1",
                "next": "/portal/account",
            },
        )
        assert right.status_code == 303 and right.headers["location"] == "/portal/account"
        assert await signed_in_as(other) == "Kim Meyer"

        removed = await phone.post(
            "/portal/account", data={"csrf_token": csrf, "action": "remove_password"}
        )
        assert removed.status_code == 200 and "Set password" in removed.text
    async with new_client(app) as again:
        page = await again.get("/portal/sign-in")
        answer = await again.post(
            "/portal/sign-in",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "kim@example.com",
                "password": "long-enough-1",
            },
        )
        assert answer.status_code == 401


async def test_a_next_page_never_leaves_the_portal(client, portal_customer, runtime):
    from customers.portal_access import set_password

    await set_password(runtime, portal_customer.id, "long-enough-1")
    for sent, expected in (
        ("https://evil.example/", "/portal/tickets"),
        ("//evil.example/", "/portal/tickets"),
        ("/settings", "/portal/tickets"),
        ("/portal/tickets/10001", "/portal/tickets/10001"),
    ):
        client.cookies.clear()
        page = await client.get("/portal/sign-in")
        answer = await client.post(
            "/portal/sign-in",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "kim@example.com",
                "password": "long-enough-1",
                "next": sent,
            },
        )
        assert answer.headers["location"] == expected


async def test_any_address_of_the_record_signs_in_to_all_of_it(app, runtime, portal_sign_in):
    async with runtime.transaction() as tx:
        kept = await create_customer(
            tx, name="Jonas Berg", identities=[("email", "jonas@example.com")]
        )
        await add_identity(tx, kept, "email", "j.berg@work.example")
        twin = await create_customer(
            tx, name="J. Berg", identities=[("email", "jberg@old.example")]
        )
    async with new_client(app) as work, new_client(app) as old:
        await portal_sign_in(work, "j.berg@work.example")
        assert await signed_in_as(work) == "Jonas Berg"
        await portal_sign_in(old, "jberg@old.example")
        assert await signed_in_as(old) == "J. Berg"
        async with runtime.transaction() as tx:
            await merge_customers(
                tx, await tx.session.get(Customer, twin.id), await tx.session.get(Customer, kept.id)
            )
        # The session on the record merged away now opens the record it was merged into.
        assert await signed_in_as(old) == "Jonas Berg"
        async with new_client(app) as third:
            await portal_sign_in(third, "jberg@old.example")
            assert await signed_in_as(third) == "Jonas Berg"


async def test_german_from_the_browser_or_the_customer(
    app, client, runtime, portal_customer, portal_sign_in
):
    page = await client.get("/portal/sign-in", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert 'lang="de"' in page.text and "Anmelde-Link" in page.text
    await ask_for_link(client, "kim@example.com", **{"Accept-Language": "de"})
    (mail,) = await mails_to(runtime, "kim@example.com")
    # The record's language is unknown: the page's.
    assert mail.subject == "Ihr Anmelde-Link für Tresen"
    assert "einmal und 15 Minuten lang" in mail.text

    await portal_sign_in(client, portal_customer)
    page = await client.get("/portal/account")
    assert 'lang="en"' in page.text
    answer = await client.post(
        "/portal/language",
        data={"csrf_token": csrf_of(page.text), "language": "de", "next": "/portal/account"},
    )
    assert answer.headers["location"] == "/portal/account"
    page = await client.get("/portal/account")
    assert 'lang="de"' in page.text and "Angemeldet als Kim Meyer" in page.text
    async with runtime.read() as session:
        assert (await session.get(Customer, portal_customer.id)).language == "de"
    # Mail follows the record's language from now on, whatever the page's.
    async with new_client(app) as other:
        await ask_for_link(other, "kim@example.com", **{"Accept-Language": "en"})
    assert (await mails_to(runtime, "kim@example.com"))[-1].subject == (
        "Ihr Anmelde-Link für Tresen"
    )
    bad = await client.post(
        "/portal/language", data={"csrf_token": csrf_of(page.text), "language": "fr"}
    )
    assert bad.status_code == 400


@pytest.mark.parametrize("next_url", ["https://evil.example/", "/settings"])
async def test_the_language_switch_stays_on_our_pages(client, next_url):
    page = await client.get("/portal/sign-in")
    answer = await client.post(
        "/portal/language",
        data={"csrf_token": csrf_of(page.text), "language": "de", "next": next_url},
    )
    assert answer.headers["location"] == "/portal"
    page = await client.get("/portal/sign-in")
    assert 'lang="de"' in page.text


async def test_the_link_leads_back_to_the_page_the_customer_wanted(
    app, client, runtime, portal_customer
):
    start = await client.get("/portal/tickets/10001")  # e.g. from a reply's mail
    assert start.headers["location"] == "/portal/sign-in?next=/portal/tickets/10001"
    page = await client.get(start.headers["location"])
    await client.post(
        "/portal/sign-in",
        data={
            "email": "kim@example.com",
            "next": "/portal/tickets/10001",
            "csrf_token": csrf_of(page.text),
        },
    )
    (mail,) = await mails_to(runtime, "kim@example.com")
    url = re.search(r"http://127\.0\.0\.1:8000(\S+)", mail.text).group(1)
    assert url.endswith("?next=/portal/tickets/10001")
    link_page = await client.get(url)
    answer = await client.post(
        LINK.search(mail.text).group(1),
        data={"csrf_token": csrf_of(link_page.text), "next": "/portal/tickets/10001"},
    )
    assert answer.headers["location"] == "/portal/tickets/10001"


@pytest.mark.parametrize("sent", ["https://evil.example/", "//evil.example", "/settings"])
async def test_a_link_never_leads_off_the_portal(client, runtime, portal_customer, sent):
    from customers.portal_access import issue_link

    async with runtime.transaction() as tx:
        link = await issue_link(tx, "kim@example.com", source="cli")
    path = link.url.removeprefix("http://127.0.0.1:8000")
    page = await client.get(path, params={"next": sent})
    assert f'value="{sent}"' not in page.text
    answer = await client.post(path, data={"csrf_token": csrf_of(page.text), "next": sent})
    assert answer.headers["location"] == "/portal/tickets"
