"""The supervisors' bot report (/reports/bots): per channel and ISO week conversations,
answered, deflected, handed off with its share, the satisfaction of what the bot resolved,
why it handed off, and the questions it could not answer (the KB's gaps of the bot)."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.bots.bot_world import bot_messages, say, ticket
from tests.bots.test_handler import QUESTION, faq_desk
from tests.fixtures import sign_in
from tickets.csat import rate
from tresen.accounts import create_user

UNKNOWN = "Kann ich mit Bitcoin bezahlen und bekomme ich Zinsen?"


def week_row(page: str, week: str) -> list[str]:
    row = re.search(rf'<tr data-week="{week}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {week}"
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in cells]


async def test_the_weekly_report_per_channel(runtime, client):
    world = await faq_desk(runtime)
    queue_id = world["queue_id"]
    # Last week (2026-W48): one the bot resolved.
    runtime.clock.advance(timedelta(days=-7))
    old = await say(runtime, "r0", QUESTION, queue_id, "de")
    [answer] = await bot_messages(runtime, old)
    await say(runtime, "r0", answer.interactive["buttons"][0]["title"], queue_id, "de")
    runtime.clock.advance(timedelta(days=7))
    # This week (2026-W49): one resolved and rated 4, one "no", one asking for a person.
    resolved = await say(runtime, "r1", QUESTION, queue_id, "de")
    [answer] = await bot_messages(runtime, resolved)
    await say(runtime, "r1", answer.interactive["buttons"][0]["title"], queue_id, "de")
    async with runtime.transaction() as tx:
        customer_id = (await ticket(runtime, resolved)).customer_id
        await rate(tx, resolved, customer_id, 4, source="chat")
    said_no = await say(runtime, "r2", QUESTION, queue_id, "de")
    [answer] = await bot_messages(runtime, said_no)
    await say(runtime, "r2", answer.interactive["buttons"][1]["title"], queue_id, "de")
    await say(runtime, "r3", "Ich möchte mit einem Mitarbeiter sprechen", queue_id, "de")
    # A question the knowledge base has no answer to: a gap, reported as the bot's.
    await say(runtime, "r4", UNKNOWN, queue_id, "de")

    await create_user(
        runtime, email="sue@example.com", name="Sue", role="supervisor", password="pw-super-1"
    )
    await sign_in(client, "sue@example.com", "pw-super-1")
    board = await client.get("/board")
    assert 'href="/reports/bots"' in board.text
    page = await client.get("/reports/bots")
    assert page.status_code == 200
    assert '<h2 id="report-chat">Chat</h2>' in page.text
    this_week = week_row(page.text, "2026-W49")
    assert this_week[0] == "2026-W49"
    assert this_week[1] == "4"  # conversations
    assert this_week[3] == "1"  # deflected
    assert this_week[4] == "3 (75 %)"  # handed off, with its share
    assert this_week[5] == "0"  # abandoned
    assert this_week[6] == "4.0 (1 rating)"  # satisfaction of the one it resolved
    assert week_row(page.text, "2026-W48")[1:4] == ["1", "1", "1"]
    assert week_row(page.text, "2026-W47")[1:] == ["0", "0", "0", "0", "0", "–"]  # quiet
    assert "the customer asked for a person" in page.text
    assert "the customer said the answer did not help" in page.text
    gaps = page.text.split('id="bot-gaps-heading"')[1]
    assert "Questions the bot could not answer" in page.text
    assert UNKNOWN in gaps


async def test_agents_do_not_see_the_report(client, agent):
    await sign_in(client)
    assert (await client.get("/reports/bots")).status_code == 403
    assert 'href="/reports/bots"' not in (await client.get("/")).text


async def test_with_no_bot_the_report_says_so(runtime, client):
    await create_user(
        runtime, email="ada@example.com", name="Ada", role="admin", password="pw-admin-1"
    )
    await sign_in(client, "ada@example.com", "pw-admin-1")
    page = await client.get("/reports/bots")
    assert "No bot is switched on" in page.text and 'href="/admin/bots"' in page.text


def test_every_handoff_reason_is_listed_so_their_shares_add_up(runtime):
    from agent_ui.bots import report_tables

    reasons = [
        ("chat", reason, count)
        for reason, count in (
            ("said_no", 9), ("asked_for_person", 8), ("low_confidence", 7), ("second_miss", 6),
            ("angry", 5), ("taken_by_agent", 2), ("unsupported_language", 1),
        )
    ]  # fmt: skip
    week = {"channel": "chat", "week": "2026-W49", "conversations": 50, "answered": 30,
            "deflected": 12, "handed_off": 38, "abandoned": 0, "csat": None,
            "csat_count": 0}  # fmt: skip
    [table] = report_tables([week], reasons, ["chat"], runtime.clock.now())
    assert len(table["reasons"]) == 7
    assert table["reasons"][-1][0] == "the bot does not speak the customer's language"
    assert sum(count for _, count, _ in table["reasons"]) == 38
