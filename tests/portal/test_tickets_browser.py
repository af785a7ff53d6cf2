"""My tickets in Chromium on a phone-sized screen: a customer signs in by the link, sees
their tickets from two channels (mail and SMS), opens one and answers with a file, in
German (her record's language) and then English; the answer is on the ticket, from the
portal."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from customers.actions import create_customer
from tests.browser import ARTIFACTS, open_browser
from tests.fixtures import PNG, inbound_mail
from tickets.inbox import receive
from tickets.models import Message
from tresen.inbound import InboundMessage

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True}


async def test_a_customer_answers_on_a_phone(server, runtime, tmp_path):
    async with runtime.transaction() as tx:
        await create_customer(
            tx,
            name="Kim Meyer",
            identities=[("email", "kim@example.com"), ("phone", "+49 30 1234567")],
        )
    by_mail = await receive(runtime, inbound_mail("<browser-1@example.com>"))
    by_sms = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "sms",
                "external_id": "SM-browser-1",
                "from": {"kind": "phone", "value": "+49301234567"},
                "text": "Wann kommt meine Lieferung?",
            }
        ),
    )
    assert by_mail.ticket_id != by_sms.ticket_id
    link = server.cli("portal", "link", "kim@example.com")
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip().splitlines()[-1]
    upload = tmp_path / "screen.png"
    upload.write_bytes(PNG)
    async with open_browser() as browser:
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(url)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(server.url + "/portal/tickets")
        rows = page.locator("table.tickets tbody tr")
        assert await rows.count() == 2
        listing = await page.locator("table.tickets").inner_text()
        assert "Drucker druckt nicht" in listing
        # The page fits the phone: nothing wider than the screen.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "portal-my-tickets.png", full_page=True)
        await page.get_by_role("link", name="Drucker druckt nicht").click()
        await page.wait_for_url(f"{server.url}/portal/tickets/{by_mail.ticket_number}")
        assert "Seit heute druckt unser Drucker nicht mehr." in await page.inner_text("main")
        # Kim wrote in German: the record's language, so the portal speaks German to her.
        await page.get_by_label("Ihre Nachricht").fill("Hier ist ein Bildschirmfoto.")
        await page.get_by_label("Dateien anhängen").set_input_files(str(upload))
        await page.get_by_role("button", name="Senden").click()
        await page.wait_for_url(f"**/portal/tickets/{by_mail.ticket_number}?done=*")
        main = await page.inner_text("main")
        assert "Hier ist ein Bildschirmfoto." in main and "screen.png" in main
        assert "Ihre Nachricht wurde gesendet." in main
        # And in English when she chooses it.
        await page.get_by_role("button", name="English").click()
        await page.get_by_label("Your message").wait_for()
        await page.screenshot(path=ARTIFACTS / "portal-ticket.png", full_page=True)
        assert errors == []
        await context.close()
    for _attempt in range(50):
        async with runtime.read() as session:
            reply = await session.scalar(
                select(Message)
                .where(Message.ticket_id == by_mail.ticket_id)
                .order_by(Message.id.desc())
                .limit(1)
            )
        if reply.channel == "portal":
            break
        await asyncio.sleep(0.1)
    assert (reply.channel, reply.text) == ("portal", "Hier ist ein Bildschirmfoto.")
    assert [a.filename for a in reply.attachments] == ["screen.png"]
