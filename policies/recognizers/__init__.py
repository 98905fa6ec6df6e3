"""Presidio recognizers for German and EU identifiers, one small module per family.

::

    base.py         how a finding becomes Presidio's result; merging overlapping findings
    checksums.py    check digits python-stdnum lacks (social insurance numbers, ICAO 9303)
    de_ids.py       German identifiers: Steuer-ID, Steuernummer, USt-IdNr, pension, health
                    insurance, ID card and passport numbers
    eu_ids.py       IBAN, NL BSN, AT SVNR, FR NIR, IT codice fiscale, ES DNI/NIE, PL PESEL
    contact.py      phone numbers, e-mail addresses, payment cards, IP addresses
    plates.py       German vehicle licence plates
    persons.py      person names, without a NER model
    credentials.py  API keys, access tokens, JWTs, private keys, passwords
    special.py      GDPR Art. 9 special categories
"""
