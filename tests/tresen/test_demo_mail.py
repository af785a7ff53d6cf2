"""The demo's mail sink and page: replies really go out by SMTP and can be read in the console;
every link the demo makes follows its --port."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from channels.email.demo import use_smtp
from customers.portal_access import mail_link
from tests.fixtures import csrf_of, sign_in
from tickets.models import Message, Ticket
from tickets.outbox import deliver_due
from tresen import handlers
from tresen.cli import _reset_demo, _seed_demo, demo_settings
from tresen.demo_mail import MailSink
from tresen.runtime import Runtime


@pytest.fixture
def sink(tmp_path):
    sink = MailSink(tmp_path / "demo-mail")
    sink.start()
    yield sink
    sink.stop()


async def test_a_reply_from_the_console_lands_in_the_sink_and_on_the_demo_mail_page(
    runtime, app, client, sink
):
    await _seed_demo(runtime)
    await use_smtp(runtime, sink.smtp_url)
    await sign_in(client, "agent@demo.tresen.test", "demo-agent-pw")
    assert (await client.get("/demo/mail")).status_code == 404  # not while no demo runs
    app.state.demo_mail = sink
    async with runtime.read() as session:
        ticket_id = await session.scalar(
            select(Ticket.id).where(Ticket.subject == "Cannot log in to the booking portal")
        )
    page = await client.get(f"/tickets/{ticket_id}")
    answer = await client.post(
        f"/tickets/{ticket_id}/messages",
        data={
            "text": "Hello Emma, please clear the cookies and sign in again.",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert answer.status_code < 400
    await deliver_due(runtime)  # the outbox worker's turn: real SMTP to the sink
    sent = [m for m in sink.summaries() if "emma.wilson@" in m.recipients]
    assert len(sent) == 1 and "Cannot log in to the booking portal" in sent[0].subject

    listing = await client.get("/demo/mail")
    assert listing.status_code == 200
    assert f'href="/demo/mail/{sent[0].number}"' in listing.text
    shown = await client.get(f"/demo/mail/{sent[0].number}")
    assert shown.status_code == 200
    assert "please clear the cookies and sign in again" in shown.text
    assert "emma.wilson@nordlicht-reisen.example" in shown.text
    source = await client.get(f"/demo/mail/{sent[0].number}/source")
    assert source.headers["content-type"].startswith("text/plain")
    assert b"Message-ID:" in source.content or b"Message-Id:" in source.content
    assert (await client.get("/demo/mail/99999")).status_code == 404

    # Kept in the data folder: a sink started again (the demo restarted) still shows it.
    again = MailSink(sink.folder)
    assert [m.number for m in again.summaries()] == [m.number for m in sink.summaries()]


async def test_the_demo_mail_page_shows_html_without_scripts_and_only_to_staff(
    app, client, agent, sink
):
    app.state.demo_mail = sink
    number = sink.keep(
        ["kim@example.com"],
        b"From: support@demo.tresen.test\r\nTo: kim@example.com\r\nSubject: Hallo\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Guten Tag</p><script>alert(1)</script><img src=x onerror=alert(2)>",
    )
    anonymous = await client.get(f"/demo/mail/{number}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    await sign_in(client)
    page = await client.get(f"/demo/mail/{number}")
    assert page.status_code == 200 and "Guten Tag" in page.text
    assert "alert(1)" not in page.text and "onerror" not in page.text

    # A link in a mail's text (the portal's sign-in link) can be followed; nothing else.
    number = sink.keep(
        ["kim@example.com"],
        b"From: support@demo.tresen.test\r\nSubject: Link\r\n\r\n"
        b"Open http://127.0.0.1:8123/portal/sign-in/abc or javascript:alert(3) <b>x</b>\r\n",
    )
    page = await client.get(f"/demo/mail/{number}")
    link = "http://127.0.0.1:8123/portal/sign-in/abc"
    assert f'<a href="{link}" rel="noopener noreferrer">{link}</a>' in page.text
    assert 'href="javascript' not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text


async def test_ticket_page_offers_original_only_where_a_source_is_kept(runtime, client):
    await _seed_demo(runtime)
    await sign_in(client, "agent@demo.tresen.test", "demo-agent-pw")
    async with runtime.read() as session:
        mail = await session.scalar(
            select(Message).where(Message.channel == "email", Message.direction == "inbound")
        )
        chat = await session.scalar(
            select(Message).where(Message.channel == "chat", Message.direction == "inbound")
        )
    page = await client.get(f"/tickets/{mail.ticket_id}")
    assert f'href="/messages/{mail.id}/source"' in page.text
    source = await client.get(f"/messages/{mail.id}/source")
    assert source.status_code == 200
    assert source.headers["content-type"] == "text/plain; charset=utf-8"
    assert source.headers["x-content-type-options"] == "nosniff"
    assert source.content.startswith(b"From:") or b"\nFrom:" in source.content
    page = await client.get(f"/tickets/{chat.ticket_id}")
    assert "/source" not in page.text and ">Original<" not in page.text


async def test_port_goes_into_every_link_the_demo_makes(settings, sink, monkeypatch):
    monkeypatch.delenv("TRESEN_BASE_URL", raising=False)
    demo = demo_settings(settings, "127.0.0.1", 8123)
    assert demo.base_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("TRESEN_BASE_URL", "https://desk.example.com")
    assert demo_settings(settings, "127.0.0.1", 8123) is settings  # set: kept as it is

    runtime = Runtime.create(demo)
    await runtime.start()
    try:
        await _seed_demo(runtime)
        await use_smtp(runtime, sink.smtp_url)
        await handlers.run_due(runtime)  # the bot's turns on the demo chats
        async with runtime.read() as session:
            answers = list(
                await session.scalars(select(Message.text).where(Message.auto_submitted == "bot"))
            )
        links = [word for text in answers for word in text.split() if "/help/" in word]
        assert links and all(link.startswith("http://127.0.0.1:8123/help/") for link in links)

        async with runtime.transaction() as tx:
            link = await mail_link(
                tx, "jonas.mueller@mueller-maschinenbau.example", source="customer"
            )
        assert link.url.startswith("http://127.0.0.1:8123/portal/")
        await deliver_due(runtime)
        kept = [sink.read(m.number) for m in sink.summaries()]
        assert any(link.url in mail.text for mail in kept)
    finally:
        await runtime.close()


def test_reset_removes_the_demo_database_and_mail_only(tmp_path):
    from tresen.settings import Settings, SettingsError

    data = tmp_path / "var"
    (data / "demo-mail").mkdir(parents=True)
    (data / "demo-mail" / "000001.eml").write_bytes(b"Subject: x\r\n\r\nx")
    (data / "tresen.sqlite3").write_bytes(b"")
    (data / "secret_key").write_text("kept")
    _reset_demo(Settings.from_env({}, data_dir=data))
    assert sorted(path.name for path in data.iterdir()) == ["secret_key"]
    postgres = Settings.from_env({"TRESEN_DATABASE_URL": "postgresql://u:p@db/tresen"})
    with pytest.raises(SettingsError, match="only a SQLite database"):
        _reset_demo(postgres)
