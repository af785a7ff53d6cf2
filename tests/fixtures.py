"""Builders the test modules share: sign-in, inbound mail, the mail corpus, knowledge base
samples. Test modules import from here, never from each other; real servers live in
tests/support.py, Chromium in tests/browser.py."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from knowledge_base import semantic
from knowledge_base.models import Article
from knowledge_base.transfer import import_articles
from tests.support import SHARED
from tresen.inbound import InboundMessage

MAIL_CORPUS = SHARED / "data" / "mail"


# --- The console over HTTP ---


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def sign_in(client, email="agent@example.com", password="agent-password"):
    """Sign in through the login form, as a person would; returns the login answer."""
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
    )


# --- Migrations ---


async def alembic(url: str, action: str, revision: str, **attributes) -> None:
    """`alembic upgrade|downgrade REVISION` on the database, as tresen.migrate runs it;
    `attributes` (secret_key, base_url) as tresen.migrate passes them."""
    from alembic import command

    from tresen.database import create_engine
    from tresen.migrate import alembic_config

    def run(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        config.attributes.update(attributes)
        getattr(command, action)(config, revision)

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


# --- Mail ---


def inbound_mail(external_id: str, **fields) -> InboundMessage:
    """An inbound email from Kim Meyer to support@tresen.test; fields override the body."""
    body = {
        "channel": "email",
        "external_id": external_id,
        "from": {"kind": "email", "value": "kim@example.com", "name": "Kim Meyer"},
        "to": "support@tresen.test",
        "subject": "Drucker druckt nicht",
        "text": "Seit heute druckt unser Drucker nicht mehr.",
    }
    body.update(fields)
    return InboundMessage.model_validate(body)


def corpus_files() -> list[Path]:
    """Every message of the shared mail corpus (the sisimai mailboxes aside)."""
    return sorted(
        path
        for path in MAIL_CORPUS.rglob("*")
        if path.is_file() and path.name != "LICENSE" and "mailbox" not in path.parts
    )


DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: support@tresen.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system. Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B
Content-Type: message/rfc822

From: support@tresen.test
To: gone@example.org
Subject: [#10042] Ihre Anfrage
Message-ID: <t-42@tresen.test>

Ihre Anfrage
--B--
"""


# --- Knowledge base ---

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)


def kb_record(slug, language, visibility, title, body) -> dict:
    """As import takes it; refund-de and refund-en are one article's translations."""
    return {
        "slug": slug,
        "language": language,
        "visibility": visibility,
        "title": title,
        "body": body,
        "translation_group": slug.rsplit("-", 1)[0],
    }


async def load_kb_samples(runtime, *, embed: bool = False) -> dict[str, int]:
    """Import KB_ARTICLES (and embed them if asked); returns article ids by slug."""
    rows = [
        (slug, kb_record(slug, lang, vis, title, body))
        for slug, lang, vis, title, body in KB_ARTICLES
    ]
    report = await import_articles(runtime, rows)
    assert report.created == len(KB_ARTICLES), report.rejected
    if embed:
        assert await semantic.embed_pending(runtime) == len(KB_ARTICLES)
    async with runtime.read() as session:
        return dict((await session.execute(select(Article.slug, Article.id))).all())


def lexical_only(runtime):
    """The runtime with semantic ranking off: search by words alone."""
    runtime.settings = replace(runtime.settings, semantic=False)
    return runtime


