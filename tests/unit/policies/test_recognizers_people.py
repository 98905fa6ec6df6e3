"""policies.recognizers.persons and .plates: person names and German licence plates.

German capitalises every noun, so most cases here are hard negatives: capitalised words next
to titles or first names that are not names. Every case asserts the exact spans found.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
from typing import Protocol

import pytest
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies import entities as e
from policies.recognizers import persons, plates


class Recognizer(Protocol):
    """What the tests call: our recognizers accept ``nlp_artifacts=None``."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]: ...


def spans(recognizer: Recognizer, text: str, entity: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, [entity], None)]


PERSON = persons.PersonNameRecognizer()
PLATE = plates.GermanLicensePlateRecognizer()


def test_recognizers_are_fresh_german_instances() -> None:
    for module, entity in ((persons, e.PERSON), (plates, e.DE_LICENSE_PLATE)):
        first, second = module.recognizers(), module.recognizers()
        assert first[0] is not second[0]
        assert [(r.supported_language, r.supported_entities) for r in first] == [("de", [entity])]
    assert PERSON.analyze("Herr Müller, M-AB 1234", [e.EMAIL_ADDRESS], None) == []
    assert PLATE.analyze("Herr Müller, M-AB 1234", [e.EMAIL_ADDRESS], None) == []


def test_name_lists_are_packaged_and_large_enough() -> None:
    lists = persons.name_lists()
    assert len(lists.first) >= 2000
    assert len(lists.surnames) >= 1500
    assert {"Mehmet", "Agnieszka", "Sergej", "Fatima", "Giuseppe", "Emma"} <= lists.first
    assert {"Müller", "Y\u0131lmaz", "Kowalski", "Ivanov", "Rossi", "Nguyen"} <= lists.surnames
    assert "August" in lists.ambiguous
    assert "August" not in lists.first
    assert len(plates.districts()) >= 400
    assert {"B", "M", "K", "H", "S", "F", "HH", "KA", "LÖ"} <= plates.districts()


# --- person names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Herr Müller hat wegen seines Antrags angerufen.", ["Müller"]),
        ("Bitte an Frau Dr. Schneider im Bürgeramt weiterleiten.", ["Schneider"]),
        ("Herrn Jan Schmidt, Hauptstraße 5", ["Jan Schmidt"]),
        ("Sehr geehrte Frau Prof. Dr. Anna-Lena Weber-Krause,", ["Anna-Lena Weber-Krause"]),
        ("Dr. Yilmaz hat die Krankschreibung ausgestellt.", ["Yilmaz"]),
        ("Mr. Smith and Mrs Jones met Ms. Clara Fischer.", ["Smith", "Jones", "Clara Fischer"]),
        ("Frau Ministerin Schulze eröffnet das Jobcenter.", ["Schulze"]),
        ("Der Kunde Herr Özdemir wartet am Schalter.", ["Özdemir"]),
        ("Können Sie Frau Müller Bescheid geben?", ["Müller"]),
        ("An\nHerrn\nKarl-Heinz Brandner\nAmtsweg 1", ["Karl-Heinz Brandner"]),
        ("Sehr geehrter Herr von Weizsäcker,", ["von Weizsäcker"]),
    ],
)
def test_names_after_salutations_and_titles(text: str, expected: list[str]) -> None:
    assert spans(PERSON, text, e.PERSON) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Maria Kowalski und Thomas Meier haben den Antrag gestellt.",
            ["Maria Kowalski", "Thomas Meier"],
        ),
        ("Versicherte: laut Akte ist Ayşe Demir seit 2019 Mitglied.", ["Ayşe Demir"]),
        ("Sergej Iwanow hat die Stromrechnung bezahlt.", ["Sergej Iwanow"]),
        ("Ich habe mit Anna Maria Schmidt gesprochen.", ["Anna Maria Schmidt"]),
        ("Giuseppe Rossi from accounting called.", ["Giuseppe Rossi"]),
        ("Ursula von der Leyen sprach.", ["Ursula von der Leyen"]),
        ("Müller, Thomas (Sachbearbeiter)", ["Müller, Thomas"]),
        ("Will Smith rief an.", ["Will Smith"]),
        ("Bürgermeister Reiter eröffnet die Sitzung.", ["Reiter"]),
    ],
)
def test_listed_first_names_with_surnames(text: str, expected: list[str]) -> None:
    assert spans(PERSON, text, e.PERSON) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Guten Tag, mein Name ist Hans Peter Gruber.", ["Hans Peter Gruber"]),
        ("Hallo, ich heiße Ayşe Demir und brauche Hilfe.", ["Ayşe Demir"]),
        ("Hi, my name is John Doe.", ["John Doe"]),
        ("Name: Lukas Brandner\nGeburtsdatum: 01.02.1990", ["Lukas Brandner"]),
        ("Nachname: MÜLLER, Vorname: ANNA", ["MÜLLER", "ANNA"]),
        ('{"name": "Zoltán Horváth", "plz": "80331"}', ["Zoltán Horváth"]),
        ("Mit freundlichen Grüßen\nAnna Becker", ["Anna Becker"]),
        ("Viele Grüße,\n\nKowalski", ["Kowalski"]),
        ("Best regards,\nJohn Smith\nCustomer Support", ["John Smith"]),
        ("Mit freundlichen Grüßen\ni. A. Tobias Quast, Sachbearbeiter", ["Tobias Quast"]),
    ],
)
def test_names_in_introductions_labels_and_signatures(text: str, expected: list[str]) -> None:
    assert spans(PERSON, text, e.PERSON) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Die Frau am Schalter war sehr freundlich.",
        "Ich hatte Angst, weil die Frau Angst hatte.",
        "Ich gebe Anna Bescheid.",
        "Sehr geehrte Damen und Herren, anbei die Unterlagen.",
        "Die Stadtwerke München haben die Rechnung geschickt.",
        "Viele Grüße\nIhr Bürgeramt",
        "Mit freundlichen Grüßen\nIhre Krankenkasse",
        "Firmenname: Stadtwerke München",
        "Wohnhaft in der Thomas-Mann-Straße 5",
        "Will Power ist ein Buch.",
        "Im August Termin beim Jobcenter",
        "Frau Doktor, die Versicherung zahlt nicht.",
        "Der Termin ist am Montag im Bürgeramt.",
    ],
)
def test_no_person_in_ordinary_capitalised_german(text: str) -> None:
    assert spans(PERSON, text, e.PERSON) == []


