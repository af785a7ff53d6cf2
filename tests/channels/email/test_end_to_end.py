"""Email end to end: a real server process, Dovecot, an SMTP server, and an agent in Chromium."""

from __future__ import annotations

import asyncio
import time

import aiosmtplib
import httpx
from playwright.async_api import expect

from tests.browser import ARTIFACTS, open_browser, sign_in_page
from tests.support import free_port


def api(server, path: str) -> dict:
    answer = httpx.get(server.url + path, headers={"Authorization": f"Bearer {server.token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def eventually(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("did not happen in time")
        await asyncio.sleep(0.2)


async def test_mail_in_reply_out_and_the_answer_back_into_the_same_ticket(
    server, dovecot, smtp_server
):
    server.add_user("agent@example.com", "agent-password", name="Anna Agent")
    server.token = server.cli("tokens", "create", "agent@example.com").stdout.strip()
    added = server.cli(
        "channels",
        "add-email",
        "--address",
        "support@tresen.test",
        "--display-name",
        "Tresen Support",
        "--imap-url",
        dovecot.url(),
        "--smtp-url",
        smtp_server.url(),
    )
    assert added.returncode == 0, added.stderr
    server.stop()
    smtp_port = free_port()
    server.start("--smtp-port", str(smtp_port))

    await dovecot.append(
        b"From: Kim Meyer <kim@example.com>\r\nTo: support@tresen.test\r\n"
        b"Subject: Drucker druckt nicht\r\nMessage-ID: <kunde-1@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Seit heute druckt unser Drucker nicht mehr. Gr\xc3\xbc\xc3\x9fe, Kim\r\n"
    )
    tickets = await eventually(lambda: api(server, "/api/v1/tickets")["items"])
    ticket = tickets[0]
    assert ticket["subject"] == "Drucker druckt nicht"

    async with open_browser() as browser:
        page = await sign_in_page(browser, server.url, "agent@example.com", "agent-password")
        await page.get_by_role("link", name="Drucker druckt nicht").click()
        await expect(page.locator("main [ws-connect]")).to_have_attribute("data-live", "connected")
        await page.get_by_role("textbox", name="Message").fill("Bitte starten Sie ihn neu.")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("status")).to_contain_text("Sent.")

        await eventually(lambda: smtp_server.received)
        [sent] = smtp_server.messages()
        assert sent["From"] == "Tresen Support <support@tresen.test>"
        assert sent["To"] == "kim@example.com"
        assert sent["Subject"] == f"Re: Drucker druckt nicht [#{ticket['number']}]"
        assert sent["In-Reply-To"] == "<kunde-1@example.com>"
        assert "<kunde-1@example.com>" in sent["References"]
        assert sent.get_body(("plain",)).get_content().strip() == "Bitte starten Sie ihn neu."

        # The customer answers the mail; their program keeps only In-Reply-To.
        await dovecot.append(
            f"From: Kim Meyer <kim@example.com>\r\nTo: support@tresen.test\r\n"
            f"Subject: Danke\r\nMessage-ID: <kunde-2@example.com>\r\n"
            f"In-Reply-To: {sent['Message-ID']}\r\n\r\nJetzt geht es wieder.\r\n".encode()
        )
        messages = page.locator("#messages > li.message")
        await expect(messages).to_have_count(3, timeout=20_000)
        await expect(messages.last).to_contain_text("Jetzt geht es wieder.")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "ticket-email.png", full_page=True)
        assert page.errors == []

    detail = api(server, f"/api/v1/tickets/{ticket['id']}")
    assert [m["direction"] for m in detail["messages"]] == ["inbound", "outbound", "inbound"]
    assert len(api(server, "/api/v1/tickets")["items"]) == 1
    assert len(smtp_server.received) == 1

    # Mail forwarded to the server's SMTP listener lands in the same inbox.
    await aiosmtplib.send(
        b"From: Ole <ole@example.com>\r\nTo: support@tresen.test\r\nSubject: Weitergeleitet\r\n"
        b"Message-ID: <ole-1@example.com>\r\n\r\nPer SMTP.\r\n",
        sender="ole@example.com",
        recipients=["support@tresen.test"],
        hostname="127.0.0.1",
        port=smtp_port,
        start_tls=False,
    )
    subjects = {item["subject"] for item in api(server, "/api/v1/tickets")["items"]}
    assert subjects == {"Drucker druckt nicht", "Weitergeleitet"}
