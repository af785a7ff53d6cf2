"""The chat widget in headless Chromium on a customer's website (another origin than the
desk): found by its role and name, sends a message that shows once and is stored once,
comes back with the conversation after a reload, speaks German, stays away from sites not
allowed, and is not touched by the site's CSS (nor the site by its own)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.async_api import expect

from channels.chat.tokens import signature
from tests.browser import ARTIFACTS, open_browser
from tests.channels.chat.widget_host import (
    Website,
    agent_online,
    chat_messages,
    chat_sessions,
    chat_ticket,
    create_channel,
    create_channel_and_secret,
    mails_to,
    tiny_png,
)

WAIT = 15_000  # ms


@pytest.fixture
def website():
    with Website() as site:
        yield site


def watch(page) -> list[str]:
    """The page's script errors and console errors (as a test of the console would)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


async def test_a_visitor_opens_the_chat_and_a_message_shows_and_is_stored_once(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        launcher = page.get_by_role("button", name="Open chat")
        await expect(launcher).to_be_visible(timeout=WAIT)
        await expect(launcher).to_have_attribute("aria-expanded", "false")
        assert await page.evaluate("document.getElementById('tresen-chat').shadowRoot !== null"), (
            "the widget lives in an open shadow root"
        )
        await launcher.click()
        panel = page.get_by_role("dialog", name="Chat")
        await expect(panel).to_be_visible()
        await expect(launcher).to_have_attribute("aria-expanded", "true")
        await expect(panel).to_contain_text("Hello! How can we help?")
        box = page.get_by_role("textbox", name="Message")
        await expect(box).to_be_focused()
        await box.fill("Where is my order? See https://shop.example/orders/7.")
        await box.press("Enter")
        log = page.get_by_role("log")
        mine = log.locator(".m.v")
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text("Where is my order?")
        await expect(box).to_have_value("")
        # Stored (acknowledged): no longer "sending"; the link is a link, and only http(s).
        await expect(mine).not_to_contain_text("Sending…", timeout=WAIT)
        link = mine.get_by_role("link", name="https://shop.example/orders/7")
        await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        await expect(link).to_have_attribute("target", "_blank")
        assert await chat_messages(server) == [
            ("inbound", "Where is my order? See https://shop.example/orders/7.")
        ]
        stored = await page.evaluate(
            "key => [localStorage.getItem('tresen-chat:' + key),"
            " localStorage.getItem('tresen-chat:' + key + ':pending')]",
            key,
        )
        assert stored[0] and stored[1] is None, "token kept, nothing left pending"

        # Escape closes the panel and gives the focus back to the launcher.
        await box.press("Escape")
        await expect(panel).to_be_hidden()
        await expect(launcher).to_be_focused()
        await expect(launcher).to_have_attribute("aria-expanded", "false")

        # A reload: the open conversation comes back with the welcome, once.
        await page.reload()
        await expect(launcher).to_be_visible(timeout=WAIT)
        await launcher.click()
        await expect(mine).to_have_count(1, timeout=WAIT)
        await expect(mine).to_contain_text("Where is my order?")
        await box.fill("Second question")
        await page.get_by_role("button", name="Send").click()
        await expect(mine).to_have_count(2)
        await expect(mine.nth(1)).not_to_contain_text("Sending…", timeout=WAIT)
        assert [text for _, text in await chat_messages(server)] == [
            "Where is my order? See https://shop.example/orders/7.",
            "Second question",
        ]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "chat-widget.png")
        assert errors == []


