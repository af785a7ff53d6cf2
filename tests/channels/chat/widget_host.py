"""A customer's website for the widget's browser tests: pages on an origin of their own
(a tiny http.server on another port than the desk) carrying the one-line embed snippet,
and the desk's chat channel made on the server's database."""

from __future__ import annotations

import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import select

from tresen.runtime import Runtime
from tresen.settings import Settings, normalize_database_url


class Website:
    """Pages served from http://127.0.0.1:<own port>: `pages[path] = html`."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                    return
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    def page(
        self,
        path: str,
        desk_url: str,
        key: str,
        *,
        lang: str | None = None,
        html_lang: str = "en",
        head: str = "",
        body: str = "",
    ) -> str:
        """A page with the embed snippet; its URL."""
        extra = f' data-lang="{escape(lang)}"' if lang else ""
        snippet = (
            f'<script src="{escape(desk_url)}/chat/widget.js" data-channel="{escape(key)}"'
            f"{extra} async></script>"
        )
        self.pages[path] = (
            f'<!doctype html><html lang="{escape(html_lang)}"><head><meta charset="utf-8">'
            f"<title>Shop</title>{head}</head><body><h1>Shop</h1>{body}{snippet}</body></html>"
        )
        return self.origin + path

    def __enter__(self) -> Website:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.http.shutdown()
        self.http.server_close()

    async def __aenter__(self) -> Website:  # `async with` too, in async tests
        return self.__enter__()

    async def __aexit__(self, *exc) -> None:
        self.__exit__(*exc)


def _runtime(server) -> Runtime:
    settings = Settings(
        data_dir=Path(server.env["TRESEN_DATA_DIR"]),
        database_url=normalize_database_url(server.env["TRESEN_DATABASE_URL"]),
        secret_key=server.env["TRESEN_SECRET_KEY"],
    )
    return Runtime.create(settings)


async def agent_online(
    server,
    email: str = "anna@example.com",
    name: str = "Anna Agent",
    *,
    chat_capacity: int | None = None,
) -> int:
    """A staff user (made with the CLI) in a queue and online: chats are available (with
    chat_capacity=0 the one agent is full: busy, with an expected wait)."""
    from routing.actions import set_agent_profile
    from routing.assign import set_presence
    from routing.models import QueueMember
    from tickets.queues import create_queue
    from tresen.models import User

    server.add_user(email, "agent-password", name=name)
    runtime = _runtime(server)
    await runtime.start()
    try:
        async with runtime.transaction() as tx:
            user_id = await tx.session.scalar(select(User.id).where(User.email == email))
            queue = await create_queue(tx, name=f"Chat {user_id}")
            tx.session.add(QueueMember(queue_id=queue.id, user_id=user_id, role="agent"))
            await set_presence(tx, user_id, "online")
            if chat_capacity is not None:
                await set_agent_profile(tx, user_id, chat_capacity=chat_capacity)
        return user_id
    finally:
        await runtime.close()


async def create_channel(server, origins: list[str], **options) -> str:
    """A chat channel on the server's database, embedded on these origins; its public key."""
    key, _secret = await create_channel_and_secret(server, origins, **options)
    return key


async def create_channel_and_secret(server, origins: list[str], **options) -> tuple[str, str]:
    """A chat channel as create_channel makes it; its public key and identity secret."""
    from channels.chat.actions import create_chat_channel

    runtime = _runtime(server)
    try:
        async with runtime.transaction() as tx:
            row, secret = await create_chat_channel(
                tx, name=options.pop("name", "Shop"), allowed_origins=origins, **options
            )
            return row.public_key, secret
    finally:
        await runtime.engine.dispose()


async def chat_messages(server) -> list:
    """The chat channel's stored messages (direction, text), oldest first."""
    from tickets.models import Message

    runtime = _runtime(server)
    try:
        async with runtime.read() as session:
            rows = await session.execute(
                select(Message.direction, Message.text)
                .where(Message.channel == "chat")
                .order_by(Message.id)
            )
            return [tuple(row) for row in rows]
    finally:
        await runtime.engine.dispose()


async def chat_sessions(server) -> list:
    """The chat sessions' (name, email, status), oldest first."""
    from channels.chat.models import ChatSession

    runtime = _runtime(server)
    try:
        async with runtime.read() as session:
            rows = await session.execute(
                select(ChatSession.name, ChatSession.email, ChatSession.status).order_by(
                    ChatSession.id
                )
            )
            return [tuple(row) for row in rows]
    finally:
        await runtime.engine.dispose()


async def chat_ticket(server) -> int | None:
    """The ticket of the newest chat session."""
    from channels.chat.models import ChatSession

    runtime = _runtime(server)
    try:
        async with runtime.read() as session:
            return await session.scalar(
                select(ChatSession.ticket_id).order_by(ChatSession.id.desc()).limit(1)
            )
    finally:
        await runtime.engine.dispose()


def tiny_png() -> bytes:
    """A real 1×1 PNG (the desk tells files by their first bytes; the browser draws it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


async def mails_to(server, address: str) -> list[tuple[str, str]]:
    """The (subject, text) of the mails queued to an address that are no ticket messages."""
    from tickets.models import OutboxMessage

    runtime = _runtime(server)
    try:
        async with runtime.read() as session:
            rows = await session.execute(
                select(OutboxMessage.subject, OutboxMessage.text)
                .where(OutboxMessage.recipient == address, OutboxMessage.message_id.is_(None))
                .order_by(OutboxMessage.id)
            )
            return [tuple(row) for row in rows]
    finally:
        await runtime.engine.dispose()
