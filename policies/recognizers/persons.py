"""Person names in German and English text, without a NER model.

Every German noun is capitalised, so a capitalised word is a name only with evidence:
    after a salutation or title   "Frau Dr. Schneider", "Herrn Jan Schmidt", "Mr. Smith"
    after a listed first name     "Maria Kowalski", "Thomas Meier" (data/first_names.txt)
    in a name context             "mein Name ist ...", "Name: ...", "my name is ..."
    in a signature                "Mit freundlichen Grüßen\\nAnna Becker", "Cheers, Anna"
    as "Surname, First name"      "Müller, Thomas" (both listed)
    after a relation              "mein Mann Chinedu Demir", "my wife Amira O'Connor"
    before a birth date           "Giorgos Schäfer, geboren am ...", "..., born 3 May 1960"
The span covers the name, never the title nor a possessive "'s". Particles join a name
("von der Leyen", "van den Berg"), but an article never begins one ("Herr der Lage").
Words of data/person_stopwords.txt (nouns that follow names in everyday sentences: "Ich
gebe Anna Bescheid") and words with noun suffixes (-ung, -heit, ...) never count as a
surname unless data/surnames.txt lists them.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.entities import PERSON
from policies.recognizers.base import Found, merge, result

TITLED = 0.85  # "Frau Müller", "Dr. Yilmaz"
CONTEXT = 0.85  # "mein Name ist ...", "Name: ..."
LISTED = 0.9  # listed first name + listed surname
FIRST_NAME = 0.7  # listed first name + any capitalised word that is not a stopword
ROLE = 0.75  # "Bürgermeister Reiter"
SIGNATURE = 0.8
SIGNATURE_UNLISTED = 0.6
REVERSED = 0.8  # "Müller, Thomas"
RELATED = 0.8  # "mein Mann Chinedu Demir", "my wife Amira Rossi"
RELATED_UNLISTED = 0.7  # "my son Chinedu", two unlisted words "meine Tochter Ngozi Okafor"
BORN = 0.8  # "Giorgos Schäfer, geboren am ...", "..., born 3 April 1964"

_UPPER = "A-ZÄÖÜÀÁÂÃÅÇÈÉÊËÌÍÎÏÑÒÓÔÕØÙÚÛÝĆČĐŁŃŚŠŞŹŻŽĞİ"
_PART = rf"[{_UPPER}](?:[^\W\d_]|['\u2019](?=[{_UPPER}]))+"
# A capitalised name word, hyphenated parts allowed ("Anna-Lena", "Al-Hassan", "O'Brien").
# A possessive "'s" may follow ("Anna Weber's car"), no other apostrophe or letter.
_NAME = re.compile(rf"(?<![\w'\u2019-]){_PART}(?:-{_PART})*(?!\w|-\w|['\u2019](?!s\b)\w)")
# Name particles: "von der Leyen", "van Dijk", "bin Salman".
_PARTICLES = frozenset(
    {
        "von", "van", "vom", "zu", "zum", "zur", "der", "den", "de", "del", "della", "di", "da",
        "dos", "du", "la", "le", "ten", "ter", "bin", "ibn", "al", "el", "af", "av",
    }
)  # fmt: skip
# Articles ("der", "den", "la", "le") continue a particle but never begin one: "Herr der
# Lage" and "Herr des Hauses" are idioms, "Herr von der Leyen" a name.
_LEADING_PARTICLES = _PARTICLES - {"der", "den", "la", "le"}
_PARTICLE = re.compile(r"[a-z]{2,5}(?=[ \u00a0])")
_GAP = re.compile(r"[ \u00a0]+")  # between the words of one name: spaces, no line break
# Salutations and titles, found with str.find (cheaper than a regex scan of the whole text);
# a whitespace must follow.
_SALUTATIONS = (
    "Herr", "Herrn", "Frau", "Fräulein", "Hr.", "Fr.", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.",
    "Miss", "Mx", "Mx.", "Sir", "Madame", "Monsieur", "Dr", "Dr.", "Prof", "Prof.", "Dres.",
)  # fmt: skip
_ACADEMIC = re.compile(
    r"\s+(?:Dr\.|Prof\.|PD|med\.|dent\.|vet\.|rer\.|nat\.|pol\.|phil\.|jur\.|oec\.|habil\."
    r"|mult\.|h\.\s?c\.|Dipl\.-\w+\.?|Ing\.|Mag\.|M\.\s?A\.|B\.\s?A\.|M\.\s?Sc\.|MBA|LL\.\s?M\.)"
)
_TITLE_GAP = re.compile(r"[ \u00a0]*\n?[ \u00a0]*")  # "Herrn\nJan Schmidt" in an address
# Introductions: where a hint occurs, a small window around it is searched.
_INTRO_HINTS = ("ame ", "AME ", "eiße", "EISSE", "eisse", "called")
_INTRO = re.compile(
    r"(?i)(?<![\w-])(?:mein\s+name\s+(?:ist|lautet)|ich\s+hei(?:ß|ss)e|my\s+name\s+is"
    r"|i\s+am\s+called)\s+"
)
# Labels before a colon ("Name:", JSON '"name": "...'), checked only at colons.
_LABEL = re.compile(
    r"(?i)(?<![\w-])(?:name|vorname|nachname|familienname|geburtsname|ansprechpartner(?:in)?"
    r"|kontaktperson|antragsteller(?:in)?|versicherte[rn]?|patient(?:in)?|kunde|kundin"
    r"|mieter(?:in)?|absender(?:in)?|full\s+name|first\s+name|last\s+name|surname|given\s+name"
    r"|contact\s+person|applicant|customer\s+name|name\s+des\s+kunden|name\s+der\s+kundin)"
    r"[\"']?[ \t]*\Z"
)
_AFTER_LABEL = re.compile(r"[ \t]*[\"']?")
# The last word of a closing formula; the name follows on its own line.
_CLOSINGS = (
    "Grüßen", "Grüße", "Gruß", "Grüssen", "Grüsse", "Gruss", "Regards", "regards", "MfG", "LG",
    "VG", "Cheers", "Wishes", "wishes", "Sincerely", "sincerely", "Faithfully", "faithfully",
    "Thanks", "thanks", "Thank you", "thank you", "Danke", "danke", "Dank", "Tschüss", "Ciao",
)  # fmt: skip
# The name follows on the next line(s), or after a comma on the same line when it ends the
# line ("Cheers, Rajesh van den Berg").
_AFTER_CLOSING = re.compile(
    r"(?:[ \t]*[,!.]?[ \t]*(?:\r?\n[ \t]*){1,2}|,[ \t]+)"
    r"(?:(?:i\.\s?A\.|i\.\s?V\.|Ihr|Ihre|Dein|Deine|Euer|Eure)[ \t]+)?"
)
# Capitalised words for the first-name scan; _NAME re-matches the few that are listed.
_CAPITALISED = re.compile(rf"[{_UPPER}][^\W\d_]+-?")
_LINE_END = re.compile(r"[ \t]*(?:,[^\n]*)?(?:\r?\n|$)")
# Kin and other relations: a possessive, at most one word ("late", "neuer", "Ex-"), the
# relation, then the name ("mein Mann Chinedu Demir", "for our new colleague Lan Nguyen").
# Not "Partner", "Mieter", "client", "landlord": they are as often companies.
_RELATIONS = (
    "Mann", "Ehemann", "Ehefrau", "Gatte", "Gattin", "Sohn", "Tochter", "Mutter", "Vater",
    "Bruder", "Schwester", "Oma", "Opa", "Großmutter", "Großvater", "Enkel", "Enkelin",
    "Enkelsohn", "Enkeltochter", "Onkel", "Tante", "Neffe", "Nichte", "Cousin", "Cousine",
    "Partnerin", "Lebenspartner", "Lebenspartnerin", "Lebensgefährte",
    "Lebensgefährtin", "Verlobte", "Verlobter", "Freund", "Freundin", "Schwiegermutter",
    "Schwiegervater", "Schwiegersohn", "Schwiegertochter", "Schwager", "Schwägerin", "Stiefsohn",
    "Stieftochter", "Stiefvater", "Stiefmutter", "Kind", "Enkelkind", "Kollege", "Kollegin",
    "Nachbar", "Nachbarin", "Mitbewohner", "Mitbewohnerin", "Betreuerin", "husband", "wife",
    "son", "daughter", "mother", "father", "mum", "mom", "dad", "brother", "sister",
    "grandmother", "grandfather", "grandma", "grandpa", "grandson", "granddaughter", "uncle",
    "aunt", "nephew", "niece", "cousin", "fiancé", "fiancée", "fiance", "fiancee", "friend",
    "boyfriend", "girlfriend", "child", "stepson", "stepdaughter", "stepfather", "stepmother",
    "colleague", "neighbour", "neighbor", "flatmate", "roommate", "carer",
)  # fmt: skip
# One regex scan costs less than a str.find per relation word.
_RELATION = re.compile(rf"(?<!\w)(?:{'|'.join(sorted(_RELATIONS, key=len, reverse=True))})(?!\w)")
_ENGLISH_POSSESSIVES = frozenset({"my", "our", "your", "his", "her", "their"})
_POSSESSIVES = _ENGLISH_POSSESSIVES | frozenset(
    stem + ending
    for stem in ("mein", "unser", "dein", "euer", "eur", "ihr", "sein")
    for ending in ("", "e", "em", "en", "er", "es")
)
_AFTER_RELATION = re.compile(r"[ \t]*,?[ \t]+")
# A name before ", geboren" / "(geb." / ", born": up to four words and particles, then the
# separator ("Giorgos Schäfer, geboren am"). "in Berlin geboren" has no separator.
_NAME_WORD = rf"(?<![\w'\u2019-]){_PART}(?:-{_PART})*"
_NAME_BEFORE = re.compile(
    rf"((?:{_NAME_WORD}[ \t]+(?:(?:{'|'.join(sorted(_PARTICLES))})[ \t]+){{0,2}}){{0,3}}"
    rf"{_NAME_WORD})[ \t]*(?:,|\()[ \t]*\Z"
)
_BIRTH = ("geboren", "geb.", "born", "née", "geborene")
_NOUN_SUFFIXES = (
    "ung", "heit", "keit", "schaft", "tion", "tät", "nis", "ismus", "ment", "chen", "lein",
    "tum", "erei", "amt", "team", "service", "kasse", "werke", "zentrum", "center", "gmbh",
)  # fmt: skip


@dataclass(frozen=True)
class NameLists:
    """The word lists of data/, read once."""

    first: frozenset[str]  # first names
    ambiguous: frozenset[str]  # first names that are also words: count only before a surname
    surnames: frozenset[str]
    stopwords: frozenset[str]  # lower case
    roles: frozenset[str]
    known: frozenset[str]  # the union of all but the stopwords: the fast path of the scan


def _words(name: str) -> frozenset[str]:
    path = resources.files("policies.recognizers").joinpath(f"data/{name}")
    return frozenset(
        word for line in path.read_text("utf-8").splitlines() for word in line.split("#")[0].split()
    )


@cache
def name_lists() -> NameLists:
    words = _words("first_names.txt")
    first = frozenset(w for w in words if not w.endswith("?"))
    ambiguous = frozenset(w[:-1] for w in words if w.endswith("?"))
    surnames, roles = _words("surnames.txt"), _words("person_roles.txt")
    stopwords = frozenset(w.lower() for w in _words("person_stopwords.txt"))
    return NameLists(
        first, ambiguous, surnames, stopwords, roles, first | ambiguous | surnames | roles
    )


def _occurrences(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of the literal words where no letter or digit adjoins, in text order."""
    found = []
    for word in words:
        i = text.find(word)
        while i >= 0:
            j = i + len(word)
            if not (i and text[i - 1].isalnum()) and not (j < len(text) and text[j].isalnum()):
                found.append((i, j))
            i = text.find(word, j)
    return sorted(found)


