# ruff: noqa: RUF001 -- German typography (en dashes) in the sentences is meant
"""The adversarial set's data: sentences around values, labels, look-alike frames.

``{v}`` is the (obfuscated) value; in ``SPLIT``, ``{a}`` and ``{b}`` are the halves of a value
split across two messages and ``{label}`` what it is called. Data only: the tricks and the
rules live in ``generate_adversarial.py``.
"""

from __future__ import annotations

from policies import entities as E

DIAGNOSES = {
    "de": ("Diabetes", "Epilepsie", "Asthma", "Depression", "Migräne", "Rheuma", "Parkinson"),
    "en": ("diabetes", "epilepsy", "asthma", "depression", "migraine", "psoriasis"),
}

# ---- sentences ---------------------------------------------------------------------------------
# Per type and language: sentences with "{v}" for the value; context words as people write.
SENTENCES: dict[str, dict[str, tuple[str, ...]]] = {
    E.IBAN: {
        "de": ("Bitte überweisen Sie die Erstattung auf meine IBAN {v}.",
               "Neue Bankverbindung ab März: {v} (Sparkasse).",
               "Kontoinhaberin bin ich, IBAN: {v} – danke!"),
        "en": ("Please refund the deposit to IBAN {v}.", "My new bank account is {v}, thanks.",
               "Pay the invoice to {v} by Friday."),
    },
    E.DE_TAX_ID: {
        "de": ("Meine Steuer-ID lautet {v}.", "Steuerliche Identifikationsnummer: {v}",
               "Die IdNr. {v} steht auf dem Bescheid."),
        "en": ("My German tax ID is {v}.", "Tax identification number: {v}",
               "Use the tax ID {v} for the form."),
    },
    E.PHONE_NUMBER: {
        "de": ("Rufen Sie mich bitte unter {v} zurück.", "Erreichbar bin ich mobil: {v}",
               "Tel. {v}, am besten vormittags."),
        "en": ("Please call me back on {v}.", "You can reach me at {v} after 5 pm.",
               "Phone: {v}"),
    },
    E.EMAIL_ADDRESS: {
        "de": ("Antwort bitte an {v}.", "Meine E-Mail-Adresse: {v}",
               "Schicken Sie den Bescheid an {v}, nicht per Post."),
        "en": ("Please reply to {v}.", "My email is {v}.", "Send the letter to {v} instead."),
    },
    E.CREDIT_CARD: {
        "de": ("Buchen Sie von meiner Kreditkarte {v} ab.", "Kartennummer: {v}, gültig bis 08/27.",
               "Die Karte {v} wurde doppelt belastet."),
        "en": ("Please charge my card {v}.", "Card number {v}, expiry 08/27.",
               "The card {v} was charged twice."),
    },
    E.DE_VAT_ID: {
        "de": ("Unsere USt-IdNr. ist {v}.", "Bitte die Umsatzsteuer-ID {v} auf die Rechnung."),
        "en": ("Our VAT ID is {v}.", "Please add VAT number {v} to the invoice."),
    },
    E.DE_PENSION_NUMBER: {
        "de": ("Meine Rentenversicherungsnummer: {v}", "Versicherungsnummer {v} (DRV Bund)."),
        "en": ("My German pension insurance number is {v}.", "Pension number: {v}"),
    },
    E.DE_TAX_NUMBER: {
        "de": ("Steuernummer {v} beim Finanzamt Köln.", "Unsere St.-Nr. lautet {v}."),
        "en": ("Our tax number is {v}.", "Tax number {v}, Finanzamt Berlin."),
    },
    E.AT_SVNR: {
        "de": ("Meine österreichische SV-Nummer ist {v}.", "SVNR (e-card): {v}"),
        "en": ("My Austrian social insurance number is {v}.", "SVNR: {v}"),
    },
    E.NL_BSN: {
        "de": ("Meine BSN aus den Niederlanden: {v}", "Burgerservicenummer {v}."),
        "en": ("My Dutch BSN is {v}.", "Citizen service number (BSN): {v}"),
    },
    E.FR_NIR: {
        "de": ("Französische Sozialversicherungsnummer (NIR): {v}", "NIR {v}, carte vitale."),
        "en": ("French social security number: {v}", "My NIR is {v}."),
    },
    E.ES_NIE: {
        "de": ("Meine NIE aus Spanien: {v}", "NIE {v} liegt bei."),
        "en": ("My Spanish NIE is {v}.", "NIE: {v}"),
    },
    E.ES_DNI: {
        "de": ("Spanischer Ausweis, DNI {v}.", "DNI-Nummer: {v}"),
        "en": ("Spanish DNI: {v}", "My DNI is {v}."),
    },
    E.DE_HEALTH_INSURANCE_NUMBER: {
        "de": ("Meine Versichertennummer ist {v}.", "Krankenkasse AOK, Versichertennummer {v}."),
        "en": ("My health insurance number is {v}.", "Insurance card number {v} (TK)."),
    },
    E.PERSON: {
        "de": ("Ich bin Frau {v} und wohne in Köln.", "Mein Name ist {v}.",
               "Bitte an Herrn {v} weiterleiten."),
        "en": ("My name is {v}.", "Please forward this to Mr {v}.", "I am Ms {v} from Bonn."),
    },
    E.IP_ADDRESS: {
        "de": ("Der Router hat die IP {v} und ist nicht erreichbar.", "Zugriff von {v} gesperrt?"),
        "en": ("The server at {v} does not respond.", "My IP address is {v}."),
    },
    E.SECRET: {
        "de": ("Aus Versehen gepostet: {v} – bitte sofort widerrufen.",
               "In der Konfiguration stand {v}, ist das schlimm?"),
        "en": ("I accidentally pasted {v} in the chat, please revoke it.",
               "The deploy log shows {v} in clear text."),
    },
    E.HEALTH: {
        "de": ("Ich habe {v} und brauche ein Attest.", "Seit Jahren leide ich an {v}."),
        "en": ("I have {v} and need a certificate.", "My son was diagnosed with {v}."),
    },
}  # fmt: skip
LABELS = {
    E.IBAN: "IBAN", E.DE_TAX_ID: "Steuer-ID", E.PHONE_NUMBER: "Telefon",
    E.EMAIL_ADDRESS: "E-Mail", E.CREDIT_CARD: "Kreditkarte", E.SECRET: "token",
    E.PERSON: "Frau", E.DE_VAT_ID: "USt-IdNr", E.DE_PENSION_NUMBER: "Rentenversicherungsnummer",
}  # fmt: skip
# A value split across two messages: the first ends with its start, the next goes on.
SPLIT = {
    "de": (("Meine {label} ist {a}", "{b} – sorry, zu früh abgeschickt."),
           ("Hier die {label}: {a}", "{b}"), ("{label} {a} ...", "... {b}, danke!")),
    "en": (("My {label} is {a}", "{b} - sorry, hit enter too early."),
           ("Here is the {label}: {a}", "{b}"), ("{label} {a} ...", "... {b}, thanks!")),
}  # fmt: skip

