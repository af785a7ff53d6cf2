"""Mail accounts edited in the console, and "Test connection" against real IMAP and SMTP
servers, showing what the server answered (never the password)."""

from __future__ import annotations

from sqlalchemy import select

from channels.email.accounts import create_account
from channels.email.models import MailAccount
from tests.fixtures import csrf_of, sign_in
from tresen.accounts import create_user


async def admin_token(runtime, client) -> str:
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="admin-pass"
    )
    await sign_in(client, "ada@example.com", "admin-pass")
    return csrf_of((await client.get("/admin/email")).text)


async def test_an_account_is_edited_and_a_bad_value_keeps_the_typing(runtime, client):
    token = await admin_token(runtime, client)
    async with runtime.transaction() as tx:
        account = await create_account(
            tx, address="support@example.com", smtp_url="smtp://127.0.0.1:2"
        )
    saved = await client.post(
        f"/admin/email/accounts/{account.id}",
        data={
            "csrf_token": token,
            "display_name": "Example Support",
            "processed_folder": "Done",
            "queue_id": "",
        },
    )
    assert saved.status_code == 303
    async with runtime.read() as session:
        row = await session.scalar(select(MailAccount))
    assert (row.display_name, row.processed_folder) == ("Example Support", "Done")
    bad = await client.post(
        f"/admin/email/accounts/{account.id}",
        data={
            "csrf_token": token,
            "display_name": "Typed name",
            "smtp_url": "ftp://user:secret-99@host",
            "processed_folder": "Typed folder",
        },
    )
    assert bad.status_code == 422 and "ftp" in bad.text and "secret-99" not in bad.text
    assert 'value="Typed name"' in bad.text and 'value="Typed folder"' in bad.text
    async with runtime.read() as session:
        assert (await session.scalar(select(MailAccount))).display_name == "Example Support"


async def test_smtp_connection_test_shows_the_servers_answer(runtime, client, smtp_server):
    token = await admin_token(runtime, client)
    async with runtime.transaction() as tx:
        good = await create_account(tx, address="a@example.com", smtp_url=smtp_server.url())
        wrong = await create_account(
            tx, address="b@example.com", smtp_url=smtp_server.url("wrong-pass-7")
        )
    works = await client.post(
        f"/admin/email/accounts/{good.id}/test", data={"csrf_token": token, "which": "smtp"}
    )
    assert works.status_code == 200
    assert "SMTP: the connection works" in works.text
    assert "login: 235" in works.text and smtp_server.password not in works.text
    refused = await client.post(
        f"/admin/email/accounts/{wrong.id}/test", data={"csrf_token": token, "which": "smtp"}
    )
    assert "SMTP: the connection failed" in refused.text and "535" in refused.text
    assert "wrong-pass-7" not in refused.text
    assert smtp_server.received == []  # nothing was sent
    odd = await client.post(
        f"/admin/email/accounts/{good.id}/test", data={"csrf_token": token, "which": "pop3"}
    )
    assert odd.status_code == 400


async def test_imap_connection_test_signs_in_and_opens_the_folder(runtime, client, dovecot):
    token = await admin_token(runtime, client)
    async with runtime.transaction() as tx:
        good = await create_account(tx, address="support@tresen.test", imap_url=dovecot.url())
        missing = await create_account(
            tx, address="other@tresen.test", imap_url=dovecot.url(folder="Nowhere")
        )
    works = await client.post(
        f"/admin/email/accounts/{good.id}/test", data={"csrf_token": token, "which": "imap"}
    )
    assert "IMAP: the connection works" in works.text and "login: OK" in works.text
    assert "imap-secret" not in works.text
    failed = await client.post(
        f"/admin/email/accounts/{missing.id}/test", data={"csrf_token": token, "which": "imap"}
    )
    assert "IMAP: the connection failed" in failed.text and "folder Nowhere: NO" in failed.text
