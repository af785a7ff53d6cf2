"""What the visitors' sockets are told: the bus's events of their conversations as frames.

Topic `chat:<ticket id>`. A tick's new messages are read once for every socket (one query
for all conversations that had one), turned into one JSON frame each and pushed to the
conversation's sockets; typing, read receipts and the end of a chat need no query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from channels.chat import sessions, tokens
from tresen import rooms
from tresen.events import Event
from tresen.live import Feed, Socket

DEFAULT_BOT_NAME = "Bot"  # a bot's message when its settings are gone
MAX_BUTTONS = 10
MAX_BUTTON_TITLE = 200


def topic(ticket_id: int) -> str:
    return f"chat:{ticket_id}"


def dumps(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def is_bot(row) -> bool:
    """Whether a stored message is the bot's (outbound, written by no person)."""
    return row.direction == "outbound" and row.auto_submitted == "bot"


def offers(interactive) -> dict:
    """What a bot's message offers besides its text, as the widget may show it: buttons
    with a title (sent back as the visitor's message), an https image, a question for the
    e-mail address. Anything else in the stored JSON is left out."""
    found: dict = {}
    if not isinstance(interactive, dict):
        return found
    buttons = [
        {"title": item["title"][:MAX_BUTTON_TITLE], "payload": str(item.get("payload") or "")[:200]}
        for item in (interactive.get("buttons") or [])[:MAX_BUTTONS]
        if isinstance(item, dict) and isinstance(item.get("title"), str) and item["title"].strip()
    ]
    if buttons:
        found["buttons"] = buttons
    image = interactive.get("image")
    # Only https: a page served over https shows no mixed content, and no javascript: URLs.
    if isinstance(image, str) and image.lower().startswith("https://") and len(image) <= 2000:
        found["image"] = image
    if interactive.get("ask") == "email":
        found["ask"] = "email"
    return found


def message_frame(
    row,
    files: list,
    channel_key: str,
    session_key: str | None,
    secret_key: str,
    bot_name: str | None = None,
) -> dict:
    """A stored message as the widget shows it (text only; never HTML). Its files' links
    are signed for the visitor the message is theirs (sender or recipient)."""
    owner = row.sender if row.direction == "inbound" else row.recipient
    client_id = None
    author = None
    if row.direction == "inbound":
        sender = "visitor"
        prefix = f"{session_key}:" if session_key else None
        if prefix and row.external_id and row.external_id.startswith(prefix):
            client_id = row.external_id[len(prefix) :]
    elif row.author_user_id is not None:
        sender, author = "agent", {"name": row.author_name}
    elif is_bot(row):
        sender, author = "bot", {"name": bot_name or DEFAULT_BOT_NAME}
    else:
        sender = "system"
    frame = {
        "type": "message",
        "id": row.id,
        "client_id": client_id,
        "from": sender,
        "author": author,
        "text": row.text or "",
        "at": row.created_at.isoformat(),
        "attachments": [
            {
                "name": item.filename,
                "type": item.content_type,
                "size": item.size,
                "url": f"/chat/{channel_key}/files/{item.id}?sig="
                + tokens.file_signature(secret_key, item.id, owner or ""),
            }
            for item in files
        ],
    }
    if sender == "bot":
        frame.update(offers(row.interactive))
    return frame


class VisitorFeed(Feed):
    """The sockets of chat visitors, by conversation (ticket)."""

    def topics(self, event: Event) -> Iterable[str]:
        data = event.data
        if event.type == "message.created":
            return (topic(data["ticket_id"]),)
        if event.type == "ticket.updated" and "assignee_id" in data.get("fields", ()):
            return (topic(data["ticket_id"]),)
        if event.type in ("chat.typing", "chat.read") and data.get("side") == "agent":
            return (topic(data["ticket_id"]),)
        if event.type == "chat.ended":
            return (topic(data["ticket_id"]),)
        return ()

    async def load(self, batch: dict[str, list[Event]], sockets: dict[str, list[Socket]]) -> None:
        message_ids = [
            event.data["message_id"]
            for events in batch.values()
            for event in events
            if event.type == "message.created"
        ]
        assigned = [
            name
            for name, events in batch.items()
            if any(event.type == "ticket.updated" for event in events)
        ]
        ended = [
            name
            for name, events in batch.items()
            if any(event.type == "chat.ended" for event in events)
        ]
        rows, files, agents, ratings = {}, {}, {}, {}
        bot_name = None
        if message_ids or assigned or ended:
            async with self.runtime.read() as session:
                if message_ids:
                    rows = await sessions.messages_by_id(session, message_ids)
                    files = await sessions.attachments_of(session, list(rows))
                    if any(is_bot(row) for row in rows.values()):
                        bot_name = await sessions.bot_name(session)
                for name in assigned:
                    agents[name] = await sessions.agent_of(session, int(name.split(":")[1]))
                for name in ended:  # "How satisfied were you?" with the link to answer
                    if await sessions.left_with_the_bot(session, int(name.split(":")[1])):
                        continue  # abandoned with the bot: no survey (docs/bots.md)
                    ratings[name] = await rooms.rating_url(
                        session,
                        self.runtime.settings,
                        int(name.split(":")[1]),
                        self.runtime.clock.now(),
                    )
        for name, events in batch.items():
            members = sockets[name]
            visit = members[0].state
            for event in events:
                frame = self._frame(event, rows, files, agents.get(name), visit, bot_name)
                if frame is not None and frame["type"] == "ended" and ratings.get(name):
                    frame["rating_url"] = ratings[name] + "?via=chat"
                if frame is None:
                    continue
                text = dumps(frame)
                row = rows.get(frame["id"]) if frame["type"] == "message" else None
                for socket in members:
                    if row is not None and not sessions.shown_to(row, socket.state.identity):
                        continue  # another conversation on the same ticket (a merge)
                    if event.type == "chat.ended":
                        socket.state.status = "ended"
                    socket.push(("json", text))

    def _frame(
        self, event: Event, rows: dict, files: dict, agent: str | None, visit, bot_name=None
    ) -> dict | None:
        data = event.data
        if event.type == "message.created":
            row = rows.get(data["message_id"])
            if row is None:  # an internal note
                return None
            return message_frame(
                row,
                files.get(row.id, []),
                visit.channel.public_key,
                visit.session_key,
                self.runtime.settings.secret_key,
                bot_name,
            )
        if event.type == "ticket.updated":
            return {"type": "agent", "name": agent, "avatar_url": visit.channel.avatar_url}
        if event.type == "chat.typing":
            return {"type": "typing", "typing": bool(data["typing"]), "name": data.get("name")}
        if event.type == "chat.read":
            return {"type": "read", "id": data["message_id"]}
        if event.type == "chat.ended":
            return {"type": "ended", "by": data.get("by", "agent")}
        return None
