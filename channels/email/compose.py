"""The one place that builds outbound mail: headers for threading and loop safety, text and HTML."""

from __future__ import annotations

import email.policy
import email.utils
from email.headerregistry import Address
from email.message import EmailMessage

from tresen.outbound import OutboundMessage

POLICY = email.policy.SMTP  # CRLF line ends, lines folded for the wire


def new_external_id(message_id: int, sender: str | None) -> str:
    """The Message-ID our mail will carry, chosen (and recorded) before it is sent."""
    domain = (sender or "").rpartition("@")[2] or "tresen.invalid"
    return email.utils.make_msgid(idstring=f"tresen.{message_id}", domain=domain)


def subject_with_number(subject: str, number: int) -> str:
    """The subject carrying the ticket number, so an answer finds its ticket again
    (none for mail that is not part of a ticket's conversation, number 0)."""
    if not number:
        return " ".join((subject or "").split())
    tag = f"[#{number}]"
    subject = " ".join((subject or "").split())
    return subject if tag in subject else f"{subject} {tag}".strip()


def compose(outbound: OutboundMessage, sender: str, sender_name: str | None = None) -> EmailMessage:
    """The mail for one outbound message, from `sender`."""
    message = EmailMessage(policy=POLICY)
    message["From"] = Address(display_name=sender_name or "", addr_spec=sender)
    message["To"] = outbound.recipient
    message["Subject"] = subject_with_number(outbound.subject, outbound.ticket_number)
    message["Date"] = email.utils.format_datetime(outbound.created_at)
    message["Message-ID"] = outbound.external_id
    if outbound.in_reply_to:
        message["In-Reply-To"] = outbound.in_reply_to
    if outbound.references:
        message["References"] = " ".join(outbound.references[-20:])
    if outbound.auto_submitted:
        # RFC 3834: automatic mail says so, and asks not to be answered automatically.
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        message["Precedence"] = "auto_reply"
    message["X-Tresen-Ticket"] = str(outbound.ticket_number)
    message.set_content(outbound.text or "")
    if outbound.html:
        message.add_alternative(outbound.html, subtype="html")
    for item in outbound.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        message.add_attachment(
            item.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=item.filename,
            cid=f"<{item.content_id}>" if item.content_id else None,
        )
    return message
