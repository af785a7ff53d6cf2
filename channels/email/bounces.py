"""Bounces and complaints: which of our mails failed, for whom, and why.

RFC 3464 delivery status notifications and RFC 5965 feedback reports are read
from their structure; the many non-standard forms (qmail, old sendmail, Exchange,
Japanese carriers, ...) through Mailman's bounce detectors (flufl.bounce) and,
failing those, by a system sender together with a bounce phrase. The Message-IDs
found anywhere in a bounce tell the inbox which of our messages it is about.
"""

from __future__ import annotations

import email
import logging
import re
from email.message import Message

from flufl.bounce import all_failures

from channels.email.headers import header
from channels.email.loops import is_system_sender, sender_of
from channels.email.mime import children, payload_bytes
from tresen.email_address import EmailAddressError, normalize_email
from tresen.inbound import DeliveryReport

log = logging.getLogger(__name__)
# flufl.bounce logs a traceback whenever one of its detectors trips over an odd
# mail; the next detector (or ours) handles it, so that is noise here.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
FLUFL_BYTES = 32 * 1024

_MESSAGE_ID_FIELD = re.compile(
    rb"^[ >\t]*(?:Message-ID|Original-Message-ID)\s*:\s*(<[^<>\s]{3,900}>)", re.I | re.M
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|not (?:be )?delivered|delivery (?:status )?notification"
    r"|delivery (?:has )?failed|delivery failure|failure notice|returned mail|mail delivery"
    r"|could not send|error sending your mail|mail system error|delivery status|nondeliverable"
    r"|non-delivery|warning.{0,20}could not|not a member|loop alert|unzustellbar|mail failure"
    r"|nicht zugestellt|fehlgeschlagen",
    re.IGNORECASE,
)
_BOUNCE_BODY = re.compile(
    r"could not be delivered|couldn't be delivered|was not delivered|delivery to the following"
    r"|permanent(?:ly)? (?:fatal )?error|user unknown|no such user"
    r"|mailbox (?:is )?(?:full|unavailable)|malformed (?:recipient )?address"
    r"|transcript of session follows"
    r"|invalid (?:user|recipient|address)|host unknown|final-recipient:|diagnostic-code:"
    r"|message could not be|returned to sender|not a member of|duplicated message-id"
    r"|recipient address rejected|does not exist|550[ -]",
    re.IGNORECASE,
)
_DELAY = re.compile(r"\bdelay|warning|deferred|will (?:be )?retr|still trying", re.IGNORECASE)
_COMPLAINT_SUBJECT = re.compile(r"complaint about message|abuse report", re.IGNORECASE)


def delivery_report(message: Message, raw: bytes, subject: str) -> DeliveryReport | None:
    """The report when this mail is a bounce or complaint; None for every other mail."""
    try:
        return _report(message, raw, subject)
    except Exception:  # a report we cannot read is treated as ordinary mail, never lost
        log.exception("could not read a possible delivery report")
        return None


def _report(message: Message, raw: bytes, subject: str) -> DeliveryReport | None:
    content_type = message.get_content_type()
    report_type = (message.get_param("report-type") or "").lower()
    sender = sender_of(message)
    if content_type == "multipart/report" and report_type == "feedback-report":
        return _complaint(message, raw)
    if _COMPLAINT_SUBJECT.search(subject) and _has_enclosed_message(message):
        return _complaint(message, raw)
    dsn = content_type == "message/delivery-status" or (
        content_type == "multipart/report" and report_type == "delivery-status"
    )
    failed = [a for a in (header(message, "X-Failed-Recipients") or "").split(",") if a.strip()]
    return_path = header(message, "Return-Path")
    null_sender = return_path is not None and str(return_path).strip("<> \t").lower() in (
        "",
        "mailer-daemon",
    )
    looks_like = dsn or failed or is_system_sender(sender) or null_sender
    if not looks_like and not _BOUNCE_SUBJECT.search(subject):
        return None  # the common case, decided on headers alone
    statuses = _delivery_statuses(message) if dsn else []
    temporary, permanent = _flufl(message, raw)
    text = _text_sample(message)
    phrased = bool(_BOUNCE_SUBJECT.search(subject) or _BOUNCE_BODY.search(text))
    if not (dsn or failed or permanent or temporary or (looks_like and phrased)):
        if not (_BOUNCE_SUBJECT.search(subject) and _BOUNCE_BODY.search(text)):
            return None
    recipients = _addresses(
        [address for address, _action, _diag in statuses] + failed + sorted(permanent | temporary)
    )
    actions = {action for _address, action, _diag in statuses}
    if actions:
        action = "failed" if "failed" in actions or not actions <= {"delayed"} else "delayed"
    elif permanent:
        action = "failed"
    elif temporary or _DELAY.search(subject):
        action = "delayed"
    else:
        action = "failed"
    diagnostic = next((diag for _a, _b, diag in statuses if diag), None) or _first_error(text)
    return DeliveryReport(
        action=action,
        recipients=recipients[:100],
        refers_to=_referenced_ids(message, raw),
        diagnostic=(diagnostic or subject or "delivery failed")[:2000],
    )


