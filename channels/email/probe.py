""" "Test connection" for a mail account: sign in to its IMAP or SMTP server and say what the
server answered, without fetching or sending anything."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import aioimaplib
import aiosmtplib

from channels.email.urls import MailUrlError, Server, parse_imap_url, parse_smtp_url

TIMEOUT_SECONDS = 10  # an admin waits for the answer on the page


@dataclass(frozen=True)
class Probe:
    """What a server said: whether all went well and each step's answer, in order."""

    ok: bool
    steps: tuple[str, ...]


def _lines(lines) -> str:
    text = " ".join(
        (line.decode(errors="replace") if isinstance(line, bytes) else str(line)).strip()
        for line in lines or ()
    )
    return text[:300]


async def probe_imap(url: str) -> Probe:
    """Connect, sign in and open the folder; the server's answers or why it failed."""
    steps: list[str] = []
    try:
        server = parse_imap_url(url)
    except MailUrlError as error:
        return Probe(False, (str(error),))
    client = None
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            client = _imap_client(server)
            await client.wait_hello_from_server()
            steps.append(f"connected to {server.host}:{server.port}")
            login = await client.login(server.username, server.password or "")
            steps.append(f"login: {login.result} {_lines(login.lines)}")
            if login.result != "OK":
                return Probe(False, tuple(steps))
            folder = await client.select(server.folder)
            steps.append(f"folder {server.folder}: {folder.result} {_lines(folder.lines)}")
            return Probe(folder.result == "OK", tuple(steps))
    except TimeoutError:
        steps.append(f"no answer within {TIMEOUT_SECONDS} seconds")
    except (OSError, aioimaplib.Abort, aioimaplib.Error, ssl.SSLError) as error:
        steps.append(f"{type(error).__name__}: {error}")
    finally:
        if client is not None:
            try:
                await asyncio.wait_for(client.logout(), 3)
            except Exception:  # closing a broken connection: nothing more to learn
                pass
    return Probe(False, tuple(steps))


def _imap_client(server: Server) -> aioimaplib.IMAP4:
    if server.tls:
        return aioimaplib.IMAP4_SSL(
            host=server.host,
            port=server.port,
            timeout=TIMEOUT_SECONDS,
            ssl_context=ssl.create_default_context(),
        )
    return aioimaplib.IMAP4(host=server.host, port=server.port, timeout=TIMEOUT_SECONDS)


async def probe_smtp(url: str) -> Probe:
    """Connect (with TLS as the URL says) and sign in when it names a user; the answers."""
    steps: list[str] = []
    try:
        server = parse_smtp_url(url)
    except MailUrlError as error:
        return Probe(False, (str(error),))
    client = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.tls,
        start_tls=True if server.starttls else False,
        timeout=TIMEOUT_SECONDS,
    )
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS * 2):
            greeting = await client.connect()
            steps.append(
                f"connected to {server.host}:{server.port}: {greeting.code} {greeting.message}"
            )
            if server.username:
                login = await client.login(server.username, server.password or "")
                steps.append(f"login: {login.code} {login.message}")
            else:
                steps.append("no user name in the URL: sent without signing in")
            return Probe(True, tuple(steps))
    except TimeoutError:
        steps.append(f"no answer within {TIMEOUT_SECONDS} seconds")
    except aiosmtplib.SMTPResponseException as error:
        steps.append(f"{error.code} {error.message}")
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as error:
        steps.append(f"{type(error).__name__}: {error}")
    finally:
        if client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), 3)
            except Exception:  # closing a broken connection: nothing more to learn
                client.close()
    return Probe(False, tuple(steps))
