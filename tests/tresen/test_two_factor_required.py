"""A desk that requires two-factor sign-in stops what a user without it still had: their
open live sockets close at once, new ones are refused, and their API tokens answer 403
"two-factor sign-in required", until they set it up."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from tests.fixtures import csrf_of, sign_in
from tests.support import AsgiSocket
from tresen import accounts, auth, totp
from tresen.accounts import create_user
from tresen.desk_settings import put_setting
from tresen.models import User


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def cookie_of(client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def closed_with(socket: AsgiSocket, timeout: float = 5) -> int | None:
    """The code the socket is closed with (frames before it are skipped), None if it stays."""
    try:
        while True:
            message = await socket.receive(timeout)
            if message["type"] == "websocket.close":
                return message["code"]
    except TimeoutError:
        return None


async def require(runtime, on: bool = True) -> None:
    async with runtime.transaction() as tx:
        await put_setting(tx, "require_two_factor", on)


async def enrolled(runtime, user_id: int) -> None:
    """Two-factor sign-in on for the user (as confirming a code at set-up leaves it)."""
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User).where(User.id == user_id).values(totp_enabled_at=tx.now())
        )


async def test_tokens_of_staff_without_two_factor_are_refused_while_it_is_required(
    client, runtime, agent
):
    token = await accounts.create_token(runtime, agent.email)
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200
    await require(runtime)
    refused = await client.get("/api/v1/tickets", headers=bearer(token))
    assert refused.status_code == 403
    assert "two-factor sign-in required" in refused.text
    await enrolled(runtime, agent.id)
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200
    await require(runtime, on=False)
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(User).where(User.id == agent.id).values(totp_enabled_at=None)
        )
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200


async def test_turning_the_requirement_on_closes_open_sockets_of_staff_without_it(
    client, app, runtime, agent
):
    boss = await create_user(
        runtime, email="boss@example.com", name="Boss", role="admin", password="boss-password"
    )
    await sign_in(client)  # the agent, without two-factor sign-in
    socket = AsgiSocket(app, "/ws/desk", cookie_of(client))
    assert (await socket.connect())["type"] == "websocket.accept"
    admin = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with admin:
        await sign_in(admin, "boss@example.com", "boss-password")
        await enrolled(runtime, boss.id)  # set up since (the session stays)
        boss_socket = AsgiSocket(app, "/ws/desk", cookie_of(admin))
        assert (await boss_socket.connect())["type"] == "websocket.accept"
        page = await admin.get("/admin/settings")
        saved = await admin.post(
            "/admin/settings",
            data={"require_two_factor": "on", "csrf_token": csrf_of(page.text)},
        )
        assert saved.status_code == 303
        assert await closed_with(socket) == 1008
        # Whoever has it keeps their live page.
        assert await closed_with(boss_socket, timeout=0.5) is None
        await boss_socket.close()
    # A new socket is refused before the handshake; the page goes to the set-up.
    again = AsgiSocket(app, "/ws/desk", cookie_of(client))
    assert await again.connect() == {"type": "websocket.close", "code": 1008, "reason": ""}
    await again.task
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/account/two-factor"
    # Set up: live again.
    await enrolled(runtime, agent.id)
    back = AsgiSocket(app, "/ws/desk", cookie_of(client))
    assert (await back.connect())["type"] == "websocket.accept"
    await back.close()


async def test_two_factor_turned_off_while_required_closes_the_open_sockets(
    client, app, runtime, agent
):
    await sign_in(client)
    await enrolled(runtime, agent.id)  # set up since signing in (the session stays)
    await require(runtime)
    socket = AsgiSocket(app, "/ws/desk", cookie_of(client))
    assert (await socket.connect())["type"] == "websocket.accept"
    await totp.disable(runtime, agent.id)  # an administrator's reset, or their own
    assert await closed_with(socket) == 1008


async def test_without_the_requirement_nothing_changes_for_staff_without_two_factor(
    client, app, runtime, agent
):
    token = await accounts.create_token(runtime, agent.email)
    await sign_in(client)
    socket = AsgiSocket(app, "/ws/desk", cookie_of(client))
    assert (await socket.connect())["type"] == "websocket.accept"
    async with runtime.transaction() as tx:
        await put_setting(tx, "require_two_factor", False)
        await auth.refuse_live_without_two_factor(tx)
    assert await closed_with(socket, timeout=0.5) is None
    await socket.close()
    assert (await client.get("/api/v1/tickets", headers=bearer(token))).status_code == 200