def _complaint(message: Message, raw: bytes) -> DeliveryReport:
    recipients = []
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            fields = _fields_of(part)
            recipients += [v for k, v in fields if k in ("original-rcpt-to", "removal-recipient")]
    return DeliveryReport(
        action="complaint",
        recipients=_addresses(recipients)[:100],
        refers_to=_referenced_ids(message, raw),
        diagnostic="the recipient reported this mail as abuse or spam",
    )


def _has_enclosed_message(message: Message) -> bool:
    return any(part.get_content_type() == "message/rfc822" for part in message.walk())


def _fields_of(part: Message) -> list[tuple[str, str]]:
    """Name/value pairs of a message/delivery-status or feedback-report part."""
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    fields = []
    for block in blocks:
        for name, value in block.items():
            fields.append((name.lower(), str(value).strip()))
    if not blocks and isinstance(payload, str):
        for line in payload.splitlines():
            if ":" in line and not line[:1].isspace():
                name, value = line.split(":", 1)
                fields.append((name.strip().lower(), value.strip()))
    return fields


def _delivery_statuses(message: Message) -> list[tuple[str, str, str | None]]:
    """(recipient, action, diagnostic) for each recipient block of an RFC 3464 report."""
    statuses = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:
            # Both: the address we sent to (Original-) may have been forwarded to another
            # (Final-), and the inbox flags only the one our mail went to.
            named = [block.get("Original-Recipient"), block.get("Final-Recipient")]
            action = str(block.get("Action") or "failed").strip().lower()
            diagnostic = block.get("Diagnostic-Code") or block.get("Status")
            for recipient in filter(None, named):
                address = str(recipient).split(";", 1)[-1].strip()
                statuses.append((address, action, str(diagnostic).strip() if diagnostic else None))
    return statuses


def _flufl(message: Message, raw: bytes) -> tuple[set[str], set[str]]:
    """flufl.bounce's verdict, from the report's head: its detectors match every line
    against many patterns (a megabyte of short lines took seconds), and what they look
    for (the notice, the delivery status) comes before the returned mail."""
    try:
        if len(raw) > FLUFL_BYTES:
            message = email.message_from_bytes(raw[:FLUFL_BYTES], policy=message.policy)
        temporary, permanent = all_failures(message)
    except Exception:
        return set(), set()
    decode = lambda items: {  # noqa: E731
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in items
    }
    return decode(temporary), decode(permanent)


def _text_sample(message: Message) -> str:
    """The human-readable parts of a bounce, enough to recognize its phrases."""
    chunks: list[str] = []
    _gather_text(message, chunks, depth=0)
    return "\n".join(chunks)


def _gather_text(part: Message, chunks: list[str], depth: int) -> None:
    if depth > 20 or sum(len(chunk) for chunk in chunks) > 60_000:
        return
    content_type = part.get_content_type()
    if content_type.startswith("multipart/"):
        for child in children(part) or []:
            _gather_text(child, chunks, depth + 1)
    elif content_type.startswith("text/") or content_type == "message/delivery-status":
        chunks.append(payload_bytes(part)[:20_000].decode("utf-8", "replace"))


def _first_error(text: str) -> str | None:
    match = _BOUNCE_BODY.search(text)
    if not match:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start : end if end != -1 else None].strip()[:500] or None


def _addresses(values: list[str]) -> list[str]:
    found = []
    for value in values:
        value = value.strip().strip("<>")
        try:
            address = normalize_email(value)
        except EmailAddressError:
            continue
        if address not in found:
            found.append(address)
    return found


def _referenced_ids(message: Message, raw: bytes) -> list[str]:
    """Message-IDs of the mail that bounced: in enclosed headers, quoted text, or threading."""
    ids = [match.decode("ascii", "replace") for match in _MESSAGE_ID_FIELD.findall(raw)]
    own = (header(message, "Message-ID") or "").strip()
    for name in ("In-Reply-To", "References"):
        ids += re.findall(r"<[^<>\s]{3,900}>", header(message, name) or "")
    return [item for item in dict.fromkeys(ids) if item != own][:200]
