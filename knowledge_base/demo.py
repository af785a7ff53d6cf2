"""Demo articles (`tresen demo`): German and English, public and internal, so that the demo
tickets (a double charge, a late delivery, a failed login) get suggestions."""

from __future__ import annotations

from knowledge_base.transfer import import_articles
from tresen.runtime import Runtime

ARTICLES = [
    # translation group, language, visibility, category, title, body
    ("refund", "de", "public", "Abrechnung", "Rückerstattung einer doppelten Abbuchung",
     "Wurde ein Betrag zweimal abgebucht, erstatten wir die doppelte Zahlung innerhalb von "
     "**5 Werktagen** auf das ursprüngliche Konto.\n\n1. Rechnungsnummer nennen\n"
     "2. Kontoauszug mit beiden Buchungen beifügen"),
    ("refund", "en", "public", "Billing", "Refund of a double charge",
     "If an amount was charged twice, we refund the duplicate payment to the original "
     "account within **5 working days**.\n\n1. Give the invoice number\n"
     "2. Attach a statement showing both charges"),
    ("refund-check", "de", "internal", "Abrechnung", "Doppelbuchung prüfen (intern)",
     "Im Zahlungsportal nach der Rechnungsnummer suchen; beide Buchungen mit Datum in die "
     "interne Notiz schreiben, dann die Erstattung an die Buchhaltung geben."),
    ("delivery", "de", "public", "Versand", "Wo ist meine Lieferung?",
     "Die Sendungsverfolgung finden Sie in der Versandbestätigung. Innerhalb Deutschlands "
     "dauert die Zustellung 2–3 Werktage."),
    ("delivery", "en", "public", "Shipping", "Where is my delivery?",
     "The tracking link is in the shipping confirmation. Within Germany, delivery takes "
     "2–3 working days."),
    ("login", "en", "public", "Accounts", "Cannot log in: session expired",
     "If you see 'session expired' right after signing in, clear the browser's cookies for "
     "the portal and sign in again. If it persists, reset your password."),
    ("login", "de", "public", "Konten", "Anmeldung nicht möglich: Sitzung abgelaufen",
     "Erscheint direkt nach der Anmeldung „Sitzung abgelaufen“, löschen Sie die Cookies des "
     "Portals im Browser und melden sich neu an. Hilft das nicht, setzen Sie das Passwort "
     "zurück."),
]  # fmt: skip


async def seed(runtime: Runtime) -> None:
    rows = [
        (
            f"demo article {number + 1}",
            {
                "slug": f"{group}-{language}",
                "translation_group": f"demo-{group}",
                "language": language,
                "visibility": visibility,
                "category": category,
                "title": title,
                "body": body,
            },
        )
        for number, (group, language, visibility, category, title, body) in enumerate(ARTICLES)
    ]
    report = await import_articles(runtime, rows)
    if report.rejected:
        raise RuntimeError(f"demo articles rejected: {report.rejected}")
