"""An administrator switches bots on at /admin/bots in Chromium, by the labels a person
reads, in English and in German; a wrong threshold is named with what was typed kept; the
supervisors' bot report opens from the board."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page


async def test_an_admin_switches_the_chat_bot_on_in_english_and_german(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    token = server.cli("tokens", "create", "ada@example.com").stdout.strip()
    api = {"Authorization": f"Bearer {token}"}
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        try:
            await page.get_by_role("link", name="Bots", exact=True).click()
            await expect(page.get_by_role("heading", name="Bots", exact=True)).to_be_visible()
            chat = page.get_by_role("form", name="Bot for Chat")
            await expect(chat.get_by_text("off", exact=True)).to_be_visible()
            # The calibrated default is named beside the threshold.
            await expect(
                chat.get_by_text(re.compile(r"the calibrated default \(0\.\d+\)"))
            ).to_be_visible()
            await chat.get_by_label("Switch the bot on").check()
            await chat.get_by_label("Bot name").fill("Tresa")
            await chat.get_by_label("Greeting (English)").fill("Hi, I am Tresa. Ask me anything.")
            await chat.get_by_label("Greeting (German)").fill("Hallo, ich bin Tresa.")
            await chat.get_by_label("Confidence threshold").fill("1.5")
            await chat.get_by_role("button", name="Save the bot for Chat").click()

            chat = page.get_by_role("form", name="Bot for Chat")
            # The sentence names its field already: not "Confidence threshold: The confidence…".
            await expect(chat.get_by_role("alert")).to_have_text(
                re.compile(r"^\s*The confidence threshold must be between 0 and 1")
            )
            await expect(chat.get_by_label("Confidence threshold")).to_have_value("1.5")
            await expect(chat.get_by_label("Bot name")).to_have_value("Tresa")
            await expect(chat.get_by_label("Switch the bot on")).to_be_checked()
            await chat.get_by_label("Confidence threshold").fill("0.8")
            await chat.get_by_label("Only outside business hours").check()
            await chat.get_by_role("button", name="Save the bot for Chat").click()
            await expect(page.get_by_role("status")).to_have_text("The bot for Chat was saved.")
            chat = page.get_by_role("form", name="Bot for Chat")
            await expect(chat.get_by_text("on", exact=True)).to_be_visible()

            saved = httpx.get(server.url + "/api/v1/bot/settings/chat", headers=api).json()
            assert saved["enabled"] and saved["name"] == "Tresa" and saved["threshold"] == 0.8
            assert saved["hours"] == "outside_business_hours"
            assert saved["greeting_en"] == "Hi, I am Tresa. Ask me anything."

            # The supervisors' report, from the board.
            await page.get_by_role("link", name="Board", exact=True).click()
            await page.get_by_role("link", name="Bot report").click()
            await expect(page.get_by_role("heading", name="Bot report")).to_be_visible()
            await expect(page.get_by_role("heading", name="Chat", exact=True)).to_be_visible()

            # In German: the console in Deutsch, the SMS bot switched on, the chat's off.
            await page.goto(server.url + "/settings")
            await page.get_by_label("Language").select_option("de")
            await page.get_by_role("button", name="Save").click()
            await page.get_by_role("link", name="Bots", exact=True).click()
            await expect(page.get_by_role("heading", name="Bots", exact=True)).to_be_visible()
            chat = page.get_by_role("form", name="Bot für Chat")
            await expect(chat.get_by_label("Bot einschalten")).to_be_checked()
            await chat.get_by_label("Bot einschalten").uncheck()
            await chat.get_by_role("button", name="Bot für Chat speichern").click()
            await expect(page.get_by_role("status")).to_have_text(
                "Der Bot für Chat wurde gespeichert."
            )
            sms = page.get_by_role("form", name="Bot für SMS")
            await sms.get_by_label("Bot einschalten").check()
            await sms.get_by_label("Englisch", exact=True).uncheck()
            await sms.get_by_label("Konfidenzschwelle").fill("0,75")
            # Enter in a field saves (it does not test the Rasa connection).
            await sms.get_by_label("Konfidenzschwelle").press("Enter")
            await expect(page.get_by_role("status")).to_have_text(
                "Der Bot für SMS wurde gespeichert."
            )
            await expect(
                page.get_by_role("form", name="Bot für SMS").get_by_text("an", exact=True)
            ).to_be_visible()

            chat_now = httpx.get(server.url + "/api/v1/bot/settings/chat", headers=api).json()
            sms_now = httpx.get(server.url + "/api/v1/bot/settings/sms", headers=api).json()
            assert not chat_now["enabled"] and chat_now["name"] == "Tresa"
            assert sms_now["enabled"] and sms_now["languages"] == ["de"]
            assert sms_now["threshold"] == 0.75
            await page.get_by_role("link", name="Übersicht", exact=True).click()
            await page.get_by_role("link", name="Bot-Bericht").click()
            await expect(page.get_by_role("heading", name="Bot-Bericht")).to_be_visible()
            # The refused threshold's page came back as a 422, as it should; nothing else.
            assert [error for error in page.errors if "422" not in error] == []
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "bots-admin.png"), full_page=True)
            raise


async def test_an_admin_tries_the_faq_bot_before_switching_it_on(server):
    server.add_user("ada@example.com", "admin-password", role="admin", name="Ada Admin")
    token = server.cli("tokens", "create", "ada@example.com").stdout.strip()
    for title, language, body in (
        ("Reset a forgotten password", "en", "The sign-in page's 'Forgot password' sends a link."),
        ("Delivery times", "en", "Within Germany, delivery takes two to three working days."),
        ("Passwort zurücksetzen", "de", "Auf der Anmeldeseite schickt „Passwort vergessen“ Links."),
    ):  # fmt: skip
        made = httpx.post(
            server.url + "/api/v1/kb/articles",
            headers={"Authorization": f"Bearer {token}"},
            json={"title": title, "body": body, "language": language, "visibility": "public"},
        )
        assert made.status_code == 201, made.text
    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "ada@example.com", "admin-password")
        try:
            await page.get_by_role("link", name="Bots", exact=True).click()
            trying = page.get_by_role("region", name="Try the FAQ bot")
            await trying.get_by_label("Question").fill("Reset a forgotten password")
            await trying.get_by_label("Language").select_option(label="English")
            await trying.get_by_role("button", name="Try", exact=True).click()
            trying = page.get_by_role("region", name="Try the FAQ bot")
            result = trying.get_by_role("status")
            await expect(result).to_contain_text(
                "The bot would answer with “Reset a forgotten password”."
            )
            await expect(result).to_contain_text(re.compile(r"How sure it is: \d+ %"))
            await expect(result).to_contain_text("Did this answer your question?")
            weighed = trying.get_by_role("table", name="The articles it weighed")
            await expect(
                weighed.get_by_role("link", name="Reset a forgotten password")
            ).to_be_visible()
            await expect(trying.get_by_label("Question")).to_have_value(
                "Reset a forgotten password"
            )
            # A request for a person: handed off at once, the reason named.
            await trying.get_by_label("Question").fill("I want to talk to a human")
            await trying.get_by_role("button", name="Try", exact=True).click()
            await expect(
                page.get_by_role("region", name="Try the FAQ bot").get_by_role("status")
            ).to_contain_text(
                "The bot would hand off to your team: the customer asked for a person."
            )

            # In German.
            await page.goto(server.url + "/settings")
            await page.get_by_label("Language").select_option("de")
            await page.get_by_role("button", name="Save").click()
            await page.get_by_role("link", name="Bots", exact=True).click()
            trying = page.get_by_role("region", name="FAQ-Bot ausprobieren")
            await trying.get_by_label("Frage").fill("Passwort zurücksetzen")
            await trying.get_by_role("button", name="Ausprobieren").click()
            await expect(
                page.get_by_role("region", name="FAQ-Bot ausprobieren").get_by_role("status")
            ).to_contain_text("Der Bot würde mit „Passwort zurücksetzen“ antworten.")
            await expect(
                page.get_by_role("region", name="FAQ-Bot ausprobieren").get_by_role("status")
            ).to_contain_text("Hat das Ihre Frage beantwortet?")
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "bots-try.png"), full_page=True)
            raise