def test_scores_rank_the_evidence() -> None:
    def score(text: str) -> float:
        (result,) = PERSON.analyze(text, [e.PERSON], None)
        return result.score

    assert score("Maria Kowalski") == pytest.approx(persons.LISTED)
    assert score("Herr Quast") == pytest.approx(persons.TITLED)
    assert score("Anna Blumenthal") == pytest.approx(persons.FIRST_NAME)
    assert persons.LISTED > persons.TITLED > persons.FIRST_NAME >= 0.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mein Mann Chinedu Demir ist verstorben.", ["Chinedu Demir"]),
        ("Meine Tochter Ngozi Okafor (Versichertennummer folgt)", ["Ngozi Okafor"]),
        ("Unser Sohn Rajesh Smith fährt den Wagen.", ["Rajesh Smith"]),
        ("My husband Giorgos von Weizsäcker passed away.", ["Giorgos von Weizsäcker"]),
        ("My wife Amira O'Connor was insured in Spain.", ["Amira O'Connor"]),
        ("For our new colleague Lan Nguyen please create an account.", ["Lan Nguyen"]),
        ("Mein verstorbener Mann Klaus hat das Konto eröffnet.", ["Klaus"]),
        ("Mein Ex-Mann Tobias Quast zahlt keinen Unterhalt.", ["Tobias Quast"]),
        # unlisted names: two name words, or one in English (capitalised mid-sentence)
        ("Meine Tochter Adaora Nwankwo (Versichertennummer folgt)", ["Adaora Nwankwo"]),
        ("My son Oghenekaro has measles.", ["Oghenekaro"]),
        ("meiner Tochter Nachhilfe geben", []),  # German: a noun, not a name
        ("Mein Mann Bescheid sagen", []),
        ("our new colleague Data Protection Officer", []),
        ("Our partner Deutsche Telekom installs the line.", []),  # not a relation here
    ],
)
def test_names_after_relations(text: str, expected: list[str]) -> None:
    assert spans(PERSON, text, e.PERSON) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My husband Oleksandr Kowalski's tax ID is wrong.", ["Oleksandr Kowalski"]),
        ("For our son Hans-Peter Neumann's passport", ["Hans-Peter Neumann"]),
        ("Could you check it, Dr Öztürk?", ["Öztürk"]),
        ("Regards,\nDr Schulze-Wegener\nMobile: 0175 1234567", ["Schulze-Wegener"]),
        ("Prof Weber will sign it.", ["Weber"]),
        ("Thanks,\nDmitri", ["Dmitri"]),
        ("Thank you\nAnna Becker", ["Anna Becker"]),
        ("Please revoke it. Cheers, Rajesh van den Berg", ["Rajesh van den Berg"]),
        ("Beste Grüße\nKwame", ["Kwame"]),
        ("Registration: Giorgos Schäfer, born 01/04/1988", ["Giorgos Schäfer"]),
        ("Anmeldung: Olena Kovalenko, geboren am 3. Mai 1990", ["Olena Kovalenko"]),
        ("Unser Sohn Tomasz Wieczorek (geb. 2015)", ["Tomasz Wieczorek"]),
        ("Sehr geehrter Herr von der Leyen,", ["von der Leyen"]),
    ],
)
def test_possessives_titles_closings_and_birth_dates(text: str, expected: list[str]) -> None:
    assert spans(PERSON, text, e.PERSON) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Ich bin mit den Schulden nicht mehr Herr der Lage.",
        "Er ist der Herr des Hauses.",
        "Der Herr an der Hotline sagte, die Störung sei behoben.",
        "Ich wurde in Berlin geboren.",
        "Neue Anschrift, geboren am 3. Mai 1990",  # no listed name before "geboren"
        "Thanks, Mark it as paid.",
        "Grant me a discount, please!",
        "Danke für Ihre Hilfe.",
        "LAN Kabel und WLAN-Router",
    ],
)
def test_no_person_in_idioms_and_look_alikes(text: str) -> None:
    assert spans(PERSON, text, e.PERSON) == []


