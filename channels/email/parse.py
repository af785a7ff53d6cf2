"""Raw RFC 5322 mail → InboundMessage, for every mail the real world sends.

Every charset (declared, mislabelled or unknown), encoded-word and 8-bit headers,
HTML-only mail, attachments and inline images with size limits, quoted history
trimmed from the visible text. Parsing never raises on bad input: what cannot be
read as it came is decoded as well as possible and said in `notices`; the raw
source always travels with the message (`raw["rfc822_base64"]`). Every text it
produces can be stored: NUL (which PostgreSQL refuses) is removed, lone surrogates
become U+FFFD.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import logging
import multiprocessing
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses

from channels.email import headers
from channels.email.bounces import delivery_report
from channels.email.charsets import decode_bytes, has_raw_bytes, repair_header
from channels.email.loops import auto_submitted_reason, unauthenticated_reason
from channels.email.mime import children, nesting_cut, parse_bytes, payload_bytes
from channels.email.replies import visible_text
from tresen.email_address import EmailAddressError, normalize_email
from tresen.html import html_to_text, sanitize_html
from tresen.inbound import MAX_ATTACHMENT_BYTES, InboundAttachment, InboundMessage

log = logging.getLogger(__name__)

CHANNEL = "email"
MAX_TEXT_CHARS = 2_000_000
MAX_HTML_CHARS = 10_000_000
MAX_ATTACHMENTS = 100
MAX_PARTS = 1000  # a message of more parts than this is a bomb, not a letter
MAX_DEPTH = 20
# Deeper parts are cut before parsing: the standard parser recurses per level and tests
# every open boundary on every line (a mail nested 50 deep took half a second).
MAX_NESTING = 20
MAX_HEADER_FIELDS = 1000  # header fields read (Received chains are dozens)
MAX_SAME_HEADER = 100  # fields of one name read ("From" ten thousand times is no letter)
MAX_FIELD_BYTES = 100_000  # of one field (500 recipients or 200 references are ~25 KB)
MAX_NAME_CHARS = 200  # what a sender's name may hold (SenderIdentity.name)
MAX_ADDRESS_VALUES = 20  # a From or To given more often than this is not a letter's
MAX_ADDRESS_CHARS = 50_000  # getaddresses is quadratic in the addresses of one group
MAX_RECIPIENTS = 500
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")
# Separators around an addr-spec: what a linear scan for addresses splits on.
_ADDRESS_SEPARATORS = re.compile(r'[\s<>()\[\]",;:]+')
_HEADERS_END = re.compile(rb"\r?\n\r?\n|\r\r")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL and UTF-8 take neither
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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
    """The InboundMessage for one raw mail; `account` is the address it was fetched for.

    Never raises: a mail that trips the parser in a way not foreseen is kept with what a
    plain scan of its headers finds, its raw text as body and a notice (the inbox keeps
    it, a person reads it); raising would make the SMTP server refuse it for ever.
    """
    try:
        return _parse(raw, account, max_attachment_bytes)
    except Exception as error:  # RecursionError too: whatever it was, the mail is kept
        log.exception("could not parse a mail for %s; kept as scanned", account)
        return unparsed_message(raw, account=account, error=error)


def _storable(value):
    """`value` (text, or a list or dict of them) without NUL, lone surrogates made U+FFFD.

    A mail may hold either anywhere (a subject, a file name, an 8-bit header decoded with
    an odd codec); neither database stores them as UTF-8 text (PostgreSQL refuses NUL),
    and the mail would never become a ticket.
    """
    if isinstance(value, str):
        if _UNSTORABLE.search(value) is None:
            return value
        return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    return value


def _message(raw: bytes, fields: dict, **parsed) -> InboundMessage:
    """The InboundMessage of `fields` made storable, with its `parsed` parts (attachments,
    report: storable as they are made) and the raw source."""
    fields = _storable(fields)
    fields["sender"]["value"] = fields["sender"]["value"].strip() or "(no sender)"
    source = {"rfc822_base64": base64.b64encode(raw).decode("ascii")}
    return InboundMessage(**fields, **parsed, raw=source)


def _parse(raw: bytes, account: str | None, max_attachment_bytes: int) -> InboundMessage:
    body = _Body()
    message = _message_of(raw, body.notices)
    _collect(message, body, depth=0, limit=max_attachment_bytes)
    subject = _header(message, "Subject")
    html = "\n".join(body.html) or None
    text = "\n\n".join(part for part in body.text if part.strip())
    if not text.strip() and html:
        text = html_to_text(sanitize_html(html))  # the text of what the console shows
    text, html = _fit(text, html, body.notices)
    sender_name, sender = _sender(message)
    recipients = _addresses(message, "To", "Cc")
    references = _message_ids(_header(message, "References"))[-200:]
    in_reply_to = next(iter(_message_ids(_header(message, "In-Reply-To"))), None)
    visible = visible_text(text)
    return _message(
        raw,
        {
            "channel": CHANNEL,
            "external_id": _external_id(message, raw),
            "sender": {"kind": "email", "value": sender, "name": sender_name},
            "to": account or (recipients[0] if recipients else None),
            "subject": subject[:2000] if subject else None,
            "text": text,
            "html": html,
            "in_reply_to": in_reply_to,
            "references": references,
            "received_at": _date(message),
            "recipients": recipients[:500],
            "auto_submitted": auto_submitted_reason(message, sender),
            "unauthenticated": unauthenticated_reason(message),
            "visible_text": visible if visible != text else None,
            "notices": body.notices[:100],
        },
        attachments=body.attachments,
        report=delivery_report(message, raw, subject or ""),
    )


def _message_of(raw: bytes, notices: list[str]) -> Message:
    """The parsed mail; nesting past MAX_NESTING and header fields past their limits are
    cut off, the original keeps all of it."""
    raw = _capped_headers(raw, notices)
    cut = nesting_cut(raw, MAX_NESTING)
    if cut is not None:
        notices.append(
            f"the message's parts are nested deeper than {MAX_NESTING} levels; "
            "the deeper parts are only in the original"
        )
        raw = raw[:cut]
    try:
        return parse_bytes(raw)
    except RecursionError:  # nesting the cut did not see: the headers, and the body as text
        notices.append(
            "the message's structure is nested too deeply to read; its body is shown as it came"
        )
        return parse_bytes(raw, headers_only=True)


def _capped_headers(raw: bytes, notices: list[str]) -> bytes:
    """`raw` with at most MAX_HEADER_FIELDS header fields, MAX_SAME_HEADER of a name, each
    at most MAX_FIELD_BYTES: every header read scans them all (one pass, before parsing)."""
    head_end = _HEADERS_END.search(raw)
    end = head_end.start() if head_end else len(raw)
    if end <= 64_000 and raw.count(b"\n", 0, end) < 500:
        return raw  # the usual mail: nothing to cut
    fields: list[list[bytes]] = []
    for line in raw[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept: list[bytes] = []
    counts: dict[bytes, int] = {}
    for lines in fields:
        name = lines[0].split(b":", 1)[0].strip().lower()[:100]
        counts[name] = counts.get(name, 0) + 1
        if counts[name] <= MAX_SAME_HEADER and len(kept) < MAX_HEADER_FIELDS:
            value = b"".join(lines)
            if len(value) > MAX_FIELD_BYTES:
                value = value[:MAX_FIELD_BYTES].rstrip(b"\r\n") + b"\r\n"
            kept.append(value)
    capped = b"".join(kept)
    if len(kept) == len(fields) and len(capped) == end:
        return raw
    notices.append(
        f"the message has more than {MAX_HEADER_FIELDS} header fields, more than "
        f"{MAX_SAME_HEADER} of one name or longer ones than {MAX_FIELD_BYTES:,} bytes; "
        "the rest are only in the original"
    )
    if not capped.endswith(b"\n"):
        capped += b"\r\n"
    return capped + b"\r\n" + raw[head_end.end() :] if head_end else capped


def unparsed_message(
    raw: bytes, *, account: str | None = None, error: Exception | None = None
) -> InboundMessage:
    """A mail the parser could not read, kept from a plain scan of its header lines."""
    reason = f" ({type(error).__name__})" if error else ""
    notice = f"the message could not be read{reason}; its text is shown as it came"
    try:
        found = _scan_headers(raw)
        sender = _first_address(found.get("from", "")) or (found.get("from") or "(no sender)")
        ids = _message_ids(found.get("message-id"))
        head_end = _HEADERS_END.search(raw)
        text = raw[head_end.end() if head_end else 0 :][:MAX_TEXT_CHARS]
        return _message(
            raw,
            {
                "channel": CHANNEL,
                "external_id": ids[0] if ids and len(ids[0]) <= 500 else fallback_external_id(raw),
                "sender": {"kind": "email", "value": sender[:320]},
                "to": account,
                "subject": found.get("subject", "")[:2000] or None,
                "text": text.decode("utf-8", "replace")[:MAX_TEXT_CHARS],
                "notices": [notice],
            },
        )
    except Exception:  # not even the scan: the bare minimum, still kept
        log.exception("could not scan a mail for %s", account)
        return InboundMessage(
            channel=CHANNEL,
            external_id=fallback_external_id(raw),
            sender={"kind": "email", "value": "(no sender)"},
            to=account,
            notices=[notice],
            raw={"rfc822_base64": base64.b64encode(raw).decode("ascii")},
        )


def _scan_headers(raw: bytes) -> dict[str, str]:
    """The first From, Subject and Message-ID of a raw mail, read line by line."""
    head_end = _HEADERS_END.search(raw)
    head = raw[: head_end.start() if head_end else len(raw)][:1_000_000]
    found: dict[str, list[bytes]] = {}  # pieces joined once: a long fold stays linear
    name = None
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and name is not None:
            found[name].append(line.strip())
            continue
        key, colon, value = line.partition(b":")
        key = key.strip().lower().decode("ascii", "replace")
        wanted = colon and key in ("from", "subject", "message-id") and key not in found
        name = key if wanted else None
        if name is not None:
            found[name] = [value.strip()]
    decoded = {}
    for key, pieces in found.items():
        value = b" ".join(pieces)[:10_000].decode("utf-8", "surrogateescape")
        try:
            decoded[key] = headers.decode(value)
        except Exception:
            decoded[key] = value.encode("utf-8", "replace").decode("utf-8")
    return decoded


def _header(message: Message, name: str) -> str | None:
    return headers.header(message, name)


def _addresses(message: Message, *names: str) -> list[str]:
    found: dict[str, None] = {}
    for name in names:
        for _display, address in _pairs(message, name):
            normalized = _normalized(address)
            if normalized:
                found[normalized] = None
            if len(found) >= MAX_RECIPIENTS:
                return list(found)
    return list(found)


def _pairs(message: Message, name: str) -> list[tuple[str, str]]:
    """(name, address) pairs, names still encoded: split before decoding (it may add commas)."""
    values = headers.raw_values(message, name)[:MAX_ADDRESS_VALUES]
    if not values:
        return []
    charset = headers.charset_of(message) if any(map(has_raw_bytes, values)) else None
    values = [repair_header(value, charset)[:MAX_ADDRESS_CHARS] for value in values]
    try:
        return getaddresses(values)
    except Exception:  # e.g. RecursionError on a thousand nested groups ("g:g:g:...")
        return [("", address) for value in values for address in _scan_addresses(value)]


def _scan_addresses(value: str) -> list[str]:
    """Every word that looks like an address (in one linear pass): getaddresses' fallback."""
    return [word for word in _ADDRESS_SEPARATORS.split(value) if "@" in word.strip("@.")]


