"""German text banks and the synthetic-text builder the workloads draw their prompts from.

Everything here is invented: no names, addresses or case numbers of real people. The texts are
German because our users' are, and German costs more tokens per character than English on
every tokenizer we serve, so an English corpus would understate prompt lengths.

Prompt lengths are approximated in characters (see ``workloads.CHARS_PER_TOKEN``); the builder
joins randomly chosen sentences until it reaches the target, so two prompts of the same length
differ after their first sentence or two and the prefix cache only helps where the workload
really shares a prefix (the system prompts, a chat session's history).
"""

from __future__ import annotations

import random

CONTACT_SYSTEM_PROMPT = (
    "Du bist der Assistent für die Servicemitarbeiterinnen und Servicemitarbeiter im "
    "Kundencenter eines Energieversorgers. Du liest das laufende Gespräch mit und schlägst "
    "der Mitarbeiterin oder dem Mitarbeiter die nächste Antwort vor. Antworte auf Deutsch, "
    "höflich, sachlich und kurz: höchstens drei Sätze. Nenne keine Tarife, Preise oder "
    "Fristen, die nicht im Gespräch stehen, und gib niemals Zählerstände, Bankverbindungen "
    "oder andere persönliche Daten wieder."
)

CONTACT_CUSTOMER_LINES = (
    "Kunde: Meine letzte Abschlagszahlung ist viel höher als sonst, woran liegt das?",
    "Kunde: Ich ziehe nächsten Monat um und möchte meinen Vertrag mitnehmen.",
    "Kunde: Seit gestern Abend haben wir in der ganzen Straße keinen Strom mehr.",
    "Kunde: Ich habe eine Mahnung bekommen, obwohl ich pünktlich überwiesen habe.",
    "Kunde: Können Sie mir sagen, wann der Zähler abgelesen wird?",
    "Kunde: Ich möchte auf Ökostrom wechseln, was muss ich dafür tun?",
    "Kunde: Die Rechnung ist an die alte Adresse gegangen.",
    "Kunde: Ich verstehe die Jahresabrechnung nicht, da stehen zwei Zählernummern drauf.",
    "Kunde: Kann ich den Abschlag senken? Wir sind jetzt nur noch zu zweit im Haushalt.",
    "Kunde: Das ist jetzt schon das dritte Mal, dass ich hier anrufe.",
    "Kunde: Ich habe eine Wärmepumpe installiert, gibt es dafür einen eigenen Tarif?",
    "Kunde: Wie lange dauert es, bis die Gutschrift auf meinem Konto ist?",
)

CONTACT_AGENT_LINES = (
    "Agent: Das tut mir leid, ich schaue mir Ihr Kundenkonto gleich einmal genauer an.",
    "Agent: Vielen Dank für die Geduld, ich habe die Abrechnung jetzt vor mir.",
    "Agent: Dafür benötige ich bitte noch Ihre Vertragsnummer oder die Zählernummer.",
    "Agent: Ich sehe hier, dass der Abschlag im Frühjahr angepasst wurde.",
    "Agent: Einen Moment bitte, ich frage kurz bei der Fachabteilung nach.",
    "Agent: Der Umzug lässt sich online oder direkt hier am Telefon melden.",
    "Agent: Die Störung ist uns bekannt, ein Techniker ist bereits unterwegs.",
    "Agent: Die Mahnung wurde automatisch erstellt, bevor Ihre Zahlung gebucht war.",
)