def _occurrences_anywhere(text: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of the literal words, also inside other words."""
    found = []
    for word in words:
        i = text.find(word)
        while i >= 0:
            found.append((i, i + len(word)))
            i = text.find(word, i + 1)
    return found


def _norm(word: str) -> str:
    return word.capitalize() if word.isupper() and len(word) > 1 else word


def _in(word: str, names: frozenset[str]) -> bool:
    """A word or, for hyphenated words, every part of it ("Anna-Lena") is listed."""
    word = _norm(word)
    return word in names or ("-" in word and all(_norm(p) in names for p in word.split("-")))


def is_first_name(word: str) -> bool:
    return _in(word, name_lists().first)


def is_surname(word: str) -> bool:
    """Listed, or a double name with a listed part ("Weber-Krause")."""
    surnames = name_lists().surnames
    word = _norm(word)
    return word in surnames or ("-" in word and any(_norm(p) in surnames for p in word.split("-")))


def _is_noun(word: str) -> bool:
    """A stopword or a word with a noun suffix, unless it is a listed surname."""
    low = word.lower()
    return (low in name_lists().stopwords or low.endswith(_NOUN_SUFFIXES)) and not is_surname(word)


def _next_word(text: str, pos: int, *, particle: bool = False) -> tuple[int, int] | None:
    """The next name word after a gap, skipping particles ("von der"); None if there is none.

    ``particle``: a particle stands right before ``pos`` ("von| der Leyen"), so an article
    may continue it.
    """
    gap = _GAP.match(text, pos)
    if gap is None:
        return None
    pos = gap.end()
    for i in range(3):
        match = _NAME.match(text, pos)
        if match:
            return match.span()
        found = _PARTICLE.match(text, pos)
        if found is None or found[0] not in (_PARTICLES if i or particle else _LEADING_PARTICLES):
            return None
        gap = _GAP.match(text, found.end())
        if gap is None:
            return None
        pos = gap.end()
    return None


def _extend(text: str, start: int, end: int, *, first: bool) -> int:
    """End of a name that begins with the word text[start:end].

    A following word joins when the name so far is a first name (then any word that is not
    a noun), or when it is a listed surname. At most four words in all.
    """
    for _ in range(3):
        nxt = _next_word(text, end)
        if nxt is None:
            break
        word = text[nxt[0] : nxt[1]]
        if not (is_surname(word) or (first and not _is_noun(word))):
            break
        first = is_first_name(word)
        end = nxt[1]
    return end


class PersonNameRecognizer(EntityRecognizer):
    """Names after titles, after listed first names, in name contexts and in signatures."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[PERSON], supported_language="de")

    def load(self) -> None:
        name_lists()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if PERSON not in entities:
            return []
        spans = [
            *_titled(text),
            *_listed(text),
            *_in_context(text),
            *_signed(text),
            *_related(text),
            *_born(text),
        ]
        return [result(self, PERSON, *item) for item in merge(spans)]


def _titled(text: str) -> list[Found]:
    """Names after salutations/titles ("Frau Prof. Dr. Anna-Lena Weber-Krause") and roles."""
    found: list[Found] = []
    for t_start, t_end in _occurrences(text, _SALUTATIONS):
        if not text[t_end : t_end + 1].isspace() or text[t_start - 1 : t_start] == ".":
            continue
        pos = t_end
        while academic := _ACADEMIC.match(text, pos):
            pos = academic.end()
        gap = _TITLE_GAP.match(text, pos)
        begin = gap.end() if gap else pos
        word = _NAME.match(text, begin)
        span = word.span() if word else None
        if word and word.group(0) in name_lists().roles:  # "Frau Ministerin Schulze"
            span = _next_word(text, word.end())
        elif word is None and (particle := _PARTICLE.match(text, begin)):  # "Herr von Bülow"
            leading = particle[0] in _LEADING_PARTICLES
            nxt = _next_word(text, particle.end(), particle=True) if leading else None
            span = (begin, nxt[1]) if nxt else None
        if span is None or _is_noun(text[span[0] : span[1]].rsplit(" ", 1)[-1]):
            continue
        end = _extend(text, *span, first=is_first_name(text[span[0] : span[1]]))
        found.append((span[0], end, TITLED, f"after '{text[t_start:t_end]}'"))
    return found


def _listed(text: str) -> list[Found]:
    """Listed first name + surname ("Maria Kowalski"), roles, and "Müller, Thomas"."""
    lists = name_lists()
    found: list[Found] = []
    known = lists.known
    for cap in _CAPITALISED.finditer(text):
        head = cap.group()
        if (
            head not in known
            and head[-1] != "-"
            and (not head.isupper() or _norm(head) not in known)
        ):
            continue  # the common case: an ordinary capitalised noun
        word = _NAME.match(text, cap.start())
        if word is None:
            continue
        token = word.group(0)
        if token in lists.roles:  # "Bürgermeister Reiter"
            nxt = _next_word(text, word.end())
            if nxt and not _is_noun(text[nxt[0] : nxt[1]]):
                found.append((nxt[0], _extend(text, *nxt, first=True), ROLE, f"after {token}"))
            continue
        if text.startswith(", ", word.end()) and is_surname(token):
            after = _NAME.match(text, word.end() + 2)
            if after and is_first_name(after.group(0)):
                found.append((word.start(), after.end(), REVERSED, "surname, first name"))
                continue
        first = _in(token, lists.first)
        if not first and not _in(token, lists.ambiguous):
            continue
        nxt = _next_word(text, word.end())
        if nxt is None:
            continue
        surname = text[nxt[0] : nxt[1]]
        if is_surname(surname):
            found.append((word.start(), _extend(text, *nxt, first=False), LISTED, "listed names"))
        elif first and not _is_noun(surname):
            end = _extend(text, *nxt, first=is_first_name(surname))
            found.append((word.start(), end, FIRST_NAME, "listed first name"))
    return found


def _in_context(text: str) -> list[Found]:
    """Names after "mein Name ist", "ich heiße", "my name is", "Name:" and similar labels."""
    starts: list[int] = []
    for at, _ in _occurrences_anywhere(text, _INTRO_HINTS):
        lo, hi = max(0, at - 16), min(len(text), at + 16)
        starts += [m.end() for m in _INTRO.finditer(text, lo, hi) if m.end() > at]
    colon = text.find(":")
    while colon > 0:
        if not text[colon - 1].isdigit() and _LABEL.search(text, max(0, colon - 40), colon):
            quote = _AFTER_LABEL.match(text, colon + 1)
            starts.append(quote.end() if quote else colon + 1)
        colon = text.find(":", colon + 1)
    found: list[Found] = []
    for start in starts:
        word = _NAME.match(text, start)
        if word is None or _is_noun(word.group(0)):
            continue
        end = _extend(text, *word.span(), first=True)
        found.append((word.start(), end, CONTEXT, "name context"))
    return found


def _related(text: str) -> list[Found]:
    """Names after a possessive and a relation: "mein Mann Chinedu Demir", "my wife Amira".

    A listed first name or surname is enough; otherwise two name words, or in English
    (where only names are capitalised mid-sentence) one.
    """
    found: list[Found] = []
    for relation in _RELATION.finditer(text):
        r_start, r_end = relation.span()
        lead = _possessive(text, r_start)
        gap = _AFTER_RELATION.match(text, r_end)
        word = _NAME.match(text, gap.end()) if lead and gap else None
        if word is None or _is_noun(word.group(0)):
            continue
        token, lists = word.group(0), name_lists()
        nxt = _next_word(text, word.end())
        second = text[nxt[0] : nxt[1]] if nxt else ""
        if _in(token, lists.first) or (second and is_surname(second)):
            end, score = _extend(text, *word.span(), first=True), RELATED
        elif second and not _is_noun(second):
            end, score = _extend(text, *word.span(), first=True), RELATED_UNLISTED
        elif not second and lead in _ENGLISH_POSSESSIVES:
            end, score = word.end(), RELATED_UNLISTED
        else:
            continue
        found.append((word.start(), end, score, f"after '{text[r_start:r_end]}'"))
    return found


def _possessive(text: str, pos: int) -> str:
    """The possessive (lower case) before a relation at pos, at most one word between
    ("mein verstorbener Mann", "my late husband", "mein Ex-Mann"); "" if there is none."""
    if text.startswith(("Ex-", "ex-"), pos - 3):
        pos -= 3
    elif not text[pos - 1 : pos].isspace():
        return ""
    words = text[max(0, pos - 40) : pos].split()[-2:]
    for i, word in enumerate(reversed(words)):
        if word.lower() in _POSSESSIVES:
            return word.lower()
        if i or not word[:1].islower():  # the word between is an adjective
            break
    return ""


def _born(text: str) -> list[Found]:
    """Names before a birth date or birth name: "Giorgos Schäfer, geboren am", "(geb.".

    One of the words must be a listed first name or surname ("Neue Anschrift, geboren" is
    no name).
    """
    found: list[Found] = []
    for b_start, _ in _occurrences(text, _BIRTH):
        match = _NAME_BEFORE.search(text, max(0, b_start - 80), b_start)
        if match is None:
            continue
        words = list(_NAME.finditer(text, match.start(1), match.end(1)))
        while words and (_is_noun(words[0][0]) or words[0][0] in name_lists().roles):
            words.pop(0)  # "Unser Sohn Rajesh Smith": the name begins after the nouns
        if any(is_first_name(w[0]) or is_surname(w[0]) for w in words):
            found.append((words[0].start(), match.end(1), BORN, "before a birth date"))
    return found


def _signed(text: str) -> list[Found]:
    """A name alone on the line after a closing formula ("Viele Grüße\\nAnna Becker")."""
    found: list[Found] = []
    for _, closing_end in _occurrences(text, _CLOSINGS):
        after = _AFTER_CLOSING.match(text, closing_end)
        word = _NAME.match(text, after.end()) if after else None
        if word is None or _is_noun(word.group(0)):
            continue
        end = _extend(text, *word.span(), first=True)
        if not _LINE_END.match(text, end):
            continue
        token = word.group(0)
        if _in(token, name_lists().first) or is_surname(token):
            found.append((word.start(), end, SIGNATURE, "signature"))
        elif end > word.end():
            found.append((word.start(), end, SIGNATURE_UNLISTED, "signature"))
    return found


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of this module's recognizers."""
    return [PersonNameRecognizer()]