async def test_the_widget_speaks_german_from_data_lang_or_the_page_language(server, website):
    key = await create_channel(server, [website.origin])
    by_attribute = website.page("/attr", server.url, key, lang="de")
    by_page = website.page("/page", server.url, key, html_lang="de-AT")
    async with open_browser() as browser:
        for url in (by_attribute, by_page):
            page = await browser.new_page()
            errors = watch(page)
            await page.goto(url)
            launcher = page.get_by_role("button", name="Chat öffnen")
            await expect(launcher).to_be_visible(timeout=WAIT)
            await launcher.click()
            panel = page.get_by_role("dialog", name="Chat")
            await expect(panel).to_contain_text("Hallo! Wie können wir helfen?")
            await expect(page.get_by_role("textbox", name="Nachricht")).to_be_visible()
            await expect(page.get_by_role("button", name="Senden")).to_be_visible()
            # A file joins a conversation: offered once the first message began one.
            await expect(page.get_by_role("button", name="Datei anhängen")).to_be_hidden()
            await expect(page.get_by_label("E-Mail")).to_be_visible()
            await page.get_by_role("button", name="Chat schließen").click()
            await expect(panel).to_be_hidden()
            await expect(launcher).to_be_focused()
            assert errors == []
            await page.close()


async def test_a_page_of_a_site_not_allowed_shows_no_launcher(server, website):
    with Website() as other:
        key = await create_channel(server, [website.origin])
        async with open_browser() as browser:
            page = await browser.new_page()
            for url in (other.page("/", server.url, key), website.page("/", server.url, "nokey")):
                # Not allowed (403) or an unknown key (404): one warning, nothing shown.
                warned = page.expect_console_message(lambda m: m.type == "warning", timeout=WAIT)
                async with warned as message:
                    await page.goto(url)
                assert "Tresen chat" in (await message.value).text
                await expect(page.get_by_role("button", name="Open chat")).to_have_count(0)
                await expect(page.locator("#tresen-chat")).to_have_count(0)


async def test_the_sites_css_does_not_reach_into_the_widget(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin], colors={"primary": "#aa0000"})
    hostile = (
        "<style>button{display:none !important} *{font-size:40px !important;"
        "color:lime !important} textarea{visibility:hidden !important}</style>"
    )
    url = website.page("/", server.url, key, head=hostile, body="<button>Site button</button>")
    async with open_browser() as browser:
        page = await browser.new_page()
        await page.goto(url)
        launcher = page.get_by_role("button", name="Open chat")
        await expect(launcher).to_be_visible(timeout=WAIT)
        await expect(page.get_by_role("button", name="Site button")).to_be_hidden()
        size = await launcher.bounding_box()
        assert 50 <= size["width"] <= 60, size
        assert await launcher.evaluate("e => getComputedStyle(e).backgroundColor") == (
            "rgb(170, 0, 0)"
        )
        await launcher.click()
        box = page.get_by_role("textbox", name="Message")
        await expect(box).to_be_visible()
        assert await box.evaluate("e => getComputedStyle(e).fontSize") == "14px"
        # Nor does the widget's CSS reach the site.
        heading = page.get_by_role("heading", name="Shop")
        assert await heading.evaluate("e => getComputedStyle(e).fontSize") == "40px"

        # A site whose CSP allows no inline styles at all still gets a styled widget.
        desk = server.url.replace("http", "ws")
        policy = (
            f"default-src 'none'; script-src {server.url}; connect-src {server.url} {desk}; "
            f"img-src {server.url}; style-src 'none'"
        )
        strict = website.page(
            "/strict",
            server.url,
            key,
            head=f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        )
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(strict)
        launcher = page.get_by_role("button", name="Open chat")
        await expect(launcher).to_be_visible(timeout=WAIT)
        size = await launcher.bounding_box()
        assert 50 <= size["width"] <= 60 and size["x"] > 500, size
        await launcher.click()
        await send_and_wait(page, "Under a strict policy")
        assert errors == []


async def test_a_required_name_is_asked_before_the_first_message(server, website):
    await agent_online(server)
    key = await create_channel(
        server, [website.origin], prechat={"name": "required", "email": "optional"}
    )
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        name = page.get_by_role("textbox", name="Name")
        await expect(name).to_be_focused()
        box = page.get_by_role("textbox", name="Message")
        await box.fill("Hello?")
        await box.press("Enter")
        await expect(page.get_by_role("alert")).to_have_text("Please fill in this field.")
        await expect(name).to_be_focused()
        await expect(page.get_by_role("log").locator(".m.v")).to_have_count(0)
        await name.fill("Karla Kundin")
        await box.press("Enter")
        mine = page.get_by_role("log").locator(".m.v")
        await expect(mine).to_have_count(1)
        await expect(mine).not_to_contain_text("Sending…", timeout=WAIT)
        await expect(name).to_be_hidden()
        assert await chat_sessions(server) == [("Karla Kundin", None, "open")]
        assert errors == []