ENCODED_IN = {
    "de": ("Im Anhang die Daten (base64): {v}", "Payload aus dem Log: {v} – was steht da drin?",
           "Kannst du das dekodieren?\n{v}\nDanke!"),
    "en": ("Attached the data (base64): {v}", "Payload from the log: {v} - what is in it?",
           "Can you decode this?\n{v}\nThanks!"),
}  # fmt: skip
LONG_NOTE = {"de": "Bitte bis Ende des Monats bearbeiten, danke.",
             "en": "Please process this by the end of the month, thanks."}  # fmt: skip

SPLIT_LABELS = {
    E.IBAN: ("IBAN", "IBAN"), E.DE_TAX_ID: ("Steuer-ID", "tax ID"),
    E.PHONE_NUMBER: ("Handynummer", "phone number"), E.EMAIL_ADDRESS: ("Mailadresse", "email"),
    E.CREDIT_CARD: ("Kartennummer", "card number"), E.SECRET: ("API-Key", "API key"),
}  # fmt: skip

KIND_LABELS = {
    "order_number": ("Bestellnummer", "order number"), "date": ("Termin am", "appointment on"),
    "customer_number": ("Kundennummer", "customer number"),
    "invoice_number": ("Rechnung", "invoice"),
    "ticket_number": ("Ticket", "ticket"), "case_number": ("Vorgang", "case"),
    "tracking_number": ("Sendungsnummer", "tracking number"), "price": ("Betrag", "amount"),
    "isbn": ("ISBN", "ISBN"), "year_range": ("Zeitraum", "period"),
    "page_range": ("Seiten", "pages"), "amount": ("Einwohnerzahl", "population"),
    "encoded_text": ("Daten (base64)", "data (base64)"),
    "binary_blob": ("Anhang (base64)", "attachment (base64)"),
}  # fmt: skip
FRAMES = {
    "de": ("{label} {v} – bitte prüfen.", "Zu {label} {v} habe ich eine Frage.",
           "Laut Schreiben: {label} {v}."),
    "en": ("{label} {v} - please check.", "I have a question about {label} {v}.",
           "The letter says: {label} {v}."),
}  # fmt: skip
