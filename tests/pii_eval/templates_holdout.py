# ruff: noqa: RUF001 -- German and English typography: en dashes and „quotes“ are meant
"""The HELD-OUT evaluation set's data: sentence templates, people and special-category phrases.

Written without looking at the recognizers or at the development set's failures, so that
``holdout.jsonl`` measures what the tuned analyzer does on text it was not tuned on. Same
syntax as ``templates.py`` (``{slot}`` holes filled by ``generate_holdout.HoldoutFiller``,
``[[text|kind]]`` fixed labelled phrases) and the same span rules (``generate.py``), but other
sentences: tables, lists, labels after values, values in parentheses, chat messages, typos
in the context words, German and English mixed, and five domains the development set lacks
(school and day care, the police's online station, the housing-benefit office, a doctor's
practice, a property manager). The people come from pools disjoint from the development
set's. Data only: the rules live in generate_holdout.py.
"""

from __future__ import annotations

# ---- people: none of these appear in generate.GIVEN / generate.SURNAMES (a test checks) -------
# (given name, female?): origins met in German offices and contact centres.
GIVEN: tuple[tuple[str, bool], ...] = (
    ("Ursula", True), ("Heike", True), ("Brigitte", True), ("Leonie", True), ("Mia", True),
    ("Hannah", True), ("Kübra", True), ("Derya", True), ("Małgorzata", True),
    ("Swetlana", True), ("Iryna", True), ("Rania", True), ("Yasmin", True), ("Berivan", True),
    ("Nour", True), ("Zahra", True), ("Shabnam", True), ("Selam", True), ("Adaeze", True),
    ("Akosua", True), ("Huong", True), ("Xiaoling", True), ("Ananya", True), ("Chiara", True),
    ("Katerina", True), ("Ivana", True), ("Ioana", True), ("Lucía", True), ("Inês", True),
    ("Camille", True), ("Charlotte", True), ("Dragana", True),
    ("Wolfgang", False), ("Gerhard", False), ("Klaus-Dieter", False), ("Maximilian", False),
    ("Finn", False), ("Emre", False), ("Hüseyin", False), ("Wojciech", False),
    ("Bartosz", False), ("Sergej", False), ("Taras", False), ("Bohdan", False),
    ("Khaled", False), ("Mohammed", False), ("Rojhat", False), ("Abdullah", False),
    ("Farid", False), ("Yonas", False), ("Tesfaye", False), ("Emeka", False), ("Kwame", False),
    ("Duc", False), ("Wei", False), ("Arjun", False), ("Francesco", False), ("Dimitrios", False),
    ("Marko", False), ("Nikola", False), ("Andrei", False), ("Alejandro", False),
    ("João", False), ("Étienne", False), ("Oliver", False),
)  # fmt: skip
SURNAMES: tuple[str, ...] = (
    "Bauer", "Koch", "Lehmann", "Krause", "Fuchs", "Sommer", "Lange", "Kühn", "Schumacher",
    "Graf", "Baumgärtner", "Winkler-Haas", "Arslan", "Çelik", "Aydın", "Doğan", "Korkmaz",
    "Wiśniewski", "Lewandowska", "Zieliński", "Wójcik", "Petrow", "Smirnowa", "Kusnezow",
    "Shevchenko", "Bondarenko", "Tkachuk", "Al-Masri", "Abdallah", "El Amrani", "Khalil",
    "Darwish", "Amedi", "Sindi", "Ahmadzai", "Rahimi", "Karimi", "Tesfamariam", "Gebremedhin",
    "Adeyemi", "Okonkwo", "Boateng", "Asante", "Owusu", "Tran", "Pham", "Hoang", "Zhang",
    "Chen", "Liu", "Iyer", "Reddy", "Singh", "Gupta", "Esposito", "Lombardi", "Georgiou",
    "Konstantinidis", "Horvat", "Kovačević", "Jovanović", "Petrović", "Popescu", "Ionescu",
    "Fernández", "Martínez Ruiz", "Ferreira", "da Silva", "Lefèvre", "Moreau", "Thompson",
    "Walsh", "Hughes", "von Ahlefeldt",
)  # fmt: skip

# ---- special categories: other phrases than the development set's ----------------------------
# German ones fit "ich bin/habe X", "wegen X", "Diagnose: X"; English ones "I am/have X",
# "with X", "my X". A leading article is left outside the span by the filler.
SPECIAL: dict[str, dict[str, tuple[str, ...]]] = {
    "health": {
        "de": ("Hashimoto-Thyreoiditis", "ADHS", "Zöliakie", "Leukämie", "Tinnitus",
               "Endometriose", "Demenz", "Schizophrenie", "Hepatitis C", "Neurodermitis",
               "Lungenkrebs", "Herzinsuffizienz", "Arthrose", "Glaukom", "Schuppenflechte",
               "Fibromyalgie", "Lipödem"),
        "en": ("Hashimoto's thyroiditis", "ADHD", "coeliac disease", "leukaemia", "tinnitus",
               "endometriosis", "dementia", "schizophrenia", "hepatitis C", "eczema",
               "lung cancer", "heart failure", "osteoarthritis", "glaucoma", "psoriasis",
               "fibromyalgia", "lipoedema"),
    },
    "religion": {
        "de": ("katholisch", "evangelisch-lutherisch", "sunnitisch", "schiitisch",
               "griechisch-orthodox", "koptisch", "mennonitisch", "hinduistisch",
               "freikirchlich", "syrisch-orthodox"),
        "en": ("Catholic", "Anglican", "Sunni", "a Shia Muslim", "Greek Orthodox", "Coptic",
               "a Mennonite", "a Methodist", "a Baptist", "a Quaker", "Zoroastrian"),
    },
    "politics": {
        "de": ("AfD-Mitglied", "Grünen-Mitglied", "Mitglied im BSW", "Mitglied der Piratenpartei",
               "Juso-Mitglied", "Mitglied bei Volt", "Mitglied der ÖDP",
               "Mitglied der Jungen Union"),
        "en": ("a Reform UK member", "an SNP member",
               "a Plaid Cymru member", "a member of Volt Europa", "a Young Greens member",
               "a member of the Pirate Party", "a Labour councillor"),
    },
    "union": {
        "de": ("IG-BAU-Mitglied", "Mitglied der GdP", "Mitglied im Marburger Bund",
               "GEW-Mitglied", "Mitglied der GDL", "Mitglied im DJV", "Mitglied bei ver.di"),
        "en": ("a member of Unison", "an RMT member", "a member of the NEU",
               "a Royal College of Nursing member", "a GMB member", "a member of the Teamsters",
               "an IG BAU member"),
    },
    "orientation": {
        "de": ("pansexuell", "asexuell", "queer", "homosexuell"),
        "en": ("pansexual", "asexual", "queer", "homosexual"),
    },
    "ethnic": {
        "de": ("sorbischer Herkunft", "armenischer Abstammung", "jesidischer Herkunft",
               "afrodeutsch", "tscherkessischer Herkunft", "Angehörige der Rohingya",
               "aramäischer Abstammung"),
        "en": ("of Sorbian descent", "ethnically Armenian", "Rohingya", "of Romani heritage",
               "Afro-German", "of Circassian origin", "of Assyrian descent"),
    },
    "genetic": {
        "de": ("eine Faktor-V-Leiden-Mutation", "eine HFE-Genmutation", "eine MTHFR-Mutation",
               "eine Anlage für Mukoviszidose", "ein auffälliges Gentest-Ergebnis",
               "eine erbliche Veranlagung für Darmkrebs"),
        "en": ("a Factor V Leiden mutation", "Lynch syndrome", "an HFE gene mutation",
               "a MTHFR mutation", "an abnormal genetic test result",
               "a hereditary predisposition to bowel cancer"),
    },
    "biometric": {
        "de": ("ein Irisbild", "ein Handvenenmuster", "ein 3D-Gesichtsmodell",
               "Fingerabdruckdaten", "ein Stimmmuster", "Gesichtsgeometriedaten"),
        "en": ("an iris image", "a palm vein pattern", "a 3D face model", "fingerprint data",
               "a voice pattern", "facial geometry data"),
    },
}  # fmt: skip

