"""Mail accounts: the only place that creates and changes them; passwords never leave it.

The server URLs hold passwords, so they are stored sealed (tresen.secrets) and opened
only by imap_url() and smtp_url(), for the fetcher and the sender.
"""

from __future__ import annotations

from sqlalchemy import select, text

from channels.email.models import MailAccount
from channels.email.urls import MailUrlError, parse_imap_url, parse_smtp_url, redact
from tresen import secrets
from tresen.email_address import EmailAddressError, normalize_email
from tresen.runtime import ActionError, Transaction
from tresen.settings import Settings


class AccountError(ActionError):
    """A bad value for a mail account; the message names the field."""


def _open(settings: Settings, stored: str | None) -> str | None:
    return secrets.decrypt(settings, stored, what="password") if stored else None


def imap_url(settings: Settings, account: MailAccount) -> str | None:
    """The account's IMAP URL with its password; raises secrets.SecretUnreadable."""
    return _open(settings, account.imap_url)


def smtp_url(settings: Settings, account: MailAccount) -> str | None:
    """The account's SMTP URL with its password; raises secrets.SecretUnreadable."""
    return _open(settings, account.smtp_url)


def account_json(account: MailAccount, settings: Settings) -> dict:
    """What may be shown of an account: URLs with the password replaced by ***."""
    last_error = account.last_error
    urls = {}
    for field, stored in (("imap_url", account.imap_url), ("smtp_url", account.smtp_url)):
        try:
            urls[field] = redact(_open(settings, stored))
        except secrets.SecretUnreadable as error:
            urls[field] = None
            last_error = str(error)
    return {
        "id": account.id,
        "address": account.address,
        "display_name": account.display_name,
        **urls,
        "processed_folder": account.processed_folder,
        "queue_id": account.queue_id,
        "active": account.active,
        "last_fetch_at": account.last_fetch_at.isoformat() if account.last_fetch_at else None,
        "last_error": last_error,
    }


def _check(imap_url: str | None, smtp_url: str | None) -> None:
    try:
        if imap_url:
            parse_imap_url(imap_url)
        if smtp_url:
            parse_smtp_url(smtp_url)
    except MailUrlError as error:
        field = "imap_url" if str(error).startswith("IMAP") else "smtp_url"
        raise AccountError(field, str(error)) from None


async def _check_queue(tx: Transaction, queue_id: int) -> None:
    # The queues table belongs to tickets, which channels do not import.
    exists = await tx.session.scalar(text("SELECT 1 FROM queues WHERE id = :id"), {"id": queue_id})
    if not exists:
        raise AccountError("queue_id", f"queue {queue_id} does not exist")


async def create_account(
    tx: Transaction,
    *,
    address: str,
    imap_url: str | None = None,
    smtp_url: str | None = None,
    display_name: str = "",
    queue_id: int | None = None,
    processed_folder: str | None = None,
) -> MailAccount:
    """A support address: IMAP to fetch it (or the SMTP listener feeds it), SMTP to answer."""
    try:
        address = normalize_email(address)
    except EmailAddressError as error:
        raise AccountError("address", str(error)) from None
    _check(imap_url, smtp_url)
    if await tx.session.scalar(select(MailAccount.id).where(MailAccount.address == address)):
        raise AccountError("address", f"mail account {address} exists already", conflict=True)
    if queue_id is not None:
        await _check_queue(tx, queue_id)
    settings = tx.runtime.settings
    account = MailAccount(
        address=address,
        display_name=display_name,
        imap_url=secrets.encrypt(settings, imap_url) if imap_url else None,
        smtp_url=secrets.encrypt(settings, smtp_url) if smtp_url else None,
        processed_folder=processed_folder or None,
        queue_id=queue_id,
        active=True,
        created_at=tx.now(),
        updated_at=tx.now(),
    )
    tx.session.add(account)
    await tx.session.flush()
    tx.emit("mail_account.created", account_id=account.id)
    return account


EDITABLE = ("display_name", "imap_url", "smtp_url", "queue_id", "processed_folder", "active")


async def update_account(tx: Transaction, account: MailAccount, changes: dict) -> list[str]:
    """Change an account; a new IMAP URL starts fetching that mailbox afresh."""
    for field in changes:
        if field not in EDITABLE:
            raise AccountError(field, f"{field} cannot be changed")
    _check(changes.get("imap_url"), changes.get("smtp_url"))
    if changes.get("queue_id") is not None:
        await _check_queue(tx, changes["queue_id"])
    changed = []
    for field, value in changes.items():
        if field in ("imap_url", "smtp_url"):
            if _same_url(tx.runtime.settings, getattr(account, field), value):
                continue
            value = secrets.encrypt(tx.runtime.settings, value) if value else None
        elif field == "processed_folder":
            value = value or None
        if getattr(account, field) != value:
            setattr(account, field, value)
            changed.append(field)
    if changed:
        account.updated_at = tx.now()
        if "imap_url" in changed:
            account.last_error = None
        tx.emit("mail_account.updated", account_id=account.id, fields=changed)
    return changed


def _same_url(settings: Settings, stored: str | None, new: str | None) -> bool:
    # Each sealing differs, so compare what is sealed; one that cannot be read is replaced.
    try:
        return _open(settings, stored) == (new or None)
    except secrets.SecretUnreadable:
        return False


async def queue_id_named(tx: Transaction, name: str) -> int:
    """The id of the queue with this name (the CLI names queues)."""
    queue_id = await tx.session.scalar(
        text("SELECT id FROM queues WHERE name = :name"), {"name": name}
    )
    if queue_id is None:
        raise AccountError("queue", f"queue {name!r} does not exist")
    return queue_id
