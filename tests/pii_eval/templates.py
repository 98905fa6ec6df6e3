# ruff: noqa: RUF001 -- German and English typography: en dashes in the sentences are meant
"""The evaluation set's sentence templates: contact-centre and public-sector language.

``{slot}`` holes are filled by ``generate.Filler`` (identifiers, names, contact details, look-
alikes); ``[[text|kind]]`` marks a fixed phrase as a labelled entity or a look-alike of
``kind``. Data only: the rules live in generate.py.
"""

from __future__ import annotations

GREETINGS = {
    "de": ("Sehr geehrte Damen und Herren,", "Guten Tag,", "Hallo zusammen,", "{dear},",
           "Liebes Serviceteam,"),
    "en": ("Dear Sir or Madam,", "Hello,", "Hi there,", "{dear},", "Dear support team,"),
}  # fmt: skip
CLOSINGS = {
    "de": ("Mit freundlichen Grüßen\n{name}\nTel. {phone}",
           "Viele Grüße\n{name}\n{email}",
           "Freundliche Grüße\n{herr_frau}\nMobil: {mobile} | E-Mail: {email}",
           "Beste Grüße\n{first}",
           "Mit freundlichen Grüßen\n{name}\n{street_address}, {postal_code}"),
    "en": ("Kind regards,\n{name}\nPhone: {phone}",
           "Best wishes,\n{name}\n{email}",
           "Regards,\n{herr_frau}\nMobile: {mobile} | Email: {email}",
           "Thanks,\n{first}",
           "Yours faithfully,\n{name}\n{street_address}, {postal_code}"),
}  # fmt: skip

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {"de": {}, "en": {}}
TEMPLATES["de"]["stadtwerke"] = (
    "Guten Tag, ich ziehe zum {date} nach {postal_code} um und möchte meinen Stromvertrag "
    "(Kundennummer {customer_number}) mitnehmen. Der Zählerstand am Auszugstag war "
    "{meter_reading}. Erreichbar bin ich unter {phone}.",
    "Bitte buchen Sie die Abschläge ab sofort von meinem neuen Konto ab: IBAN {iban}, "
    "Kontoinhaberin {name_f}. Das SEPA-Mandat für Vertragskonto {contract_number} soll bleiben.",
    "Hallo, meine Jahresabrechnung {invoice_number} über {price} ist viel zu hoch. Die "
    "Zählernummer {meter_number} auf der Rechnung stimmt nicht mit meinem Zähler überein. "
    "Bitte rufen Sie mich zurück: {phone}.",
    "Der Abschlag steigt laut Schreiben vom {date} um {percentage} auf {price} – das kann ich "
    "als Rentnerin kaum bezahlen. Gibt es eine Ratenzahlung?",
    "Seit {date} haben wir in der {street_address} kein warmes Wasser. Die [[Frau am "
    "Schalter|name_lookalike]] im Kundenzentrum meinte, ich solle mich schriftlich melden. "
    "Antwort bitte an {email}.",
    "Mein Mann {name_m} ist verstorben; bitte stellen Sie den Gasvertrag {contract_number} auf "
    "mich um. Sie erreichen mich unter {mobile}.",
    "Ich bin wegen [[COPD|HEALTH]] auf ein Beatmungsgerät angewiesen – bitte sperren Sie den "
    "Stromanschluss in {postal_code} auf keinen Fall. Kundennummer {customer_number}.",
    "Wie hoch ist der Grundpreis im Tarif Ökostrom ab {date}? Auf der Website stehen {price} "
    "im Monat, im Brief {price}.",
)
TEMPLATES["de"]["krankenkasse"] = (
    "Hallo, ich brauche eine neue Gesundheitskarte, meine alte ist gebrochen. "
    "Versichertennummer {kvnr}, Anschrift {street_address}, {postal_code}.",
    "Mein Arzt hat {health} diagnostiziert und eine Reha empfohlen. Meine Versichertennummer "
    "ist {kvnr}, Rückruf bitte unter {phone}.",
    "Anbei die Rechnung der [[Physiotherapie|HEALTH]] über {price} (Rechnungsnummer "
    "{invoice_number}). Die Erstattung bitte auf {iban} überweisen.",
    "Meine Tochter {name_f} (Versichertennummer {kvnr}) hat {health}; wir brauchen eine "
    "Haushaltshilfe, solange ich im Krankenhaus bin.",
    "Ich war bis {date} in den Niederlanden versichert, meine BSN ist {bsn}. Bitte klären Sie "
    "die Vorversicherungszeit mit der Zorgverzekeraar.",
    "Zahlt die Kasse einen [[Gentest|GENETIC]]? In meiner Familie gab es mehrfach "
    "[[Brustkrebs|HEALTH]], und meine Schwester hat {genetic}. Versichertennummer {kvnr}.",
    "Als [[Diabetikerin|HEALTH]] benötige ich ein neues Blutzuckermessgerät. Das Rezept "
    "(ausgestellt von Praxis {herr_frau}) habe ich am {date} eingereicht, Vorgangsnummer "
    "{case_number}.",
    "Wie lange dauert die Bearbeitung meines Antrags vom {date}? Der [[Herr an der "
    "Hotline|name_lookalike]] sprach von sechs Wochen.",
    "Ich bin bei der {organisation} versichert und wechsle zum {date}. Bei der Eingabe meiner "
    "{bad_id} meldet das Online-Formular „ungültig“ – habe ich mich vertippt?",
)
TEMPLATES["de"]["versicherung"] = (
    "Schadenmeldung: Am {date} um {time} ist mir auf der [[A 9|road]] ein Fahrzeug mit dem "
    "Kennzeichen {plate} aufgefahren. Mein Kennzeichen: {plate}, Versicherungsscheinnummer "
    "{policy_number}.",
    "Für die Berufsunfähigkeitsversicherung fragt der Antrag nach Vorerkrankungen: Ich habe "
    "{health} und bin seit {date} in Behandlung (behandelnd: {herr_frau}).",
    "Bitte ändern Sie die Bankverbindung für den Vertrag {policy_number} auf {iban} "
    "(Kontoinhaber {name_m}).",
    "Darf die Lebensversicherung einen [[Gentest|GENETIC]] verlangen? Mein Vater hatte "
    "[[Chorea Huntington|HEALTH]]. Rückruf bitte unter {phone}.",
    "Einbruch am {date} in der {street_address}, {postal_code}: gestohlen wurden ein Laptop "
    "({price}) und Schmuck. Das Aktenzeichen der Polizei lautet {aktenzeichen}.",
    "Unser Sohn {name_m} fährt ab jetzt den Wagen {plate} mit; bitte nehmen Sie ihn als Fahrer "
    "auf. Laut Rechner steigt der Beitrag um {price}.",
    "Die [[Vertragspartei|category_nearmiss]] muss den Schaden innerhalb einer Woche melden. "
    "Gilt das auch, wenn der Unfall am {date} im Ausland war?",
    "Meine Kreditkarte {cc} ist über Ihre Reiseversicherung abgesichert; sie wurde am {date} "
    "in Barcelona gestohlen. Die spanische Polizei hat meine Angaben notiert ({foreign_id}).",
)
TEMPLATES["de"]["bank"] = (
    "Ich möchte einen Freistellungsauftrag über {price} einrichten. Meine Steuer-ID lautet "
    "{taxid}, mein Konto {iban}.",
    "Bitte sperren Sie sofort meine Kreditkarte {cc}, sie wurde mir heute um {time} gestohlen. "
    "Rückruf an {mobile}.",
    "Für die Videoidentifikation habe ich meinen Personalausweis bereitgelegt, "
    "Ausweisnummer {idcard}, gültig bis {date}.",
    "Überweisung an {name}, IBAN {iban}, BIC {bic}, Betrag {price}, Verwendungszweck Rechnung "
    "{invoice_number}.",
    "Für das Geschäftskonto verlangen Sie unsere USt-IdNr. {vat} und die Steuernummer {stnr}. "
    "Ansprechpartner bei uns ist {herr_frau}, {phone}.",
    "Beim Online-Banking kommt „IBAN ungültig“ für {bad_iban}. Ich habe die Nummer von der "
    "Rechnung abgetippt.",
    "Seit dem Update auf {version} klappt die Anmeldung per [[Fingerabdruck|BIOMETRIC]] in der "
    "Banking-App nicht mehr.",
    "Meine Mutter {name_f} hat {health}; ich habe eine Vorsorgevollmacht und möchte ihr Konto "
    "{iban_de} mitverwalten.",
    "Wie hoch sind die Zinsen für Tagesgeld ab {date}? Im Flyer stehen {percentage}, online "
    "{percentage}.",
    "Die Abbuchung mit der Karte {bad_cc} wurde abgelehnt, obwohl das Konto gedeckt ist. "
    "Bitte prüfen Sie das bis {date}.",
)
TEMPLATES["de"]["telekom"] = (
    "Mein Internet fällt seit {date} jeden Abend gegen {time} aus. Die FRITZ!Box ({version}) "
    "hat die IP {ip}. Kundennummer {customer_number}, Rückruf bitte unter {phone}.",
    "Bitte portieren Sie meine Rufnummer {phone} zum {date} zu Ihnen. Der bisherige Vertrag "
    "läuft auf {name}.",
    "Ich habe die Rechnung {invoice_number} über {price} bekommen, obwohl der Vertrag "
    "gekündigt ist. Das Ticket {ticket_number} ist seit Wochen offen.",
    "Der Techniker kommt am {date} zwischen {time} und {time}. Bitte vorher kurz anrufen: "
    "{mobile}.",
    "Ich soll meine E-Mail-Adresse {email} neu bestätigen, aber der Link funktioniert nicht. "
    "Mein Router meldet sich mit {ip}.",
    "Der [[Herr an der Hotline|name_lookalike]] sagte, die Störung sei behoben – ist sie nicht. "
    "Vorgangsnummer {case_number}, Anschluss {phone}.",
    "Für den Neuvertrag im Shop habe ich meinen Reisepass vorgelegt, Passnummer {passport}. "
    "Warum brauchen Sie jetzt noch eine Kopie?",
    "Gibt es Glasfaser in {postal_code}? Im Moment habe ich nur {quantity} und zahle {price} "
    "im Monat.",
    "Sendungsnummer {tracking_number}: der neue Router ist nie angekommen. Bitte an "
    "{street_address} in {postal_code} liefern.",
)
TEMPLATES["de"]["support_email"] = (
    "Hallo Support, unser API-Key {apikey} ist versehentlich in einem öffentlichen Repository "
    "gelandet. Bitte sofort sperren. Gruß, {name}",
    "Der Request liefert 401, obwohl ich den Header Authorization: Bearer {bearer} "
    "mitschicke. Server-IP {ip}, Client {version}.",
    "Hier der Schlüssel aus der Konfiguration, damit Sie den Fehler nachstellen können:\n"
    "{pem}\nBitte danach löschen!",
    "Das Token {jwt} wird vom Gateway abgelehnt (Ticket {ticket_number}). Der Zugriff kam von "
    "{ip}.",
    "Bitte legen Sie für unsere neue Kollegin {name_f} ({email}) einen Zugang an. Sie ist unter "
    "{phone} erreichbar.",
    "Nach dem Update auf {version} stürzt der Client beim Start ab; unter {version} lief alles. "
    "Ticket {ticket_number}.",
    "In der .env stehen AWS_ACCESS_KEY_ID={aws_id} und AWS_SECRET_ACCESS_KEY={aws_secret} – "
    "ist das so richtig?",
    "Die Rechnung {invoice_number} über {price} bitte an unsere Buchhaltung; USt-IdNr. {vat}, "
    "Bestellnummer {order_number}.",
)
TEMPLATES["de"]["buergeramt"] = (
    "Ich möchte einen neuen Personalausweis beantragen. Mein alter Ausweis (Nr. {idcard}) "
    "läuft am {date} ab. Den Termin bitte an {email}.",
    "Für den Kinderreisepass unseres Sohnes {name_m} bringen wir ein [[biometrisches "
    "Passbild|BIOMETRIC]] mit. Werden die [[Fingerabdrücke|BIOMETRIC]] auch bei Kindern "
    "genommen?",
    "Anmeldung: {name}, geboren am {birth_date}, Religion: {religion}, neue Anschrift "
    "{street_address}, {postal_code}.",
    "Mein Reisepass {passport} ist verloren gegangen; die Verlustanzeige hat das Aktenzeichen "
    "{aktenzeichen}.",
    "Die Ausweis-App liest als Dokumentennummer {idcard_mrz}. Auf der Karte selbst steht die "
    "Seriennummer anders – ist das normal?",
    "Wo kann ich meinen [[Kirchenaustritt|RELIGION]] erklären? Ich wohne seit {date} in "
    "{postal_code}.",
    "Das Bürgeramt hat dienstags von {time} bis {time} geöffnet. Die [[Frau am "
    "Schalter|name_lookalike]] war sehr freundlich, aber die Wartemarke {case_number} kam nie "
    "dran.",
    "Bitte schicken Sie die Meldebescheinigung an {street_address}, {postal_code}. "
    "Antragsteller: {herr_frau}, geboren am {birth_date}. Die Gebühr von {price} überweise ich.",
    "Beim Antrag hat das Amt {biometric} von mir erfasst. Wie lange werden die Daten "
    "gespeichert? Ausweisnummer {idcard}.",
)
TEMPLATES["de"]["finanzamt"] = (
    "Steuernummer {stnr}, Steuer-ID {taxid}: Ich bitte um Fristverlängerung für die "
    "Erklärung {year} bis zum {date}.",
    "Ich habe Krankheitskosten von {price} angesetzt, weil ich {health} habe. Die Belege "
    "reiche ich nach; Steuer-ID {taxid}.",
    "Als {union} habe ich {price} [[Gewerkschaftsbeiträge|TRADE_UNION]] als Werbungskosten "
    "in der [[Anlage N|form_name]] eingetragen.",
    "Ich bin {politics} und habe {price} Mitgliedsbeitrag gezahlt. Ist das nach § 34g "
    "abziehbar? Steuernummer {stnr}.",
    "Die Erstattung von {price} bitte auf das Konto {iban_de}. Die Steuer-ID meines Mannes "
    "{name_m} ist {taxid}.",
    "Umsatzsteuer-Voranmeldung für {date}: USt-IdNr. {vat}, Kassenzeichen {kassenzeichen}, "
    "Zahlbetrag {price}.",
    "Auf der Lohnsteuerbescheinigung steht noch [[Kirchensteuer|RELIGION]], obwohl ich seit "
    "{date} nicht mehr {religion} bin. Steuer-ID {taxid}.",
    "Reicht für {year} die [[Anlage KAP|form_name]] oder brauche ich zusätzlich das Formular "
    "[[ESt 1 A|form_name]]?",
    "Die Steuer-ID im Bescheid, {bad_taxid}, stimmt nicht mit meiner überein. Meine richtige "
    "lautet {taxid}.",
    "Ich habe {price} [[Weihnachtsgeld|category_nearmiss]] bekommen; muss das extra "
    "angegeben werden? Steuernummer {stnr}, {herr_frau}.",
)
TEMPLATES["de"]["jobcenter"] = (
    "Ich beziehe Bürgergeld, BG-Nummer {bg_number}. Bitte überweisen Sie ab {date} auf mein "
    "neues Konto {iban}.",
    "Den Termin am {date} um {time} kann ich nicht wahrnehmen, weil ich {health} habe und "
    "[[krankgeschrieben|HEALTH]] bin. {name}, Tel. {phone}",
    "Für den Weiterbewilligungsantrag: Rentenversicherungsnummer {rvnr}, Steuer-ID {taxid}.",
    "Meine Frau {name_f} hat vorher in Polen gearbeitet, ihre PESEL ist {pesel}. Werden diese "
    "Zeiten angerechnet?",
    "Die Mietbescheinigung für {street_address}, {postal_code} (Kaltmiete {price}) schicke ich "
    "von {email}.",
    "Wie viel darf ich im Minijob dazuverdienen? Mein Arbeitgeber zahlt {price} im Monat, und "
    "ich bin mit den Schulden nicht mehr [[Herr der Lage|name_lookalike]].",
    "Da ich {union} bin, begleitet mich ein Gewerkschaftssekretär zum Termin am {date}. "
    "BG-Nummer {bg_number}.",
    "Ich war drei Jahre in Spanien beschäftigt; meine NIE war {nie}. Reicht eine Kopie des "
    "Arbeitsvertrags?",
)
TEMPLATES["de"]["auslaenderbehoerde"] = (
    "Ich bin {ethnic} und wurde in meinem Herkunftsland verfolgt. Mein Rechtsbeistand, "
    "{herr_frau}, hat die Unterlagen eingereicht, Aktenzeichen {aktenzeichen}.",
    "Ich wurde in meinem Heimatland bedroht, weil ich {orientation} bin. Bitte schreiben Sie "
    "mir nur an {email}.",
    "Für die Niederlassungserlaubnis: Mein Ehemann {name_m} ist Deutscher, Personalausweis "
    "{idcard}. Ich habe vorher in Spanien gelebt, NIE {nie}.",
    "Mein Codice Fiscale ist {cf}, meine deutsche Steuer-ID {taxid}. Welche Nummer brauchen "
    "Sie für die Blaue Karte?",
    "Ich studiere in {city} und komme aus Frankreich, NIR {nir}. Brauche ich überhaupt eine "
    "Aufenthaltserlaubnis?",
    "Bitte schicken Sie die Fiktionsbescheinigung an {street_address}, {postal_code}; mein "
    "Termin war am {date} um {time}.",
    "In der Botschaft wurden {biometric} von meiner Mutter erfasst. Wann wird das Visum "
    "erteilt? Vorgang {case_number}.",
    "Ich bin [[Christin|RELIGION]] und wurde deswegen im Iran bedroht. Rückruf bitte unter "
    "{phone}.",
    "Ich bin Grenzgängerin aus den Niederlanden, BSN {bsn}, und arbeite in {city}. Gilt die "
    "Freizügigkeit auch für meinen Mann?",
)
TEMPLATES["de"]["kfz_zulassung"] = (
    "Ich möchte mein Auto mit dem Kennzeichen {plate} abmelden. Für das neue Fahrzeug: eVB "
    "{evb_number}, FIN {vin}.",
    "Bitte reservieren Sie das Wunschkennzeichen {plate} für {name}; die Gebühr von {price} "
    "bitte von {iban_de} abbuchen.",
    "Zur Zulassung bringe ich meinen Personalausweis {idcard}, die Zulassungsbescheinigung "
    "Teil II und die eVB-Nummer {evb_number} mit.",
    "Das Fahrzeug {plate} wurde am {date} von meinem Vater {name_m} auf mich umgeschrieben, die "
    "Kfz-Steuer wird aber noch von seinem Konto {iban_de} abgebucht.",
    "Wie lange dauert eine Umschreibung? Ich habe einen Termin am {date} um {time}, "
    "Vorgangsnummer {case_number}.",
    "Die Führerscheinstelle verlangt ein Gutachten, weil ich {health} habe. Mein Kennzeichen "
    "ist {plate}, Tel. {mobile}.",
    "Parken vor der [[Kirchgasse 4|street_address]] ist mit dem Kennzeichen {plate} erlaubt? "
    "Ich habe einen Anwohnerparkausweis bis {date}.",
)
TEMPLATES["de"]["rentenversicherung"] = (
    "Versicherungsnummer {rvnr}: Bitte senden Sie mir eine Renteninformation an "
    "{street_address}, {postal_code}.",
    "Ich habe von {year} bis {year} in Österreich gearbeitet, meine SV-Nummer ist {svnr}. "
    "Bitte berücksichtigen Sie diese Zeiten.",
    "Antrag auf medizinische Reha: Ich habe {health}. Versicherungsnummer {rvnr}, "
    "Versichertennummer der Krankenkasse {kvnr}.",
    "Die Rente bitte ab {date} auf das Konto {iban} überweisen. Steuer-ID für die Meldung an "
    "das Finanzamt: {taxid}.",
    "Meine Mutter {name_f} (Versicherungsnummer {rvnr}) ist am {date} verstorben. Ich beantrage "
    "die Witwerrente für meinen Vater.",
    "Für die Anrechnung meiner Auslandszeiten: {foreign_id}. Die Nachweise schicke ich per Post.",
    "Wie hoch ist der Abschlag bei der Rente mit 63? Laut Rechner {percentage} weniger, also "
    "etwa {price} im Monat.",
    "In der Versicherungsnummer {bad_rvnr} ist wohl ein Zahlendreher. Bitte prüfen Sie das, "
    "{herr_frau}.",
    "Ich habe in Italien gearbeitet (Codice Fiscale {cf}) und in Frankreich (NIR {nir}). "
    "Werden beide Zeiten übertragen?",
)
TEMPLATES["de"]["gesundheitsamt"] = (
    "Mein Sohn {name_m} hat [[Masern|HEALTH]]; er geht in eine Kita in {postal_code}. Bitte "
    "rufen Sie mich an: {phone}.",
    "Ich bin [[HIV-positiv|HEALTH]] und brauche eine Beratung zur Therapie. Bitte nur per "
    "E-Mail an {email} antworten.",
    "Belehrung nach Infektionsschutzgesetz für {name}, geboren am {birth_date}; Termin am "
    "{date} um {time}.",
    "Bei drei Bewohnern unserer Einrichtung wurde [[Norovirus|HEALTH]] nachgewiesen. "
    "Ansprechperson: {herr_frau}, {phone}.",
    "Ich bin [[schwanger|HEALTH]] und arbeite in einer Kita. Bekomme ich wegen "
    "[[Ringelröteln|HEALTH]] ein Beschäftigungsverbot?",
    "Für die Einschulungsuntersuchung meiner Tochter {name_f} bringe ich den Impfpass mit; sie "
    "hat {health}.",
    "Wo finde ich das [[Gesundheitsamt|category_nearmiss]] in {postal_code}, und wann ist die "
    "Impfsprechstunde? Laut Website {time} bis {time}.",
    "Das Labor hat bei mir {genetic} festgestellt. Wer berät mich? Versichertennummer {kvnr}.",
    "Mein Computer hat einen [[Computervirus|category_nearmiss]], deshalb kam das Formular "
    "{case_number} nicht an. Ich schicke es an {org_email}.",
)
TEMPLATES["en"]["stadtwerke"] = (
    "Hello, I am moving to {postal_code} on {date} and would like to keep my electricity "
    "contract (customer number {customer_number}). The final meter reading was "
    "{meter_reading}. You can reach me on {phone}.",
    "Please take the monthly instalments from my new account from now on: IBAN {iban}, account "
    "holder {name}. The direct debit mandate for contract {contract_number} should stay.",
    "My annual bill {invoice_number} for {price} is far too high, and meter number "
    "{meter_number} on the bill is not the meter in my flat. Please call me back on {mobile}.",
    "Your letter of {date} says my instalment rises by {percentage} to {price}. [[Will|"
    "name_lookalike]] there be a hardship fund?",
    "We have had no hot water at {street_address} since {date}. The lady at the counter told "
    "me to write to {org_email}; please reply to {email}.",
    "My husband {name_m} passed away; please transfer the gas contract {contract_number} to my "
    "name. I am {religion} and the funeral is on {date}, so please call after that: {phone}.",
    "I rely on a home ventilator because of my [[motor neurone disease|HEALTH]], so please do "
    "not disconnect the supply. Customer number {customer_number}.",
)
TEMPLATES["en"]["krankenkasse"] = (
    "Hi, my health insurance card is broken and I need a new one. Insurance number {kvnr}, "
    "address {street_address}, {postal_code}.",
    "I was diagnosed with {health} last month and my GP recommends rehab. My insurance number "
    "is {kvnr}; please call me on {phone}.",
    "Attached is the [[physiotherapy|HEALTH]] invoice {invoice_number} for {price}. Please "
    "refund it to {iban}.",
    "Before moving to Germany I was insured in the Netherlands, my BSN is {bsn}. Could you "
    "confirm the previous insurance period with my old insurer?",
    "Does the fund pay for a [[genetic test|GENETIC]]? My mother had [[ovarian cancer|HEALTH]] "
    "and my sister carries {genetic}. Insurance number {kvnr}.",
    "As a [[diabetic|HEALTH]] I need a new glucose meter. My prescription from {herr_frau} was "
    "sent on {date}, case number {case_number}.",
    "I switch from the {organisation} on {date}. The online form keeps rejecting my {bad_id} – "
    "did I mistype something?",
    "[[Bill|name_lookalike]] payments for my premium failed twice. My card {cc} is valid until "
    "next year; please retry the charge.",
)
TEMPLATES["en"]["versicherung"] = (
    "Claim report: on {date} at {time} a car with the registration {plate} drove into me on "
    "the [[A 8|road]]. My own plate is {plate}, policy number {policy_number}.",
    "The disability insurance form asks about pre-existing conditions: I have {health} and "
    "have been treated by {herr_frau} since {date}.",
    "Please update the bank details for policy {policy_number} to {iban} (account holder {name}).",
    "Burglary at {street_address}, {postal_code} on {date}: a laptop ({price}) and jewellery "
    "were stolen. The police reference is {aktenzeichen}.",
    "Our son {name_m} will also drive the car {plate} from now on; please add him as a driver. "
    "The calculator shows an increase of {price}.",
    "The [[other party|category_nearmiss]] to the accident has not reported it yet. Is that a "
    "problem for my no-claims bonus? Reference {case_number}.",
    "A test showed that I have {genetic}. Can the life insurer ask about that? My father had "
    "[[Huntington's disease|HEALTH]]. Please call me on {mobile}.",
)
TEMPLATES["en"]["bank"] = (
    "I would like to set up an exemption order for {price}. My German tax ID is {taxid}, my "
    "account {iban}.",
    "Please block my credit card {cc} immediately, it was stolen today at {time}. Call me back "
    "on {phone}.",
    "For the video identification I have my German ID card ready, number {idcard}, valid "
    "until {date}.",
    "Transfer to {name}, IBAN {iban}, BIC {bic}, amount {price}, reference invoice "
    "{invoice_number}.",
    "For the business account you asked for our VAT ID {vat} and our tax number {stnr}. "
    "Contact person is {herr_frau}, {phone}.",
    "Online banking says 'invalid IBAN' for {bad_iban}. I copied it from the invoice.",
    "Since the update to {version} the app no longer accepts my [[fingerprint|BIOMETRIC]] "
    "for login.",
    "My mother {name_f} has {health}; I hold a lasting power of attorney and would like to "
    "manage her account {iban_de}.",
    "What is the interest rate on the savings account from {date}? The flyer says "
    "{percentage}, the website {percentage}.",
    "I am an expat from Spain and opened the account with my DNI {dni}; my wife used her "
    "{foreign_id}.",
)
TEMPLATES["en"]["telekom"] = (
    "My internet drops every evening around {time} since {date}. The router ({version}) has "
    "the IP {ip}. Customer number {customer_number}, please call {phone}.",
    "Please port my number {phone} to you on {date}. The old contract is in the name of {name}.",
    "I received invoice {invoice_number} for {price} although I cancelled the contract. "
    "Ticket {ticket_number} has been open for weeks.",
    "The technician is booked for {date} between {time} and {time}. Please call me "
    "beforehand: {mobile}.",
    "I was asked to confirm my email address {email} again but the link is broken. My router "
    "shows the public IP {ip}.",
    "The [[gentleman on the hotline|name_lookalike]] said the fault was fixed – it is not. "
    "Case {case_number}, line {phone}.",
    "For the new contract in the shop I showed my German passport, number {passport}. Why do "
    "you need a copy now?",
    "Is fibre available in {postal_code}? At the moment I only get {quantity} for {price} a "
    "month. [[Grant|name_lookalike]] me a discount, please!",
)
TEMPLATES["en"]["support_email"] = (
    "Hi support, our API key {apikey} was accidentally pushed to a public repository. Please "
    "revoke it right away. Cheers, {name}",
    "The request returns 401 although I send the header Authorization: Bearer {bearer}. "
    "Server IP {ip}, client {version}.",
    "Here is the key from our config so you can reproduce the error:\n{pem}\nPlease delete "
    "it afterwards!",
    "The gateway rejects the token {jwt} (ticket {ticket_number}). The request came from {ip}.",
    "Please create an account for our new colleague {name_f} ({email}). She can be reached on "
    "{phone}.",
    "After upgrading to {version} the client crashes on start; {version} worked fine. This "
    "looks like a [[race condition|category_nearmiss]]. Ticket {ticket_number}.",
    "Our .env has AWS_ACCESS_KEY_ID={aws_id} and AWS_SECRET_ACCESS_KEY={aws_secret} – is "
    "that the right format?",
    "Please send invoice {invoice_number} for {price} to accounts; VAT ID {vat}, purchase "
    "order {order_number}. [[Mark|name_lookalike]] it as paid once settled.",
    "We use a [[genetic algorithm|category_nearmiss]] for scheduling and the API key "
    "{apikey} hits the rate limit every night. Can you raise it?",
)
TEMPLATES["en"]["buergeramt"] = (
    "I would like to apply for a new ID card. My old card (no. {idcard}) expires on {date}. "
    "Please send the appointment to {email}.",
    "For our son {name_m}'s child passport we will bring a [[biometric photo|BIOMETRIC]]. Are "
    "[[fingerprints|BIOMETRIC]] taken from children as well?",
    "Registration: {name}, born {birth_date}, religion: {religion}, new address {street_address}, "
    "{postal_code}.",
    "My German passport {passport} was lost; the police report has the reference {aktenzeichen}.",
    "Where do I declare that I am [[leaving the church|RELIGION]]? I have lived in "
    "{postal_code} since {date}.",
    "The citizens' office is open on Tuesdays from {time} to {time}. The clerk was friendly, "
    "but waiting number {case_number} was never called.",
    "Please send a certificate of registration for {herr_frau}, born {birth_date}, to "
    "{street_address}, {postal_code}. I will transfer the fee of {price}.",
    "When I applied, the office recorded {biometric}. How long is that data kept? ID card "
    "{idcard}.",
    "The machine-readable zone of my passport shows {passport_mrz} as the document number. Is "
    "the last digit part of it?",
)
TEMPLATES["en"]["finanzamt"] = (
    "Tax number {stnr}, tax ID {taxid}: I kindly ask for an extension for the {year} return "
    "until {date}.",
    "I claimed medical costs of {price} because I have {health}. I will send the receipts; "
    "tax ID {taxid}.",
    "As I am {union}, I entered {price} of [[union dues|TRADE_UNION]] as work expenses.",
    "I am {politics} and paid {price} in membership fees. Can I deduct them?",
    "Please pay the refund of {price} into {iban_de}. My husband {name_m}'s tax ID is {taxid}.",
    "VAT return for {date}: VAT ID {vat}, payment reference {kassenzeichen}, amount {price}.",
    "My payslip still deducts [[church tax|RELIGION]] although I have not been {religion} "
    "since {date}. Tax ID {taxid}.",
    "The tax ID in the notice, {bad_taxid}, is not mine. My correct one is {taxid}.",
    "My freelance clients in the [[European Union|category_nearmiss]] need my VAT ID {vat}; "
    "is the reverse charge note enough?",
)
TEMPLATES["en"]["jobcenter"] = (
    "I receive citizen's benefit, BG number {bg_number}. Please pay to my new account {iban} "
    "from {date}.",
    "I cannot attend the appointment on {date} at {time} because I have {health} and am on "
    "[[sick leave|HEALTH]]. {name}, phone {phone}",
    "For the renewal: pension insurance number {rvnr}, tax ID {taxid}.",
    "My wife {name_f} worked in Poland before; her PESEL is {pesel}. Will those periods count?",
    "I will send the rent certificate for {street_address}, {postal_code} (rent {price}) from "
    "{email}.",
    "As I am {union}, a union representative will come with me on {date}. BG number {bg_number}.",
    "I worked in Austria for two years; my Austrian social insurance number is {svnr}. Do "
    "you need the contract too?",
)
TEMPLATES["en"]["auslaenderbehoerde"] = (
    "I am {ethnic} and was persecuted in my home country. My lawyer {herr_frau} has filed the "
    "documents, reference {aktenzeichen}.",
    "I was threatened at home because I am {orientation}. Please only write to me at {email}.",
    "For the settlement permit: my husband {name_m} is German, ID card {idcard}. I lived in "
    "Spain before, NIE {nie}.",
    "My codice fiscale is {cf} and my German tax ID is {taxid}. Which one do you need for the "
    "Blue Card?",
    "I am a student from France in {city}, social security number {nir}. Do I need a "
    "residence permit at all?",
    "Please send the provisional certificate to {street_address}, {postal_code}; my "
    "appointment was on {date} at {time}.",
    "I am [[Christian|RELIGION]] and was threatened for it in Iran. Please call me on {phone}.",
    "The embassy recorded {biometric} of my mother. When will the visa be issued? Case "
    "{case_number}.",
    "I commute from Maastricht, BSN {bsn}, and work in {city}. Does free movement cover my "
    "husband too?",
)
TEMPLATES["en"]["kfz_zulassung"] = (
    "I want to deregister my car with the plate {plate}. For the new vehicle: eVB "
    "{evb_number}, VIN {vin}.",
    "Please reserve the personalised plate {plate} for {name}; debit the fee of {price} from "
    "{iban_de}.",
    "For the registration I will bring my ID card {idcard}, the registration certificate part "
    "II and the eVB number {evb_number}.",
    "The car {plate} was transferred from my father {name_m} to me on {date}, but the vehicle "
    "tax is still taken from his account {iban_de}.",
    "How long does a re-registration take? I booked {date} at {time}, case number {case_number}.",
    "The licensing office wants a medical report because I have {health}. My plate is {plate}, "
    "mobile {mobile}.",
)
TEMPLATES["en"]["rentenversicherung"] = (
    "Pension insurance number {rvnr}: please send my pension statement to {street_address}, "
    "{postal_code}.",
    "I worked in Austria from {year} to {year}; my social insurance number there is {svnr}. "
    "Please take these periods into account.",
    "Application for medical rehab: I have {health}. Pension number {rvnr}, health insurance "
    "number {kvnr}.",
    "Please pay the pension from {date} into {iban}. Tax ID for the tax office: {taxid}.",
    "My mother {name_f} (pension number {rvnr}) died on {date}. I am applying for the widower's "
    "pension for my father.",
    "For my periods abroad: {foreign_id}. I will post the evidence.",
    "The pension number {bad_rvnr} seems to contain a typo. Could you check it, {herr_frau}?",
    "I worked in Italy (codice fiscale {cf}) and in Poland (PESEL {pesel}). Are both periods "
    "transferred?",
)
TEMPLATES["en"]["gesundheitsamt"] = (
    "My son {name_m} has [[measles|HEALTH]]; he attends a nursery in {postal_code}. Please call "
    "me: {phone}.",
    "I am [[HIV positive|HEALTH]] and need advice on treatment. Please reply by email only: "
    "{email}.",
    "Infection control briefing for {name}, born {birth_date}; appointment on {date} at {time}.",
    "Three residents of our care home tested positive for [[norovirus|HEALTH]]. Contact: "
    "{herr_frau}, {phone}.",
    "I am [[pregnant|HEALTH]] and work in a nursery. Will I get a work ban because of "
    "[[slapped cheek syndrome|HEALTH]]?",
    "The lab found {genetic} in my results. Who can advise me? Insurance number {kvnr}.",
    "Where is the public health office in {postal_code}, and when is the vaccination clinic? "
    "The website says {time} to {time}. [[Hope|name_lookalike]] you can help.",
    "For my daughter {name_f}'s school entry check I will bring her vaccination record; she "
    "has {health}.",
)
# Rarer identifiers, mistyped identifiers and special categories, added per domain.
TEMPLATES["de"]["bank"] += (
    "Ich bin Spanierin und habe das Konto mit meiner DNI {dni} eröffnet. Bitte hinterlegen Sie "
    "zusätzlich meine Kreditkarte {cc}.",
    "Die Überweisung an {bad_iban} kam zurück. Die richtige IBAN von {name} lautet {iban}.",
)
TEMPLATES["de"]["krankenkasse"] += (
    "Auf der Karte meines Sohnes steht {bad_kvnr}, im Brief aber {kvnr}. Welche Nummer stimmt?",
    "Die BSN {bad_bsn} aus meinem alten Vertrag wird nicht akzeptiert – meine richtige BSN ist "
    "{bsn}.",
    "Ich bin spanische Staatsangehörige (DNI {dni}) und brauche eine Bescheinigung für die "
    "Krankenversicherung in Madrid.",
)
TEMPLATES["de"]["finanzamt"] += (
    "ELSTER markiert zwei Angaben als fehlerhaft: {bad_id} und {bad_id}. Können Sie mir helfen?",
)
TEMPLATES["de"]["support_email"] += (
    "Die USt-IdNr. {bad_vat} im Kundenkonto ist falsch; korrekt ist {vat}. Bitte die "
    "Rechnung {invoice_number} neu ausstellen.",
)
TEMPLATES["de"]["jobcenter"] += (
    "Im Bescheid wurde meine Angabe falsch übernommen ({bad_id}). Richtig ist {foreign_id}.",
    "Mein Partner und ich leben in einer [[gleichgeschlechtlichen|SEXUAL_ORIENTATION]] "
    "Partnerschaft; zählt er zur Bedarfsgemeinschaft? BG-Nummer {bg_number}.",
    "Der Betriebsrat sagt, als {union} bekomme ich Rechtsschutz. Mein Arbeitgeber hat mir "
    "zum {date} gekündigt.",
)
TEMPLATES["de"]["auslaenderbehoerde"] += (
    "Ich war in der Türkei [[Mitglied der HDP|POLITICAL_OPINION]] und wurde deshalb "
    "inhaftiert. Mein Rechtsbeistand ist unter {phone} erreichbar.",
    "Ich bin {ethnic} und {religion}; in meinem Heimatland werden wir verfolgt. Vorgang "
    "{case_number}.",
    "Seit ich hier lebe, bin ich {politics}. Wirkt sich das auf die Einbürgerung aus? Meine "
    "DNI: {dni}.",
    "Die NIE {bad_nie} im Formular ist nicht meine, richtig ist {nie}. Mein Codice Fiscale "
    "wurde als {bad_cf} gedruckt.",
)
TEMPLATES["de"]["buergeramt"] += (
    "Wir sind ein [[lesbisches|SEXUAL_ORIENTATION]] Paar und möchten heiraten. Meine "
    "Partnerin ist Spanierin (DNI {dni}); welche Unterlagen braucht das Standesamt?",
)
TEMPLATES["de"]["rentenversicherung"] += (
    "Ich habe in Polen gearbeitet, PESEL {pesel}; der polnische Träger hat aber {bad_pesel} "
    "bestätigt.",
    "Meine Frau {name_f} war in Spanien (NIE {nie}) und in Frankreich (NIR {nir}) versichert.",
    "Meine Mutter {name_f} bezieht eine österreichische Pension, SV-Nummer {svnr}. Ist die SV-"
    "Nummer {bad_svnr} aus dem alten Bescheid ungültig?",
    "Die DNI {bad_dni} wurde falsch abgetippt, meine ist {dni}. Die NIR {bad_nir} stimmt auch "
    "nicht.",
)
TEMPLATES["de"]["versicherung"] += (
    "Bitte buchen Sie den Beitrag künftig von meiner Kreditkarte {cc} ab. Die alte Karte "
    "{bad_cc} ist abgelaufen.",
)
TEMPLATES["de"]["telekom"] += (
    "Ich zahle per Kreditkarte {cc}; die Abbuchung für Rechnung {invoice_number} ist doppelt "
    "erfolgt.",
)
TEMPLATES["de"]["gesundheitsamt"] += (
    "Ich bin {ethnic} und spreche wenig Deutsch. Gibt es eine Dolmetscherin für die "
    "Impfberatung? Tel. {phone}",
)
TEMPLATES["de"]["kfz_zulassung"] += (
    "Ich bin [[Mitglied im ADAC|category_nearmiss]] – reicht dessen Pannenschutz, oder "
    "brauche ich mehr? Kennzeichen {plate}.",
)
TEMPLATES["en"]["bank"] += (
    "The transfer to {bad_iban} bounced. The correct IBAN of {name} is {iban}.",
    "Please add my credit card {cc} as a backup; my old card {bad_cc} has expired.",
)
TEMPLATES["en"]["krankenkasse"] += (
    "My son's card says {bad_kvnr}, but your letter says {kvnr}. Which one is right?",
    "The BSN {bad_bsn} from my old contract is rejected – my correct BSN is {bsn}.",
)
TEMPLATES["en"]["finanzamt"] += (
    "ELSTER flags two entries as invalid: {bad_id} and {bad_id}. Can you help?",
    "The VAT ID {bad_vat} in my customer account is wrong; the correct one is {vat}.",
)
TEMPLATES["en"]["jobcenter"] += (
    "The decision contains a wrong number ({bad_id}). The correct one is {foreign_id}.",
    "The works council says that as {union} I get legal protection. My employer dismissed me "
    "as of {date}.",
)
TEMPLATES["en"]["auslaenderbehoerde"] += (
    "I was a [[member of the HDP|POLITICAL_OPINION]] in Turkey and was imprisoned for it. My "
    "lawyer can be reached on {phone}.",
    "My partner and I are a [[same-sex|SEXUAL_ORIENTATION]] couple; can he join me on a family "
    "reunification visa? Please reply to {email}.",
    "I am {ethnic} and {religion}; we are persecuted at home. Case {case_number}.",
    "The NIE {bad_nie} on the form is not mine, it should be {nie}. My codice fiscale was "
    "printed as {bad_cf}.",
)
TEMPLATES["en"]["buergeramt"] += (
    "Since moving here I have become {politics}. Does that affect my naturalisation? My "
    "Spanish DNI is {dni}.",
)
TEMPLATES["en"]["rentenversicherung"] += (
    "I worked in Poland, PESEL {pesel}, but the Polish institution confirmed {bad_pesel}.",
    "My wife {name_f} was insured in Spain (NIE {nie}) and in France (NIR {nir}).",
    "My mother {name_f} receives an Austrian pension, social insurance number {svnr}. Is the "
    "number {bad_svnr} on the old notice invalid?",
    "The DNI {bad_dni} was typed wrongly, mine is {dni}. The NIR {bad_nir} is also wrong.",
)
TEMPLATES["en"]["telekom"] += (
    "I pay by credit card {cc}; invoice {invoice_number} was charged twice.",
)
TEMPLATES["en"]["gesundheitsamt"] += (
    "I am {ethnic} and my German is limited; is there an interpreter for the vaccination "
    "advice? Phone {phone}",
)
TEMPLATES["en"]["kfz_zulassung"] += (
    "I am a [[member of the ADAC|category_nearmiss]]; does their breakdown cover apply? Plate "
    "{plate}.",
)
TEMPLATES["de"]["bank"] += (
    "Der Codice Fiscale meines Mannes ist {cf}; er bekommt eine Zweitkarte. Im "
    "Freistellungsauftrag steht die Steuer-ID {bad_taxid}, korrekt ist {taxid}.",
)
TEMPLATES["de"]["buergeramt"] += (
    "Der Reisepass meiner Tochter ({passport}) ist abgelaufen; sie braucht bis {date} einen "
    "neuen. Die MRZ meines eigenen Passes zeigt {passport_mrz} – ist die letzte Ziffer eine "
    "Prüfziffer?",
)
TEMPLATES["en"]["bank"] += (
    "My Italian codice fiscale is {cf}; do you need it for the tax residency form? My German "
    "passport number is {passport}.",
)
TEMPLATES["en"]["jobcenter"] += (
    "The tax ID {bad_taxid} on the form has a typo; mine is {taxid}. Our tax number as "
    "freelancers is {stnr}.",
)
