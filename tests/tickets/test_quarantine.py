"""The inbox's quarantine: a stored message that keeps failing is tried a few times, then kept
aside with its error for an administrator, instead of a traceback every 5 minutes for ever."""

from __future__ import annotations

import logging

from sqlalchemy import insert, select

import tickets.inbox as inbox
from tests.fixtures import inbound_mail
from tickets.inbox import MAX_ATTEMPTS, InboxProcessingError, receive, retry_pending
from tickets.models import InboundRecord, Ticket


async def record_of(runtime, external_id: str) -> InboundRecord:
    async with runtime.read() as session:
        return await session.scalar(
            select(InboundRecord).where(InboundRecord.external_id == external_id)
        )


async def test_a_message_that_keeps_failing_is_quarantined_and_left_alone(
    runtime, monkeypatch, caplog
):
    original = inbox.add_inbound_message
    calls = []

    async def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("the routing table is corrupt")

    monkeypatch.setattr(inbox, "add_inbound_message", broken)
    try:
        await receive(runtime, inbound_mail("<keeps-failing@x>"))
    except InboxProcessingError:
        pass
    record = await record_of(runtime, "<keeps-failing@x>")
    assert (record.status, record.attempts) == ("failed", 1)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tickets.inbox"):
        for _round in range(MAX_ATTEMPTS + 3):
            assert await retry_pending(runtime) == 0
    record = await record_of(runtime, "<keeps-failing@x>")
    assert record.status == "quarantined"
    assert record.attempts == MAX_ATTEMPTS
    assert "routing table is corrupt" in record.error
    # Tried MAX_ATTEMPTS times in all, then no more; no traceback for the retries.
    assert len(calls) == MAX_ATTEMPTS
    assert not [entry for entry in caplog.records if entry.exc_info]
    assert [entry for entry in caplog.records if "quarantined" in entry.getMessage()]

    # Once the cause is fixed, an administrator's retry processes it.
    monkeypatch.setattr(inbox, "add_inbound_message", original)
    result = await inbox.retry_quarantined(runtime, record.id)
    assert result.ticket_id is not None
    assert (await record_of(runtime, "<keeps-failing@x>")).status == "processed"


async def test_a_stored_message_no_longer_valid_is_quarantined_at_once(runtime):
    """A row stored before the model was validated (a queue id past any column) made every
    retry round raise before it reached the other records."""
    payload = inbound_mail("<old@x>").model_dump(mode="json", by_alias=True)
    async with runtime.transaction() as tx:
        connection = await tx.session.connection()
        await connection.execute(
            insert(InboundRecord),
            [
                {
                    "channel": "email",
                    "external_id": "<old@x>",
                    "payload": {**payload, "queue_id": 10**19},
                    "status": "failed",
                    "received_at": tx.now(),
                    "attempts": 1,
                },
                {
                    "channel": "email",
                    "external_id": "<fine@x>",
                    "payload": {**payload, "external_id": "<fine@x>"},
                    "status": "failed",
                    "received_at": tx.now(),
                    "attempts": 1,
                },
            ],
        )
    assert await retry_pending(runtime) == 1  # the valid one is processed all the same
    old = await record_of(runtime, "<old@x>")
    assert old.status == "quarantined" and "queue_id" in old.error
    assert await retry_pending(runtime) == 0
    assert (await record_of(runtime, "<old@x>")).attempts == old.attempts


async def test_administrators_see_quarantined_messages_and_retry_them(
    client, runtime, agent_headers, admin_headers, monkeypatch
):
    original = inbox.add_inbound_message

    async def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(inbox, "add_inbound_message", broken)
    try:
        await receive(runtime, inbound_mail("<api@x>"))
    except InboxProcessingError:
        pass
    for _round in range(MAX_ATTEMPTS):
        await retry_pending(runtime)

    assert (await client.get("/api/v1/inbox/quarantined", headers=agent_headers)).status_code == 403
    listed = (await client.get("/api/v1/inbox/quarantined", headers=admin_headers)).json()["items"]
    assert [(item["external_id"], item["attempts"]) for item in listed] == [
        ("<api@x>", MAX_ATTEMPTS)
    ]
    assert "disk on fire" in listed[0]["error"]

    inbox_id = listed[0]["id"]
    still = await client.post(f"/api/v1/inbox/{inbox_id}/retry", headers=admin_headers)
    assert still.status_code == 409 and "disk on fire" in still.json()["error"]
    monkeypatch.setattr(inbox, "add_inbound_message", original)
    done = await client.post(f"/api/v1/inbox/{inbox_id}/retry", headers=admin_headers)
    assert done.status_code == 200 and done.json()["ticket_id"] is not None
    assert (await client.get("/api/v1/inbox/quarantined", headers=admin_headers)).json()[
        "items"
    ] == []
    again = await client.post(f"/api/v1/inbox/{inbox_id}/retry", headers=admin_headers)
    assert again.status_code == 404
    async with runtime.read() as session:
        assert len(list(await session.scalars(select(Ticket.id)))) == 1


def test_the_cli_lists_and_retries_quarantined_messages(database_url, tmp_path):
    from tests.conftest import run_in_thread
    from tests.support import ServerProcess
    from tresen.runtime import Runtime
    from tresen.settings import Settings

    cli = ServerProcess(database_url.replace("+asyncpg", ""), tmp_path / "cli")
    (tmp_path / "cli").mkdir()
    assert cli.cli("migrate").returncode == 0

    async def seed():
        runtime = Runtime.create(Settings(data_dir=tmp_path, database_url=database_url))
        try:
            async with runtime.transaction() as tx:
                connection = await tx.session.connection()
                await connection.execute(
                    insert(InboundRecord),
                    {
                        "channel": "email",
                        "external_id": "<cli@x>",
                        "payload": inbound_mail("<cli@x>").model_dump(mode="json", by_alias=True),
                        "status": "quarantined",
                        "error": "RuntimeError: disk on fire",
                        "attempts": MAX_ATTEMPTS,
                        "received_at": tx.now(),
                    },
                )
        finally:
            await runtime.close()

    run_in_thread(seed())
    listed = cli.cli("inbox", "quarantined")
    assert listed.returncode == 0 and "<cli@x>" in listed.stdout
    assert "disk on fire" in listed.stdout
    inbox_id = listed.stdout.split("\t", 1)[0]
    retried = cli.cli("inbox", "retry", inbox_id)
    assert retried.returncode == 0 and "processed: ticket" in retried.stdout
    again = cli.cli("inbox", "retry", inbox_id)
    assert again.returncode == 1 and "not quarantined" in again.stderr
