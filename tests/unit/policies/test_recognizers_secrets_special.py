"""policies.recognizers.credentials and .special: credentials and GDPR Art. 9 special categories.

All keys and tokens below are made up (or vendors' documented examples); none is live.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
from typing import Protocol

import pytest
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies import entities as e
from policies.recognizers import credentials, special


class Recognizer(Protocol):
    """What the tests call: our recognizers accept ``nlp_artifacts=None``."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]: ...


def spans(recognizer: Recognizer, text: str, entities: list[str]) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, entities, None)]


def typed(recognizer: Recognizer, text: str) -> list[tuple[str, str]]:
    results = recognizer.analyze(text, sorted(e.SPECIAL_CATEGORIES), None)
    return [(r.entity_type, text[r.start : r.end]) for r in results]


SECRET = credentials.SecretRecognizer()
SPECIAL = special.SpecialCategoryRecognizer()

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA1c2xyz0123456789abcdefABCDEF\n"
    "QWERTYuiop0987654321asdfghJKL==\n"
    "-----END RSA PRIVATE KEY-----"
)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_recognizers_are_fresh_german_instances() -> None:
    assert credentials.recognizers()[0] is not credentials.recognizers()[0]
    assert special.recognizers()[0] is not special.recognizers()[0]
    assert SECRET.supported_language == SPECIAL.supported_language == "de"
    assert SECRET.supported_entities == [e.SECRET]
    assert set(SPECIAL.supported_entities) == e.SPECIAL_CATEGORIES


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Mein Key: sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz12345 geht nicht",
            "sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz12345",
        ),
        ("OPENAI_API_KEY=sk-Ab3dEf6hIj9kLmN0pQrStUvWxYz1234", "sk-Ab3dEf6hIj9kLmN0pQrStUvWxYz1234"),
        (
            "claude: sk-ant-api03-AbCdEf0123456789XyZabcdefghij-klmn",
            "sk-ant-api03-AbCdEf0123456789XyZabcdefghij-klmn",
        ),
        (
            "git clone with ghp_abcdefghijklmnopqrstuvwxyzABCDEF123456",
            "ghp_abcdefghijklmnopqrstuvwxyzABCDEF123456",
        ),
        (
            "token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz ok",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        ),
        ("AWS key id AKIAIOSFODNN7EXAMPLE in der Config", "AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("Slack: xoxb-1234567890-abcdefghijkl", "xoxb-1234567890-abcdefghijkl"),
        (
            "maps key AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ),
        (
            "Stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc und rk_live_",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ),
        ("Authorization: Bearer abcDEF123456ghiJKL789", "abcDEF123456ghiJKL789"),
        (f"Authorization: Bearer {JWT}", JWT),
        (f"Hier der Schlüssel:\n{PEM}\nDanke!", PEM),
        ("api_key=9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
        ('{"client_secret": "Zx9Qw8Er7Ty6Ui5Op4As"}', "Zx9Qw8Er7Ty6Ui5Op4As"),
        ("Mein Passwort lautet Sommer2024!", "Sommer2024!"),
        ("Passwort: Geheim#2024 (bitte ändern)", "Geheim#2024"),
        ("DB_PASSWORD='Tr0ub4dor&3xyz'", "Tr0ub4dor&3xyz"),
        ("DSN postgres://app:s3cr3t-Pw@db.intern:5432/akten", "s3cr3t-Pw"),
    ],
)
def test_secrets(text: str, expected: str) -> None:
    results = SECRET.analyze(text, [e.SECRET], None)
    assert [text[r.start : r.end] for r in results] == [expected]
    assert all(0.9 <= r.score <= 1.0 for r in results)


def test_a_truncated_private_key_runs_to_the_end_of_its_base64_lines() -> None:
    head = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
    assert spans(SECRET, f"Key:\n{head}\nDanke", [e.SECRET]) == [head]


@pytest.mark.parametrize(
    "text",
    [
        "Ich habe mein Passwort vergessen, bitte zurücksetzen.",
        "Das Passwort ist abgelaufen.",
        "password: ********",
        "Der Token ist ungültig, token: abcdefghijklmnop",
        "Wir nutzen scikit-learn und sk-learn.",
        "Der Bearer des Schecks ist unbekannt.",
        "Das Geheimnis (secret) bleibt unter uns.",
        "Die Task-ID lautet task-2024-000117 für das Ticket.",
        "Secretary: Anna Becker",
        "Siehe https://www.stadt-muenchen.de/buergerbuero:termine und http://localhost:8080/",
    ],
)
def test_no_secret_in_ordinary_talk_about_passwords_and_tokens(text: str) -> None:
    assert spans(SECRET, text, [e.SECRET]) == []


def test_entropy_and_randomness_checks() -> None:
    assert credentials.entropy("aaaa") == 0.0
    assert credentials.entropy("abcd") == pytest.approx(2.0)
    assert credentials.looks_random("9f8e7d6c5b4a39281706f5e4d3c2b1a0")
    assert not credentials.looks_random("abcdefghijklmnop")  # one class
    assert not credentials.looks_random("Ab1Ab1Ab1Ab1Ab1Ab1")  # too repetitive


# --- special categories --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Ich habe Diabetes und bin als Diabetespatientin in Behandlung.",
            [(e.HEALTH, "Diabetes"), (e.HEALTH, "Diabetespatientin")],
        ),
        (
            "Nach der Krebsdiagnose kam Brustkrebs dazu.",
            [(e.HEALTH, "Krebsdiagnose"), (e.HEALTH, "Brustkrebs")],
        ),
        ("Meine Frau ist schwanger.", [(e.HEALTH, "schwanger")]),
        ("Er ist HIV-positiv.", [(e.HEALTH, "HIV-positiv")]),
        ("Ich nehme Insulin und Metformin.", [(e.HEALTH, "Insulin"), (e.HEALTH, "Metformin")]),
        (
            "Ich bin krankgeschrieben, die Arbeitsunfähigkeitsbescheinigung kommt per Post.",
            [(e.HEALTH, "krankgeschrieben"), (e.HEALTH, "Arbeitsunfähigkeitsbescheinigung")],
        ),
        (
            "Wegen Burn-out und Depressionen in Therapie",
            [(e.HEALTH, "Burn-out"), (e.HEALTH, "Depressionen"), (e.HEALTH, "Therapie")],
        ),
        (
            "Mein Sohn hat ADHS und eine Schwerbehinderung.",
            [(e.HEALTH, "ADHS"), (e.HEALTH, "Schwerbehinderung")],
        ),
        (
            "I am pregnant and have a disability.",
            [(e.HEALTH, "pregnant"), (e.HEALTH, "disability")],
        ),
        (
            "Ich bin katholisch, er ist jüdisch, sie geht in die Moschee.",
            [(e.RELIGION, "katholisch"), (e.RELIGION, "jüdisch"), (e.RELIGION, "Moschee")],
        ),
        ("Ich möchte den Kirchenaustritt erklären.", [(e.RELIGION, "Kirchenaustritt")]),
        ("juedische Gemeinde Berlin", [(e.RELIGION, "juedische")]),
        ("Ich bin Mitglied der SPD.", [(e.POLITICAL_OPINION, "Mitglied der SPD")]),
        (
            "Er ist CDU-Mitglied und wählt die Grünen nicht.",
            [(e.POLITICAL_OPINION, "CDU-Mitglied"), (e.POLITICAL_OPINION, "wählt die Grünen")],
        ),
        (
            "She is a party member and voted for Labour.",
            [(e.POLITICAL_OPINION, "party member"), (e.POLITICAL_OPINION, "voted for Labour")],
        ),
        (
            "Ich bin in der Gewerkschaft, ver.di-Mitglied und bei der IG Metall.",
            [
                (e.TRADE_UNION, "Gewerkschaft"),
                (e.TRADE_UNION, "ver.di-Mitglied"),
                (e.TRADE_UNION, "IG Metall"),
            ],
        ),
        ("He is a union member.", [(e.TRADE_UNION, "union member")]),
        (
            "Er ist schwul, sie ist lesbisch.",
            [(e.SEXUAL_ORIENTATION, "schwul"), (e.SEXUAL_ORIENTATION, "lesbisch")],
        ),
        ("my sexual orientation is private", [(e.SEXUAL_ORIENTATION, "sexual orientation")]),
        (
            "Familie mit Migrationshintergrund, türkischstämmig",
            [(e.ETHNIC_ORIGIN, "Migrationshintergrund"), (e.ETHNIC_ORIGIN, "türkischstämmig")],
        ),
        ("Beratung für Sinti und Roma", [(e.ETHNIC_ORIGIN, "Sinti und Roma")]),
        (
            "Ein Gentest zeigte eine BRCA1-Mutation.",
            [(e.GENETIC, "Gentest"), (e.GENETIC, "BRCA1-Mutation")],
        ),
        (  # an Erbkrankheit is genetic and a health matter
            "Die DNA-Analyse ergab eine Erbkrankheit.",
            [(e.GENETIC, "DNA-Analyse"), (e.GENETIC, "Erbkrankheit"), (e.HEALTH, "Erbkrankheit")],
        ),
        (
            "Entsperren per Fingerabdruck oder Gesichtserkennung",
            [(e.BIOMETRIC, "Fingerabdruck"), (e.BIOMETRIC, "Gesichtserkennung")],
        ),
        ("We use facial recognition at the gate.", [(e.BIOMETRIC, "facial recognition")]),
    ],
)
def test_special_category_words_and_phrases(text: str, expected: list[tuple[str, str]]) -> None:
    assert typed(SPECIAL, text) == expected
    assert all(
        0.6 <= r.score <= 0.85 for r in SPECIAL.analyze(text, sorted(e.SPECIAL_CATEGORIES), None)
    )


