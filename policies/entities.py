"""The entity types the recognizers emit, and the groups a policy may name instead.

Names follow Presidio's style (upper snake case). Identifiers with a check digit are listed in
``CHECK_DIGIT_IDS``: the evaluation holds them to the strictest recall target.
"""

from __future__ import annotations

# Germany
DE_TAX_ID = "DE_TAX_ID"  # Steuerliche Identifikationsnummer (11 digits, ISO 7064 check)
DE_TAX_NUMBER = "DE_TAX_NUMBER"  # Steuernummer (state formats, stdnum.de.stnr)
DE_VAT_ID = "DE_VAT_ID"  # USt-IdNr (DE + 9 digits)
DE_PENSION_NUMBER = "DE_PENSION_NUMBER"  # Rentenversicherungsnummer
DE_HEALTH_INSURANCE_NUMBER = "DE_HEALTH_INSURANCE_NUMBER"  # Krankenversichertennummer
DE_ID_CARD = "DE_ID_CARD"  # Personalausweisnummer
DE_PASSPORT = "DE_PASSPORT"  # Reisepassnummer
DE_LICENSE_PLATE = "DE_LICENSE_PLATE"  # Kfz-Kennzeichen
# EU
IBAN = "IBAN"
NL_BSN = "NL_BSN"
AT_SVNR = "AT_SVNR"
FR_NIR = "FR_NIR"
IT_FISCAL_CODE = "IT_FISCAL_CODE"
ES_DNI = "ES_DNI"
ES_NIE = "ES_NIE"
PL_PESEL = "PL_PESEL"
# Contact and technical
PHONE_NUMBER = "PHONE_NUMBER"
EMAIL_ADDRESS = "EMAIL_ADDRESS"
CREDIT_CARD = "CREDIT_CARD"
IP_ADDRESS = "IP_ADDRESS"
# People and secrets
PERSON = "PERSON"
SECRET = "SECRET"  # noqa: S105 -- an entity name; API keys, tokens, JWTs, private keys
# GDPR Art. 9 special categories
HEALTH = "HEALTH"
RELIGION = "RELIGION"
POLITICAL_OPINION = "POLITICAL_OPINION"
TRADE_UNION = "TRADE_UNION"
SEXUAL_ORIENTATION = "SEXUAL_ORIENTATION"
ETHNIC_ORIGIN = "ETHNIC_ORIGIN"
GENETIC = "GENETIC"
BIOMETRIC = "BIOMETRIC"

CHECK_DIGIT_IDS = frozenset(
    {
        DE_TAX_ID,
        DE_TAX_NUMBER,
        DE_VAT_ID,
        DE_PENSION_NUMBER,
        DE_HEALTH_INSURANCE_NUMBER,
        IBAN,
        NL_BSN,
        AT_SVNR,
        FR_NIR,
        IT_FISCAL_CODE,
        ES_DNI,
        ES_NIE,
        PL_PESEL,
        CREDIT_CARD,
    }
)
SPECIAL_CATEGORIES = frozenset(
    {
        HEALTH,
        RELIGION,
        POLITICAL_OPINION,
        TRADE_UNION,
        SEXUAL_ORIENTATION,
        ETHNIC_ORIGIN,
        GENETIC,
        BIOMETRIC,
    }
)
IDENTIFIERS = CHECK_DIGIT_IDS | {DE_ID_CARD, DE_PASSPORT, DE_LICENSE_PLATE}
CONTACT = frozenset({PHONE_NUMBER, EMAIL_ADDRESS, IP_ADDRESS})
ALL = IDENTIFIERS | CONTACT | {PERSON, SECRET} | SPECIAL_CATEGORIES

# Names a policy may use for a whole group of entity types.
GROUPS: dict[str, frozenset[str]] = {
    "special_category": SPECIAL_CATEGORIES,
    "identifier": IDENTIFIERS,
    "contact": CONTACT,
}
