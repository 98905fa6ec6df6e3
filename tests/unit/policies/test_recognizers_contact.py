"""policies.recognizers.contact: phone numbers, e-mail addresses, payment cards, IP addresses.

Sentences are the kind a contact centre or a public office sees (Bürgeramt, Jobcenter,
Krankenkasse, Stadtwerke hotline). Every case asserts the exact spans found.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import random
from typing import Protocol

import pytest
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies import entities as e
from policies.recognizers import contact


class Recognizer(Protocol):
    """What the tests call: our recognizers accept ``nlp_artifacts=None``."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]: ...


def spans(recognizer: Recognizer, text: str, entity: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, [entity], None)]


def scores(recognizer: Recognizer, text: str, entity: str) -> list[float]:
    return [r.score for r in recognizer.analyze(text, [entity], None)]


PHONE = contact.PhoneNumberRecognizer()
EMAIL = contact.EmailAddressRecognizer()
CARD = contact.CreditCardNumberRecognizer()
IP = contact.IpAddressRecognizer()


def test_recognizers_are_fresh_german_instances_of_the_contact_entities() -> None:
    first, second = contact.recognizers(), contact.recognizers()
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert {r.supported_language for r in first} == {"de"}
    assert [r.supported_entities for r in first] == [
        [e.PHONE_NUMBER],
        [e.EMAIL_ADDRESS],
        [e.CREDIT_CARD],
        [e.IP_ADDRESS],
    ]


def test_a_recognizer_asked_for_other_entities_finds_nothing() -> None:
    text = "Tel. 0171 2345678, max@beispiel.de, 4111 1111 1111 1111, 10.0.0.1"
    everything = [e.PHONE_NUMBER, e.EMAIL_ADDRESS, e.CREDIT_CARD, e.IP_ADDRESS]
    for recognizer in (PHONE, EMAIL, CARD, IP):
        assert recognizer.analyze(text, [e.PERSON], None) == []
        assert len(recognizer.analyze(text, everything, None)) == 1


# --- phone numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rufen Sie mich bitte unter +49 89 1234567 zurück.", "+49 89 1234567"),
        ("Tel.: +49 (0)89 123 456-78", "+49 (0)89 123 456-78"),
        ("Meine Handynummer ist 0171 2345678.", "0171 2345678"),
        ("Handy: 0171/2345678", "0171/2345678"),
        ("Das Bürgeramt erreichen Sie unter (030) 12345678.", "(030) 12345678"),
        ("Durchwahl 030-12345678, Frau Weber", "030-12345678"),
        ("Aus dem Ausland: 0049 30 1234567", "0049 30 1234567"),
        ("Unser Büro in Wien: +43 1 5123456", "+43 1 5123456"),
        ("Agence de Paris, +33 1 23 45 67 89, merci.", "+33 1 23 45 67 89"),
        ("Stadtwerke-Hotline 0800 1234567 (kostenfrei)", "0800 1234567"),
        ("Tel.:0171 2345678", "0171 2345678"),
        ("Please call me back on +49 171 2345678 tomorrow.", "+49 171 2345678"),
        ("Rückruf an (0171) 2345678 erbeten", "(0171) 2345678"),
        ("Kontakt: +1 212 555 0123", "+1 212 555 0123"),
    ],
)
def test_phone_numbers_in_german_and_international_formats(text: str, expected: str) -> None:
    assert spans(PHONE, text, e.PHONE_NUMBER) == [expected]
    assert scores(PHONE, text, e.PHONE_NUMBER) == [pytest.approx(contact.STRONG)]


def test_two_numbers_written_as_one_run_are_split() -> None:
    text = "Erreichbar unter 0171 2345678 / 089 1234567."
    assert spans(PHONE, text, e.PHONE_NUMBER) == ["0171 2345678", "089 1234567"]


@pytest.mark.parametrize(
    "text",
    [
        "Ihr Ticket 2024-117853 wurde am 01.03.2024 angelegt.",
        "Bestellnummer 300012345, Betrag 149,99 EUR",
        "Bitte überweisen Sie an IBAN DE89 3704 0044 0532 0130 00.",
        "Postanschrift: Hauptstraße 5, 01067 Dresden",
        "Steuernummer 013 815 08153 (Hessen)",
        "Steuer-ID 65 929 970 489",
        "Update auf Version 1.2.3.4 und 0.9.12",
        "Kundennummer 0300012345, Vertrag 0171234567",
        "Aktenzeichen 0815/2024 beim Jobcenter",
        "Öffnungszeiten 08:00-16:00 Uhr, am 03.04.2025 geschlossen",
        "Preis: 0,99 EUR pro Minute",
        "Die Zahl 0123 456789 ist kein Anschluss.",
    ],
)
def test_no_phone_number_in_dates_prices_ibans_or_reference_numbers(text: str) -> None:
    assert spans(PHONE, text, e.PHONE_NUMBER) == []