# A small bilingual help centre for the search tests, and questions phrased the way customers
# write them (not with the articles' words).
KB_ARTICLES = [
    # (slug, language, visibility, title, body)
    ("refund-de", "de", "public", "Rückerstattung beantragen",
     "Sind Sie mit einer Bestellung nicht zufrieden, fordern Sie innerhalb von 30 Tagen eine "
     "Erstattung an. Der Betrag wird dem ursprünglichen Zahlungsmittel gutgeschrieben."),
    ("password-de", "de", "public", "Vergessenes Passwort zurücksetzen",
     "Auf der Anmeldeseite führt der Link „Anmeldedaten anfordern“ zu einer E-Mail, mit der "
     "Sie ein neues Kennwort festlegen."),
    ("delivery-de", "de", "public", "Lieferzeiten und Versandkosten",
     "Innerhalb Deutschlands dauert die Zustellung zwei bis drei Werktage. Ab 50 Euro "
     "Warenwert versenden wir kostenfrei."),
    ("account-de", "de", "public", "Kundenkonto löschen",
     "In den Einstellungen schließen Sie Ihr Kundenkonto endgültig; gespeicherte Daten "
     "werden nach 30 Tagen entfernt."),
    ("invoice-address-de", "de", "public", "Adresse auf der Rechnung ändern",
     "Die Anschrift einer bereits erstellten Rechnung korrigiert unser Team auf Anfrage."),
    ("payment-de", "de", "public", "Zahlungsarten",
     "Wir akzeptieren Kreditkarte, PayPal, Lastschrift und Kauf auf Rechnung."),
    ("cancel-de", "de", "public", "Bestellung stornieren",
     "Solange die Ware unser Lager nicht verlassen hat, können Sie den Auftrag im "
     "Kundenbereich kostenlos widerrufen."),
    ("exchange-de", "de", "public", "Artikel umtauschen",
     "Passt ein Kleidungsstück nicht, senden Sie es mit dem Retourenschein zurück und wählen "
     "eine andere Größe."),
    ("newsletter-de", "de", "public", "Newsletter abbestellen",
     "Jede unserer Werbe-E-Mails enthält unten einen Abmeldelink."),
    ("goodwill-de", "de", "internal", "Kulanzregeln für Rückerstattungen",
     "Intern: bis 50 Euro ohne Rücksprache mit der Teamleitung erstatten."),
    ("draft-de", "de", "draft", "Neue Rückerstattungsrichtlinie 2027",
     "Entwurf: Rückerstattungen künftig innerhalb von 14 Tagen."),
    ("refund-en", "en", "public", "Request a refund",
     "If you are not satisfied with an order, ask for a reimbursement within 30 days. The "
     "amount is credited to the original payment method."),
    ("password-en", "en", "public", "Reset a forgotten password",
     "On the sign-in page, the link 'Request login details' sends an e-mail with which you "
     "set a new passphrase."),
    ("delivery-en", "en", "public", "Delivery times and shipping costs",
     "Within Germany, delivery takes two to three working days. Orders above 50 euros ship "
     "free of charge."),
    ("account-en", "en", "public", "Delete your customer account",
     "In the settings you close your customer account for good; stored data is removed "
     "after 30 days."),
    ("payment-en", "en", "public", "Payment methods",
     "We accept credit cards, PayPal, direct debit and invoice."),
    ("cancel-en", "en", "public", "Cancel an order",
     "As long as the goods have not left our warehouse, you can withdraw the purchase in the "
     "customer area at no cost."),
    ("exchange-en", "en", "public", "Exchange an item",
     "If a garment does not fit, send it back with the returns slip and choose another size."),
    ("newsletter-en", "en", "public", "Unsubscribe from the newsletter",
     "Every promotional e-mail we send has an unsubscribe link at the bottom."),
    ("goodwill-en", "en", "internal", "Goodwill rules for refunds",
     "Internal: refund up to 50 euros without asking the team lead."),
]  # fmt: skip

# Questions that share (almost) no words with the article that answers them.
KB_PARAPHRASES = {
    "de": [
        ("Wie bekomme ich mein Geld zurück?", "refund-de"),
        ("Ich komme nicht mehr in meinen Account, weiß mein Login nicht mehr", "password-de"),
        ("Wann kommt mein Paket an?", "delivery-de"),
        ("Welche Möglichkeiten gibt es zu bezahlen?", "payment-de"),
        ("Ich will keine Werbung mehr per Mail bekommen", "newsletter-de"),
        ("Die Hose ist zu klein, kann ich eine größere haben?", "exchange-de"),
    ],
    "en": [
        ("How do I get my money back?", "refund-en"),
        ("I can't log in anymore, I don't remember my login", "password-en"),
        ("When will my parcel arrive?", "delivery-en"),
        ("How can I pay?", "payment-en"),
        ("I don't want any more advertising mails", "newsletter-en"),
        ("The trousers are too small, can I have a bigger pair?", "exchange-en"),
    ],
}


# --- The customer portal ---

