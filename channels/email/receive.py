"""Receiving mail by SMTP (aiosmtpd), for sites that forward or pipe mail to Tresen.

Off unless `tresen serve --smtp-port N` (TRESEN_SMTP_PORT). Only our accounts'
addresses are accepted (RCPT TO anything else: 550), so it relays nothing and never
bounces to forged senders. A message is answered 250 only once the inbox has stored
it; if it cannot be stored the answer is 451 and the sending server tries again. What
the mail holds never makes a 451: it is parsed in a worker process with a time limit
(`parse.PARSER`), and a mail that cannot be read is stored unparsed with its sender.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import SMTP
from sqlalchemy import select

from channels.email.models import MailAccount
from channels.email.parse import PARSER
from tresen import rooms
from tresen.email_address import EmailAddressError, normalize_email
from tresen.runtime import Runtime

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 50 * 1024 * 1024


class _LenientSMTP(SMTP):
    # RFC 5321 allows 1000 octets a line; real mail breaks that, and a desk must take it.
    line_length_limit = 1_000_000


class InboxHandler:
    """aiosmtpd handler: accepts mail for our accounts and hands it to the inbox."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def _account(self, address: str) -> MailAccount | None:
        try:
            address = normalize_email(address)
        except EmailAddressError:
            return None
        async with self.runtime.read() as session:
            return await session.scalar(
                select(MailAccount).where(
                    MailAccount.address == address, MailAccount.active.is_(True)
                )
            )

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if await self._account(address) is None:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        parsed = None
        try:
            for address in envelope.rcpt_tos:
                account = await self._account(address)
                if account is None:
                    continue
                if parsed is None:  # parsed once, whoever it was sent to
                    parsed = await PARSER.parse(raw, account=account.address)
                inbound = parsed.model_copy(
                    update={"to": account.address, "queue_id": account.queue_id}
                )
                # One delivery per account it was sent to; the inbox keeps one of a kind.
                await rooms.deliver(self.runtime, inbound)
        except Exception:
            log.exception("could not store mail from %s", envelope.mail_from)
            return "451 4.3.0 could not store the message now; please try again later"
        return "250 OK stored"


async def run(runtime: Runtime) -> None:
    """Serve SMTP while the server runs, when a port is configured."""
    port = runtime.settings.option("email", "smtp_port")
    if not port:
        return
    handler = InboxHandler(runtime)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _LenientSMTP(
            handler,
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            hostname="tresen",
            loop=loop,
        ),
        host=runtime.settings.option("email", "smtp_host"),
        port=port,
        reuse_port=True,  # several server processes may share the port
    )
    log.info("receiving mail by SMTP on %s:%s", runtime.settings.option("email", "smtp_host"), port)
    try:
        await PARSER.start()  # meanwhile a first mail waits for it in line
        await asyncio.Future()  # until the server stops
    finally:
        server.close()
        await server.wait_closed()
        PARSER.stop()  # a parse in flight must not hold the process's exit
