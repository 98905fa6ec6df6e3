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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Unser API-Key glpat-Xy12abCD34efGH56ijKL ist in einem Repo gelandet.",
            "glpat-Xy12abCD34efGH56ijKL",
        ),
        ("Runner: glrt-t1_Ab3dEf6hIj9kLmN0pQrS.", "glrt-t1_Ab3dEf6hIj9kLmN0pQrS"),
        ("Deploy gldt-Ab3dEf6hIj9kLmN0pQrStUv", "gldt-Ab3dEf6hIj9kLmN0pQrStUv"),
    ],
)
def test_gitlab_tokens(text: str, expected: str) -> None:
    results = SECRET.analyze(text, [e.SECRET], None)
    assert [(text[r.start : r.end], r.score) for r in results] == [(expected, 1.0)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The API key 9f8e7d6c5b4a39281706f5e4d3c2b1a0 hits the rate limit.",
            "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        ),
        (
            "Der API-Schlüssel 9F8E7D6C5B4A39281706F5E4D3C2B1A0 geht nicht mehr.",
            "9F8E7D6C5B4A39281706F5E4D3C2B1A0",
        ),
        ("Mein Token Zx9Qw8Er7Ty6Ui5Op4As, bitte sperren", "Zx9Qw8Er7Ty6Ui5Op4As"),
        ("access key 9f8e7d6c5b4a39281706f5e4d3c2b1a0.", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ],
)
def test_a_random_value_right_after_a_key_word(text: str, expected: str) -> None:
    results = SECRET.analyze(text, [e.SECRET], None)
    assert [(text[r.start : r.end], r.score) for r in results] == [(expected, 0.85)]


@pytest.mark.parametrize(
    "text",
    [
        "The API key rotation is planned for Monday.",
        "Token abgelaufen, bitte neu anmelden.",
        "Der Schlüssel 12 liegt beim Hausmeister.",
        "Gemeindeschlüssel 09162000 (München)",
        "Schlüssel DieserSchlüsselIstLang",  # letters only: a word, not a key
        "Der Token ist abgelaufen.",
    ],
)
def test_no_secret_after_a_key_word_without_a_random_value(text: str) -> None:
    assert spans(SECRET, text, [e.SECRET]) == []