PORTAL_PEOPLE = {
    # name: (e-mail, organization, org_role)
    "alpha_manager": ("mia@alpha.example", "Alpha GmbH", "manager"),
    "alpha_member": ("max@alpha.example", "Alpha GmbH", "member"),
    "beta_manager": ("bea@beta.example", "Beta AG", "manager"),
    "beta_member": ("ben@beta.example", "Beta AG", "member"),
    "solo": ("sol@solo.example", None, "member"),
}


async def portal_world(runtime, agent) -> dict[str, dict]:
    """Two organizations, each with a manager and a member, and a customer without one.

    Each has one e-mail ticket with a file of their own, a public answer of the desk with a
    file, and an internal note with a file (the note and its file must never reach a
    customer). Returns per name: customer_id, organization_id, email, ticket_id, number,
    subject, and the attachment ids inbound_file, reply_file, note_file, and note_text.
    """
    from base64 import b64encode

    from customers.actions import create_customer, create_organization, set_organization_role
    from tickets.actions import Actor, NewAttachment, reply
    from tickets.inbox import receive
    from tickets.models import Attachment, Message, Ticket

    world: dict[str, dict] = {}
    async with runtime.transaction() as tx:
        organizations = {}
        for name in ("Alpha GmbH", "Beta AG"):
            organizations[name] = (await create_organization(tx, name=name)).id
        for person, (email, organization, role) in PORTAL_PEOPLE.items():
            customer = await create_customer(
                tx,
                name=person.replace("_", " ").title(),
                identities=[("email", email)],
                organization_id=organizations.get(organization),
            )
            await set_organization_role(tx, customer, role)
            world[person] = {
                "customer_id": customer.id,
                "organization_id": customer.organization_id,
                "org_role": role,
                "email": email,
            }
    for person, facts in world.items():
        subject = f"Question of {person}"
        received = await receive(
            runtime,
            inbound_mail(
                f"<{person}@portal.test>",
                **{
                    "from": {"kind": "email", "value": facts["email"], "name": person},
                    "subject": subject,
                    "text": f"Text of {person}",
                    "attachments": [
                        {
                            "filename": f"{person}-photo.png",
                            "content_type": "image/png",
                            "content_base64": b64encode(PNG).decode(),
                        }
                    ],
                },
            ),
        )
        note_text = f"Internal note about {person}: credit limit 4711"
        async with runtime.transaction() as tx:
            ticket = await tx.session.get(Ticket, received.ticket_id)
            await reply(
                tx,
                ticket,
                Actor(user_id=agent.id),
                text=f"Answer to {person}",
                attachments=[NewAttachment(f"{person}-answer.txt", "text/plain", b"answer")],
            )
            await reply(
                tx,
                ticket,
                Actor(user_id=agent.id),
                text=note_text,
                internal=True,
                attachments=[NewAttachment(f"{person}-note.txt", "text/plain", b"secret")],
            )
        async with runtime.read() as session:
            rows = (
                await session.execute(
                    select(Attachment.id, Message.direction, Message.internal)
                    .join(Message, Message.id == Attachment.message_id)
                    .where(Message.ticket_id == received.ticket_id)
                )
            ).all()
        files = {}
        for row in rows:
            key = "note_file" if row.internal else f"{row.direction}_file"
            files[key] = row.id
        facts.update(
            ticket_id=received.ticket_id,
            number=received.ticket_number,
            subject=subject,
            inbound_file=files["inbound_file"],
            reply_file=files["outbound_file"],
            note_file=files["note_file"],
            note_text=note_text,
        )
    return world


# --- The customer portal ---


async def sign_in_to_portal(runtime, client, who) -> None:
    """Sign an httpx client in to the portal as a customer, through the real flow: a
    sign-in link as `tresen portal link` makes it, its page, its button. `who` is a
    Customer (its first e-mail identity) or an e-mail address."""
    from customers.portal_access import issue_link

    if isinstance(who, str):
        email = who
    else:
        email = next(i.value for i in who.identities if i.kind == "email")
    async with runtime.transaction() as tx:
        link = await issue_link(tx, email, source="cli")
    assert link is not None, f"no customer has the e-mail address {email!r}"
    path = link.url.split("://", 1)[1].split("/", 1)[1]
    page = await client.get("/" + path)
    assert page.status_code == 200, page.text
    answer = await client.post("/" + path, data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/tickets"
