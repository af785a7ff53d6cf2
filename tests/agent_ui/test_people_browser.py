"""People in Chromium: an administrator invites an agent, the agent opens the link, sets a
password and is signed in, makes an API token; the administrator deactivates them, and
their open session is sent to the sign-in page on the next page and their token gets 401."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_invite_set_password_then_deactivate(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    async with open_browser() as browser:
        admin = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        await admin.get_by_role("link", name="People", exact=True).click()
        await expect(admin.get_by_role("heading", name="People", exact=True)).to_be_visible()
        invite = admin.get_by_role("form", name="Invite someone")
        await invite.get_by_label("Email").fill("nina@example.com")
        await invite.get_by_label("Name").fill("Nina Neu")
        await invite.get_by_label("Role").select_option("agent")
        await invite.get_by_label("Languages").fill("de, en")
        # Her invitation (and console) in English; the desk's German is chosen at first.
        await expect(invite.get_by_label("Invitation language")).to_have_value("de")
        await invite.get_by_label("Invitation language").select_option("en")
        await invite.get_by_role("button", name="Invite").click()
        link = await admin.get_by_label("Invitation link").input_value()
        assert link.startswith(server.url + "/invite/inv_")
        await expect(admin.locator("tr", has_text="nina@example.com")).to_contain_text(
            "invited until"
        )
        # The list fits a phone's width.
        await admin.set_viewport_size({"width": 390, "height": 800})
        overflow = await admin.evaluate(
            "document.querySelector('main').scrollWidth - document.querySelector('main')"
            ".clientWidth"
        )
        assert overflow <= 0
        ARTIFACTS.mkdir(exist_ok=True)
        await admin.screenshot(path=ARTIFACTS / "people-390.png", full_page=True)
        await admin.set_viewport_size({"width": 1280, "height": 800})

        # Nina, in a browser of her own.
        context = await browser.new_context()
        nina = await context.new_page()
        await nina.goto(link)
        await expect(nina.get_by_role("heading", name="Set your password")).to_be_visible()
        await nina.get_by_label("New password").fill("nina-password")
        await nina.get_by_label("Repeat password").fill("nina-passwort")
        await nina.get_by_role("button", name="Set password and sign in").click()
        await expect(nina.get_by_role("alert")).to_have_text("The two passwords differ.")
        await nina.get_by_label("New password").fill("nina-password")
        await nina.get_by_label("Repeat password").fill("nina-password")
        await nina.get_by_role("button", name="Set password and sign in").click()
        await nina.wait_for_url(server.url + "/")
        await expect(nina.get_by_role("link", name="Nina Neu")).to_be_visible()

        # She makes an API token for a script; it is shown once.
        await nina.goto(server.url + "/account/tokens")
        await nina.get_by_label("Name").fill("script")
        await nina.get_by_role("button", name="Make the token").click()
        token = await nina.get_by_label("Your new token").input_value()
        api = {"Authorization": f"Bearer {token}"}
        assert httpx.get(server.url + "/api/v1/tickets", headers=api).status_code == 200

        # The administrator deactivates her.
        await admin.goto(server.url + "/admin/people")
        await admin.get_by_role("link", name="Nina Neu").click()
        await expect(admin.get_by_role("row", name="script")).to_be_visible()
        await admin.get_by_role("button", name="Deactivate").click()
        await expect(admin.get_by_role("status")).to_contain_text("Nina Neu is deactivated")
        await admin.screenshot(path=ARTIFACTS / "people-deactivated.png", full_page=True)

        # Her open page is sent to the sign-in page (the live socket closes), and so is
        # the next page she opens; her token is refused.
        await nina.wait_for_url(server.url + "/login**")
        await nina.goto(server.url + "/account/tokens")
        await nina.wait_for_url(server.url + "/login?next=/account/tokens")
        await expect(nina.get_by_role("button", name="Sign in")).to_be_visible()
        refused = httpx.get(server.url + "/api/v1/tickets", headers=api)
        assert refused.status_code == 401
        assert refused.json()["error"] == "token's user is deactivated"
        # The used link sets no password again.
        await nina.goto(link)
        await expect(nina.get_by_role("alert")).to_contain_text("used already")
        assert admin.errors == []
        await context.close()
