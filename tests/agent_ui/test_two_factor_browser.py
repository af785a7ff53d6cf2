"""Two-factor sign-in in headless Chromium against a real server: an invited agent sets a
password, sets up TOTP (the key read off the page, the code computed as a phone would),
signs in with password and code, then with a recovery code (once); with two-factor sign-in
required, a user without it lands on the set-up page."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


@pytest.fixture
def desk(server):
    server.add_user("admin@example.com", "admin-password", role="admin", name="Ada Admin")
    server.add_user("bo@example.com", "bo-password", name="Bo Agent")
    return server


async def sign_in_with_code(page, base_url: str, email: str, password: str, code: str) -> None:
    await page.goto(base_url + "/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Two-factor code")).to_be_visible()
    await page.get_by_label("Code").fill(code)
    await page.get_by_role("button", name="Sign in").click()


async def sign_out(page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(re.compile(r".*/login(\?.*)?$"))


def next_code(key: str) -> str:
    """The code of the next 30-second step: one step ahead is accepted, and it is never the
    step already used a moment ago (a code counts once)."""
    return pyotp.TOTP(key).at(time.time() + 30)


async def test_invited_agent_sets_up_totp_and_signs_in_with_it(desk):
    invited = desk.cli("users", "invite", "cleo@example.com", "--name", "Cleo", "--role", "agent")
    assert invited.returncode == 0, invited.stderr
    link = re.search(r"https?://\S+/invite/\S+", invited.stdout).group(0)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link)
        await page.get_by_label("New password").fill("cleo-password")
        await page.get_by_label("Repeat password").fill("cleo-password")
        await page.get_by_role("button", name="Set password and sign in").click()
        await page.wait_for_url(desk.url + "/")

        await page.get_by_role("link", name="Cleo").click()
        await page.get_by_role("link", name="Two-factor sign-in").click()
        await expect(
            page.get_by_role("img", name="QR code for your authenticator app")
        ).to_be_visible()
        key = (await page.locator("#totp-key").inner_text()).replace(" ", "")
        await page.get_by_label("Code").fill(pyotp.TOTP(key).now())
        await page.get_by_role("button", name="Turn on").click()
        await expect(page.locator(".recovery-codes code")).to_have_count(10)
        codes = await page.locator(".recovery-codes code").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "two-factor-recovery-codes.png", full_page=True)
        await page.get_by_role("link", name="I have saved them").click()
        await page.wait_for_url(desk.url + "/")
        await sign_out(page)

        # Password alone: not signed in, the second step asks for the code.
        await sign_in_with_code(page, desk.url, "cleo@example.com", "cleo-password", "000000")
        await expect(page.get_by_role("alert")).to_have_text("The code is not right.")
        await page.get_by_label("Code").fill(next_code(key))
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(desk.url + "/")
        await expect(page.get_by_role("link", name="Cleo")).to_be_visible()
        await sign_out(page)

        # A recovery code works once.
        await sign_in_with_code(page, desk.url, "cleo@example.com", "cleo-password", codes[0])
        await page.wait_for_url(desk.url + "/")
        await sign_out(page)
        await sign_in_with_code(page, desk.url, "cleo@example.com", "cleo-password", codes[0])
        await expect(page.get_by_role("alert")).to_have_text("The code is not right.")
        assert errors == []


async def test_required_two_factor_sends_a_user_without_it_to_set_up(desk):
    async with open_browser() as browser:
        admin = await sign_in_page(browser, desk.url, "admin@example.com", "admin-password")
        await admin.get_by_role("link", name="Desk settings").click()
        await admin.get_by_label("Require two-factor sign-in").check()
        await admin.get_by_role("button", name="Save").click()
        # The administrator has no second factor yet either: the next page is the set-up.
        await admin.wait_for_url(desk.url + "/account/two-factor")
        await expect(admin.get_by_role("alert")).to_contain_text("requires two-factor sign-in")

        agent = await browser.new_page()
        await agent.goto(desk.url + "/tickets/1")
        await agent.get_by_label("Email").fill("bo@example.com")
        await agent.get_by_label("Password").fill("bo-password")
        await agent.get_by_role("button", name="Sign in").click()
        await agent.wait_for_url(desk.url + "/account/two-factor")
        await agent.goto(desk.url + "/kb")
        await agent.wait_for_url(desk.url + "/account/two-factor")
        key = (await agent.locator("#totp-key").inner_text()).replace(" ", "")
        await agent.get_by_label("Code").fill(pyotp.TOTP(key).now())
        await agent.get_by_role("button", name="Turn on").click()
        await expect(agent.locator(".recovery-codes code")).to_have_count(10)
        await agent.goto(desk.url + "/kb")
        await agent.wait_for_url(desk.url + "/kb")


async def test_account_pages_fit_a_phone(desk):
    """390 px wide: the key, the link for the app and the forms wrap instead of scrolling."""
    async with open_browser() as browser:
        page = await sign_in_page(browser, desk.url, "admin@example.com", "admin-password")
        await page.set_viewport_size({"width": 390, "height": 800})
        for path in ("/settings", "/account/password", "/account/two-factor", "/admin/settings"):
            await page.goto(desk.url + path)
            overflow = await page.evaluate(
                "() => { const m = document.querySelector('main');"
                " return m.scrollWidth - m.clientWidth; }"
            )
            assert overflow <= 0, (path, overflow)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.goto(desk.url + "/account/two-factor")
        await page.screenshot(path=ARTIFACTS / "two-factor-setup-390.png", full_page=True)
