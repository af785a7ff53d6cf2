"""What agents see of mail on the ticket page: delivery, quotes, notices, attachments, source."""

from __future__ import annotations

from sqlalchemy import select, update

from channels.email.parse import parse_message
from customers.models import Identity
from tests.fixtures import csrf_of, sign_in
from tickets.inbox import receive
from tickets.models import Attachment, Message
from tickets.outbox import deliver_due

MAIL = b"""From: Kim Meyer <kim@example.com>
To: support@tresen.test
Subject: Drucker
Message-ID: <kim-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="X"

--X
Content-Type: multipart/related; boundary="Y"

--Y
Content-Type: text/html; charset=utf-8

<p>Danke, geht wieder. <img src="cid:logo@kim"></p>
<p>Am 20.11.2026 um 10:00 schrieb Support &lt;support@tresen.test&gt;:</p>
<blockquote>Bitte neu starten.</blockquote>
--Y
Content-Type: image/png
Content-ID: <logo@kim>

PNGDATA
--Y--
--X
Content-Type: text/html; name="evil.html"
Content-Disposition: attachment; filename="evil.html"

<script>alert(1)</script>
--X--
""".replace(b"\n", b"\r\n")


async def test_mail_shows_trimmed_text_inline_images_safe_attachments_and_source(
    runtime, client, agent
):
    result = await receive(runtime, parse_message(MAIL, account="support@tresen.test"))
    await sign_in(client)
    page = (await client.get(f"/tickets/{result.ticket_id}")).text
    assert "Danke, geht wieder." in page and "Show the whole message" in page
    async with runtime.read() as session:
        attachments = {a.filename: a for a in await session.scalars(select(Attachment))}
    image = attachments["attachment-1.png"]
    assert f'src="/messages/{result.message_id}/attachments/{image.id}"' in page

    shown = await client.get(f"/messages/{result.message_id}/attachments/{image.id}")
    assert shown.headers["content-type"] == "image/png" and shown.content == b"PNGDATA"
    evil = attachments["evil.html"]
    download = await client.get(f"/messages/{result.message_id}/attachments/{evil.id}")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")

    source = await client.get(f"/messages/{result.message_id}/source")
    assert source.status_code == 200 and source.content == MAIL
    assert (await client.get(f"/messages/{result.message_id}/attachments/999")).status_code == 404


async def test_signed_out_visitors_get_no_attachments_or_sources(runtime, client):
    result = await receive(runtime, parse_message(MAIL))
    answer = await client.get(f"/messages/{result.message_id}/source")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def test_a_failed_reply_shows_why_and_can_be_sent_again(runtime, client, agent, smtp_server):
    from channels.email.accounts import create_account

    async with runtime.transaction() as tx:
        await create_account(tx, address="support@tresen.test", smtp_url=smtp_server.url())
    result = await receive(runtime, parse_message(MAIL, account="support@tresen.test"))
    await sign_in(client)
    page = await client.get(f"/tickets/{result.ticket_id}")
    await client.post(
        f"/tickets/{result.ticket_id}/messages",
        data={"text": "Gern geschehen.", "csrf_token": csrf_of(page.text)},
    )
    smtp_server.refuse["kim@example.com"] = (550, "5.1.1 mailbox unknown")
    await deliver_due(runtime)
    page = await client.get(f"/tickets/{result.ticket_id}")
    assert "Not delivered:" in page.text and "SMTP 550: 5.1.1 mailbox unknown" in page.text
    assert "Send again" in page.text
    async with runtime.read() as session:
        reply_id = await session.scalar(select(Message.id).where(Message.direction == "outbound"))

    del smtp_server.refuse["kim@example.com"]
    resend = await client.post(
        f"/messages/{reply_id}/resend", data={"csrf_token": csrf_of(page.text)}
    )
    assert resend.status_code == 303
    assert await deliver_due(runtime) == 1 and len(smtp_server.received) == 1
    page = await client.get(f"/tickets/{result.ticket_id}")
    assert "Sent " in page.text and "Send again" not in page.text
    again = await client.post(
        f"/messages/{reply_id}/resend", data={"csrf_token": csrf_of(page.text)}
    )
    assert again.status_code == 409  # a sent message is not sent again


async def test_notices_and_automatic_mail_are_marked(runtime, client, agent):
    parsed = parse_message(MAIL, account="support@tresen.test", max_attachment_bytes=5)
    parsed = parsed.model_copy(update={"auto_submitted": "Auto-Submitted: auto-replied"})
    result = await receive(runtime, parsed)
    await sign_in(client)
    page = (await client.get(f"/tickets/{result.ticket_id}")).text
    assert "larger than 5 bytes; kept in the original" in page
    assert 'class="badge auto"' in page
    async with runtime.transaction() as tx:
        await tx.session.execute(
            update(Identity).values(bounced_at=tx.now(), bounce_reason="failed: 550 User unknown")
        )
    page = (await client.get(f"/tickets/{result.ticket_id}")).text
    assert 'class="badge bouncing" title="failed: 550 User unknown"' in page
