"""What the console shows of a bot's handoff and of taking a ticket (QA items 11 and 17): the
Chats list says why the bot handed off, previews the customer's line and how long they
wait, live too; the bot's note and the history read in the agent's own language; the
bots page writes the calibrated threshold with the reader's decimal separator."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bots.settings import calibrated_threshold
from routing.assign import set_presence
from tests.agent_ui.test_bots_ticket import message_html
from tests.agent_ui.test_chats import frame_with, open_socket, wait_listening
from tests.bots.bot_world import bot_messages, say
from tests.bots.test_handler import QUESTION, faq_desk
from tests.fixtures import csrf_of, sign_in
from tickets.bot_messages import add_bot_message
from tickets.models import Ticket
from tresen.accounts import create_user, set_preferences

NO = "Nein"


async def handed_off(runtime, visitor: str = "v1") -> int:
    """A chat the bot answered, the visitor said no two minutes later, and nobody of the
    team is online to take it: it waits, unassigned, in the queue."""
    world = await faq_desk(runtime)
    async with runtime.transaction() as tx:
        await set_presence(tx, world["agent"].id, "offline")
    ticket_id = await say(runtime, visitor, QUESTION, world["queue_id"], "de")
    runtime.clock.advance(timedelta(minutes=2))
    await say(runtime, visitor, NO, world["queue_id"], "de")
    return ticket_id


def row_of(page: str, ticket_id: int) -> str:
    """One chat's line of the Chats list."""
    start = page.index(f'id="waiting-{ticket_id}"')
    return page[start : page.index("</li>", start)]


async def test_the_chats_list_says_why_the_bot_handed_off(runtime, client, agent):
    ticket_id = await handed_off(runtime)
    bot_lines = await bot_messages(runtime, ticket_id)
    assert bot_lines[-1].text  # the bot said who answers now
    runtime.clock.advance(timedelta(minutes=3))
    await sign_in(client)
    row = row_of((await client.get("/chats")).text, ticket_id)
    assert "Bot handed off: the customer said the answer did not help" in row
    # The customer's last line, not the bot's own "… will answer you shortly".
    assert f'<span class="chat-last">{NO}</span>' in row
    assert bot_lines[-1].text not in row
    assert "waiting 3 min" in row  # since the customer's "Nein", nobody has answered

    await set_preferences(runtime, agent.id, locale="de", timezone="Europe/Berlin")
    row = row_of((await client.get("/chats")).text, ticket_id)
    assert "Vom Bot übergeben:" in row and "wartet seit 3 min" in row


async def test_a_chat_without_the_bot_keeps_its_preview(runtime, client, agent):
    world = await faq_desk(runtime, bot=False)
    async with runtime.transaction() as tx:
        await set_presence(tx, world["agent"].id, "offline")
    ticket_id = await say(runtime, "v9", "Ist jemand da?", world["queue_id"], "de")
    await sign_in(client)
    row = row_of((await client.get("/chats")).text, ticket_id)
    assert "Ist jemand da?" in row and "handed off" not in row


async def test_the_handoff_shows_in_the_chats_list_live(app, runtime, client, agent):
    from agent_ui.chats import ChatsFeed

    world = await faq_desk(runtime)
    async with runtime.transaction() as tx:
        await set_presence(tx, world["agent"].id, "offline")
    ticket_id = await say(runtime, "v2", QUESTION, world["queue_id"], "de")
    await sign_in(client)
    socket = await open_socket(app, client, "/ws/chats")
    await wait_listening(runtime, ChatsFeed)
    try:
        await say(runtime, "v2", NO, world["queue_id"], "de")
        frame = await frame_with(socket, f'id="waiting-{ticket_id}"')
        assert 'hx-swap-oob="true"' in frame
        row = row_of(frame, ticket_id)
        assert "Bot handed off: the customer said the answer did not help" in row
        assert f'<span class="chat-last">{NO}</span>' in row and "waiting 0 min" in row
    finally:
        await socket.close()


async def test_the_handoff_note_reads_in_the_agents_language(runtime, client, agent):
    assert runtime.settings.default_language == "de"  # the desk's: the note's stored text
    ticket_id = await handed_off(runtime, "v3")
    [note] = await bot_messages(runtime, ticket_id, internal=True)
    assert note.text.startswith("Übergeben:")
    # A note from before the reason code was kept: its text, as it was written.
    async with runtime.transaction() as tx:
        ticket = await tx.session.get(Ticket, ticket_id)
        old = await add_bot_message(tx, ticket, "Übergeben: alte Notiz", internal=True)
    await sign_in(client)
    page = (await client.get(f"/tickets/{ticket_id}")).text
    shown = message_html(page, note.id)
    assert "Handed off: the customer said the answer did not help" in shown
    assert "Übergeben" not in shown
    assert "Übergeben: alte Notiz" in message_html(page, old.id)

    await set_preferences(runtime, agent.id, locale="de", timezone="Europe/Berlin")
    page = (await client.get(f"/tickets/{ticket_id}")).text
    assert "Übergeben:" in message_html(page, note.id)


async def test_the_threshold_hint_uses_the_readers_decimal_separator(runtime, client):
    admin = await create_user(
        runtime, email="boss@example.com", name="Bea Boss", role="admin", password="boss-pass-1"
    )
    calibrated = calibrated_threshold()
    assert calibrated is not None and calibrated != int(calibrated)
    english = f"{calibrated:g}"
    german = english.replace(".", ",")
    await sign_in(client, "boss@example.com", "boss-pass-1")
    page = (await client.get("/admin/bots")).text
    assert f"the calibrated default ({english})" in page
    await set_preferences(runtime, admin.id, locale="de", timezone="Europe/Berlin")
    page = (await client.get("/admin/bots")).text
    assert f"({german})" in page and f'placeholder="{german}"' in page
    assert f"({english})" not in page


async def test_the_history_says_an_agent_took_it(runtime, client, agent):
    other = await create_user(runtime, email="bo@example.com", name="Bo Berg", role="agent")
    world = await faq_desk(runtime, bot=False)
    async with runtime.transaction() as tx:
        await set_presence(tx, world["agent"].id, "offline")
    ticket_id = await say(runtime, "v4", "Hallo?", world["queue_id"], "de")
    await sign_in(client)
    page = (await client.get(f"/tickets/{ticket_id}")).text
    was = ""
    for assignee in ("me", str(other.id)):  # "Assign to me", then to a colleague
        changed = await client.post(
            f"/tickets/{ticket_id}/update",
            data={"csrf_token": csrf_of(page), "assignee_id": assignee, "assignee_id_was": was},
        )
        assert changed.status_code == 303, changed.text
        was = str(agent.id)
    page = (await client.get(f"/tickets/{ticket_id}")).text
    assert "Anna Agent took it" in page
    assert "Anna Agent assigned it to Anna Agent" not in page
    assert "Anna Agent assigned it to Bo Berg" in page
    await set_preferences(runtime, agent.id, locale="de", timezone="Europe/Berlin")
    page = (await client.get(f"/tickets/{ticket_id}")).text
    assert "Anna Agent hat es übernommen" in page
    assert "Anna Agent hat es Bo Berg zugewiesen" in page
    async with runtime.read() as session:
        assert (await session.scalar(select(Ticket.assignee_id))) == other.id