def test_a_bearer_token_ends_before_the_full_stop() -> None:
    text = "Authorization: Bearer abcDEF123456ghiJKL789."
    assert spans(SECRET, text, [e.SECRET]) == ["abcDEF123456ghiJKL789"]


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
        (  # "Therapie" is a topic word: the diagnoses state the fact
            "Wegen Burn-out und Depressionen in Therapie",
            [(e.HEALTH, "Burn-out"), (e.HEALTH, "Depressionen")],
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
            "Ich bin in der Gewerkschaft, ver.di-Mitglied und Mitglied der IG Metall.",
            [
                (e.TRADE_UNION, "Gewerkschaft"),
                (e.TRADE_UNION, "ver.di-Mitglied"),
                (e.TRADE_UNION, "Mitglied der IG Metall"),
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
    ("text", "expected"),
    [
        ("Meine Tochter hat Windpocken.", "Windpocken"),
        ("In der Kita wurde Norovirus nachgewiesen.", "Norovirus"),
        ("Bekomme ich wegen Ringelröteln ein Beschäftigungsverbot?", "Ringelröteln"),
        ("My son has measles.", "measles"),
        ("I was told I have high blood pressure.", "high blood pressure"),
        ("She has rheumatoid arthritis.", "rheumatoid arthritis"),
        ("My father had Parkinson's disease.", "Parkinson's disease"),
        ("My mother has ovarian cancer.", "ovarian cancer"),
        ("I am HIV positive.", "HIV positive"),
        ("Ich habe Diabetes Typ 2.", "Diabetes Typ 2"),
        ("I have type 1 diabetes.", "type 1 diabetes"),
        ("Er hat Morbus Bechterew.", "Morbus Bechterew"),
        ("Mein Vater hatte Chorea Huntington.", "Chorea Huntington"),
        ("Wegen COPD brauche ich Sauerstoff.", "COPD"),
        ("Ich habe einen Bandscheibenvorfall.", "Bandscheibenvorfall"),
        ("I have a slipped disc.", "slipped disc"),
        ("Seit der Infektion habe ich Long Covid.", "Long Covid"),
        ("Mein Sohn hat das Down-Syndrom.", "Down-Syndrom"),
        ("Ich nehme Sertralin.", "Sertralin"),
        ("Ich bin seit Monaten in Therapie.", "Therapie"),  # a topic word alone counts
        ("Attached is the physiotherapy invoice.", "physiotherapy"),
        ("I am disabled and need step-free access.", "disabled"),
        ("Vorerkrankungen: keine", "keine"),  # a form value, even "none", is health data
    ],
)
def test_health_conditions_treatments_and_infections(text: str, expected: str) -> None:
    assert spans(SPECIAL, text, [e.HEALTH]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the membership, vote or support words join the party or union
        ("I am a member of the SPD.", [(e.POLITICAL_OPINION, "member of the SPD")]),
        ("Ich war in der Türkei Mitglied der HDP.", [(e.POLITICAL_OPINION, "Mitglied der HDP")]),
        ("Er ist Mitglied bei den Grünen.", [(e.POLITICAL_OPINION, "Mitglied bei den Grünen")]),
        (
            "Sie ist Mitglied der Freien Wähler.",
            [(e.POLITICAL_OPINION, "Mitglied der Freien Wähler")],
        ),
        ("She is a Green Party member.", [(e.POLITICAL_OPINION, "Green Party member")]),
        ("I voted Conservative last time.", [(e.POLITICAL_OPINION, "voted Conservative")]),
        ("Ich habe die AfD gewählt.", [(e.POLITICAL_OPINION, "AfD gewählt")]),
        ("Da ich Mitglied der EVG bin, ...", [(e.TRADE_UNION, "Mitglied der EVG")]),
        ("As I am a member of Unite, ...", [(e.TRADE_UNION, "member of Unite")]),
        ("I am a member of the GMB union.", [(e.TRADE_UNION, "member of the GMB union")]),
        ("He is an IG Metall member.", [(e.TRADE_UNION, "IG Metall member")]),
        ("Ich bin seit Jahren bei der IG Metall.", [(e.TRADE_UNION, "IG Metall")]),  # confirms
        ("Mein Mann ist bei ver.di organisiert.", [(e.TRADE_UNION, "ver.di")]),
        # a union word without membership is a topic word: it counts only alone
        (
            "Da ich Mitglied der GEW bin, begleitet mich ein Gewerkschaftssekretär.",
            [(e.TRADE_UNION, "Mitglied der GEW")],
        ),
        (
            "As a union member, a union representative comes with me.",
            [(e.TRADE_UNION, "union member")],
        ),
        ("Die IG Metall streikt.", [(e.TRADE_UNION, "IG Metall")]),
        # a party named alone says nothing about anyone
        ("Was plant die SPD bei der Rente?", []),
        ("Die Grünen und die CDU verhandeln.", []),
        ("Labour won the election.", []),
        ("Unite the teams before the release.", []),
        ("Ich bin Mitglied im ADAC.", []),
    ],
)
def test_membership_phrases_join_parties_and_unions(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert typed(SPECIAL, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ich bin uigurischer Herkunft.", "uigurischer Herkunft"),
        ("Meine Familie ist türkischer Abstammung.", "türkischer Abstammung"),
        ("I am of Kurdish origin.", "Kurdish origin"),
        ("I am of Tamil descent.", "Tamil descent"),
        ("Ich bin Angehörige der Hazara.", "Angehörige der Hazara"),
        ("He is of Hazara ethnicity.", "Hazara ethnicity"),
        ("She is ethnically Uyghur.", "ethnically Uyghur"),  # touching findings merge
        ("Wir gehören zur Volksgruppe der Rohingya.", "Volksgruppe der Rohingya"),
        ("Er ist Sinto.", "Sinto"),
        ("Volkszugehörigkeit: kurdisch", "kurdisch"),
    ],
)
def test_ethnic_origin_phrases(text: str, expected: str) -> None:
    assert spans(SPECIAL, text, [e.ETHNIC_ORIGIN]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Das Labor fand eine Mutation im CFTR-Gen.", [(e.GENETIC, "Mutation im CFTR-Gen")]),
        ("A test showed a CFTR gene mutation.", [(e.GENETIC, "CFTR gene mutation")]),
        ("I have a BRCA2 mutation.", [(e.GENETIC, "BRCA2 mutation")]),
        ("My sister carries a gene defect.", [(e.GENETIC, "gene defect")]),
        ("The lab found an elevated genetic risk.", [(e.GENETIC, "elevated genetic risk")]),
        ("Ich habe eine genetische Veranlagung.", [(e.GENETIC, "genetische Veranlagung")]),
        ("We use a genetic algorithm for scheduling.", []),  # an exclusion
        ("CFTR is a gene.", []),  # a gene named alone
        ("My father had Huntington's disease.", [(e.HEALTH, "Huntington's disease")]),
    ],
)
def test_genetic_tests_and_findings(text: str, expected: list[tuple[str, str]]) -> None:
    assert typed(SPECIAL, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Religion: jüdisch, neue Anschrift Hauptstraße 5", ["jüdisch"]),  # not the label
        ("religion: Orthodox Christian, new address", ["Orthodox Christian"]),
        ("Religion: rk, Familienstand: ledig", ["rk"]),  # the value of a form label
        ("Konfession: röm.-kath.", ["röm.-kath."]),
        ("Religion: keine Angabe", []),
        ("Der Religionsunterricht fällt aus.", ["Religionsunterricht"]),  # a topic, alone
        ("I am Christian and was threatened for it.", ["Christian"]),
        ("Ich bin Christin.", ["Christin"]),
        ("I am Christian Weber from Berlin.", []),  # a first name
        ("My payslip still deducts church tax.", ["church tax"]),
        ("Where do I declare that I am leaving the church?", ["leaving the church"]),
        ("Ich bin aus der Kirche ausgetreten.", ["aus der Kirche ausgetreten"]),
        ("The church on Main Street is closed.", []),
        ("She is a practising Roman Catholic.", ["Roman Catholic"]),
    ],
)
def test_religion_words_labels_and_church_membership(text: str, expected: list[str]) -> None:
    assert spans(SPECIAL, text, [e.RELIGION]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a topic word after the fact stays out of its span and goes
        ("Mein Arzt hat Bluthochdruck diagnostiziert und eine Reha empfohlen.", ["Bluthochdruck"]),
        ("I was diagnosed with asthma and my GP recommends rehab.", ["asthma"]),
        ("Antrag auf medizinische Reha", ["Reha"]),  # alone it counts
        ("The disability insurance form asks about pre-existing conditions.", []),
        ("Ich bin HIV-positiv und brauche eine Beratung zur Therapie.", ["HIV-positiv"]),
        ("Three residents tested positive for norovirus.", ["norovirus"]),
    ],
)
def test_topic_words_count_only_without_a_specific_fact(text: str, expected: list[str]) -> None:
    assert spans(SPECIAL, text, [e.HEALTH]) == expected


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
        "Die Diagnose: Netzwerkfehler im Router.",
        "Mein Computer hat einen Computervirus.",
        "Wo finde ich das Gesundheitsamt?",
        "Die Behandlung Ihres Antrags dauert sechs Wochen.",
        "Lebensmittel tierischer Herkunft müssen gekühlt werden.",
        "Country of origin: Germany",
        "The account is disabled until you reset the password.",
        "My freelance clients in the European Union need my VAT ID.",
        "The race condition in the scheduler caused the crash.",
        "Die linke Spur ist gesperrt.",
        "He is a member of the board.",
        "Die Kirche bleibt im Dorf.",
        "Ich glaube, die Rechnung ist falsch.",
        "Mein Flug nach Islamabad geht morgen.",
        "Jean-Baptiste Dupont hat angerufen.",
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


