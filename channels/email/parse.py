"""Raw RFC 5322 mail → InboundMessage, for every mail the real world sends.

Every charset (declared, mislabelled or unknown), encoded-word and 8-bit headers,
HTML-only mail, attachments and inline images with size limits, quoted history
trimmed from the visible text. Parsing never raises on bad input: what cannot be
read as it came is decoded as well as possible and said in `notices`; the raw
source always travels with the message (`raw["rfc822_base64"]`).
"""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses

from email_reply_parser import EmailReplyParser

from channels.email import headers
from channels.email.bounces import delivery_report
from channels.email.charsets import decode_bytes, repair_header
from channels.email.loops import auto_submitted_reason
from channels.email.mime import children, payload_bytes
from tresen.email_address import EmailAddressError, normalize_email
from tresen.html import html_to_text
from tresen.inbound import MAX_ATTACHMENT_BYTES, InboundAttachment, InboundMessage

CHANNEL = "email"
MAX_TEXT_CHARS = 2_000_000
MAX_HTML_CHARS = 10_000_000
MAX_ATTACHMENTS = 100
MAX_PARTS = 1000  # a message of more parts than this is a bomb, not a letter
MAX_DEPTH = 30
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")


@dataclass
class _Body:
    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[InboundAttachment] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    parts: int = 0
    attachment_bytes: int = 0


def parse_message(
    raw: bytes, *, account: str | None = None, max_attachment_bytes: int = MAX_ATTACHMENT_BYTES
) -> InboundMessage:
    """The InboundMessage for one raw mail; `account` is the address it was fetched for."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    body = _Body()
    _collect(message, body, depth=0, limit=max_attachment_bytes)
    subject = _header(message, "Subject")
    html = "\n".join(body.html) or None
    text = "\n\n".join(part for part in body.text if part.strip())
    if not text.strip() and html:
        text = html_to_text(html)
    text, html = _fit(text, html, body.notices)
    sender_name, sender = _sender(message)
    recipients = _addresses(message, "To", "Cc")
    references = _message_ids(_header(message, "References"))[-200:]
    in_reply_to = next(iter(_message_ids(_header(message, "In-Reply-To"))), None)
    visible = _visible_text(text)
    return InboundMessage(
        channel=CHANNEL,
        external_id=_external_id(message, raw),
        sender={"kind": "email", "value": sender, "name": sender_name},
        to=account or (recipients[0] if recipients else None),
        subject=subject[:2000] if subject else None,
        text=text,
        html=html,
        in_reply_to=in_reply_to,
        references=references,
        received_at=_date(message),
        attachments=body.attachments,
        recipients=recipients[:500],
        auto_submitted=auto_submitted_reason(message, sender),
        report=delivery_report(message, raw, subject or ""),
        visible_text=visible if visible != text else None,
        notices=body.notices[:100],
        raw={"rfc822_base64": base64.b64encode(raw).decode("ascii")},
    )


def _header(message: Message, name: str) -> str | None:
    return headers.header(message, name)


def _addresses(message: Message, *names: str) -> list[str]:
    found: list[str] = []
    for name in names:
        for _display, address in _pairs(message, name):
            normalized = _normalized(address)
            if normalized and normalized not in found:
                found.append(normalized)
    return found


def _pairs(message: Message, name: str) -> list[tuple[str, str]]:
    """(name, address) pairs, split before names are decoded (a decoded name may hold commas)."""
    values = [repair_header(value) for value in headers.raw_values(message, name)]
    return [(headers.decode(display), address) for display, address in getaddresses(values)]


def _normalized(address: str) -> str | None:
    address = (address or "").strip().strip("<>")
    if "@" not in address:
        return None
    try:
        return normalize_email(address)
    except EmailAddressError:
        return None


def _sender(message: Message) -> tuple[str | None, str]:
    """The sender's name and address: From, then Sender, then Return-Path.

    A mail without any usable address still gets a value (the raw From) so that it
    is kept; the inbox refuses to make a customer of it and keeps it for a person.
    """
    for name in ("From", "Sender", "Return-Path"):
        for display, address in _pairs(message, name):
            normalized = _normalized(address)
            if normalized:
                return (display.strip() or None), normalized
    return None, (_header(message, "From") or "(no sender)")[:320]


def _message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MESSAGE_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()[:900]]  # a bare id without angle brackets
    return list(dict.fromkeys(found))


def _external_id(message: Message, raw: bytes) -> str:
    """The Message-ID; a mail without one gets an id derived from its bytes (stable on refetch)."""
    ids = _message_ids(_header(message, "Message-ID"))
    if ids and len(ids[0]) <= 500:
        return ids[0]
    return fallback_external_id(raw)


def fallback_external_id(raw: bytes) -> str:
    """An id for a mail that has no usable Message-ID: derived from its bytes, so stable."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()}@tresen.invalid>"