def test_name_lists_cover_the_origins_met_in_german_offices() -> None:
    lists = persons.name_lists()
    assert {"Kwame", "Dmytro", "Thiago", "Oluwaseun", "Nikolaos"} <= lists.first
    assert {"Papadopoulou", "Gonçalves", "Nowak", "Yilmaz"} <= lists.surnames
    assert {"Long", "Mai"} <= lists.ambiguous  # also everyday words
    assert not lists.first & lists.ambiguous


# --- licence plates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "score"),
    [
        ("Das Fahrzeug M-AB 1234 parkt im Halteverbot.", "M-AB 1234", plates.HYPHEN_KNOWN),
        ("B-XY 12 wurde abgeschleppt", "B-XY 12", plates.HYPHEN_KNOWN),
        ("Elektroauto HH-A 1E", "HH-A 1E", plates.HYPHEN_KNOWN),
        ("Oldtimer mit KA-AB 123H", "KA-AB 123H", plates.HYPHEN_KNOWN),
        ("Kennzeichen: LÖ-XY 99", "LÖ-XY 99", plates.HYPHEN_KNOWN),
        ("Mein Auto hat das Kennzeichen M AB 1234.", "M AB 1234", plates.CONTEXT_KNOWN),
        ("amtliches Kennzeichen S-AB1234", "S-AB1234", plates.HYPHEN_KNOWN),
        ("Parkausweis für den Pkw XQ-AB 12", "XQ-AB 12", plates.CONTEXT_UNKNOWN),
        ("The vehicle with licence plate K AB 123 was towed.", "K AB 123", plates.CONTEXT_KNOWN),
        ("My own plate is D SH 5467H, policy 17.", "D SH 5467H", plates.CONTEXT_KNOWN),
        ("Plate DD NN 425.", "DD NN 425", plates.CONTEXT_KNOWN),
        ("Our car, TÜ U 8999, was towed.", "TÜ U 8999", plates.CONTEXT_KNOWN),
        ("Registration MD TE 6542E", "MD TE 6542E", plates.CONTEXT_KNOWN),
    ],
)
def test_plates(text: str, expected: str, score: float) -> None:
    results = PLATE.analyze(text, [e.DE_LICENSE_PLATE], None)
    assert [(text[r.start : r.end], r.score) for r in results] == [(expected, score)]


@pytest.mark.parametrize(
    "text",
    [
        "Wir erstatten bis zu 200 Euro.",
        "Bitte AB 12 Stück bestellen.",
        "m-ab 1234 in Kleinbuchstaben",
        "M AB 1234 ohne jeden Hinweis",
        "XQ-AB 12 ohne Kontext und ohne bekannten Kreis",
        "Leistungen nach SGB II 12 Monate lang",
        "gemäß EU-VO 2016/679 (DSGVO)",
        "ABCD-AB 123 ist zu lang",
        "IBAN DE89 3704 0044 0532 0130 00, Kfz-Steuer",
        "Kennzeichen M-ABC 1234 hat drei Buchstaben",
        "Fahrzeug B-AB 12345 hat zu viele Ziffern",
        "Kfz M-AB 0123 mit führender Null",
        "A plateau at D SH 5467 metres",  # "plate" only as a word
    ],
)
def test_no_plate_in_prose_or_malformed_plates(text: str) -> None:
    assert spans(PLATE, text, e.DE_LICENSE_PLATE) == []
