"""The email channel as the rest of Tresen sees it: one `Channel` value."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from channels.email import admin, api, cli, fetch, receive
from channels.email.compose import new_external_id
from channels.email.models import MailAccount
from channels.email.send import send
from tresen.channel import EMAIL, Channel, ChannelOption, Threading


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 <= port < 65536:
        raise ValueError(f"port {port} is not between 1 and 65535")
    return port


async def sending_problem(session) -> dict | None:
    """Replies stay queued until a mail account with an SMTP server exists."""
    found = await session.scalar(
        select(MailAccount.id)
        .where(MailAccount.active.is_(True), MailAccount.smtp_url.is_not(None))
        .limit(1)
    )
    if found:
        return None
    return {
        "en": "Email replies wait in the outbox: no active mail account with an SMTP server "
        "is set up (Email settings).",
        "de": "E-Mail-Antworten warten im Postausgang: Es ist kein aktives E-Mail-Konto mit "
        "SMTP-Server eingerichtet (E-Mail-Einstellungen).",
    }


channel = Channel(
    name="email",
    labels={"en": "Email", "de": "E-Mail"},
    identity_kinds=(EMAIL,),
    # Mail programs keep In-Reply-To/References and our "[#number]"; some drop both, and
    # then the same subject from the same customer still finds the open ticket.
    threading=Threading(subject=True),
    acknowledgement="message",
    send=send,
    new_external_id=new_external_id,
    sending_problem=sending_problem,
    api_routers=(api.router,),
    admin_page=("/admin/email", {"en": "Email settings", "de": "E-Mail-Einstellungen"}),
    admin_routes=admin.admin_routes,
    templates=str(Path(__file__).parent / "templates"),
    workers=(fetch.run, receive.run),
    cli=(cli,),
    models=("channels.email.models",),
    sealed=(("mail_accounts", ("imap_url", "smtp_url")),),
    events=("channels.email.events",),
    options=(
        ChannelOption(
            "smtp_port",
            "TRESEN_SMTP_PORT",
            0,
            _port,
            "also receive mail by SMTP on this port (for forwarded or piped mail)",
            "--smtp-port",
        ),
        ChannelOption(
            "smtp_host",
            "TRESEN_SMTP_HOST",
            "127.0.0.1",
            str,
            "address the SMTP listener binds to",
            "--smtp-host",
        ),
    ),
)