@pytest.mark.parametrize(
    "text",
    [
        "Meine Krankenkasse hat mir geschrieben.",
        "Die Vertragspartei hat unterschrieben.",
        "Der Betriebsrat tagt am Montag.",
        "Die Verhandlungen gehen im Krebsgang voran.",
        "Ich habe das Formular genommen und teilgenommen.",
        "Störung im Netz der Stadtwerke, Verkehrsbehinderung auf der A9",
        "Wir waren im Grünen spazieren.",
        "Er ist stämmig und groß.",
        "Die Partei des Vertrags ist die Stadt.",
        "Der Tarifvertrag gilt ab Januar.",
        "Wegen der Covid-19-Pandemie ist das Bürgeramt geschlossen.",
        "The hearing aids are covered by the insurance.",
        "Bitte die Diagnose des Fehlers im Zählerschrank prüfen",
    ],
)
def test_no_special_category_in_everyday_language(text: str) -> None:
    results = SPECIAL.analyze(text, sorted(e.SPECIAL_CATEGORIES), None)
    assert [(r.entity_type, text[r.start : r.end], r.score) for r in results if r.score > 0.6] == []


def test_only_the_asked_categories_are_reported() -> None:
    text = "Ich bin katholisch und habe Diabetes."
    assert typed(SPECIAL, text) == [(e.RELIGION, "katholisch"), (e.HEALTH, "Diabetes")]
    assert spans(SPECIAL, text, [e.HEALTH]) == ["Diabetes"]
    assert spans(SPECIAL, text, [e.PERSON]) == []


def test_list_entries_index_words_stems_compounds_and_phrases() -> None:
    lex = special.Lexicon()
    lex.add("diabet*", e.HEALTH)
    lex.add("*krebs @0.7", e.HEALTH)
    lex.add("=HIV", e.HEALTH)
    lex.add("mitglied der (spd|cdu)", e.POLITICAL_OPINION)
    assert lex.word_hits("diabetespatientin") == [(e.HEALTH, 0.75)]
    assert lex.word_hits("brustkrebs") == [(e.HEALTH, 0.7)]
    assert lex.word_hits("krebs") == []  # a compound stem needs something before it
    assert lex.cased["HIV"] == [(e.HEALTH, 0.75)]
    assert lex.starts["mitglied"] == [0]
    with pytest.raises(ValueError, match="stem"):
        lex.add("ab*", e.HEALTH)
    with pytest.raises(ValueError, match="phrase"):
        lex.add("hospitali(s|z)ed now", e.HEALTH)
