"""A chat's mail: the code that proves a visitor's e-mail address, and the transcript.

Both go out as mail that is no ticket message (`rooms.queue_mail`: the outbox, sent by the
channel that reaches e-mail), queued in the transaction that records them. A verified
address is linked to the visitor's customer record (`rooms.link_identity`), which merges
the visitor's record into the one that has the address already.

What limits a session's mail is kept durably where the schema has room (the code's expiry
gives the time of the last one), counted per address from the outbox (so nobody floods a
stranger's mailbox from many sessions), and per session in the process (a session asking
for codes to ever new addresses).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, column, func, or_, select, table

from channels.chat import sessions
from channels.chat.models import ChatChannel, ChatSession
from tresen import rooms
from tresen.database import UTCDateTime
from tresen.email_address import normalize_email

CODE_DIGITS = 6
CODE_VALID = timedelta(minutes=10)
CODE_ATTEMPTS = 5  # wrong guesses a code survives; then it is void
CODE_INTERVAL = timedelta(seconds=30)  # between two codes of a session
CODES_PER_HOUR = 3  # per session, and per address
TRANSCRIPTS = 3  # per session, and per address within the session or the last hour
TRANSCRIPT_MESSAGES = 2000  # a transcript holds at most the newest this many messages

# Plain rows of other rooms: identities (customers), the outbox (tickets).
identities = table(
    "identities",
    column("customer_id", Integer),
    column("kind", String),
    column("value", String),
)
outbox = table(
    "outbox",
    column("recipient", String),
    column("subject", String),
    column("created_at", UTCDateTime),
)

# Nothing the visitor wrote goes into a code mail: the address may be anyone's.
CODE_MAIL = {
    "en": (
        "Your code: {code}",
        "Your code to confirm your e-mail address in the chat with {channel}:\n\n"
        "    {code}\n\n"
        "It is valid for 10 minutes. If you did not ask for it, you can ignore this mail.\n\n"
        "(This message was sent automatically.)",
    ),
    "de": (
        "Ihr Code: {code}",
        "Ihr Code zur Bestätigung Ihrer E-Mail-Adresse im Chat mit {channel}:\n\n"
        "    {code}\n\n"
        "Er ist 10 Minuten gültig. Wenn Sie ihn nicht angefordert haben, können Sie diese "
        "E-Mail ignorieren.\n\n"
        "(Diese Nachricht wurde automatisch erstellt.)",
    ),
}
TRANSCRIPT_MAIL = {
    "en": {
        "subject": "Chat transcript — {channel}",
        "intro": "Your chat with {channel} (times in UTC):",
        "visitor": "You",
        "agent": "Support",
        "file": "[file: {name}]",
        "end": "(This message was sent automatically.)",
    },
    "de": {
        "subject": "Chat-Verlauf — {channel}",
        "intro": "Ihr Chat mit {channel} (Zeiten in UTC):",
        "visitor": "Sie",
        "agent": "Support",
        "file": "[Datei: {name}]",
        "end": "(Diese Nachricht wurde automatisch erstellt.)",
    },
}
TIME_FORMATS = {"en": "%Y-%m-%d %H:%M", "de": "%d.%m.%Y %H:%M"}


class ChatMailError(ValueError):
    """A code or transcript refused; `code` is the socket protocol's error code."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def language_of(row: ChatSession) -> str:
    """The session's language as its mail speaks it: German or English."""
    return "de" if (row.language or "").lower().startswith("de") else "en"


def code_hash(secret_key: str, session_id: int, email: str, code: str) -> str:
    """The stored form of a code: HMAC-SHA256 under a pepper from the secret key, per session
    and address (a database alone does not give the codes away, and a code confirms only
    the address it was mailed to)."""
    pepper = hmac.new(secret_key.encode(), b"tresen chat codes v1", hashlib.sha256).digest()
    return hmac.new(pepper, f"{session_id}:{email}:{code}".encode(), hashlib.sha256).hexdigest()


async def _session_row(tx, session_id: int) -> ChatSession:
    # FOR UPDATE on PostgreSQL (SQLite's write transaction excludes other writers anyway):
    # two guesses at once must both count.
    row = await tx.session.scalar(
        select(ChatSession).where(ChatSession.id == session_id).with_for_update()
    )
    if row is None:
        raise ChatMailError("invalid", f"chat session {session_id} does not exist")
    return row


