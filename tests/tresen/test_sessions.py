"""Console sessions end for good: a cookie copied before sign-out, deactivation or a new
password is refused afterwards; the cookie and HSTS follow an https base URL."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from tests.fixtures import csrf_of, sign_in
from tresen import accounts
from tresen.app import create_app
from tresen.runtime import Runtime
from tresen.settings import Settings, SettingsError

COOKIE = "tresen_session"


async def signed_in_cookie(client) -> str:
    answer = await sign_in(client)
    assert answer.status_code == 303, answer.text
    return client.cookies[COOKIE]


async def replay(app, cookie: str) -> httpx.Response:
    """The console's front page, asked with a copied cookie from another client."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", cookies={COOKIE: cookie}
    ) as other:
        return await other.get("/")


def refused(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def test_a_copied_session_works_until_sign_out_then_never(client, app, agent):
    cookie = await signed_in_cookie(client)
    assert (await replay(app, cookie)).status_code == 200  # the copy works while signed in
    page = await client.get("/")
    out = await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert refused(await replay(app, cookie))
    # Signing in again gives a new, working session; the old copy stays dead.
    assert refused(await replay(app, cookie))
    fresh = await signed_in_cookie(client)
    assert (await replay(app, fresh)).status_code == 200
    assert refused(await replay(app, cookie))


async def test_sign_out_needs_the_csrf_token(client, app, agent):
    cookie = await signed_in_cookie(client)
    answer = await client.post("/logout", data={})
    assert answer.status_code == 403
    assert (await replay(app, cookie)).status_code == 200


@pytest.mark.parametrize("change", ["sign_out_everywhere", "deactivate", "set_password"])
async def test_every_session_ends_on(change, client, app, runtime, agent):
    cookie = await signed_in_cookie(client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as laptop:
        second = await signed_in_cookie(laptop)
    assert (await replay(app, second)).status_code == 200
    if change == "sign_out_everywhere":
        await accounts.sign_out_everywhere(runtime, agent.email)
    elif change == "deactivate":
        await accounts.deactivate_user(runtime, agent.email)
    else:
        await accounts.set_password(runtime, agent.email, "a-new-password")
    assert refused(await replay(app, cookie))
    assert refused(await replay(app, second))
    assert refused(await client.get("/"))
    if change == "deactivate":
        assert (await sign_in(client)).status_code == 401
        await accounts.reactivate_user(runtime, agent.email)
        assert (await sign_in(client)).status_code == 303
    elif change == "set_password":
        assert (await sign_in(client)).status_code == 401  # the old password
        assert (await sign_in(client, password="a-new-password")).status_code == 303
    else:
        assert (await sign_in(client)).status_code == 303
    assert refused(await replay(app, cookie))


async def test_account_actions_name_bad_values(runtime, agent):
    with pytest.raises(accounts.AccountError, match="ghost@example.com"):
        await accounts.deactivate_user(runtime, "ghost@example.com")
    with pytest.raises(accounts.AccountError, match="8 characters"):
        await accounts.set_password(runtime, agent.email, "short")
    await accounts.create_user(
        runtime, email="root@example.com", name="Root", role="admin", password="root-password"
    )
    with pytest.raises(accounts.AccountError, match="last active administrator"):
        await accounts.deactivate_user(runtime, "root@example.com")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("base_url", ["https://desk.example.com", "http://127.0.0.1:8000"])
async def test_cookie_and_hsts_follow_an_https_base_url(settings, base_url, agent):
    https = base_url.startswith("https")
    runtime = Runtime.create(replace(settings, base_url=base_url))
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            answer = await sign_in(client)
            assert answer.status_code == 303
            cookie = answer.headers["set-cookie"]
            assert ("; secure" in cookie.lower()) is https
            assert "httponly" in cookie.lower()
            login = await client.get("/login")
            hsts = login.headers.get("strict-transport-security")
            assert hsts == ("max-age=31536000" if https else None)
    finally:
        await runtime.close()


def test_secure_cookies_derive_from_the_base_url_unless_set(tmp_path):
    base = {"TRESEN_DATA_DIR": str(tmp_path), "TRESEN_SECRET_KEY": "k" * 32}
    https = Settings.from_env({**base, "TRESEN_BASE_URL": "https://desk.example.com"})
    assert https.cookies_secure and https.https
    plain = Settings.from_env({**base, "TRESEN_BASE_URL": "http://desk.example.com"})
    assert not plain.cookies_secure
    forced = Settings.from_env(
        {**base, "TRESEN_BASE_URL": "http://desk.example.com", "TRESEN_SECURE_COOKIES": "true"}
    )
    assert forced.cookies_secure
    off = Settings.from_env(
        {**base, "TRESEN_BASE_URL": "https://desk.example.com", "TRESEN_SECURE_COOKIES": "false"}
    )
    assert not off.cookies_secure


def test_a_short_secret_key_is_refused_and_named(tmp_path):
    short = Settings.from_env({"TRESEN_DATA_DIR": str(tmp_path), "TRESEN_SECRET_KEY": "x" * 31})
    with pytest.raises(SettingsError, match="TRESEN_SECRET_KEY has 31 characters"):
        short.check_secret_key()
    Settings.from_env(
        {"TRESEN_DATA_DIR": str(tmp_path), "TRESEN_SECRET_KEY": "x" * 32}
    ).check_secret_key()
    generated = Settings.from_env({"TRESEN_DATA_DIR": str(tmp_path)})
    generated.check_secret_key()  # the key made on first run is long enough
