"""Sending mail with aiosmtplib through the account the message goes out from."""

from __future__ import annotations

import logging

import aiosmtplib
from sqlalchemy import select

from channels.email import accounts
from channels.email.compose import compose, new_external_id
from channels.email.models import MailAccount
from channels.email.urls import MailUrlError, parse_smtp_url
from tresen.email_address import EmailAddressError, normalize_email
from tresen.outbound import DeliveryError, OutboundMessage
from tresen.runtime import Runtime
from tresen.secrets import SecretUnreadable

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 60

__all__ = ["new_external_id", "send"]


async def _account(runtime: Runtime, sender: str | None) -> MailAccount:
    """The account for our address; the first active one when the message names none."""
    async with runtime.read() as session:
        query = select(MailAccount).where(
            MailAccount.active.is_(True), MailAccount.smtp_url.is_not(None)
        )
        account = None
        if sender:
            account = await session.scalar(query.where(MailAccount.address == sender))
        if account is None:
            account = await session.scalar(query.order_by(MailAccount.id).limit(1))
    if account is None:
        raise DeliveryError("no mail account with an SMTP server is configured", permanent=False)
    return account


async def send(runtime: Runtime, outbound: OutboundMessage) -> str | None:
    """Deliver one message by SMTP; returns its Message-ID. Raises DeliveryError."""
    try:
        recipient = normalize_email(outbound.recipient)
    except EmailAddressError as error:
        raise DeliveryError(str(error), permanent=True) from None
    account = await _account(runtime, outbound.sender)
    try:
        server = parse_smtp_url(accounts.smtp_url(runtime.settings, account))
    except (MailUrlError, SecretUnreadable) as error:
        raise DeliveryError(f"account {account.address}: {error}", permanent=False) from None
    message = compose(outbound, account.address, account.display_name)
    try:
        await aiosmtplib.send(
            message,
            sender=account.address,
            recipients=[recipient],
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.tls,
            start_tls=True if server.starttls else False,
            timeout=TIMEOUT_SECONDS,
        )
    except aiosmtplib.SMTPAuthenticationError as error:
        # The account's credentials, not this message: kept queued until they are fixed.
        raise DeliveryError(
            f"account {account.address}: SMTP login refused ({error.code})", permanent=False
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as error:
        refused = error.recipients[0]
        raise DeliveryError(
            f"SMTP {refused.code}: {refused.message}", permanent=500 <= refused.code < 600
        ) from None
    except aiosmtplib.SMTPResponseException as error:
        # 5xx: the server refuses for good (unknown user, policy); 4xx: try again later.
        permanent = 500 <= error.code < 600
        raise DeliveryError(f"SMTP {error.code}: {error.message}", permanent=permanent) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise DeliveryError(f"{type(error).__name__}: {error}", permanent=False) from None
    log.info("sent message %s to %s via %s", outbound.message_id, recipient, account.address)
    return outbound.external_id