CITIZEN_SYSTEM_PROMPT = (
    "Du bist der digitale Bürgerservice einer mittelgroßen deutschen Stadt. Du beantwortest "
    "Fragen zu Dienstleistungen der Stadtverwaltung: Bürgeramt, Standesamt, "
    "Kfz-Zulassungsstelle, Abfallwirtschaft, Bauamt, Kindertagesstätten und Sozialleistungen. "
    "Antworte auf Deutsch, in einfacher und verständlicher Sprache, ohne Fachjargon. Nenne, "
    "welche Unterlagen gebraucht werden, ob ein Termin nötig ist, was die Leistung kostet und "
    "ob sie online erledigt werden kann. Wenn du etwas nicht sicher weißt, sag das und "
    "verweise auf das Bürgertelefon oder die Internetseite der Stadt. Frage nie nach "
    "persönlichen Daten wie Namen, Geburtsdatum, Adresse oder Steuer-Identifikationsnummer, "
    "und gib keine Rechtsberatung. Halte Antworten kurz und gliedere sie bei mehreren "
    "Schritten als Liste."
)

# Accusative phrases, so that every opener reads "... {service} beantragen" correctly.
CITIZEN_SERVICES = (
    "einen neuen Personalausweis",
    "einen Reisepass",
    "einen Anwohnerparkausweis",
    "ein erweitertes Führungszeugnis",
    "Wohngeld",
    "einen Kita-Platz",
    "eine Baugenehmigung für einen Wintergarten",
    "eine Gewerbeanmeldung",
    "eine Geburtsurkunde",
    "die Zulassung für ein gebrauchtes Auto",
    "einen Termin beim Standesamt für die Eheschließung",
    "die Befreiung von der Hundesteuer",
)

CITIZEN_OPENERS = (
    "Guten Tag, wie kann ich {service} beantragen?",
    "Hallo, ich brauche {service}. Was muss ich tun?",
    "Ich bin neu in der Stadt und möchte {service} beantragen. Wo fange ich an?",
    "Kann ich {service} auch online beantragen oder muss ich ins Rathaus kommen?",
    "Meine Mutter ist schon älter und braucht {service}. Kann ich das für sie erledigen?",
    "Was kostet es, {service} zu beantragen, und wie lange dauert das?",
    "Wie melde ich meinen Wohnsitz um? Ich bin innerhalb der Stadt umgezogen.",
    "Wann wird bei uns in der Straße der Sperrmüll abgeholt und wie melde ich ihn an?",
)

CITIZEN_FOLLOW_UPS = (
    "Welche Unterlagen muss ich dafür mitbringen?",
    "Brauche ich vorher einen Termin, und wie bekomme ich den?",
    "Was kostet das genau?",
    "Wie lange dauert es, bis ich eine Antwort bekomme?",
    "Kann ich das auch ohne Online-Ausweis digital erledigen?",
    "Was passiert, wenn ich die Frist verpasse?",
    "Gilt das auch, wenn ich keine deutsche Staatsangehörigkeit habe?",
    "Kann jemand anderes das mit einer Vollmacht für mich abholen?",
    "Gibt es eine Ermäßigung für Menschen mit geringem Einkommen?",
    "Welche Öffnungszeiten hat das Bürgeramt am Samstag?",
    "Und was ist, wenn ich gerade längere Zeit im Ausland bin?",
    "Können Sie mir das noch einmal in kurzen Schritten zusammenfassen?",
    "Muss ich dafür persönlich erscheinen oder reicht ein Brief?",
    "Wo finde ich das Formular dafür?",
)

SUMMARY_SYSTEM_PROMPT = (
    "Fasse das folgende Dokument für die Geschäftsleitung zusammen: höchstens fünf "
    "Stichpunkte, dann eine Zeile mit offenen Punkten und Verantwortlichen. Keine Wertungen, "
    "keine Informationen, die nicht im Dokument stehen."
)

