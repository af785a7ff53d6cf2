"""A customer with tickets on two channels (e-mail and chat), another customer beside them,
and a search of the whole database and data folder for what identifies someone: shared by
the export and erasure tests."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import JSON, LargeBinary, String, Text, select, text

from channels.chat.actions import create_chat_channel
from channels.chat.models import ChatChannel, ChatSession
from customers.models import Customer
from tickets import csat
from tickets.inbox import receive
from tickets.models import Ticket
from tresen import rooms
from tresen.database import Base
from tresen.inbound import InboundMessage

KIM_NAME = "Kim Meyer"
KIM_EMAIL = "kim.meyer@example.org"
KIM_PHONE = "+49 30 1234567"
KIM_SECRET = "Zitronenfalter"  # only ever in Kim's own messages
KIM_FILE = "rechnung-kim.pdf"
OLGA_EMAIL = "olga.other@example.net"


@dataclass
class People:
    kim: int
    olga: int
    email_ticket: int
    chat_ticket: int
    olga_ticket: int
    chat_identity: str

    @property
    def needles(self) -> list[str]:
        """What identifies Kim, in any spelling the desk stores."""
        return [
            KIM_NAME,
            KIM_EMAIL,
            "+49301234567",
            "301234567",
            KIM_SECRET,
            "rechnung-kim",
            "Kims Lieferung",
            self.chat_identity,
        ]


def inbound(body: dict) -> dict:
    return {"to": "support@tresen.test", **body}


async def make_people(client, runtime, headers) -> People:
    """Kim writes by mail (an attachment), gets a reply and an internal note about her, adds
    a phone number, chats on the shop's site and proves her address there (her chat record
    is merged into her record); Olga writes one mail."""
    mail = await client.post(
        "/api/v1/inbound",
        headers=headers,
        json=inbound(
            {
                "channel": "email",
                "external_id": "<first@mail.kim.example>",
                "from": {"kind": "email", "value": KIM_EMAIL, "name": KIM_NAME},
                "subject": f"{KIM_NAME}: Rechnung 4711 falsch",
                "text": f"Hallo, hier {KIM_NAME}, Telefon {KIM_PHONE}. Kennwort {KIM_SECRET}.",
                "attachments": [
                    {
                        "filename": KIM_FILE,
                        "content_type": "application/pdf",
                        "content_base64": base64.b64encode(
                            f"%PDF Rechnung an {KIM_NAME}".encode()
                        ).decode(),
                    }
                ],
            }
        ),
    )
    assert mail.status_code == 202, mail.text
    email_ticket = mail.json()["ticket_id"]
    reply = await client.post(
        f"/api/v1/tickets/{email_ticket}/messages",
        headers=headers,
        json={"text": f"Hallo {KIM_NAME}, wir korrigieren die Rechnung."},
    )
    assert reply.status_code in (200, 201), reply.text
    note = await client.post(
        f"/api/v1/tickets/{email_ticket}/messages",
        headers=headers,
        json={"text": f"Intern: {KIM_NAME} hat schon dreimal angerufen.", "internal": True},
    )
    assert note.status_code in (200, 201), note.text
    async with runtime.read() as session:
        kim = (await session.get(Ticket, email_ticket)).customer_id
    phone = await client.post(
        f"/api/v1/customers/{kim}/identities",
        headers=headers,
        json={"kind": "phone", "value": KIM_PHONE},
    )
    assert phone.status_code == 201, phone.text
    olga_mail = await client.post(
        "/api/v1/inbound",
        headers=headers,
        json=inbound(
            {
                "channel": "email",
                "external_id": "<olga@mail.olga.example>",
                "from": {"kind": "email", "value": OLGA_EMAIL, "name": "Olga Other"},
                "subject": "Olgas Frage",
                "text": "Olga fragt nach ihrem Vertrag.",
            }
        ),
    )
    olga_ticket = olga_mail.json()["ticket_id"]
    mention = await client.post(  # Kim's address on Olga's ticket
        f"/api/v1/tickets/{olga_ticket}/messages",
        headers=headers,
        json={"text": f"Olga nennt {KIM_EMAIL.upper()} als Ansprechpartnerin.", "internal": True},
    )
    assert mention.status_code in (200, 201), mention.text
    chat_ticket, identity = await _chat(runtime)
    async with runtime.transaction() as tx:  # a rating with a comment naming her
        await csat.rate(tx, email_ticket, kim, 2, f"{KIM_NAME} ist unzufrieden", source="mail")
    async with runtime.read() as session:
        olga = (await session.get(Ticket, olga_ticket)).customer_id
    return People(kim, olga, email_ticket, chat_ticket, olga_ticket, identity)


async def _chat(runtime) -> tuple[int, str]:
    async with runtime.transaction() as tx:
        await create_chat_channel(tx, name="Shop", allowed_origins=["https://shop.example.com"])
    async with runtime.transaction() as tx:
        channel_id = await tx.session.scalar(select(ChatChannel.id))
        visitor = secrets.token_hex(8)
        row = ChatSession(
            channel_id=channel_id,
            key=secrets.token_urlsafe(18),
            visitor_id=visitor,
            identity=f"visitor:{visitor}",
            name=KIM_NAME,
            email=KIM_EMAIL,
            email_verified=True,
            language="de",
            page_url="https://shop.example.com/orders/kim-meyer",
            status="open",
            visitor_read_id=0,
            agent_read_id=0,
            code_attempts=0,
            created_at=tx.now(),
            last_seen_at=tx.now(),
        )
        tx.session.add(row)
        await tx.session.flush()
        key, identity, session_id = row.key, row.identity, row.id
    received = await receive(
        runtime,
        InboundMessage.model_validate(
            {
                "channel": "chat",
                "external_id": f"{key}:1",
                "from": {"kind": "chat", "value": identity, "name": KIM_NAME},
                "subject": "Chat: Kims Lieferung fehlt",
                "text": "Kims Lieferung fehlt seit Montag.",
                "conversation_id": key,
            }
        ),
    )
    async with runtime.transaction() as tx:
        (await tx.session.get(ChatSession, session_id)).ticket_id = received.ticket_id
        visitor_record = (await tx.session.get(Ticket, received.ticket_id)).customer_id
        # The visitor proved the address (the chat's code): their record joins Kim's.
        await rooms.link_identity(tx, visitor_record, "email", KIM_EMAIL)
    return received.ticket_id, identity


async def database_texts(runtime) -> list[tuple[str, str]]:
    """(table.column, value) of every text, JSON and binary value in the database: every
    modelled table, and on PostgreSQL every table there is (each row as text)."""
    found = []
    async with runtime.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [
                c for c in table.columns if isinstance(c.type, String | Text | JSON | LargeBinary)
            ]
            if not columns:
                continue
            for row in (await session.execute(select(*columns))).all():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    found.append((f"{table.name}.{column.name}", str(value)))
        if runtime.settings.is_postgres:
            names = await session.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            for name in list(names):
                rows = await session.scalars(text(f'SELECT CAST(t AS text) FROM "{name}" t'))
                found += [(name, value) for value in rows]
    return found


def leftovers(texts: list[tuple[str, str]], needles: list[str]) -> list[str]:
    lowered = [needle.lower() for needle in needles]
    return [
        f"{where}: {needle!r} in {value[:120]!r}"
        for where, value in texts
        for needle in lowered
        if needle in value.lower()
    ]


def files_containing(folder: Path, needles: list[str]) -> list[str]:
    """Files under the folder whose bytes hold a needle (as UTF-8, any letter case)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes().lower()
        found += [
            f"{path.name}: {needle!r}" for needle in needles if needle.lower().encode() in content
        ]
    return found


async def customer_exists(runtime, customer_id: int) -> bool:
    async with runtime.read() as session:
        return await session.get(Customer, customer_id) is not None