def test_validated_numbers_are_strong_and_possible_ones_weak() -> None:
    assert contact.STRONG >= 0.85
    assert 0.5 <= contact.WEAK < 0.85


def test_a_merely_possible_number_needs_a_phone_word_nearby() -> None:
    assert spans(PHONE, "0123 456789", e.PHONE_NUMBER) == []
    assert spans(PHONE, "Tel. 0123 456789", e.PHONE_NUMBER) == ["0123 456789"]
    assert scores(PHONE, "Tel. 0123 456789", e.PHONE_NUMBER) == [pytest.approx(contact.WEAK)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Case 7496-3962, line +39 06 8082 5925.", "+39 06 8082 5925"),
        ("Vorgangsnummer VG-778346, Anschluss 0221 4823432", "0221 4823432"),
        ("Kundennummer 4711 und 0171 2345678", "0171 2345678"),
        ("Ticket 2024-117853; Rückfragen 030 12345678", "030 12345678"),
    ],
)
def test_a_look_alike_label_names_only_the_number_after_it(text: str, expected: str) -> None:
    assert spans(PHONE, text, e.PHONE_NUMBER) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Vertrag 0171234567",
        "Kunden-Nr. 12345 / 0171 2345678",  # maybe one number: the label still holds
        "Case number: 0221 4823432",  # "number" belongs to the label, it is no phone word
        "Order No. 0171 2345678",
    ],
)
def test_a_look_alike_label_still_vetoes_the_number_it_names(text: str) -> None:
    assert spans(PHONE, text, e.PHONE_NUMBER) == []


def test_a_phone_word_that_labels_the_next_number_is_no_context() -> None:
    # 03240668847 is a possible German number, not a valid one: it needs a phone word.
    assert (
        spans(PHONE, "Confirmed: 03240668847. Pension insurance number 4211", e.PHONE_NUMBER) == []
    )
    assert spans(PHONE, "03240668847 is my number.", e.PHONE_NUMBER) == ["03240668847"]
    text = "Alt 0324 0668847, neue Nummer: 0171 2345678"
    assert spans(PHONE, text, e.PHONE_NUMBER) == ["0171 2345678"]


_AREAS = ["30", "40", "89", "221", "69", "711", "211", "341", "511", "911", "6221", "7531"]
_MOBILE = ["151", "152", "157", "160", "162", "170", "171", "172", "176", "177", "178", "179"]
_STYLES = [
    "0{a} {n}",
    "0{a}/{n}",
    "0{a}-{n}",
    "(0{a}) {n}",
    "+49 {a} {n}",
    "+49 (0){a} {n}",
    "0049 {a} {n}",
    "+49{a}{n}",
]
_SENTENCES = [
    "Sie erreichen mich unter {p}.",
    "Meine Telefonnummer: {p}",
    "Rückruf bitte an {p}, danke!",
    "Call me at {p} after 5 pm.",
    "Die Krankenkasse hat die Nummer {p} angegeben.",
    "{p} (werktags 8-16 Uhr)",
]


def test_phone_recall_on_generated_sentences_is_at_least_95_percent() -> None:
    rng = random.Random(7)
    total = hits = 0
    for _ in range(300):
        if rng.random() < 0.5:
            area, digits = rng.choice(_MOBILE), rng.choice([7, 8])
        else:
            area = rng.choice(_AREAS)
            digits = 8 - len(area) + rng.choice([0, 1])
        subscriber = str(rng.randint(2, 9)) + "".join(
            str(rng.randint(0, 9)) for _ in range(digits - 1)
        )
        number = rng.choice(_STYLES).format(a=area, n=subscriber)
        text = rng.choice(_SENTENCES).format(p=number)
        total += 1
        hits += spans(PHONE, text, e.PHONE_NUMBER) == [number]
    assert hits / total >= 0.95


