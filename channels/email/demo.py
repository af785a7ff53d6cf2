"""Demo mail: the support address, and customers' mails received as a mailbox's would be.

Each mail is a real RFC 822 message, parsed by the channel's parser and handed to the inbox
(`tresen.rooms.deliver`), so routing decides on it by the rules and the ticket page's
"Original" shows its source. Some arrived hours ago (the runtime's clock set back), so
their SLA clocks are at risk or breached when the demo starts. Replies go out by SMTP to
the demo's mail sink (tresen/demo_mail.py): `tresen demo` points the account there
(`use_smtp`) at every start.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from channels.email.accounts import create_account, update_account
from channels.email.models import MailAccount
from channels.email.parse import parse_message
from tresen import rooms
from tresen.demo_clock import minutes_ago

ADDRESS = "support@demo.tresen.test"
# Until `tresen demo` starts its sink: a loopback port nothing listens on (replies wait).
UNSET_SMTP = "smtp://127.0.0.1:2525"

MAILS = (
    # minutes ago, sender name, sender address, subject, text
    (
        180,
        "Jonas Müller",
        "jonas.mueller@mueller-maschinenbau.example",
        "Rechnung 2026-1147 doppelt abgebucht",
        "Guten Tag,\n\nder Betrag der Rechnung 2026-1147 wurde zweimal abgebucht. "
        "Bitte erstatten Sie die doppelte Zahlung.\n\nMit freundlichen Grüßen\nJonas Müller",
    ),
    (
        100,
        "Lukas Becker",
        "lukas.becker@mail.example",
        "Lieferung beschädigt angekommen",
        "Hallo,\n\ndas Paket zu Auftrag 7781 kam heute mit eingedrücktem Karton an, das Gerät "
        "hat einen Riss im Gehäuse. Wie bekomme ich Ersatz?\n\nGruß\nLukas Becker",
    ),
    (
        45,
        "Emma Wilson",
        "emma.wilson@nordlicht-reisen.example",
        "Cannot log in to the booking portal",
        "Hi,\n\nsince this morning none of our team can log in to the booking portal. "
        "We get 'session expired' right after entering the password.\n\nThanks,\nEmma",
    ),
    (
        20,
        "Mia Hoffmann",
        "new.customer@startup.example",
        "Angebot für 25 Lizenzen",
        "Hallo,\n\nwir interessieren uns für 25 Lizenzen. Gibt es Mengenrabatt?\n\n"
        "Viele Grüße\nMia Hoffmann",
    ),
    (
        10,
        "Daniel Scott",
        "d.scott@harbour-freight.example",
        "Urgent: invoice shows the wrong VAT number",
        "Hello,\n\nour invoice 2026-1201 shows an old VAT number. We need a corrected "
        "invoice before the end of the month.\n\nBest regards\nDaniel Scott",
    ),
    (
        1500,
        "Petra Schneider",
        "p.schneider@mueller-maschinenbau.example",
        "Lieferschein fehlt",
        "Hallo,\n\nbei der letzten Lieferung lag kein Lieferschein bei. Können Sie ihn "
        "schicken?\n\nDanke\nPetra Schneider",
    ),
)


def mail(number: int, name: str, sender: str, subject: str, text: str, date) -> bytes:
    """One customer's mail as a mail program would send it."""
    message = EmailMessage()
    message["From"] = f"{name} <{sender}>"
    message["To"] = f"Tresen Demo Support <{ADDRESS}>"
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = make_msgid(f"demo-{number}", domain=sender.rpartition("@")[2])
    message.set_content(text)
    return bytes(message)


async def seed(runtime) -> None:
    async with runtime.transaction() as tx:
        await create_account(
            tx, address=ADDRESS, display_name="Tresen Demo Support", smtp_url=UNSET_SMTP
        )
    for number, (minutes, name, sender, subject, text) in enumerate(MAILS):
        async with minutes_ago(runtime, minutes):
            raw = mail(number, name, sender, subject, text, runtime.clock.now())
            parsed = parse_message(raw, account=ADDRESS)
            await rooms.deliver(runtime, parsed.model_copy(update={"to": ADDRESS}))


async def use_smtp(runtime, smtp_url: str) -> None:
    """Send the demo's mail through this SMTP server (the sink of this start)."""
    async with runtime.transaction() as tx:
        account = await tx.session.scalar(select(MailAccount).where(MailAccount.address == ADDRESS))
        if account is None:  # demo data loaded by an older Tresen: the account comes now
            await create_account(
                tx, address=ADDRESS, display_name="Tresen Demo Support", smtp_url=smtp_url
            )
        else:
            await update_account(tx, account, {"smtp_url": smtp_url, "active": True})
