"""Live events: across server processes on PostgreSQL, and the websocket's guards."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets
import websockets.exceptions

from tests.support import ServerProcess, sign_in


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_server_processes_see_each_others_events(database_url, tmp_path):
    url = database_url.replace("+asyncpg", "")
    first = ServerProcess(url, tmp_path / "a")
    second = ServerProcess(url, tmp_path / "b")
    (tmp_path / "a").mkdir()
    assert first.cli("migrate").returncode == 0
    first.add_user("agent@example.com", "agent-password")
    token = first.cli(
        "tokens", "create", "agent@example.com", "--scope", "integration"
    ).stdout.strip()
    first.start()
    second.start()
    try:
        browser = sign_in(second.url, "agent@example.com", "agent-password")
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        ws_url = second.url.replace("http", "ws") + "/ws/console"
        async with websockets.connect(
            ws_url, additional_headers={"Cookie": cookie, "Origin": second.url}
        ) as socket:
            async with httpx.AsyncClient(base_url=first.url) as api:
                answer = await api.post(
                    "/api/v1/inbound",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "channel": "email",
                        "external_id": "<cross@x>",
                        "from": {"kind": "email", "value": "kunde@x.example"},
                        "subject": "Seen by the other process",
                        "text": "Hallo",
                    },
                )
                assert answer.status_code == 202
            frame = await asyncio.wait_for(socket.recv(), 10)
        assert "Seen by the other process" in frame
        assert f'id="ticket-{answer.json()["ticket_id"]}"' in frame
    finally:
        first.stop()
        second.stop()


async def test_websocket_refuses_strangers(server):
    server.add_user("agent@example.com", "agent-password")
    ws_url = server.url.replace("http", "ws") + "/ws/console"
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url):
            pass
    browser = sign_in(server.url, "agent@example.com", "agent-password")
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    # Signed in, but the page asking is on another site: cross-site websocket hijacking.
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(
            ws_url, additional_headers={"Cookie": cookie, "Origin": "https://evil.example"}
        ):
            pass
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": cookie, "Origin": server.url}
    ):
        pass


def test_event_batches_stay_under_the_notify_limit():
    from tresen.events import NOTIFY_LIMIT, Event, _batches

    events = [Event("ticket.updated", {"ticket_id": n, "fields": ["x" * 50]}) for n in range(500)]
    batches = _batches(events)
    assert len(batches) > 1
    assert all(len(batch.encode()) <= NOTIFY_LIMIT for batch in batches)
    import json

    assert [e["data"]["ticket_id"] for b in batches for e in json.loads(b)] == list(range(500))


def test_a_background_worker_that_dies_is_reported_at_once(caplog):
    import logging

    from tresen.app import _report_stopped_worker

    async def broken():
        raise OSError("address already in use")

    async def main():
        task = asyncio.create_task(broken(), name="tresen-channels.email.receive")
        await asyncio.gather(task, return_exceptions=True)
        return task

    with caplog.at_level(logging.ERROR, logger="tresen.app"):
        _report_stopped_worker(asyncio.run(main()))
    assert "tresen-channels.email.receive stopped" in caplog.text
    assert "address already in use" in caplog.text