async def _channel_name(tx, channel_id: int) -> str:
    return await tx.session.scalar(select(ChatChannel.name).where(ChatChannel.id == channel_id))


async def _mails_to(tx, recipient: str, subjects: list[str], since: datetime) -> int:
    """Mail to this address with one of these subjects (a trailing % matches any end)."""
    matches = [
        outbox.c.subject.like(item) if item.endswith("%") else outbox.c.subject == item
        for item in subjects
    ]
    connection = await tx.session.connection()
    return await connection.scalar(
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.recipient == recipient, outbox.c.created_at >= since, or_(*matches))
    )


def _recent(runtime, kind: str, session_id: int, window: timedelta) -> list[datetime]:
    """This process's record of when a session's recent mails of one kind went out."""
    kept = runtime.caches.setdefault(f"chat.mail.{kind}", {})
    if len(kept) > 10_000:  # bounded: the durable limits still hold
        kept.clear()
    now = runtime.clock.now()
    times = [t for t in kept.get(session_id, ()) if now - t < window]
    kept[session_id] = times
    return times


async def send_code(runtime, session_id: int, email: str) -> None:
    """Mail a 6-digit code to `email` for the session; the address becomes the session's
    (unverified) e-mail. Raises ValueError for a bad address, ChatMailError rate_limited."""
    address = normalize_email(email)  # EmailAddressError (a ValueError) says why not
    sent_here = _recent(runtime, "code", session_id, timedelta(hours=1))
    if len(sent_here) >= CODES_PER_HOUR:
        raise ChatMailError("rate_limited", "too many codes for this chat; try again later")
    if sent_here and runtime.clock.now() - sent_here[-1] < CODE_INTERVAL:
        raise ChatMailError("rate_limited", "a code was sent a moment ago; wait a little")
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    async with runtime.transaction() as tx:
        row = await _session_row(tx, session_id)
        now = tx.now()
        # A pending code's expiry tells when it went out (also to another process).
        last_sent = row.code_expires_at and row.code_expires_at - CODE_VALID
        if last_sent is not None and now < last_sent + CODE_INTERVAL:
            raise ChatMailError("rate_limited", "a code was sent a moment ago; wait a little")
        subjects = [subject.replace("{code}", "%") for subject, _ in CODE_MAIL.values()]
        if await _mails_to(tx, address, subjects, now - timedelta(hours=1)) >= CODES_PER_HOUR:
            raise ChatMailError("rate_limited", "too many codes for this address; try later")
        language = language_of(row)
        subject, body = CODE_MAIL[language]
        channel = await _channel_name(tx, row.channel_id)
        if address != row.email:
            row.email, row.email_verified = address, False
        row.code_hash = code_hash(runtime.settings.secret_key, row.id, address, code)
        row.code_expires_at = now + CODE_VALID
        row.code_attempts = 0
        await rooms.queue_mail(
            tx, address, subject.format(code=code), body.format(code=code, channel=channel)
        )
    sent_here.append(runtime.clock.now())


async def check_code(runtime, session_id: int, code: str) -> dict[str, Any]:
    """Check a code the visitor typed; right: the e-mail is verified (and linked to their
    customer record). Raises ChatMailError code_wrong or code_expired."""
    code = "".join(str(code or "").split())
    async with runtime.transaction() as tx:
        row = await _session_row(tx, session_id)
        now = tx.now()
        usable = (
            row.code_hash is not None
            and row.code_expires_at is not None
            and now < row.code_expires_at
            and row.code_attempts < CODE_ATTEMPTS
        )
        right = usable and hmac.compare_digest(
            code_hash(runtime.settings.secret_key, row.id, row.email or "", code), row.code_hash
        )
        if not usable:
            row.code_hash = row.code_expires_at = None
            failure = ChatMailError("code_expired", "the code has expired; ask for a new one")
        elif not right:
            # Counted in this transaction, which commits: the error is raised after it.
            row.code_attempts += 1
            failure = ChatMailError("code_wrong", "the code is not right")
        else:
            failure = None
            row.email_verified = True
            row.code_hash = row.code_expires_at = None
            row.code_attempts = 0
            customer_id = await chat_customer(tx, row.identity)
            if customer_id is not None:
                await link_verified_email(tx, row, customer_id)
        answer = {"name": row.name, "email": row.email, "email_verified": row.email_verified}
    if failure is not None:
        raise failure
    return answer


