"""A small bilingual help centre for the search tests, and questions phrased the way customers
write them (not with the articles' words)."""

from __future__ import annotations

ARTICLES = [
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
PARAPHRASES = {
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