def _first_address(value: str) -> str | None:
    for address in _scan_addresses(value):
        normalized = _normalized(address)
        if normalized:
            return normalized
    return None


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
                display = headers.decode(display[:10_000]).strip()
                return display[:MAX_NAME_CHARS].rstrip() or None, normalized
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
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # "Fri, 31 Dec 9999 23:59 -1200" is past what UTC can hold
        return None


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
    name = _storable(_filename(part) or "") or _default_name(
        content_type, len(body.attachments) + 1
    )
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
    content_id = _storable((part.get("Content-ID") or "").strip().strip("<>")) or None
    body.attachments.append(
        InboundAttachment(
            filename=name[:255],
            content_type=_storable(content_type[:255]),
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


# --- Parsing off the event loop, with a time limit ---

# The time a mail may take: far above what real mail needs (one of 50 MB, the most SMTP
# takes, needs 3.5 s of CPU; on a busy machine several times that in wall time).
PARSE_SECONDS = 10.0
PARSE_SECONDS_PER_MB = 1.0
START_SECONDS = 60.0  # for a new worker to import the parser (about half a second)
# Parsed once by a new worker before it says it is ready: what is loaded on first use
# (charset detection, the HTML sanitizer) is not paid for by the first real mail.
_WARM_UP = (
    b"From: J\xfcrgen M\xfcller <jm@example.test>\r\nSubject: Gr\xfc\xdfe\r\n"
    b"Content-Type: text/html\r\n\r\n<p>Gr\xfc\xdfe</p>\r\n"
)


class ParserProcess:
    """Parses mail in a worker process, so that no mail can stop the server.

    The parser is pure Python: a mail that makes it slow would hold the event loop (and
    every other request) for as long, and a thread cannot be stopped. The process can:
    past `seconds` (and a second per MB) it is killed, the mail is kept as an unparsed
    message (its raw source and the sender a plain scan of its header lines finds) and
    the next mail starts a fresh process. One mail at a time, in the order they came
    (one thread feeds it); the caller's event loop is free meanwhile.
    """

    def __init__(self, seconds: float = PARSE_SECONDS, *, parse=None) -> None:
        self.seconds = seconds
        self._parse = parse or _parse_in_worker  # a module-level function (sent by name)
        self._feeder = ThreadPoolExecutor(1, thread_name_prefix="mail-parser")
        self._process = None
        self._connection = None

    async def start(self) -> None:
        """Start the worker process now, so that the first mail does not wait for it."""
        await asyncio.get_running_loop().run_in_executor(self._feeder, self._start)

    def _start(self) -> None:
        try:
            self._started()
        except Exception:  # the first mail tries again, and is kept if that fails too
            log.exception("could not start the mail parser")
            self.stop()

    async def parse(self, raw: bytes, *, account: str | None = None) -> InboundMessage:
        """The InboundMessage for one raw mail, as `parse_message` makes it; never raises."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._feeder, self._round_trip, raw, account)

    def _round_trip(self, raw: bytes, account: str | None) -> InboundMessage:
        try:
            connection = self._started()
            connection.send((raw, account))
            limit = self.seconds + PARSE_SECONDS_PER_MB * len(raw) / 1_000_000
            if connection.poll(limit):
                return connection.recv()
            error = TimeoutError(f"parsing took longer than {limit:.0f} s")
        except Exception as failure:  # the process died (killed, out of memory): kept anyway
            error = failure
        log.warning("could not parse a mail for %s (%r); kept unparsed", account, error)
        self.stop()
        return unparsed_message(raw, account=account, error=error)

    def _started(self):
        if self._process is None or not self._process.is_alive():
            self.stop()
            # spawn: a fresh interpreter, nothing inherited from the server's threads or loop
            context = multiprocessing.get_context("spawn")
            self._connection, child = context.Pipe()
            self._process = context.Process(
                target=_serve, args=(child, self._parse), name="tresen-mail-parser", daemon=True
            )
            self._process.start()
            child.close()
            if not self._connection.poll(START_SECONDS):
                raise TimeoutError(f"the mail parser did not start within {START_SECONDS:g} s")
            self._connection.recv()  # "ready"
        return self._connection

    def stop(self) -> None:
        """End the worker process (a new one starts with the next mail)."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is not None and process.pid is not None:  # started
            process.kill()
            process.join(5)


def _parse_in_worker(raw: bytes, account: str | None) -> InboundMessage:
    return parse_message(raw, account=account)


def _serve(connection, parse) -> None:
    """The worker process: parse each mail sent, answer with its InboundMessage."""
    # Ctrl-C at the terminal reaches the whole process group: the server stops this worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parse_message(_WARM_UP)
    connection.send("ready")
    while True:
        try:
            raw, account = connection.recv()
        except EOFError:  # the server closed the pipe: done
            return
        connection.send(parse(raw, account))


PARSER = ParserProcess()  # one per server process, shared by SMTP and IMAP