async def chat_customer(tx, identity: str) -> int | None:
    """The customer holding this chat identity (none before the visitor's first message)."""
    connection = await tx.session.connection()
    return await connection.scalar(
        select(identities.c.customer_id).where(
            identities.c.kind == "chat", identities.c.value == identity
        )
    )


async def link_verified_email(tx, session_row: ChatSession, customer_id: int) -> int:
    """Give the visitor's customer record their verified e-mail address (merging it into the
    record that has the address already); the id of the record they end on. Call it when the
    first message made the record of a visitor who verified before writing."""
    if not (session_row.email and session_row.email_verified):
        return customer_id
    return await rooms.link_identity(tx, customer_id, "email", session_row.email)


def _transcript(
    language: str,
    channel: str,
    visitor: str | None,
    rows: list,
    files: dict[int, list],
    bot_name: str | None = None,
) -> str:
    words = TRANSCRIPT_MAIL[language]
    lines = [words["intro"].format(channel=channel), ""]
    for row in rows:
        if row.direction == "inbound":
            author = visitor or words["visitor"]
        else:
            author = row.author_name or (channel if row.auto_submitted else words["agent"])
            if row.auto_submitted == "bot":
                author = bot_name or channel
        moment = row.created_at.strftime(TIME_FORMATS[language])
        lines.append(f"[{moment}] {author}:")
        lines += [f"  {line}" for line in (row.text or "").splitlines() if line.strip()]
        lines += [f"  {words['file'].format(name=item.filename)}" for item in files.get(row.id, ())]
        lines.append("")
    lines.append(words["end"])
    return "\n".join(lines)


async def send_transcript(runtime, session_id: int) -> str:
    """Mail the conversation (its public messages) to the session's e-mail; the address.
    Raises ChatMailError invalid (no address, nothing said yet), verify_required (the
    address is not confirmed) or rate_limited."""
    sent_here = _recent(runtime, "transcript", session_id, timedelta.max)
    if len(sent_here) >= TRANSCRIPTS:
        raise ChatMailError("rate_limited", "the transcript was sent often enough")
    async with runtime.transaction() as tx:
        row = await _session_row(tx, session_id)
        if not row.email:
            raise ChatMailError("invalid", "no e-mail address is known", field="email")
        if not row.email_verified:
            # The transcript carries the visitor's own words: mailed to an address anyone
            # typed in, it would carry them to strangers in the company's name.
            raise ChatMailError(
                "verify_required",
                "confirm the e-mail address with the code first",
                field="email",
            )
        if row.ticket_id is None:
            raise ChatMailError("invalid", "there is no conversation yet", field="transcript")
        language = language_of(row)
        channel = await _channel_name(tx, row.channel_id)
        subject = TRANSCRIPT_MAIL[language]["subject"].format(channel=channel)
        subjects = [words["subject"].format(channel=channel) for words in TRANSCRIPT_MAIL.values()]
        # The session's own, and any to this address in the last hour: a given address
        # may be a stranger's, and the transcript carries the visitor's words.
        since = min(row.created_at, tx.now() - timedelta(hours=1))
        if await _mails_to(tx, row.email, subjects, since) >= TRANSCRIPTS:
            raise ChatMailError("rate_limited", "the transcript was sent often enough")
        rows = await sessions.messages_after(
            tx.session, row.ticket_id, row.identity, 0, TRANSCRIPT_MESSAGES
        )
        files = await sessions.attachments_of(tx.session, [item.id for item in rows])
        bot_name = None
        if any(item.auto_submitted == "bot" for item in rows):
            bot_name = await sessions.bot_name(tx.session)
        text = _transcript(language, channel, row.name, rows, files, bot_name)
        await rooms.queue_mail(tx, row.email, subject, text)
        row.transcript_sent_at = tx.now()
        address = row.email
    sent_here.append(runtime.clock.now())
    return address