# --- e-mail addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Schreiben Sie an max.mustermann@beispiel-gmbh.de oder rufen Sie an.",
            ["max.mustermann@beispiel-gmbh.de"],
        ),
        ("Kontakt: info@stadt-muenchen.de.", ["info@stadt-muenchen.de"]),
        (
            "anna+krankenkasse@gmx.net, Anna.Becker@Mail.Example.ORG",
            ["anna+krankenkasse@gmx.net", "Anna.Becker@Mail.Example.ORG"],
        ),
        ("E-Mail (buergeramt@berlin.de) bitte", ["buergeramt@berlin.de"]),
        ("mail to j_doe-1@sub.example.co.uk;", ["j_doe-1@sub.example.co.uk"]),
    ],
)
def test_email_addresses(text: str, expected: list[str]) -> None:
    assert spans(EMAIL, text, e.EMAIL_ADDRESS) == expected
    assert all(s >= 0.85 for s in scores(EMAIL, text, e.EMAIL_ADDRESS))


@pytest.mark.parametrize(
    "text",
    [
        "root@localhost hat geschrieben",
        "user@domain ohne Punkt",
        "Danke @Team für die Hilfe",
        "Preis: 3 Stück @ 5 Euro",
        "a@b.c ist zu kurz",
        "foo@bar.123 hat keine echte Endung",
    ],
)
def test_no_email_without_a_dotted_domain_and_a_letter_tld(text: str) -> None:
    assert spans(EMAIL, text, e.EMAIL_ADDRESS) == []


# --- payment cards -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Meine Visa: 4111 1111 1111 1111, gültig bis 12/26", "4111 1111 1111 1111"),
        ("Kreditkarte 5500-0000-0000-0004 wurde belastet.", "5500-0000-0000-0004"),
        ("Amex 3782 822463 10005", "3782 822463 10005"),
        ("Mastercard 2221000000000009", "2221000000000009"),
        ("card number 6011111111111117 (Discover)", "6011111111111117"),
        ("JCB: 3530 1113 3330 0000.", "3530 1113 3330 0000"),
        ("Kartennummer 4111111111111111 12/26", "4111111111111111"),
    ],
)
def test_card_numbers_with_issuer_prefix_and_luhn(text: str, expected: str) -> None:
    assert spans(CARD, text, e.CREDIT_CARD) == [expected]
    assert scores(CARD, text, e.CREDIT_CARD) == [pytest.approx(0.95)]


@pytest.mark.parametrize(
    "text",
    [
        "Karte 4111 1111 1111 1112 (Prüfziffer falsch)",
        "IBAN DE89 3704 0044 0532 0130 00",
        "Tel. +49 171 2345 6789 0",
        "Referenz 9111 1111 1111 1110",
        "Sendung 4111 11 111111 111111 unterwegs",
        "Zählernummer 41111111111111111111",
    ],
)
def test_no_card_for_bad_check_digit_ibans_phones_or_unknown_prefixes(text: str) -> None:
    assert spans(CARD, text, e.CREDIT_CARD) == []


def test_is_card_number_checks_grouping_prefix_length_and_luhn() -> None:
    assert contact.is_card_number("4111 1111 1111 1111")
    assert not contact.is_card_number("4111 1111-1111 1111")  # mixed separators
    assert not contact.is_card_number("378282246310005 0")  # odd grouping
    assert not contact.is_card_number("5500000000000004000")  # Mastercard is 16 digits


# --- IP addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Der Server 192.168.0.1 antwortet nicht.", ["192.168.0.1"]),
        ("Zugriff von 10.0.0.255/24 blockiert", ["10.0.0.255"]),
        ("IPv6 2001:db8::8a2e:370:7334 und fe80::1.", ["2001:db8::8a2e:370:7334", "fe80::1"]),
        ("mapped ::ffff:192.0.2.128 seen", ["::ffff:192.0.2.128"]),
    ],
)
def test_ip_addresses(text: str, expected: list[str]) -> None:
    assert spans(IP, text, e.IP_ADDRESS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Termin am 12.03.2024 um 10:30:45",
        "Version 1.2.3.4 ist veraltet",
        "Paket 1.2.3.4.5 installiert",
        "Adresse 256.1.1.1 ist ungültig",
        "MAC 00:1A:2B:3C:4D:5E der Fritzbox",
        "Methode std::vector in C++",
    ],
)
def test_no_ip_in_dates_times_versions_or_mac_addresses(text: str) -> None:
    assert spans(IP, text, e.IP_ADDRESS) == []