def test_scores_rank_the_evidence() -> None:
    def score(text: str) -> float:
        (result,) = SPECIAL.analyze(text, sorted(e.SPECIAL_CATEGORIES), None)
        return result.score

    assert score("Ich bin Mitglied der SPD.") == pytest.approx(special.AFFIX_SCORE)
    assert score("Ich habe Diabetes.") == pytest.approx(special.DEFAULT_SCORE)
    assert special.AFFIX_SCORE > special.DEFAULT_SCORE > special.ALONE_MIN


def test_list_entries_index_words_stems_compounds_and_phrases() -> None:
    lex = special.Lexicon()
    lex.add("diabet*", e.HEALTH)
    lex.add("*krebs @0.7", e.HEALTH)
    lex.add("=HIV", e.HEALTH)
    lex.add("mitglied der (spd|cdu)", e.POLITICAL_OPINION)
    assert lex.word_hits("diabetespatientin") == [special.Hit(e.HEALTH, 0.75)]
    assert lex.word_hits("brustkrebs") == [special.Hit(e.HEALTH, 0.7)]
    assert lex.word_hits("krebs") == []  # a compound stem needs something before it
    assert lex.cased["HIV"] == [special.Hit(e.HEALTH, 0.75)]
    assert lex.starts["mitglied"] == [0]
    with pytest.raises(ValueError, match="stem"):
        lex.add("ab*", e.HEALTH)
    with pytest.raises(ValueError, match="phrase"):
        lex.add("hospitali(s|z)ed now", e.HEALTH)


def test_list_entry_kinds_affixes_and_reported_parts() -> None:
    lex = special.Lexicon()
    lex.add("~therapie @0.7", e.HEALTH)
    lex.add("+~=GEW @0.6", e.TRADE_UNION)
    lex.add("!genetic algorithm*", e.GENETIC)
    lex.add("religion:", e.RELIGION)
    lex.add("(a|as a) <christian>", e.RELIGION)  # "a" begins two alternatives: indexed once
    lex.add("before: mitglied (der|des)", e.TRADE_UNION)
    lex.add("after: <>organisiert", e.TRADE_UNION)
    assert lex.exact["therapie"] == [special.Hit(e.HEALTH, 0.7, special.GENERIC)]
    assert lex.cased["GEW"] == [special.Hit(e.TRADE_UNION, 0.6, special.NAME | special.GENERIC)]
    assert lex.phrases[0][1] == special.Hit(e.GENETIC, 0.75, special.NEGATIVE)
    assert lex.exact["religion"] == [special.Hit(e.RELIGION, 0.75, special.LABEL)]
    assert "(?P<keep>christian)" in lex.phrases[1][0]
    assert lex.starts["a"] == [1]
    assert lex.before[e.TRADE_UNION] == [r"mitglied[\s-]+(der|des)"]
    assert lex.after[e.TRADE_UNION] == ["(?P<keep>)organisiert"]


@pytest.mark.parametrize(
    "token",
    ["hf_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3h", "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"],
)
def test_hugging_face_and_npm_tokens(token: str) -> None:
    text = f"Secret war {token} - bitte rotieren."
    assert spans(SECRET, text, [e.SECRET]) == [token]