# ---- long e-mails: greeting, several templates of one domain, closing -------------------------
GREETINGS = {
    "de": ("Hallo liebes Team,", "Moin,", "Guten Morgen,", "{dear},",
           "Sehr geehrte Sachbearbeiterin, sehr geehrter Sachbearbeiter,"),
    "en": ("Hi all,", "Good morning,", "To whom it may concern,", "{dear},", "Hello team,"),
}  # fmt: skip
CLOSINGS = {
    "de": ("LG\n{first}",
           "Danke im Voraus!\n{name_caps}\n{mobile}",
           "Mit besten Grüßen\n{name}\n{street_address}\n{postal_code}\nTelefon: {phone}",
           "Gruß {name} ({email})",
           "Freundlich grüßt\n{herr_frau}\n--\nVon meinem iPhone gesendet"),
    "en": ("Cheers,\n{first}",
           "Many thanks in advance!\n{name_caps}\n{mobile}",
           "Best regards\n{name}\n{street_address}, {postal_code}\nTel: {phone}",
           "Thanks – {name} ({email})",
           "Sincerely,\n{herr_frau}\n--\nSent from my phone"),
}  # fmt: skip

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {"de": {}, "en": {}}
DE, EN = TEMPLATES["de"], TEMPLATES["en"]

# ================================ German ========================================================
DE["stadtwerke"] = (
    "Zählerstand {meter_reading}, abgelesen am {date} um {time}.\nZählernr. {meter_number}\n"
    "Vertragskonto {contract_number}\n– {name}",
    "Kontoinhaber: {name} | IBAN: {iban} | Abschlag: {price} | gültig ab: {date}",
    "hallo, warum wurde mein abschlag auf {price} erhöht?? kundennr {customer_number}, bitte um "
    "rückruf {mobile} (ab {time})",
    "Ratenzahlung vereinbart: Kassenzeichen {kassenzeichen}, monatlich {price}. Lastschrift "
    "bitte vom Konto {iban_de} ({name_inverted}) einziehen.",
    "Im Kundenportal heißt es, die Adresse {email} sei schon registriert. Vermutlich hat mein "
    "Sohn {kid} das damals für mich gemacht. Portal-Version laut Fußzeile: {version}.",
    "Sperrandrohung vom {date} erhalten. Ich bin [[Dialysepatientin|HEALTH]] und brauche den "
    "Strom für das Heimgerät! Erreichbar: {phone}, Kundennummer {customer_number}.",
    "Zwei Fragen zum [[Stromtarif|category_nearmiss]]: Grundpreis {price}/Monat oder "
    "{price}? Und zählt die [[Wärmepumpe|category_nearmiss]] extra? Durchwahl meines Büros: "
    "{extension}.",
)
DE["krankenkasse"] = (
    "Versichertennr.: {kvnr}\nName: {name_caps}\nAnliegen: Erstattung Zahnreinigung {price} "
    "(Beleg {invoice_number})",
    "{kvnr} ist die Nummer meiner Frau {name_f}. Sie ist seit Kurzem [[schwanger|HEALTH]] – "
    "welche Vorsorge-Leistungen zahlen Sie?",
    "Krankengeld: Ich bin seit {date} [[arbeitsunfähig|HEALTH]] wegen {health}. Bitte auf "
    "{iban} zahlen (Inhaber {name_m}). Steuer-ID für die Bescheinigung: {taxid}.",
    "Seit dem App-Update ({version}) geht der Login per [[Gesichtserkennung|BIOMETRIC]] nicht "
    "mehr. Versichertenummer {kvnr}, Handy {mobile}.",
    "Kassenwechsel zum {date} – bisher {organisation}. Zuletzt war ich in Österreich "
    "versichert, Sozialversicherungsnummer {svnr}. Kontakt: {email} / {phone}",
    "Unser Sohn {kid} ({birth_date}) ist [[Typ-1-Diabetiker|HEALTH]]. Übernehmen Sie einen "
    "Glukosesensor? Versichertennummer des Kindes: {kvnr}",
    "Für die Familienversicherung meines Mannes: er war bis {date} in Frankreich versichert "
    "(NIR {nir}). Seine neue Versichertennummer lautet {kvnr}?",
)
DE["versicherung"] = (
    "Schadennr. {case_number} / VS-Nr. {policy_number}\nUnfallgegner: {name}, Kennzeichen "
    "{plate}\nmein Fzg.: {plate}\nUnfallort: {street_address}, {postal_code}",
    "Gutachterrechnung (Nr. {invoice_number}, {price}) bitte überweisen an: {name} – {iban} – "
    "{bic}.",
    "Das neue Auto braucht eine eVB; die alte ({evb_number}) ist abgelaufen. FIN {vin}, "
    "Halterin {name_f}, geb. {birth_date}.",
    "Gesundheitsfragen zur BU: Diagnose {health} seit {year}, außerdem ambulante "
    "[[Psychotherapie|HEALTH]] bis {date}. Reicht das so? – {first}",
    "Neuer Fahrer ist mein Enkel {name_m}. Ich bin [[gehbehindert|HEALTH]] und fahre kaum "
    "noch selbst. Vertrag {contract_number}",
    "In Rom wurde bei der Behandlung mein Codice Fiscale {cf} angegeben. Rechnung ({price}) "
    "liegt bei, Erstattung bitte auf {iban}.",
    "Als {union} bin ich über die Gewerkschaft rechtsschutzversichert – brauche ich Ihren "
    "Zusatzbaustein dann noch? Police {policy_number}",
)
DE["bank"] = (
    "Dauerauftrag ändern\nEmpfänger ........ {name}\nIBAN ............. {iban}\nBetrag "
    "........... {price}\nab ............... {date}",
    "ich hab meine karte verloren!!! nr {cc}, bitte sofort sperren. bin unter {mobile} "
    "erreichbar. gruß {first}",
    "Kontoeröffnung: Steuerliche Identifikationsnummer {taxid}, Ausweis {idcard} (gültig bis "
    "{date}), Anschrift {street_address}, {postal_code}.",
    "Ist das Phishing? Eine SMS von {phone} will, dass ich die Kontonummer {bad_iban} "
    "bestätige. Ich habe nicht geantwortet.",
    "Die Lastschrift der Gläubiger-ID {creditor_id} wurde zweimal abgebucht (je {price}). "
    "Bitte zurückholen.",
    "Bitte einen Freistellungsauftrag über {price} für {name_inverted}, IdNr {taxid}.",
    "Karte mit Endziffern {card_last4} wurde mit {price} belastet – kenne den Händler nicht. "
    "Meine Kreditkarte {cc} bitte auch prüfen. Kontoinhaberin {herr_frau}.",
    "KYC-Nachfrage: Ich bin Niederländerin, BSN {bsn}, Wohnsitz seit {date} in {city}. "
    "Reisepass {passport}.",
)
DE["telekom"] = (
    "Störung seit {date} {time}\nAnschluss: {phone}\nRouter-IP: {ip}\nFirmware: {version}\n"
    "Ticket: {ticket_number}",
    "Hi, ich zieh nach {postal_code} ({street_address}). Kann ich die Festnetznummer {phone} "
    "mitnehmen? Kundennr. {customer_number}",
    "SIM gesperrt nach 3x falscher PIN, PUK steht nicht im Brief. Handynumer: {mobile}, "
    "geb. {birth_date}. Kundenkennwort weiß ich nicht mehr.",
    "Der Vertragsinhaber {herr_frau} ist verstorben. Ich bin die Tochter, {name_f}, und "
    "kündige hiermit. Rückfragen an {email}.",
    "Auf Rechnung {invoice_number} steht ein Drittanbieter-Abo über {price}. Ich habe nichts "
    "bestellt! Bitte gutschreiben auf {iban}.",
    "Geht ein Wechsel auf {quantity} vor Ende der Mindestlaufzeit ({date})? Sonst bitte "
    "Rückruf an {mobile}.",
    "Der [[Kollege vom Außendienst|name_lookalike]] kam nicht zum Termin am {date}. Neuer "
    "Termin? Auftragsnr. {order_number}",
)
DE["support_email"] = (
    "Moin, beim Deploy crasht der Container:\nERROR auth failed for key {apikey}\nhost={ip} "
    "build={commit_sha}\nKönnt ihr draufschauen? {first}",
    ".env aus Versehen committet:\nDB_PASSWORD={password}\nAWS_ACCESS_KEY_ID={aws_id}\n"
    "AWS_SECRET_ACCESS_KEY={aws_secret}\nWie rotiere ich das am schnellsten?",
    "Request-ID {uuid}, Zeitpunkt {log_timestamp}: 403 trotz gültigem Token.\ncurl -H "
    "'Authorization: Bearer {bearer}' https://api.example.org/v2/jobs",
    "Ansprechpartner fürs Onboarding:\n• {name} – {email} – {phone}\n• {name} – {email}\n"
    "Bitte beide in den Verteiler.",
    "Prüfsumme stimmt nicht: erwartet {sha256}, bekommen {sha256}. Download von {ip} um {time}.",
    "Unser Deploy-Key (öffentlich, darf geteilt werden): {ssh_pubkey}\nDen privaten Schlüssel "
    "habe ich versehentlich ins Ticket kopiert, bitte löschen:\n{pem}",
    "Bei uns wirft der Token {jwt} ein „signature invalid“ (Client {version}). Kollege "
    "{name_m} hat dasselbe Problem.",
)
DE["buergeramt"] = (
    "Ummeldung – neue Adresse {street_address}, {postal_code}\nPerson 1: {name_inverted}, "
    "geb. {birth_date}\nPerson 2: {name_inverted}, geb. {birth_date}",
    "Mein Perso ({idcard}) läuft am {date} ab. Muss ich für den neuen wieder "
    "[[Fingerabdrücke|BIOMETRIC]] abgeben? Geht das ohne Termin?",
    "Meldebescheinigung für {name_m}, wohnhaft {street_address}. Bitte per Mail an {email}; "
    "Gebühr {price} ist überwiesen (Kassenzeichen {kassenzeichen}).",
    "Wie erkläre ich meinen [[Kirchenaustritt|RELIGION]]? Bisher war ich "
    "[[evangelisch-reformiert|RELIGION]]. Termin am {date} um {time} wäre gut.",
    "Briefwahl: Wahlschein bitte an {street_address}, {postal_code}. {name}, geb. "
    "{birth_date}. Die [[Wahlbenachrichtigung|category_nearmiss]] ist nie angekommen.",
    "Führungszeugnis für die Kita-Tätigkeit: {name_f}, geboren {birth_date} in {city}. Gebühr "
    "{price}, Verwendungszweck {kassenzeichen}.",
    "Bitte Auskunftssperre im Melderegister: Ich bin {politics} und werde seit der "
    "Kommunalwahl bedroht. {name}, {street_address}",
)
DE["finanzamt"] = (
    "StNr. {stnr} / IdNr. {taxid}\nBetreff: Einspruch gg. ESt-Bescheid {year} vom {date}\n"
    "Begründung folgt.",
    "Wir (Ehepaar {surname}) ziehen nach {postal_code}. Steuernummer bisher {stnr}. Meine "
    "IdNr: {taxid}, die meines Mannes: {taxid}.",
    "Auf meiner Lohnabrechnung steht [[Kirchensteuer|RELIGION]], obwohl der Austritt schon "
    "{year} war. Steur-ID {taxid}.",
    "Freiberufler, USt-IdNr. {vat}, Steuernr. {stnr}. Meine Mitarbeiterin aus Spanien hat nur "
    "eine NIE ({nie}) – reicht die für die Lohnsteuer?",
    "Meine [[Gewerkschaftsbeiträge|TRADE_UNION]] an die IG BAU ({price} im Jahr) – wo trage "
    "ich die ein? IdNr. {taxid}",
    "Steuer-ID vergessen :( Name {name}, geb. {birth_date}, wohne in {postal_code}. Kann man "
    "mir die ID per Post schicken?",
    "Hello, I'm new in Deutschland. Meine Steuer-ID ist {taxid} (so steht es im Brief vom "
    "{date}). Muss ich nach der Heirat die Steuerklasse ändern?",
    "{taxid} ← das ist die Nummer von meinem Vater {name_m}. Er hat {health} und ich mache "
    "seine Steuererklärung.",
    "Umsatzsteuer-Voranmeldung für {year}: USt-ID {vat}, Zeitraum [[Q3|quarter]], Zahllast "
    "{price}. Die Lastschrift bitte von {iban_de}.",
)
DE["jobcenter"] = (
    "BG-Nr.: {bg_number}\nAntragsteller/in: {name_caps}\nTel.: {phone}\nAnlage: Kontoauszüge "
    "(IBAN {iban})",
    "Der Termin bei {herr_frau} am {date} um {time} klappt nicht, ich bin "
    "[[krankgeschrieben|HEALTH]] ([[AU|HEALTH]] liegt bei).",
    "Weiterbewilligungsantrag: BG {bg_number}, Miete jetzt {price}, Nebenkosten {price}. Neue "
    "Bankverbindung: {iban}. – {name}",
    "Die Maßnahme im Lager kann ich wegen {health} nicht machen; Attest von {herr_frau} folgt.",
    "hallo wo geb ich die lohnabrechnung ab? upload im portal geht nicht (fehler "
    "{ticket_number}). BG {bg_number}",
    "Ich bin {union} und bekomme Streikgeld – wird das angerechnet? Zeitraum {date} bis {date}.",
    "Ich komme aus Polen, PESEL {pesel}. Meine Rentenversicherungsnummer in Deutschland: "
    "{rvnr}. Brauchen Sie beide für den Antrag?",
)
DE["auslaenderbehoerde"] = (
    "Aufenthaltstitel verlängern\nName: {name}\nPass-Nr.: {passport}\nStaatsangehörigkeit: "
    "[[ukrainisch|category_nearmiss]]\nTermin gewünscht vor {date}",
    "Ich bin {ethnic} und wurde in meiner Heimat verfolgt. Mein Asylverfahren läuft unter "
    "{aktenzeichen}.",
    "Für die Niederlassungserlaubnis fehlt noch die Rentenversicherungsnr. ({rvnr}). Erreichbar "
    "über {mobile} oder WhatsApp {phone_foreign}.",
    "Unsere Tochter {kid} ist hier geboren ({birth_date}). Braucht sie einen eigenen Pass? "
    "Meine Passnummer (maschinenlesbar): {passport_mrz}.",
    "Fiktionsbescheinigung läuft am {date} ab, niemand antwortet. Mail: {email}, Tel. {phone}. "
    "Vorgangsnr. {case_number}",
    "Ich bin {orientation} und wurde in meinem Herkunftsland deswegen verfolgt. Die Anhörung "
    "war am {date}. Anwältin: {herr_frau}.",
    "Ich bin Italienerin – reicht für die Anmeldebescheinigung mein Codice Fiscale ({cf}) oder "
    "brauchen Sie die carta d’identità?",
)
DE["kfz_zulassung"] = (
    "Ummeldung\nKennzeichen alt: {plate}\nWunschkennzeichen: {plate}\nHalter: "
    "{name_inverted}\neVB: {evb_number}",
    "Wunschkennz. {plate} online reserviert (Reservierungsnr. {order_number}), Gebühr {price}. "
    "Bitte Bestätigung an {email}.",
    "Abmeldung: FIN {vin}, Kennzeichen {plate}, Plaketten entfernt. Halter {herr_frau}; "
    "Kfz-Steuer-Erstattung auf {iban_de}.",
    "Ein Auto mit dem Kennzeichen {plate} parkt seit {date} in unserer Einfahrt "
    "({street_address}). Bekomme ich eine Halterauskunft?",
    "Für die Zulassung des Anhängers wollen Sie meine Steuer-ID? {taxid} – SEPA-Lastschrift "
    "bitte von {iban}.",
    "Ich bin [[schwerbehindert|HEALTH]] (Merkzeichen aG) und brauche einen Parkausweis. "
    "Kennzeichen {plate}, Tel. {phone}.",
    "Auf der [[B 27|road]] bei Kilometer [[14,5|quantity]] habe ich das Kennzeichen {plate} "
    "verloren. Was muss ich tun?",
)
DE["rentenversicherung"] = (
    "VSNR {rvnr} – Kontenklärung: Es fehlen die Zeiten {year} bis {year} (Ausbildung). "
    "Telefonisch {phone}.",
    "Rentenbeginn {date}. Bankverbindung: {iban} (Inhaberin {name_f}). Steuer-ID wie "
    "gewünscht: {taxid}.",
    "Ich habe in Polen gearbeitet, PESEL {pesel}. Werden die Zeiten angerechnet? "
    "{name_inverted}, Vers.-Nr. {rvnr}",
    "Kindererziehungszeiten: {kid} ({birth_date}) und {kid} ({birth_date}). Meine "
    "Versicherungsnummer: {rvnr}",
    "Reha-Antrag, Diagnose {health}. Erreichbar unter {mobile} oder {email}.",
    "Ich war {year} bis {year} in den Niederlanden beschäftigt (BSN {bsn}) und danach in "
    "Spanien (DNI {dni}). Wer zahlt welche Rente?",
)
DE["gesundheitsamt"] = (
    "Meldung nach IfSG: Patient {name}, geb. {birth_date}, Diagnose [[Tuberkulose|HEALTH]], "
    "meldende Praxis {herr_frau}, Tel. {phone}",
    "Belehrung nach § 43 IfSG für meinen Job in der Küche: Termin am {date} um {time} "
    "möglich? {name_f}, {mobile}",
    "Meine Tochter {kid} hat [[Masern|HEALTH]], die [[Kita Sonnenschein|organisation]] weiß "
    "Bescheid. Müssen die Geschwister zuhause bleiben?",
    "Schuleingangsuntersuchung: Wann kommt der Termin? Kind: {name_m}, geb. {birth_date}, "
    "{street_address}, {postal_code}.",
    "Hygienemangel im Restaurant {street_address}: Kakerlaken in der Küche am {date}. Ich "
    "möchte anonym bleiben.",
    "Ich habe [[Hepatitis B|HEALTH]] und arbeite in der Pflege – muss ich das melden? Bitte "
    "nur per Mail antworten: {email}",
    "Wann hat das [[Impfzentrum|category_nearmiss]] im [[Robert-Koch-Haus|organisation]] "
    "geöffnet? Reisemedizinische Beratung für {name}, {mobile}.",
)
DE["schule_kita"] = (
    "[[Krankmeldung|HEALTH]]: {kid} ([[Klasse 3b|school_class]]) fehlt heute und morgen wegen "
    "[[Magen-Darm-Grippe|HEALTH]]. Gruß, {name}",
    "Liebe Frau {surname}, {kid} hat eine [[Erdnussallergie|HEALTH]] – bitte beim Sommerfest "
    "am {date} dran denken. Notfallnummer: {mobile}",
    "Anmeldung Kita-Platz\nKind: {name} ({birth_date})\nEltern: {name} / {name}\nE-Mail: "
    "{email}\nBetreuungsbeginn: {date}\nKonfession (freiwillig): {religion}",
    "Unser Sohn {kid} soll statt Religion an Ethik teilnehmen – wir sind "
    "[[Aleviten|RELIGION]]. Danke, {name_f}",
    "Elternbeitrag: Einkommen {price} brutto, Steuer-ID {taxid}, Lastschrift von {iban}. "
    "Bitte Ermäßigung prüfen.",
    "Schulbescheinigung vom [[Sophie-Scholl-Gymnasium|organisation]] für {name_m}, Klasse 10, "
    "geb. {birth_date}, bitte an {email}.",
    "Die Klassenfahrt kostet {price}; überweisen an den Förderverein, IBAN {iban}, "
    "Verwendungszweck „{kid} 7c“.",
    "Beim Elternabend am {date} um {time} stellt die [[evangelische Kita|category_nearmiss]] "
    "ihr neues Konzept vor. Anmeldung bis {date} bei {name}.",
)
DE["polizei"] = (
    "Anzeige Fahrraddiebstahl\nTatzeit: {date}, ca. {time}\nTatort: {street_address}, "
    "{postal_code}\nRahmennr.: {frame_number}\nGeschädigter: {name}, Tel. {phone}",
    "Jemand hat mit meinen Daten bestellt und meine IBAN {iban} für Lastschriften benutzt. "
    "Bestellnummer {order_number}. Ich heiße {name}, Mail {email}.",
    "Ich wurde in der [[Linie U 6|transit_line]] beleidigt, weil ich {ethnic} bin. Zeugin: "
    "{name_f}, {mobile}.",
    "Unfallflucht! Verursacher-Kennzeichen {plate}, mein Auto: {plate}. Uhrzeit {time}.",
    "Bei der ED-Behandlung am {date} hat die Polizei {biometric} von mir gespeichert. Ich "
    "will die Löschung. Vorgang {aktenzeichen}, {name}.",
    "Mein Nachbar bedroht mich, seit er weiß, dass ich {politics} bin. Seine Nachrichten kamen "
    "von {mobile}.",
    "Betrug beim Online-Kauf: Verkäufer {name}, Konto {iban}, Handy {phone_foreign}. Ich "
    "habe {price} bezahlt, Ware kam nie.",
    "Mein Ausweis (Nr. {idcard}) wurde am {date} aus dem Auto gestohlen, Kennzeichen "
    "{plate}. Brauche ich eine Anzeige?",
)
DE["wohngeld"] = (
    "Wohngeldantrag – Haushaltsmitglieder:\n1. {name_inverted}, geb. {birth_date}\n2. "
    "{name_inverted}, geb. {birth_date}\nMiete: {price} kalt\nKonto: {iban}",
    "Wie lange dauert die Bearbeitung? Antrag vom {date}, Aktenzeichen {aktenzeichen}. "
    "Vermieter: {herr_frau}.",
    "Einkommen: Rente {price} monatlich, Steuer-ID {taxid}. Ich habe [[Pflegegrad 3|HEALTH]] "
    "– gibt es einen Freibetrag?",
    "Meine Mail an {org_email} blieb unbeantwortet. Bitte rufen Sie mich an: {phone}. {name}",
    "wohngeld für märz noch nicht aufm konto {iban_de} .. der bescheid vom {date} sagt {price}",
    "Mietbescheinigung: Wohnfläche [[62 m²|quantity]], Baujahr {year}, Kaltmiete {price}. "
    "Unterschrift Vermieter {name}.",
    "Ich bin Österreicher (SV-Nr. {svnr}) und wohne seit {date} in {city}. Zählt meine "
    "österreichische Pension als Einkommen?",
)
DE["arztpraxis"] = (
    "Rezeptbestellung für {name}, geb. {birth_date}: [[L-Thyroxin|HEALTH]] 75 µg, 100 Stück. "
    "Abholung am {date}.",
    "Terminanfrage: Kontrolle wegen {health}, am liebsten {date} vormittags. "
    "Versichertennummer {kvnr}, Tel. {mobile}",
    "Befund vom {date} bitte an meine neue Adresse {email}. Ist das Ergebnis des "
    "[[Gentests|GENETIC]] auch schon da?",
    "Ich brauche eine [[AU|HEALTH]], ich liege seit {date} mit [[Fieber|HEALTH]] flach. {first}",
    "Privatrechnung {invoice_number} über {price}: Ratenzahlung möglich? {herr_frau}, "
    "Patientennr. {customer_number}",
    "Meine Frau {name_f} und ich (wir sind ein [[lesbisches|SEXUAL_ORIENTATION]] Paar) möchten "
    "beide in Ihre Praxis wechseln. Termin fürs Erstgespräch?",
    "Bei mir wurde {genetic} festgestellt. Sollen meine Geschwister sich auch testen lassen? "
    "Rückruf bitte: {phone}",
    "Französische Patientin, NIR {nir}, Europäische Krankenversicherungskarte liegt vor. "
    "Termin am {date} um {time}?",
)
DE["hausverwaltung"] = (
    "Mängelanzeige\nWohnung: {street_address}, [[3. OG links|floor]]\nMangel: Schimmel im Bad "
    "seit {date}\nMieter: {name_caps}\nErreichbar: {phone}",
    "Nebenkostenabrechnung {year}: Nachzahlung {price} bitte von {iban} abbuchen, nicht vom "
    "alten Konto. Mieternr. {customer_number}",
    "Hallo Herr {surname}, der Hausmeister kommt nicht. Der Schlüssel liegt bei Nachbarin "
    "{name_f} im EG. Gruß aus Wohnung [[Nr. 14|flat_number]]",
    "Untermieter: {name}, Pass {passport} – reicht eine Kopie? Er ist "
    "[[syrischer Staatsbürger|category_nearmiss]].",
    "Wegen {health} brauche ich einen barrierefreien Zugang – wer zahlt die Rampe? {name}, "
    "{mobile}",
    "Mitglied der [[Wohnungsgenossenschaft Süd eG|organisation]] seit {year}, "
    "Mitgliedsnr. {customer_number}. Kaution {price} bitte zurück auf {iban}.",
    "Wir sind {religion} und feiern am {date} mit Gästen im Hof – ist das in Ordnung? Familie "
    "{surname}",
)

