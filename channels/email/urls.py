"""Mail server URLs: imap://, imaps://, smtp://, smtp+starttls://, smtps:// with credentials."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

IMAP_SCHEMES = {"imap": (143, False), "imaps": (993, True)}
# scheme: (default port, TLS from the start, STARTTLS)
SMTP_SCHEMES = {
    "smtp": (25, False, False),
    "smtp+starttls": (587, False, True),
    "smtps": (465, True, False),
}


class MailUrlError(ValueError):
    """A mail server URL Tresen cannot use; the message names what is wrong (never the password)."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool  # TLS from the first byte (imaps, smtps)
    starttls: bool = False
    folder: str = "INBOX"

    def __repr__(self) -> str:  # never show the password, not even in a traceback
        return f"Server({self.host}:{self.port}, user={self.username!r}, tls={self.tls})"


def _split(url: str, kind: str, schemes: dict):
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise MailUrlError(f"{kind} URL is malformed: {error}") from None
    if parts.scheme not in schemes:
        raise MailUrlError(
            f"{kind} URL scheme {parts.scheme!r} is not one of {', '.join(sorted(schemes))}"
        )
    if not parts.hostname:
        raise MailUrlError(f"{kind} URL has no host")
    return parts, port


def parse_imap_url(url: str) -> Server:
    """imap://USER:PASS@HOST:PORT/FOLDER (imaps:// for TLS); the folder defaults to INBOX."""
    parts, port = _split(url, "IMAP", IMAP_SCHEMES)
    default_port, tls = IMAP_SCHEMES[parts.scheme]
    if not parts.username:
        raise MailUrlError("IMAP URL has no user name (imap://USER:PASS@HOST/INBOX)")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return Server(
        parts.hostname,
        port or default_port,
        unquote(parts.username),
        unquote(parts.password) if parts.password is not None else None,
        tls,
        folder=folder,
    )


def parse_smtp_url(url: str) -> Server:
    """smtp://[USER:PASS@]HOST:PORT; smtp+starttls:// and smtps:// for encryption."""
    parts, port = _split(url, "SMTP", SMTP_SCHEMES)
    default_port, tls, starttls = SMTP_SCHEMES[parts.scheme]
    return Server(
        parts.hostname,
        port or default_port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password is not None else None,
        tls,
        starttls,
    )


def redact(url: str | None) -> str | None:
    """The URL with its password replaced, for showing to people."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