SUMMARY_SENTENCES = (
    "Die Anlage 3 in Halle B lief im Berichtszeitraum mit einer Verfügbarkeit von 94 Prozent.",
    "Der ungeplante Stillstand am Dienstag wurde durch einen defekten Drucksensor verursacht.",
    "Die Instandhaltung empfiehlt, die Sensoren der Baureihe künftig vorbeugend zu tauschen.",
    "Die Ersatzteile sind beim Lieferanten bestellt, die Lieferzeit beträgt sechs Wochen.",
    "Im Qualitätsaudit wurden zwei Abweichungen in der Dokumentation festgestellt.",
    "Die Prüfanweisung für die Endkontrolle ist veraltet und muss überarbeitet werden.",
    "Der Energieverbrauch je gefertigtem Teil ist gegenüber dem Vorquartal um vier Prozent "
    "gesunken.",
    "Die Schichtplanung für das vierte Quartal ist mit dem Betriebsrat abgestimmt.",
    "Zwei Auszubildende haben ihre Abschlussprüfung mit gutem Ergebnis bestanden.",
    "Der Kunde hat eine Reklamation zu Lieferung 17 eingereicht, die Prüfung läuft noch.",
    "Die Umstellung des Lagerverwaltungssystems ist für den ersten Februar geplant.",
    "Für die Schulung der Mitarbeitenden werden zwei zusätzliche Termine benötigt.",
    "Die Kosten für Fremdleistungen liegen acht Prozent über dem Budget.",
    "Der Arbeitsschutzausschuss hat die Gefährdungsbeurteilung für Halle C freigegeben.",
    "Die Inbetriebnahme der neuen Lackieranlage verzögert sich um voraussichtlich drei Wochen.",
    "Die Ausschussquote an Linie 2 ist nach der Umrüstung wieder unter einem Prozent.",
    "Der Rahmenvertrag mit dem Logistikdienstleister läuft zum Jahresende aus.",
    "Die IT-Abteilung weist darauf hin, dass die Steuerungsrechner ein Sicherheitsupdate "
    "benötigen.",
    "Die Kundenzufriedenheit im Service ist in der letzten Befragung leicht gestiegen.",
    "Für das Projekt zur Wärmerückgewinnung liegt ein Förderbescheid in Aussicht.",
    "Die Wartungsintervalle der Kompressoren werden von drei auf vier Monate verlängert.",
    "Offene Punkte aus der letzten Sitzung wurden bis auf die Budgetfreigabe erledigt.",
)


def synthetic_text(rng: random.Random, sentences: tuple[str, ...], target_chars: int) -> str:
    """Random sentences from ``sentences`` joined to about ``target_chars`` characters.

    Cut back to a word boundary at the target, so the length is within one word of it.
    """
    if target_chars <= 0:
        return ""
    parts: list[str] = []
    length = 0
    while length < target_chars:
        sentence = rng.choice(sentences)
        parts.append(sentence)
        length += len(sentence) + 1
    return _cut(" ".join(parts), target_chars)


def dialogue(rng: random.Random, target_chars: int) -> str:
    """A synthetic call transcript, customer and agent taking turns, about ``target_chars`` long."""
    lines: list[str] = []
    length = 0
    customer = True
    while length < target_chars:
        line = rng.choice(CONTACT_CUSTOMER_LINES if customer else CONTACT_AGENT_LINES)
        lines.append(line)
        length += len(line) + 1
        customer = not customer
    return _cut("\n".join(lines), target_chars)


def citizen_opener(rng: random.Random) -> str:
    return rng.choice(CITIZEN_OPENERS).format(service=rng.choice(CITIZEN_SERVICES))


def citizen_follow_ups(rng: random.Random, count: int) -> list[str]:
    """``count`` different follow-up questions: a citizen does not ask the same thing twice."""
    return rng.sample(CITIZEN_FOLLOW_UPS, min(count, len(CITIZEN_FOLLOW_UPS)))


def _cut(text: str, target_chars: int) -> str:
    """``text`` cut back to the last word boundary at or before ``target_chars``."""
    if len(text) <= target_chars:
        return text
    cut = max(text.rfind(" ", 0, target_chars + 1), text.rfind("\n", 0, target_chars + 1))
    return text[: cut if cut > 0 else target_chars]