# ================================ English =======================================================
EN["stadtwerke"] = (
    "Hi, I'm moving out on {date}. Final reading {meter_reading} (meter {meter_number}). Please "
    "send the final bill to {email}, I won't have a German address after that.",
    "Account holder | {name}\nIBAN | {iban}\nMonthly instalment | {price}\nStart | {date}",
    "why is my bill {price}?? last year it was {price}. customer no {customer_number}. call "
    "me {mobile}",
    "My landlord, {herr_frau}, says the gas contract for {street_address} is in my name now. "
    "Contract {contract_number}. I'm {name}, tel {phone_foreign}.",
    "Please don't cut us off: my husband is on [[home oxygen therapy|HEALTH]] and needs the "
    "machine. Customer number {customer_number}, phone {phone}.",
    "Is the green tariff really 100% renewable? The brochure of {date} says {percentage} comes "
    "from hydro. [[Frankly|name_lookalike]], I doubt it.",
)
EN["krankenkasse"] = (
    "Hello, I'm an exchange student. My health insurance number is {kvnr} and my French social "
    "security number is {nir} – which one goes on the doctor's form?",
    "Member: {name_caps} / insurance no. {kvnr} / claim: {price} for "
    "[[physiotherapy|HEALTH]] (invoice {invoice_number})",
    "My wife {name_f} was diagnosed with {health} on {date}. Does the Krankenkasse cover a "
    "second opinion? Her number: {kvnr}",
    "I've been [[signed off sick|HEALTH]] since {date}; when does sick pay start? Pay it into "
    "{iban} please. Tax ID {taxid} if you need it.",
    "pls update my email to {email} (old one bounces). ins. no {kvnr}. thx {first}",
    "Does the insurance pay for a [[genetic test|GENETIC]]? My mother had {health}.",
    "Previously insured in Austria (social insurance no. {svnr}), now employed in Munich from "
    "{date}. What do you need from me?",
)
EN["versicherung"] = (
    "Claim ref {case_number}. The other driver ({name}, plate {plate}) reversed into me at "
    "{time} on {date}. My car: {plate}. Photos attached.",
    "Please pay the repair costs ({price}, invoice {invoice_number}) to the garage: {iban}, BIC "
    "{bic}.",
    "Life insurance questionnaire: I have {genetic} and had a [[mastectomy|HEALTH]] in {year}. "
    "Do I have to disclose the test?",
    "Liability claim: my son {kid} broke a neighbour's window. Neighbour: {herr_frau}, "
    "{street_address}. Policy {policy_number}.",
    "I was treated in Madrid; the hospital wrote down my NIE as {nie}. Bill attached ({price}), "
    "refund to {iban} please.",
    "Can I add my partner {name} as a driver? Born {birth_date}, licence since {year}. Policy "
    "number {policy_number}.",
    "As {union} I already have legal cover through the union – do I still need your add-on? "
    "Contract {contract_number}",
)
EN["bank"] = (
    "URGENT – card stolen at {time}. Card: {cc}. Last purchase I made was {price} at a "
    "supermarket. Call {mobile}.",
    "Transfer details\n- beneficiary: {name}\n- IBAN: {iban}\n- amount: {price}\n- reference: "
    "invoice {invoice_number}",
    "For the account opening I need a tax ID – mine is {taxid}. Passport no. {passport}, valid "
    "until {date}.",
    "The app says 'invalid IBAN' for {bad_iban}. I copied it from the landlord's letter. Typo?",
    "Why was the direct debit from creditor ID {creditor_id} taken twice ({price} each)?",
    "Card ending {card_last4} was charged {price} by a shop I don't know. Card holder: "
    "{herr_frau}. Email me at {email}.",
    "Opening an account as a Spanish citizen: DNI {dni}, German address {street_address}, "
    "{postal_code}. Mobile {phone_foreign}.",
    "Joint account for me and my husband {name_m}. My tax ID: {taxid}; his: {taxid}. Our "
    "credit card {cc} should be linked too.",
)
EN["telekom"] = (
    "Internet down since {date}. Router IP {ip}, firmware {version}. Ticket {ticket_number}. "
    "Landline: {phone}",
    "Can I keep my number {mobile} when I switch to your prepaid plan? Customer ID "
    "{customer_number}.",
    "Writing for my father {name_m}, who has {health} and can't use the phone. Please cancel "
    "contract {contract_number}; power of attorney attached.",
    "Bill {invoice_number}: {price} for calls to {phone_foreign}? Never called that number.",
    "The doorbell panel just says '[[Hausverwaltung|name_lookalike]]' – call me on {mobile} "
    "when the technician is outside.",
    "new router shipped? tracking {tracking_number}, deliver to {street_address}, "
    "{postal_code} pls",
    "My ID card number for the contract is {idcard} – the shop scanned it already on {date}.",
)
EN["support_email"] = (
    "Our CI leaked a token in the logs: {apikey}. Revoked it, but please confirm nothing else "
    "was exposed. Build {commit_sha}.",
    'Stack trace:\n  File "client.py", line [[212|line_number]], in send\n    headers = '
    '{"Authorization": "Bearer {bearer}"}\nPermissionError: 403 from {ip}',
    "config.yaml (please don't share):\n  api_key: {apikey}\n  region: eu-central-1\n  "
    "request_id: {uuid}",
    "Team contacts: {name} <{email}>, {name} <{email}>. Escalation: {phone}.",
    "Key pair for the staging box – the public half is {ssh_pubkey}\nand I accidentally pasted "
    "the private half too:\n{pem}",
    "The export job failed with checksum {sha256} at {log_timestamp}. Version {version}.",
    "aws creds rotated? old id {aws_id} secret {aws_secret} – pls confirm",
    "Login from {ip} with password {password} worked although the account was locked on "
    "{date}. Ticket {ticket_number}.",
)
EN["buergeramt"] = (
    "Registration for: {name_inverted}, born {birth_date}, new address {street_address}, "
    "{postal_code}. Previous address abroad.",
    "I lost my ID card ({idcard}) on {date}. Do I need a police report first?",
    "Appointment no. {case_number} at {time} – can I bring my partner {name} as interpreter?",
    "Certificate of good conduct for my daycare job: {name_f}, born {birth_date} in {city}. "
    "Fee {price} paid, ref {kassenzeichen}.",
    "Postal vote: send the ballot to {street_address}, {postal_code}. {name}, born "
    "{birth_date}. The [[polling card|category_nearmiss]] never arrived.",
    "Do I need a new [[fingerprint scan|BIOMETRIC]] for the renewed ID card? The old one is "
    "{idcard_mrz}.",
    "Please block my registry entry: I am {politics} and received threats. {name}, "
    "{street_address}",
)
EN["finanzamt"] = (
    "Tax number {stnr}, tax ID {taxid}. Objection to the {year} assessment dated {date} – "
    "reasons to follow.",
    "Freelancer here (VAT ID {vat}). My client in Italy gave me his codice fiscale {cf}; does "
    "it go on the invoice?",
    "{taxid} is my Steuer-ID, but the letter says {bad_taxid}. Which one is right?",
    "I pay [[church tax|RELIGION]] although I was never baptised – how do I get it back? "
    "Tax ID {taxid}",
    "Are my [[union dues|TRADE_UNION]] deductible as Werbungskosten? Tax ID {taxid}, tax "
    "number {stnr}.",
    "pls send the tax ID letter again: {name}, born {birth_date}, {street_address}, "
    "{postal_code}. thx",
    "Meine tax ID: {taxid}. Ich habe VAT ID {vat} beantragt – kann ich schon Rechnungen schreiben?",
    "ELSTER rejects two numbers: {bad_id} and {bad_id}. What am I doing wrong?",
)
EN["jobcenter"] = (
    "Benefit community no. {bg_number}: new bank account {iban}. Rent went up to {price} from "
    "{date}. – {name}",
    "I can't come to the appointment with {herr_frau} on {date}, I'm on "
    "[[sick leave|HEALTH]]; certificate attached.",
    "The job offer is in a warehouse, but I have {health} and can't lift heavy things. Note "
    "from {herr_frau}.",
    "hi upload doesnt work (error {ticket_number}), BG {bg_number}, pls call {mobile}",
    "I get strike pay because I'm {union} – is it counted as income?",
    "First salary on {date}: {price}. Employer's address {street_address}, {postal_code}. "
    "Pension insurance number {rvnr}.",
    "EU citizen from Poland, PESEL {pesel}, registered in {city} since {date}. Do I qualify?",
)
EN["auslaenderbehoerde"] = (
    "Residence permit renewal\nName: {name}\nNationality: [[Eritrean|category_nearmiss]]\n"
    "Passport: {passport}\nExpires: {date}\nPhone: {phone_foreign}",
    "I am {ethnic} and was persecuted at home; my asylum file is {aktenzeichen}.",
    "Our baby {kid} was born on {birth_date} in {city}. Does she need her own permit? My "
    "passport {passport_mrz}.",
    "I am {orientation} and cannot safely go back. Hearing was on {date}. Lawyer: {herr_frau}, "
    "{email}.",
    "Blue Card: contract attached, salary {price}. Pension no. {rvnr}, tax ID {taxid}.",
    "My Polish PESEL {pesel} is on my old papers – do you need it for the EU residence "
    "certificate?",
    "Dutch citizen here, BSN {bsn}. Do I need to register if I commute to {city} from Venlo?",
)
EN["kfz_zulassung"] = (
    "Re-registration: old plate {plate}, requested plate {plate}, owner {name_inverted}, "
    "insurance confirmation {evb_number}.",
    "Deregistering the car (VIN {vin}, plate {plate}); refund the vehicle tax to {iban_de} please.",
    "Is the custom plate {plate} still free? I reserved it online, reservation {order_number}.",
    "I'm [[registered disabled|HEALTH]] – do I still pay vehicle tax? Plate {plate}.",
    "A car with plate {plate} has blocked our driveway at {street_address} since {date}. Who "
    "do I call?",
    "Tax ID for the vehicle tax mandate: {taxid}, account {iban}.",
)
EN["rentenversicherung"] = (
    "Insurance no. {rvnr} – gap {year} to {year}: I studied in Austria (SV no. {svnr}).",
    "Pension starts {date}. Pay to {iban} (account holder {name_f}). My tax ID: {taxid}.",
    "Rehab application: diagnosis {health}. Reach me on {mobile} or {email}.",
    "I worked in Spain {year}–{year}, DNI {dni}. Will those years count? {name}, insurance no. "
    "{rvnr}",
    "Child-raising periods: {kid} (born {birth_date}) and {kid} (born {birth_date}). My "
    "number: {rvnr}",
    "French pension: my NIR is {nir}. Do you exchange data with the CNAV directly?",
)
EN["gesundheitsamt"] = (
    "Notification: patient {name}, born {birth_date}, diagnosis [[measles|HEALTH]]. Reporting "
    "doctor {herr_frau}, {phone}.",
    "My son {kid} has [[scarlet fever|HEALTH]]. Can his sister still go to school?",
    "Where is the [[vaccination centre|category_nearmiss]] for travel jabs? I'm {name}, {mobile}.",
    "Food handler certificate appointment? {name_f}, {email}, free on {date} from {time}.",
    "I'm [[HIV-positive|HEALTH]] and work as a nurse – must I tell my employer? Reply by email "
    "only: {email}",
    "Complaint: mould in the gym of the [[Käthe-Kollwitz-Schule|organisation]] since {date}.",
)
EN["schule_kita"] = (
    "Absence note: {kid} ([[class 4a|school_class]]) is off today with "
    "[[tonsillitis|HEALTH]]. – {name}",
    "Dear Ms {surname}, {kid} has a severe [[nut allergy|HEALTH]]; please keep it in mind on "
    "the trip on {date}. Emergency: {mobile}.",
    "Daycare registration\nChild: {name} ({birth_date})\nParents: {name}, {name}\nEmail: "
    "{email}\nStart: {date}",
    "We'd like {kid} to take ethics instead of RE – I am {religion}. Thanks, {name_f}",
    "Parent fee: income {price}, tax ID {taxid}, debit from {iban}.",
    'Class trip is {price}; transfer to the PTA, IBAN {iban}, reference "{kid} 7c".',
    "For the history project on the [[Great Depression|category_nearmiss]], may the class "
    "visit on {date}? Contact {herr_frau}, {phone}.",
)
EN["polizei"] = (
    "Online report – bike theft\nWhen: {date}, around {time}\nWhere: {street_address}, "
    "{postal_code}\nFrame no.: {frame_number}\nVictim: {name}, {phone}",
    "Someone ordered goods in my name and used my IBAN {iban}. Order {order_number}. Contact: "
    "{email}",
    "I was insulted on the tram because I'm {ethnic}. Witness: {name_f}, {mobile}.",
    "Hit and run: the car's plate was {plate}. My car: {plate}. Time {time}.",
    "After my arrest on {date} the police stored {biometric} of mine. I want it deleted. File "
    "{aktenzeichen}.",
    "My neighbour threatens me since he found out I'm {politics}. His messages came from {mobile}.",
    "Scam: seller {name}, account {iban}, phone {phone_foreign}. I paid {price}, nothing came.",
    "My passport {passport} was stolen from the car ({plate}) on {date}. Do I need a report?",
)
EN["wohngeld"] = (
    "Housing benefit – household:\n1) {name_inverted}, born {birth_date}\n2) {name_inverted}, "
    "born {birth_date}\nRent: {price}\nAccount: {iban}",
    "How long does it take? Submitted {date}, file {aktenzeichen}. Landlord: {herr_frau}.",
    "Income: pension {price}/month, tax ID {taxid}. I'm in [[care level 3|HEALTH]] – is there "
    "an allowance?",
    "No reply to my email to {org_email}. Please call {phone}. {name}",
    "housing benefit for march still not on my account {iban_de}.. notice from {date} says {price}",
    "The office is closed on [[Labour Day|category_nearmiss]]; can I hand in the application "
    "on {date} instead? {name}",
)
EN["arztpraxis"] = (
    "Repeat prescription for {name}, born {birth_date}: [[metformin|HEALTH]] 500 mg, 3 packs. "
    "Pick-up {date}.",
    "Check-up for my {health}, ideally {date} in the morning. Insurance no. {kvnr}, mobile "
    "{mobile}.",
    "Please send the results from {date} to {email} – including the [[BRCA test|GENETIC]] result.",
    "Private invoice {invoice_number} for {price}: can I pay in instalments? {herr_frau}, "
    "patient no. {customer_number}",
    "My husband {name_m} and I are a [[same-sex|SEXUAL_ORIENTATION]] couple and would both "
    "like to register with you.",
    "[[Sick note|HEALTH]] please: I've had a [[fever|HEALTH]] since {date}. {first}",
    "Italian patient, codice fiscale {cf}. Appointment on {date} at {time}?",
)
EN["hausverwaltung"] = (
    "Defect report\nFlat: {street_address}, [[2nd floor right|floor]]\nIssue: mould in the "
    "bathroom since {date}\nTenant: {name_caps}\nPhone: {phone}",
    "Service charge statement {year}: balance {price} – please debit {iban}, not the old "
    "account. Tenant no. {customer_number}",
    "Hi Mr {surname}, the caretaker didn't show up. The key is with my neighbour {name_f} "
    "(ground floor).",
    "Subtenant: {name}, passport {passport} – is a copy enough? He's a "
    "[[Syrian national|category_nearmiss]].",
    "Because of my {health} I need step-free access – who pays for a ramp?",
    "I am {orientation} and the neighbours keep leaving notes at flat [[No. 14|flat_number]]. "
    "Can you step in? {name}, {mobile}",
)

