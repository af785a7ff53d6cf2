"""The bot on the ticket page: its messages marked as the bot's (with the buttons it offered,
read-only), "The bot is answering" with "Take over from the bot", the handoff banner with
the reason and the answers it gave, and the state "With the bot" in the list's filter."""

from __future__ import annotations

import re

from tests.bots.bot_world import bot_messages, say, ticket
from tests.bots.test_handler import QUESTION, faq_desk
from tests.fixtures import csrf_of, sign_in


def message_html(page: str, message_id: int) -> str:
    """The message's part of the ticket page (up to the timeline's next line)."""
    start = page.index(f'<li id="message-{message_id}"')
    rest = page[start + 1 :]
    ends = [
        i
        for i in (rest.find('<li id="message-'), rest.find('<li class="event'), rest.find("</ol>"))
        if i >= 0
    ]
    return page[start : start + 1 + min(ends)]


async def test_a_conversation_with_the_bot_and_taking_it_over(runtime, client, agent):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v1", QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert page.status_code == 200
    shown = message_html(page.text, answer.id)
    assert re.match(r'<li id="message-\d+" class="message outbound automatic bot"', shown)
    assert '<span class="badge bot-label">Bot</span>' in shown
    assert "Tresen bot" in shown  # the bot's name, as the customer saw it
    titles = [button["title"] for button in answer.interactive["buttons"]]
    chips = re.findall(r'<li class="chip">([^<]*)</li>', shown)
    assert chips == titles and len(titles) == 2  # Yes / No, read-only (no button, no form)
    assert "<button" not in shown.split("bot-buttons")[1]
    assert "The bot is answering this conversation." in page.text
    assert 'data-key="a"' not in page.text  # no "Assign to me" beside the bot: take over
    assert '<span class="badge state-bot">With the bot</span>' in page.text
    # Nobody sets "bot" by hand: it is shown as the state, but not offered.
    assert '<option value="bot" selected disabled>With the bot</option>' in page.text
    listed = await client.get("/?state=bot")
    assert f'href="/tickets/{ticket_id}"' in listed.text
    assert f'href="/tickets/{ticket_id}"' not in (await client.get("/")).text  # not open work

    taken = await client.post(
        f"/tickets/{ticket_id}/take-over", data={"csrf_token": csrf_of(page.text)}
    )
    assert taken.status_code == 303 and taken.headers["location"] == f"/tickets/{ticket_id}"
    found = await ticket(runtime, ticket_id)
    assert found.state != "bot" and found.assignee_id == agent.id
    after = await client.get(f"/tickets/{ticket_id}")
    assert "You took over the conversation from the bot." in after.text
    assert "The bot handed off: an agent took over." in after.text
    assert "It gave 1 answer before." in after.text
    assert "Take over from the bot" not in after.text
    assert 'data-key="a"' in after.text
    # A second click (another tab) finds the bot gone: said so, nothing changes.
    again = await client.post(
        f"/tickets/{ticket_id}/take-over", data={"csrf_token": csrf_of(after.text)}
    )
    assert again.status_code == 303
    assert (
        "The bot had already handed this conversation off."
        in (await client.get(f"/tickets/{ticket_id}")).text
    )
    refused = await client.post(f"/tickets/{ticket_id}/take-over", data={})
    assert refused.status_code == 403  # no CSRF token


async def test_the_handoff_banner_says_why(runtime, client, agent):
    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v2", QUESTION, world["queue_id"], "de")
    [answer] = await bot_messages(runtime, ticket_id)
    await say(runtime, "v2", answer.interactive["buttons"][1]["title"], world["queue_id"], "de")
    assert (await ticket(runtime, ticket_id)).state != "bot"
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert "The bot handed off: the customer said the answer did not help." in page.text
    assert "It gave 1 answer before." in page.text
    assert "Take over from the bot" not in page.text
    # Its note for the agents is the bot's too, and internal.
    [note] = await bot_messages(runtime, ticket_id, internal=True)
    shown = message_html(page.text, note.id)
    assert "internal" in shown and "bot-label" in shown


async def test_a_ticket_the_bot_never_had_shows_nothing_of_it(runtime, client, agent):
    world = await faq_desk(runtime, bot=False)
    ticket_id = await say(runtime, "v3", QUESTION, world["queue_id"], "de")
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert "The bot" not in page.text and "bot-label" not in page.text
    assert 'value="bot"' not in page.text


async def test_the_open_page_shows_the_bots_answer_and_its_handoff_live(
    app, runtime, client, agent
):
    from agent_ui.ticket_live import TicketFeed
    from tests.agent_ui.test_chats import frame_with, open_socket, wait_listening
    from tresen.handlers import run_due

    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v4", QUESTION, world["queue_id"], "de", turn=False)
    await sign_in(client)
    socket = await open_socket(app, client, f"/ws/tickets/{ticket_id}")
    await wait_listening(runtime, TicketFeed)
    try:
        await run_due(runtime)  # the bot's turn: its answer appears on the open page
        shown = await frame_with(socket, "bot-label")
        assert "Tresen bot" in shown and '<li class="chip">Ja</li>' in shown
        await say(runtime, "v4", "Nein", world["queue_id"], "de")
        banner = await frame_with(socket, 'id="bot-banner"')
        assert 'hx-swap-oob="true"' in banner
        assert "The bot handed off: the customer said the answer did not help." in banner
    finally:
        await socket.close()


async def test_in_german_the_state_is_beim_bot(runtime, client, agent):
    from tresen.accounts import set_preferences

    world = await faq_desk(runtime)
    ticket_id = await say(runtime, "v5", QUESTION, world["queue_id"], "de")
    await set_preferences(runtime, agent.id, locale="de", timezone="Europe/Berlin")
    await sign_in(client)
    page = await client.get(f"/tickets/{ticket_id}")
    assert '<span class="badge state-bot">Beim Bot</span>' in page.text
    assert "Der Bot beantwortet diese Unterhaltung." in page.text
    assert ">Vom Bot übernehmen</button>" in page.text
    assert '<span class="badge bot-label">Bot</span>' in page.text
