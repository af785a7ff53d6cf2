"""Two-factor sign-in in the console over HTTP: set-up, the sign-in's second step, recovery
codes, turning it off, and the desk's "require" switch."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from tests.fixtures import csrf_of, sign_in
from tresen.accounts import create_user
from tresen.auth import LoginThrottle, ThrottleLimits
from tresen.clock import FrozenClock
from tresen.limits import RequestLimits
from tresen.settings import Settings

START = datetime(2026, 12, 3, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def clock(runtime):
    runtime.clock = FrozenClock(START)
    return runtime.clock


def key_of(html: str) -> str:
    return re.search(r'<code id="totp-key">([A-Z2-7 ]+)</code>', html).group(1).replace(" ", "")


def codes_of(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", html)


async def enrol(client, clock) -> tuple[str, list[str]]:
    """Set up two-factor sign-in through the pages; the key and the recovery codes."""
    page = await client.get("/account/two-factor")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    key = key_of(page.text)
    assert 'src="data:image/svg+xml;base64,' in page.text
    done = await client.post(
        "/account/two-factor",
        data={"code": pyotp.TOTP(key).at(clock.now()), "csrf_token": csrf_of(page.text)},
    )
    assert done.status_code == 200, done.text
    codes = codes_of(done.text)
    assert len(codes) == 10
    clock.advance(timedelta(seconds=60))  # the set-up's code is used up
    return key, codes


async def second_step(client, code: str, csrf: str | None = None):
    page = await client.get("/login/two-factor")
    return await client.post(
        "/login/two-factor", data={"code": code, "csrf_token": csrf or csrf_of(page.text)}
    )


async def signed_in(client) -> bool:
    answer = await client.get("/settings")
    return answer.status_code == 200


async def test_enrol_then_sign_in_with_password_and_code(client, agent, clock):
    await sign_in(client)
    key, _codes = await enrol(client, clock)
    assert await signed_in(client), "setting it up keeps this browser signed in"
    assert "Two-factor sign-in</a>: on" in (await client.get("/settings")).text
    client.cookies.clear()

    password = await sign_in(client)
    assert password.status_code == 303 and password.headers["location"] == "/login/two-factor"
    assert not await signed_in(client), "a right password alone signs nobody in"
    page = await client.get("/login/two-factor")
    assert page.status_code == 200 and "Code" in page.text
    wrong = await second_step(client, "000000")
    assert wrong.status_code == 401 and "not right" in wrong.text
    right = await second_step(client, pyotp.TOTP(key).at(clock.now()))
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert await signed_in(client)


async def test_a_recovery_code_signs_in_once(client, agent, clock):
    await sign_in(client)
    _key, codes = await enrol(client, clock)
    client.cookies.clear()
    await sign_in(client)
    assert (await second_step(client, codes[0])).status_code == 303
    client.cookies.clear()
    await sign_in(client)
    assert (await second_step(client, codes[0])).status_code == 401
    assert (await second_step(client, codes[1].upper())).status_code == 303
    page = await client.get("/account/two-factor")
    assert "8 unused recovery codes left." in page.text


async def test_the_half_signed_in_state_expires(client, agent, clock):
    await sign_in(client)
    key, _codes = await enrol(client, clock)
    client.cookies.clear()
    await sign_in(client)
    page = await client.get("/login/two-factor")
    clock.advance(timedelta(minutes=6))
    late = await second_step(client, pyotp.TOTP(key).at(clock.now()), csrf_of(page.text))
    assert late.status_code == 401 and "expired" in late.text
    assert not await signed_in(client)
    # Nothing pending at all: the page says so (no sign-in page loop, no error).
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with fresh:
        answer = await fresh.get("/login/two-factor")
        assert answer.status_code == 200 and "expired" in answer.text


async def test_codes_are_counted_by_the_sign_in_throttle(client, agent, clock):
    await sign_in(client)
    key, _codes = await enrol(client, clock)
    client.cookies.clear()
    await sign_in(client)
    page = await client.get("/login/two-factor")
    csrf = csrf_of(page.text)
    statuses = [
        (
            await client.post("/login/two-factor", data={"code": "123456", "csrf_token": csrf})
        ).status_code
        for _ in range(10)
    ]
    # The password's attempt and nine wrong codes fill the ten a pair may fail.
    assert statuses == [401] * 9 + [429]
    blocked = await second_step(client, pyotp.TOTP(key).at(clock.now()), csrf)
    assert blocked.status_code == 429 and "Too many" in blocked.text


async def test_a_right_code_takes_its_attempts_back(client, app, agent, clock):
    """An office signing in with codes all day is never blocked: a sign-in with a right
    password and code leaves no failure behind for its address."""
    app.state.login_throttle = LoginThrottle(ThrottleLimits(per_address=3))
    await sign_in(client)
    key, _codes = await enrol(client, clock)
    for _ in range(5):
        client.cookies.clear()
        assert (await sign_in(client)).status_code == 303
        answer = await second_step(client, pyotp.TOTP(key).at(clock.now()))
        assert answer.status_code == 303
        clock.advance(timedelta(seconds=30))


async def test_signing_out_everywhere_cancels_a_pending_sign_in(client, app, runtime, clock):
    """The password was right, then the user signed out everywhere (a stolen password
    noticed): the half-signed-in browser must start again."""
    await create_user(runtime, email="b@example.com", name="B", role="agent", password="b-password")
    await sign_in(client, "b@example.com", "b-password")
    key, _codes = await enrol(client, clock)
    client.cookies.clear()
    await sign_in(client, "b@example.com", "b-password")
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        await sign_in(other, "b@example.com", "b-password")
        await second_step(other, pyotp.TOTP(key).at(clock.now()))
        page = await other.get("/settings")
        ended = await other.post(
            "/account/sign-out-everywhere", data={"csrf_token": csrf_of(page.text)}
        )
        assert ended.status_code == 303 and ended.headers["location"] == "/login"
        assert not await signed_in(other)
    assert "expired" in (await client.get("/login/two-factor")).text
    clock.advance(timedelta(seconds=30))
    csrf = csrf_of((await client.get("/login")).text)
    late = await second_step(client, pyotp.TOTP(key).at(clock.now()), csrf)
    assert late.status_code == 401 and "expired" in late.text


async def test_new_recovery_codes_and_turning_off_need_the_password(client, agent, clock):
    await sign_in(client)
    key, codes = await enrol(client, clock)
    page = await client.get("/account/two-factor")
    csrf = csrf_of(page.text)
    refused = await client.post(
        "/account/two-factor/recovery-codes", data={"password": "nope", "csrf_token": csrf}
    )
    assert refused.status_code == 422 and "password is not right" in refused.text
    fresh = await client.post(
        "/account/two-factor/recovery-codes",
        data={"password": "agent-password", "csrf_token": csrf},
    )
    new_codes = codes_of(fresh.text)
    assert fresh.status_code == 200 and len(new_codes) == 10
    assert fresh.headers["cache-control"] == "no-store"
    assert not set(new_codes) & set(codes)
    refused = await client.post(
        "/account/two-factor/disable", data={"password": "nope", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    off = await client.post(
        "/account/two-factor/disable", data={"password": "agent-password", "csrf_token": csrf}
    )
    assert off.status_code == 303
    assert "Two-factor sign-in is off." in (await client.get(off.headers["location"])).text
    client.cookies.clear()
    answer = await sign_in(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


async def test_a_wrong_set_up_code_shows_the_same_key_again(client, agent, clock):
    await sign_in(client)
    page = await client.get("/account/two-factor")
    key = key_of(page.text)
    wrong = await client.post(
        "/account/two-factor", data={"code": "12345", "csrf_token": csrf_of(page.text)}
    )
    assert wrong.status_code == 422 and "not right" in wrong.text
    assert key_of(wrong.text) == key


async def test_required_two_factor_sends_staff_to_set_up(client, runtime, clock):
    await create_user(
        runtime, email="boss@example.com", name="Boss", role="admin", password="boss-password"
    )
    await create_user(runtime, email="a@example.com", name="A", role="agent", password="a-password")
    await sign_in(client, "boss@example.com", "boss-password")
    page = await client.get("/admin/settings")
    assert page.status_code == 200 and "Require two-factor sign-in" in page.text
    saved = await client.post(
        "/admin/settings",
        data={
            "require_two_factor": "on",
            "assign_on_reply": "on",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert saved.status_code == 303
    # The administrator too: every page but the set-up goes there now.
    for path in ("/", "/settings", "/admin/settings", "/kb"):
        answer = await client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/account/two-factor", path
    assert (await client.get("/presence")).status_code == 200  # the header still loads
    key, _codes = await enrol(client, clock)
    assert (await client.get("/")).status_code == 200

    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        await sign_in(other, "a@example.com", "a-password")
        answer = await other.get("/tickets/1")
        assert answer.headers["location"] == "/account/two-factor"
        setup = await other.get("/account/two-factor")
        assert "requires two-factor sign-in" in setup.text
        # Signing out still works.
        assert (
            await other.post("/logout", data={"csrf_token": csrf_of(setup.text)})
        ).status_code == 303


async def test_admin_settings_save_and_are_admin_only(client, runtime, agent):
    await create_user(
        runtime, email="boss@example.com", name="Boss", role="admin", password="boss-password"
    )
    await sign_in(client)
    assert (await client.get("/admin/settings")).status_code == 403
    client.cookies.clear()
    await sign_in(client, "boss@example.com", "boss-password")
    page = await client.get("/admin/settings")
    assert 'name="assign_on_reply" checked' in page.text
    assert 'name="require_two_factor" checked' not in page.text
    await client.post("/admin/settings", data={"csrf_token": csrf_of(page.text)})
    page = await client.get("/admin/settings")
    assert 'name="assign_on_reply" checked' not in page.text
    assert "Assign an unassigned ticket to the agent who replies" in page.text


def test_the_second_step_is_rate_limited_with_the_passwords():
    limits = RequestLimits(None, settings=Settings(), routers=[])
    assert limits.door_for("POST", "/login/two-factor").rate == "sign-in"
    assert limits.door_for("GET", "/login/two-factor").rate == "page"
