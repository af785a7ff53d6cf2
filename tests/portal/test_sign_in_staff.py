"""Staff hand a customer a way in: the console's "Send portal sign-in link" button and
`tresen portal link EMAIL`."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from customers.actions import add_identity, create_customer
from tests.fixtures import csrf_of, sign_in
from tickets.models import OutboxMessage
from tresen import cli

LINK = re.compile(r"http://127\.0\.0\.1:8000(/portal/sign-in/[A-Za-z0-9_-]+)")


async def outbox(runtime) -> list[OutboxMessage]:
    async with runtime.read() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_an_agent_sends_the_link_from_the_customer_page(app, agent, client, runtime):
    async with runtime.transaction() as tx:
        customer = await create_customer(
            tx, name="Lena Vogel", identities=[("email", "lena@example.com")], language="de"
        )
        await add_identity(tx, customer, "email", "lena.vogel@work.example")
    assert (await sign_in(client)).status_code == 303
    page = await client.get(f"/customers/{customer.id}")
    assert "Send portal sign-in link" in page.text
    assert '<option value="lena.vogel@work.example">' in page.text
    answer = await client.post(
        f"/customers/{customer.id}/portal-link",
        data={"csrf_token": csrf_of(page.text), "email": "lena.vogel@work.example"},
    )
    assert answer.status_code == 303
    page = await client.get(answer.headers["location"])
    assert "A portal sign-in link was sent to lena.vogel@work.example." in page.text
    (mail,) = await outbox(runtime)
    assert mail.recipient == "lena.vogel@work.example"
    assert mail.subject == "Ihr Anmelde-Link für Tresen"  # the customer's language

    # The customer uses it.
    path = LINK.search(mail.text).group(1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        link_page = await browser.get(path)
        answer = await browser.post(path, data={"csrf_token": csrf_of(link_page.text)})
        assert answer.headers["location"] == "/portal/tickets"
        assert "Lena Vogel" in (await browser.get("/portal/account")).text


@pytest.mark.parametrize(
    "email, named",
    [("someone@example.com", "is not an e-mail address of customer"), ("nonsense", "nonsense")],
)
async def test_the_link_goes_only_to_the_customer_s_own_address(
    agent, client, runtime, email, named
):
    async with runtime.transaction() as tx:
        customer = await create_customer(
            tx, name="Lena Vogel", identities=[("email", "lena@example.com")]
        )
        await create_customer(tx, name="Other", identities=[("email", "someone@example.com")])
    await sign_in(client)
    page = await client.get(f"/customers/{customer.id}")
    answer = await client.post(
        f"/customers/{customer.id}/portal-link",
        data={"csrf_token": csrf_of(page.text), "email": email},
    )
    assert answer.status_code == 422 and named in answer.text
    assert await outbox(runtime) == []


async def test_a_customer_without_an_address_gets_no_button(agent, client, runtime):
    async with runtime.transaction() as tx:
        customer = await create_customer(
            tx, name="Phone Only", identities=[("phone", "+49 30 1234567")]
        )
    await sign_in(client)
    page = await client.get(f"/customers/{customer.id}")
    assert "a portal sign-in link cannot be sent" in page.text
    assert f'action="/customers/{customer.id}/portal-link"' not in page.text


@pytest.fixture
def tresen_env(monkeypatch, settings):
    monkeypatch.setenv("TRESEN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRESEN_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("TRESEN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TRESEN_BASE_URL", "https://help.example.com/")


async def run_cli(*args: str) -> int:
    # The command runs its own event loop: in a thread of its own, as from a shell.
    return await asyncio.to_thread(cli.main, list(args))


async def test_tresen_portal_link_prints_a_working_link(
    app, runtime, tresen_env, portal_customer, capsys
):
    assert await run_cli("portal", "link", "Kim@Example.com") == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("https://help.example.com/portal/sign-in/")
    assert "customer" in out[0] and "kim@example.com" in out[0]
    assert await outbox(runtime) == []  # printed, not mailed
    path = out[-1].removeprefix("https://help.example.com")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        page = await browser.get(path)
        answer = await browser.post(path, data={"csrf_token": csrf_of(page.text)})
        assert answer.headers["location"] == "/portal/tickets"

    assert await run_cli("portal", "link", "kim@example.com", "--mail") == 0
    (mail,) = await outbox(runtime)
    assert capsys.readouterr().out.strip().splitlines()[-1] in mail.text


@pytest.mark.parametrize(
    "email, named",
    [
        ("nobody@example.com", "no customer has the e-mail address 'nobody@example.com'"),
        ("not-an-address", "'not-an-address'"),
    ],
)
async def test_tresen_portal_link_names_a_bad_address(tresen_env, runtime, email, named, capsys):
    assert await run_cli("portal", "link", email) == 2
    captured = capsys.readouterr()
    assert named in captured.err and captured.err.count("\n") == 1
    assert captured.out == ""