# ---- more rare identifiers, mistyped ones and special categories, per domain ------------------
DE["krankenkasse"] += (
    "Auf der Karte steht {bad_kvnr}, im Brief {kvnr} – welche Nummer gilt?",
    "Als [[Bluter|HEALTH]] brauche ich eine Bescheinigung für den Flug am {date}. "
    "Versichertennummer {kvnr}, {name}",
)
DE["bank"] += (
    "Polnisches Konto {iban} als Zweitkonto hinterlegen? Meine PESEL: {pesel}, Steuer-ID {taxid}.",
    "Das Formular meldet „ungültig“ bei {bad_taxid} und {bad_iban}. Vertippt?",
)
DE["finanzamt"] += (
    "ELSTER zeigt Fehler bei {bad_id}; mein Steuerberater sagt, die richtige Nummer sei {taxid}.",
    "Grenzgänger: Wohnsitz in Frankreich (NIR {nir}), Arbeit in Saarbrücken. IdNr. {taxid}, "
    "Steuernummer {stnr}.",
)
DE["support_email"] += (
    "Stripe-Webhook schlägt fehl, Secret war {apikey}. Neues Secret {apikey} eingetragen, "
    "trotzdem 401 seit {time}.",
    "Kunde {name} hat seine USt-IdNr. {bad_vat} eingegeben; korrekt wäre {vat}. Rechnung "
    "{invoice_number} bitte neu.",
)
DE["auslaenderbehoerde"] += (
    "Die Ausländerbehörde hat ein [[biometrisches Lichtbild|BIOMETRIC]] und meine "
    "[[Fingerabdrücke|BIOMETRIC]] für den eAT erfasst. Wann ist die Karte fertig? {name}",
    "Spanischer Staatsbürger: DNI {dni}, NIE von früher {nie}. Welche Nummer gehört in das "
    "Formular?",
)
DE["jobcenter"] += (
    "Meine Gewerkschaft ([[Mitglied der IG BCE|TRADE_UNION]]) hilft mir beim Widerspruch "
    "gegen den Bescheid vom {date}. BG {bg_number}",
    "Mein Sohn {kid} hat [[Autismus|HEALTH]], deshalb kann ich nur vormittags arbeiten. "
    "Bitte bei der Vermittlung beachten. {name_f}",
)
DE["rentenversicherung"] += (
    "Falsche VSNR im Schreiben: {bad_rvnr}; richtig ist {rvnr}. Bitte korrigieren.",
    "Österreichische Zeiten ({year}–{year}, Linz): Versicherungsnummer dort {svnr}. Danach "
    "Spanien mit NIE {nie}.",
    "Ich bin [[Mitglied im Kleingartenverein|category_nearmiss]] und frage für eine Nachbarin: "
    "gilt die Mütterrente auch für Kinder, die {year} geboren sind?",
)
DE["polizei"] += (
    "Hassmail an mein Büro: man droht mir, weil ich {orientation} bin. Absender {email}, IP "
    "laut Header {ip}.",
    "Gestohlene Kreditkarte {cc}, Abbuchungen über {price} am {date}. Karteninhaber {name}, "
    "Anschrift {street_address}.",
)
DE["arztpraxis"] += (
    "Zur Vorbereitung der Narkose: ich bin [[Zeugin Jehovas|RELIGION]] und lehne Bluttransfusionen "
    "ab. {name_f}, geb. {birth_date}",
    "Für die Vaterschaftsfrage: Können Sie einen [[Vaterschaftstest|GENETIC]] für {name_m} "
    "machen? Kosten laut Homepage {price}.",
)
DE["schule_kita"] += (
    "Wir sind {ethnic} und unser Sohn {kid} wird deswegen gemobbt. Termin mit der "
    "Klassenleitung am {date}?",
    "Bei der Essensanmeldung bitte halal, wir sind [[Muslime|RELIGION]]. Zahlung per "
    "Lastschrift von {iban}, {name}",
)
DE["hausverwaltung"] += (
    "Ein Nachbar hat ein Plakat an meine Tür geklebt, weil ich {politics} bin. Mieternr. "
    "{customer_number}, {name}, {phone}",
    "Kautionskonto: {bad_iban} stimmt nicht, bitte auf {iban} überweisen. Übergabe war am {date}.",
)
DE["wohngeld"] += (
    "Mitbewohner aus Italien, Codice Fiscale {cf}, wohnt seit {date} mit im Haushalt. Muss "
    "ich ihn angeben?",
    "Ich bin [[gehörlos|HEALTH]] – bitte nur schriftlich antworten. {name}, Aktenzeichen "
    "{aktenzeichen}",
)
DE["gesundheitsamt"] += (
    "Genetische Beratung: In unserer Familie gibt es {genetic}. Wir wünschen einen Termin. "
    "{name}, {phone}",
)
DE["kfz_zulassung"] += (
    "Zulassung für meine Firma: USt-IdNr. {vat}, Steuernummer {stnr}, Ansprechpartner "
    "{herr_frau}, {phone}.",
)
DE["versicherung"] += (
    "Meine Kreditkarte {cc} ist über Sie reiseversichert? Die Karte endet auf {card_last4} "
    "laut App, das passt nicht.",
)
DE["telekom"] += (
    "Für den Vertrag wurde mein Reisepass ({passport_mrz}) gescannt. Bitte löschen Sie die "
    "Kopie. Kundennummer {customer_number}",
)
DE["stadtwerke"] += (
    "Ich bin [[Betriebsratsvorsitzende|category_nearmiss]] bei einem Zulieferer und frage für "
    "die Kolleginnen: Gibt es einen Sozialtarif? Infos an {email}",
)
EN["krankenkasse"] += (
    "The card shows {bad_kvnr} but the letter {kvnr} – which is correct?",
    "I'm a [[haemophiliac|HEALTH]] and need a certificate for my flight on {date}. "
    "Insurance no. {kvnr}, {name}",
)
EN["bank"] += (
    "Add my Polish account {iban} as a second account? PESEL {pesel}, tax ID {taxid}.",
    "The form rejects {bad_taxid} and {bad_cc}. Did I mistype?",
)
EN["finanzamt"] += (
    "Cross-border worker: I live in France (NIR {nir}) and work in Saarbrücken. Tax ID "
    "{taxid}, tax number {stnr}.",
)
EN["support_email"] += (
    "Stripe webhook fails; the old secret was {apikey}. New one {apikey} is set, still 401 "
    "since {time}.",
    "Customer {name} entered VAT ID {bad_vat}; the right one is {vat}. Please reissue invoice "
    "{invoice_number}.",
)
EN["auslaenderbehoerde"] += (
    "For the eAT card they took a [[biometric photo|BIOMETRIC]] and my "
    "[[fingerprints|BIOMETRIC]]. When is it ready? {name}",
    "Spanish citizen: DNI {dni}, old NIE {nie}. Which number goes in the form?",
)
EN["jobcenter"] += (
    "My union (I'm a [[member of IG BCE|TRADE_UNION]]) is helping with the objection to the "
    "decision of {date}. BG {bg_number}",
    "My son {kid} is [[autistic|HEALTH]], so I can only work mornings. Please consider that. "
    "{name_f}",
)
EN["rentenversicherung"] += (
    "Wrong insurance number in your letter: {bad_rvnr}; correct is {rvnr}.",
    "Austrian periods: social insurance no. {svnr}, {year} to {year} in Graz. Dutch periods "
    "after that, BSN {bsn}.",
)
EN["polizei"] += (
    "Hate mail to my office because I am {orientation}. Sender {email}, IP from the header {ip}.",
    "Stolen credit card {cc}, charges of {price} on {date}. Card holder {name}, address "
    "{street_address}.",
)
EN["arztpraxis"] += (
    "Before the surgery: I'm a [[Jehovah's Witness|RELIGION]] and refuse blood transfusions. "
    "{name_f}, born {birth_date}",
    "Can you do a [[paternity test|GENETIC]] for {name_m}? Your website says {price}.",
    "Dutch patient, BSN {bsn}, EHIC available. Appointment on {date} at {time}?",
)
EN["schule_kita"] += (
    "We are {ethnic} and our son {kid} is being bullied for it. Meeting with the class "
    "teacher on {date}?",
    "Lunch registration: halal please, we are [[Muslims|RELIGION]]. Direct debit from {iban}, "
    "{name}",
)
EN["hausverwaltung"] += (
    "A neighbour stuck a poster on my door because I'm {politics}. Tenant no. "
    "{customer_number}, {name}, {phone}",
    "Deposit account: {bad_iban} is wrong, please transfer to {iban}. Handover was on {date}.",
)
EN["wohngeld"] += (
    "Flatmate from Italy, codice fiscale {cf}, living with me since {date}. Do I list him?",
    "I'm [[deaf|HEALTH]] – please reply in writing only. {name}, file {aktenzeichen}",
)
EN["gesundheitsamt"] += (
    "Genetic counselling: our family has {genetic}. We'd like an appointment. {name}, {phone}",
)
EN["kfz_zulassung"] += (
    "Registration for my company: VAT ID {vat}, tax number {stnr}, contact {herr_frau}, {phone}.",
)
EN["versicherung"] += (
    "Is my credit card {cc} travel-insured with you? The app says it ends in {card_last4}, "
    "which doesn't match.",
)
EN["telekom"] += (
    "Your shop scanned my passport ({passport_mrz}) for the contract. Please delete the copy. "
    "Customer no. {customer_number}",
)
EN["stadtwerke"] += (
    "I'm the [[works council chair|category_nearmiss]] at a supplier and ask for colleagues: is "
    "there a social tariff? Info to {email}",
)