def _date(message: Message) -> datetime | None:
    value = _header(message, "Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or not 1970 <= parsed.year <= 9999:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _collect(part: Message, body: _Body, *, depth: int, limit: int) -> None:
    body.parts += 1
    if body.parts > MAX_PARTS or depth > MAX_DEPTH:
        if body.parts == MAX_PARTS + 1 or depth == MAX_DEPTH + 1:
            body.notices.append(
                "the message has too many or too deeply nested parts; the rest is in the original"
            )
        return
    content_type = _content_type(part)
    if content_type == "message/delivery-status":  # a bounce's per-recipient fields
        body.text.append(_text_of(part, body))
        return
    if content_type.startswith("message/"):
        _attach(part, body, content_type, limit)  # an enclosed mail stays one piece
        return
    if content_type.startswith("multipart/"):
        parts = children(part)
        if parts is not None:
            for child in parts:
                _collect(child, body, depth=depth + 1, limit=limit)
            return
        content_type = "text/plain"  # a multipart without parts: its body as text
    disposition = _disposition(part)
    is_attachment = disposition == "attachment" or bool(_filename(part))
    if content_type in ("text/plain", "text/html") and not is_attachment:
        decoded = _text_of(part, body)
        (body.text if content_type == "text/plain" else body.html).append(decoded)
    elif content_type.startswith("text/") and not is_attachment and not part.get("Content-ID"):
        body.text.append(_text_of(part, body))  # e.g. text/enriched, delivery-status reports
    else:
        _attach(part, body, content_type, limit)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return headers.decode(str(name)) if name else None


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _text_of(part: Message, body: _Body) -> str:
    text, problem = decode_bytes(payload_bytes(part), _charset(part))
    if problem:
        body.notices.append(problem)
    return text.replace("\r\n", "\n")


def _attach(part: Message, body: _Body, content_type: str, limit: int) -> None:
    content = payload_bytes(part)
    name = _filename(part) or _default_name(content_type, len(body.attachments) + 1)
    if len(body.attachments) >= MAX_ATTACHMENTS:
        body.notices.append(
            f"attachment {name!r} is beyond {MAX_ATTACHMENTS} attachments; kept in the original"
        )
        return
    if len(content) > limit:
        body.notices.append(
            f"attachment {name!r} ({len(content):,} bytes) is larger than {limit:,} bytes; "
            "kept in the original"
        )
        return
    content_id = (part.get("Content-ID") or "").strip().strip("<>") or None
    body.attachments.append(
        InboundAttachment(
            filename=name[:255],
            content_type=content_type[:255],
            content_base64=base64.b64encode(content).decode("ascii"),
            content_id=content_id[:500] if content_id else None,
        )
    )
    body.attachment_bytes += len(content)


def _default_name(content_type: str, number: int) -> str:
    if content_type == "message/rfc822":
        return f"message-{number}.eml"
    if content_type.startswith("message/") or content_type.startswith("text/"):
        return f"part-{number}.txt"
    subtype = content_type.split("/", 1)[-1].split("+")[0][:10] or "bin"
    return f"attachment-{number}.{subtype}"


def _fit(text: str, html: str | None, notices: list[str]) -> tuple[str, str | None]:
    """Within what a message may hold; the whole original stays in the raw source."""
    if len(text) > MAX_TEXT_CHARS:
        notices.append(f"the text is longer than {MAX_TEXT_CHARS:,} characters; shortened")
        text = text[:MAX_TEXT_CHARS]
    if html and len(html) > MAX_HTML_CHARS:
        notices.append(f"the HTML is longer than {MAX_HTML_CHARS:,} characters; shown as text")
        html = None
    return text, html


def _visible_text(text: str) -> str:
    """The new part of a mail: quoted history and signature trimmed (the full text is kept)."""
    if not text.strip():
        return text
    try:
        visible = EmailReplyParser.parse_reply(text)
    except Exception:
        return text
    visible = _trim_german_quote_header(visible)
    return visible if visible.strip() else text


# Outlook/Thunderbird in German: "Am 12.03.2026 um 10:00 schrieb Kim <kim@x.de>:" or an
# Outlook block "-----Ursprüngliche Nachricht-----" / "Von: ...".
_QUOTE_HEADERS = re.compile(
    r"^(?:-{2,}\s*(?:Ursprüngliche Nachricht|Original Message)\s*-{2,}"
    r"|Am .{4,80} schrieb .{1,200}:"
    r"|On .{4,80} wrote:"
    r"|(?:Von|From):\s.+\n(?:Gesendet|Sent):\s)",
    re.MULTILINE | re.IGNORECASE,
)


def _trim_german_quote_header(text: str) -> str:
    match = _QUOTE_HEADERS.search(text)
    if match and match.start() > 0:
        return text[: match.start()].rstrip()
    return text
