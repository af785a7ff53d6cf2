"""The demo's mail sink: a local SMTP server that keeps every mail Tresen sends, for reading.

`tresen demo` starts it on a free loopback port and points the demo mail account's SMTP at
it, so agents' replies, portal sign-in links and staff notifications are really sent (through
the outbox and the email channel) and land here instead of in anyone's mailbox. Each mail is
kept as an .eml file in the data folder (`demo-mail/`), so they survive restarts; the console's
demo mail page (agent_ui/demo_mail.py) lists and shows them.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from tresen.html import sanitize_html

FOLDER = "demo-mail"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
_NAME = re.compile(r"^(\d{6})\.eml$")


@dataclass(frozen=True)
class Summary:
    """One kept mail as the list shows it."""

    number: int
    sender: str
    recipients: str
    subject: str
    date: datetime | None


@dataclass(frozen=True)
class Mail:
    """One kept mail, readable: its headers, its text and its HTML made safe to show."""

    number: int
    headers: list[tuple[str, str]]
    subject: str
    text: str
    html: str | None
    source: bytes


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class MailSink:
    """Keeps mail in a folder; `start()` serves SMTP on a loopback port (in its own thread)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.host = host
        self.port: int | None = None
        self._controller = None
        self._lock = threading.Lock()

    @property
    def smtp_url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> int:
        from aiosmtpd.controller import Controller

        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port(self.host)
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
        )
        self._controller.start()
        return self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def keep(self, recipients: list[str], raw: bytes) -> int:
        """Store one mail (the envelope's recipients as Delivered-To lines); its number."""
        lines = b"".join(
            f"Delivered-To: {address}\r\n".encode("utf-8", "replace") for address in recipients
        )
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            number = max(self._numbers(), default=0) + 1
            path = self.folder / f"{number:06d}.eml"
            partial = path.with_suffix(".part")
            partial.write_bytes(lines + raw)
            partial.replace(path)  # a reader never sees half a mail
        return number

    def _numbers(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return [
            int(match.group(1))
            for match in (_NAME.match(path.name) for path in self.folder.iterdir())
            if match
        ]

    def summaries(self) -> list[Summary]:
        """The kept mails, newest first."""
        found = []
        for number in sorted(self._numbers(), reverse=True):
            message = self._parsed(number)
            if message is None:
                continue
            found.append(
                Summary(
                    number=number,
                    sender=_header(message, "From"),
                    recipients=", ".join(message.get_all("Delivered-To") or [])
                    or _header(message, "To"),
                    subject=_header(message, "Subject"),
                    date=_date(message),
                )
            )
        return found

    def read(self, number: int) -> Mail | None:
        message = self._parsed(number)
        if message is None:
            return None
        text_part = message.get_body(preferencelist=("plain",))
        html_part = message.get_body(preferencelist=("html",))
        return Mail(
            number=number,
            headers=_headers(message),
            subject=_header(message, "Subject"),
            text=_content(text_part) if text_part is not None else "",
            html=sanitize_html(_content(html_part)) if html_part is not None else None,
            source=self._source(number) or b"",
        )

    def _source(self, number: int) -> bytes | None:
        try:
            return (self.folder / f"{number:06d}.eml").read_bytes()
        except OSError:
            return None

    def _parsed(self, number: int):
        source = self._source(number)
        if source is None:
            return None
        return email.message_from_bytes(source, policy=email.policy.default)


def _header(message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):  # a header the parser cannot decode
        value = message.get_all(name, failobj=[""])[0] if name in message else ""
    return str(value or "")


def _headers(message) -> list[tuple[str, str]]:
    """Every header field in order (repeated ones each), decoded where they can be."""
    fields = []
    for name, raw in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw))
        except (ValueError, TypeError, IndexError, LookupError):
            value = str(raw)
        fields.append((name, value))
    return fields


def _content(part) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _date(message) -> datetime | None:
    try:
        moment = parsedate_to_datetime(_header(message, "Date"))
    except (TypeError, ValueError):
        return None
    # "-0000" (no zone known) parses naive: read as UTC, as the console shows times.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class _Handler:
    """aiosmtpd handler: every recipient accepted, every mail kept (nothing is relayed)."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        self.sink.keep(list(envelope.rcpt_tos), raw if isinstance(raw, bytes) else raw.encode())
        return "250 OK kept for the demo mail page"