async def test_offline_the_visitor_leaves_a_message_with_their_email(server, website):
    key = await create_channel(server, [website.origin])  # nobody is online
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        panel = page.get_by_role("dialog", name="Chat")
        await expect(panel).to_contain_text(
            "We're not online right now. Leave a message and we'll answer by e-mail."
        )
        email = page.get_by_role("textbox", name="E-mail")
        await expect(email).to_be_focused()
        box = page.get_by_role("textbox", name="Message")
        await box.fill("Please call me back.")
        await box.press("Enter")
        await expect(page.get_by_role("alert")).to_have_text("Please fill in this field.")
        await email.fill("karla@example.com")
        await box.press("Enter")
        mine = page.get_by_role("log").locator(".m.v")
        await expect(mine).to_have_count(1)
        await expect(mine).not_to_contain_text("Sending…", timeout=WAIT)
        assert await chat_sessions(server) == [(None, "karla@example.com", "offline")]
        assert [text for _, text in await chat_messages(server)] == ["Please call me back."]
        # An e-mail given, not verified: the widget offers to verify it.
        await expect(
            page.get_by_role("link", name="Verify e-mail to see your earlier conversations")
        ).to_be_visible()
        assert errors == []


async def send_and_wait(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    await box.fill(text)
    await box.press("Enter")
    sent = page.get_by_role("log").locator(".m.v", has_text=text)
    await expect(sent).to_have_count(1)
    await expect(sent).not_to_contain_text("Sending…", timeout=WAIT)


async def test_an_agents_answer_counts_on_the_launcher_until_the_chat_is_opened(server, website):
    user_id = await agent_online(server)
    api = {
        "Authorization": "Bearer "
        + server.cli("tokens", "create", "anna@example.com").stdout.strip()
    }
    key = await create_channel(server, [website.origin])
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        launcher = page.get_by_role("button", name="Open chat")
        await launcher.click(timeout=WAIT)
        await send_and_wait(page, "Is anyone there?")
        await page.keyboard.press("Escape")
        ticket_id = await chat_ticket(server)
        answer = httpx.post(
            f"{server.url}/api/v1/tickets/{ticket_id}/messages",
            headers=api,
            json={"text": "Yes, Anna here. Details: https://desk.example/help"},
        )
        assert answer.status_code == 201, answer.text
        counted = page.get_by_role("button", name="Open chat (1 new message)")
        await expect(counted).to_be_visible(timeout=WAIT)
        assigned = httpx.patch(
            f"{server.url}/api/v1/tickets/{ticket_id}", headers=api, json={"assignee_id": user_id}
        )
        assert assigned.status_code == 200, assigned.text

        # A reload: the open conversation connects at once, so the count is still there.
        await page.reload()
        await expect(counted).to_be_visible(timeout=WAIT)
        await counted.click()
        theirs = page.get_by_role("log").locator(".m.a:not(.g)")
        await expect(theirs).to_have_count(1)
        await expect(theirs).to_contain_text("Anna Agent")
        await expect(theirs).to_contain_text("Yes, Anna here.")
        await expect(theirs.get_by_role("link")).to_have_attribute(
            "href", "https://desk.example/help"
        )
        await expect(page.get_by_role("dialog", name="Chat").locator("header")).to_contain_text(
            "Anna Agent"
        )
        await expect(page.get_by_role("log").locator(".m.v")).to_have_count(1)
        await page.keyboard.press("Escape")
        await expect(launcher).to_be_visible()  # read: the count is gone
        assert errors == []


async def test_a_message_written_while_the_desk_is_down_is_sent_once_it_is_back(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        await send_and_wait(page, "Before the restart")
        server.stop()
        panel = page.get_by_role("dialog", name="Chat")
        await expect(panel).to_contain_text("Reconnecting…", timeout=WAIT)
        box = page.get_by_role("textbox", name="Message")
        await box.fill("While you were away")
        await box.press("Enter")
        waiting = page.get_by_role("log").locator(".m.v", has_text="While you were away")
        await expect(waiting).to_contain_text("Sending…")
        server.start()
        await expect(waiting).not_to_contain_text("Sending…", timeout=40_000)
        await expect(panel).not_to_contain_text("Reconnecting…")
        await expect(page.get_by_role("log").locator(".m.v")).to_have_count(2)
        assert [text for _, text in await chat_messages(server)] == [
            "Before the restart",
            "While you were away",
        ]
        # The browser logs each failed try ("WebSocket connection ... failed"); nothing else.
        assert [e for e in errors if "WebSocket" not in e and "ERR_" not in e] == []


async def test_a_file_is_sent_and_shown_with_its_thumbnail(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        await expect(page.get_by_role("button", name="Attach file")).to_be_hidden()
        await send_and_wait(page, "A photo of the damage:")
        await expect(page.get_by_role("button", name="Attach file")).to_be_visible()
        chooser = page.locator("#tresen-chat input[type=file]")
        await chooser.set_input_files(
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
        )
        await expect(page.get_by_role("alert")).to_have_text("This kind of file cannot be sent.")
        await chooser.set_input_files(
            files=[{"name": "damage.png", "mimeType": "image/png", "buffer": tiny_png()}]
        )
        link = page.get_by_role("log").get_by_role("link", name="damage.png")
        await expect(link).to_be_visible(timeout=WAIT)
        await expect(link.locator("img")).to_have_count(1)
        width = await link.locator("img").evaluate(
            "img => img.complete ? img.naturalWidth"
            " : new Promise(done => img.onload = () => done(img.naturalWidth))"
        )
        assert width == 1, "the thumbnail loads from the desk with the visitor's token"
        await expect(page.get_by_role("log").locator(".m.v")).to_have_count(2)
        stored = await chat_messages(server)
        assert len(stored) == 2 and stored[0][1] == "A photo of the damage:"
        assert errors == []


async def test_verify_the_email_end_the_chat_get_the_transcript_and_start_anew(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(url)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        panel = page.get_by_role("dialog", name="Chat")
        await page.get_by_role("textbox", name="E-mail").fill("karla@example.com")
        await send_and_wait(page, "Hello")
        await expect(page.get_by_role("textbox", name="E-mail")).to_be_hidden()

        verify = page.get_by_role("link", name="Verify e-mail to see your earlier conversations")
        await verify.click(timeout=WAIT)
        await expect(panel).to_contain_text("We sent a code to karla@example.com.")
        code_box = page.get_by_role("textbox", name="Code")
        await expect(code_box).to_be_focused()
        mails = await mails_to(server, "karla@example.com")
        code = re.search(r"\b\d{6}\b", mails[-1][0] + " " + mails[-1][1]).group(0)
        await code_box.fill("000000" if code != "000000" else "111111")
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("alert")).to_have_text("The code is not right.")
        await code_box.fill(code)
        await page.get_by_role("button", name="Confirm").click()
        await expect(panel).to_contain_text("E-mail confirmed.")
        await expect(verify).to_be_hidden()
        await expect(code_box).to_be_hidden()

        await page.get_by_role("button", name="End chat").click()
        await expect(panel).to_contain_text("The chat has ended.", timeout=WAIT)
        await expect(page.get_by_role("textbox", name="Message")).to_be_hidden()
        await page.get_by_role("button", name="Email me the transcript").click()
        await expect(panel).to_contain_text("Transcript sent to karla@example.com", timeout=WAIT)
        assert len(await mails_to(server, "karla@example.com")) == 2

        await page.get_by_role("button", name="Start a new chat").click()
        await expect(page.get_by_role("textbox", name="Message")).to_be_focused(timeout=WAIT)
        await expect(page.get_by_role("log").locator(".m.v")).to_have_count(0)
        await send_and_wait(page, "Another question")
        sessions = await chat_sessions(server)
        assert [status for _, _, status in sessions] == ["ended", "open"]
        assert [text for _, text in await chat_messages(server)] == ["Hello", "Another question"]
        assert errors == []


async def test_the_transcript_goes_only_to_a_confirmed_address(server, website):
    await agent_online(server)
    key = await create_channel(server, [website.origin])
    url = website.page("/", server.url, key)
    async with open_browser() as browser:
        page = await browser.new_page()
        await page.goto(url)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        panel = page.get_by_role("dialog", name="Chat")
        await page.get_by_role("textbox", name="E-mail").fill("otto@example.com")
        await send_and_wait(page, "Hallo")
        await page.get_by_role("button", name="End chat").click()
        await expect(panel).to_contain_text("The chat has ended.", timeout=WAIT)
        await page.get_by_role("button", name="Email me the transcript").click()
        # Not confirmed yet: a code comes first, then the transcript by itself.
        await expect(panel).to_contain_text("Please confirm your e-mail address first")
        code_box = page.get_by_role("textbox", name="Code")
        await expect(code_box).to_be_visible(timeout=WAIT)
        mails = await mails_to(server, "otto@example.com")
        assert len(mails) == 1 and "Hallo" not in mails[0][1]
        code = re.search(r"\b\d{6}\b", mails[0][0] + " " + mails[0][1]).group(0)
        await code_box.fill(code)
        await page.get_by_role("button", name="Confirm").click()
        await expect(panel).to_contain_text("Transcript sent to otto@example.com", timeout=WAIT)
        mails = await mails_to(server, "otto@example.com")
        assert len(mails) == 2 and "Hallo" in mails[1][1]


async def test_a_signed_in_user_is_known_and_a_forged_one_refused(server, website):
    await agent_online(server)
    key, secret = await create_channel_and_secret(server, [website.origin])

    def identity(user_hash: str) -> str:
        user = {
            "user_id": "u-17",
            "user_hash": user_hash,
            "name": "Karla Kundin",
            "email": "karla@example.com",
            "email_hash": signature(secret, "karla@example.com"),
        }
        return f"<script>window.TresenChat = {{identity: {json.dumps(user)}}};</script>"

    signed = website.page("/in", server.url, key, body=identity(signature(secret, "u-17")))
    forged = website.page("/forged", server.url, key, body=identity("00" * 32))
    async with open_browser() as browser:
        page = await browser.new_page()
        errors = watch(page)
        await page.goto(signed)
        await page.get_by_role("button", name="Open chat").click(timeout=WAIT)
        await send_and_wait(page, "Signed in and asking")
        # The site vouched for name and e-mail: nothing to ask, nothing to verify.
        await expect(page.get_by_role("textbox", name="Name")).to_be_hidden()
        await expect(page.get_by_role("textbox", name="E-mail")).to_be_hidden()
        await expect(page.get_by_role("link", name="Verify e-mail")).to_have_count(0)
        assert await chat_sessions(server) == [("Karla Kundin", "karla@example.com", "open")]
        assert errors == []

        other = await browser.new_page()
        warnings: list[str] = []
        other.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
        await other.goto(forged)
        await other.get_by_role("button", name="Open chat").click(timeout=WAIT)
        panel = other.get_by_role("dialog", name="Chat")
        await expect(panel).to_contain_text("Chat is not available.", timeout=WAIT)
        await expect(other.get_by_role("textbox", name="Message")).to_be_hidden()
        assert any("user_hash" in warning for warning in warnings), warnings


async def test_a_busy_desk_tells_the_expected_wait(server, website):
    await agent_online(server, chat_capacity=0)  # online, but taking no more chats
    key = await create_channel(server, [website.origin])
    async with open_browser() as browser:
        for lang, text in (
            ("en", "Expected wait: about 5 minutes"),
            ("de", "Voraussichtliche Wartezeit: etwa 5 Minuten"),
        ):
            page = await browser.new_page()
            await page.goto(website.page(f"/{lang}", server.url, key, lang=lang))
            await page.locator("#tresen-chat button[aria-expanded]").click(timeout=WAIT)
            await expect(page.get_by_role("dialog", name="Chat")).to_contain_text(text)
            await page.close()
