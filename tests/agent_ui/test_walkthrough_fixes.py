"""Small fixes from the walk-through: the customer's "Recently" list shows each contact once;
saved view names are unique per agent; a chat's subject ends on a word."""

from __future__ import annotations

import re

from channels.chat.socket import subject_from
from tests.fixtures import csrf_of, inbound_mail, sign_in
from tickets.inbox import receive


async def test_recently_lists_each_contact_once(client, agent, runtime):
    first = await receive(runtime, inbound_mail("<recent-1@x>", subject="Drucker kaputt"))
    await receive(
        runtime, inbound_mail("<recent-2@x>", subject="Re: Drucker kaputt", text="Immer noch")
    )
    await receive(runtime, inbound_mail("<recent-3@x>", subject="Rechnung", text="Wo ist sie?"))
    await sign_in(client)
    page = await client.get(f"/tickets/{first.ticket_id}")
    recent = re.search(r'<ol class="recent">(.*?)</ol>', page.text, re.S).group(1)
    items = re.findall(r"<li>(.*?)</li>", recent, re.S)
    # Three mails: three lines (not a line for each ticket besides the mail that opened it).
    assert len(items) == 3, items


async def test_saved_view_names_are_unique_per_agent(client, agent, runtime):
    await sign_in(client)
    token = csrf_of((await client.get("/")).text)
    first = await client.post("/views/save", data={"name": "Rechnungen", "csrf_token": token})
    assert first.status_code == 303
    again = await client.post("/views/save", data={"name": "rechnungen ", "csrf_token": token})
    assert again.status_code == 409 and "already" in again.text
    other = await client.post("/views/save", data={"name": "Mahnungen", "csrf_token": token})
    view_id = other.headers["location"].rsplit("-", 1)[1]
    renamed = await client.post(
        f"/views/{view_id}/update", data={"name": "RECHNUNGEN", "csrf_token": token}
    )
    assert renamed.status_code == 409
    same = await client.post(
        f"/views/{view_id}/update", data={"name": "Mahnungen", "csrf_token": token}
    )
    assert same.status_code == 303  # its own name is not taken


def test_a_chat_subject_ends_on_a_word_with_an_ellipsis():
    text = (
        "Hallo, ich warte seit drei Wochen auf meine Bestellung und niemand antwortet mir\nZeile 2"
    )
    subject = subject_from(text)
    assert subject == "Hallo, ich warte seit drei Wochen auf meine Bestellung und…"
    assert len(subject) <= 60
    assert subject_from("Wo ist meine Bestellung?\nNummer 12345") == "Wo ist meine Bestellung?"
    assert subject_from("\n\n  Kurz  und   gut  ") == "Kurz und gut"
    long_word = "x" * 80
    assert subject_from(long_word) == "x" * 59 + "…"
