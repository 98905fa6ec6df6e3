"""Which part of a held answer text later text can no longer turn into a masked value.

Eager mode (``stream_guard``) holds text from the first digit, "@" or PEM marker. This module
says how much of it may go once the analyzer has seen it (issue 14: a numeric answer was held
to its end). It models what the recognizers under a ``mask``/``block`` response rule in eager
mode (identifiers, contact details, cards, secrets: ``policies/recognizers``) can match:

* Within one token (no whitespace) anything: e-mail addresses, keys, IPs, compact IDs. The
  last token, unfinished, is always held.
* Across whitespace only numbers written in groups ("0171 234 5678", "4111-1111 ...",
  "12 150680 M 03 4", "DE 123 456 789", "M AB 1234", "( 0171) ..."): every recognizer joins
  groups with spaces or dashes only, never across a newline, and every piece of such a value
  is a *member*: it holds a digit, or is one letter, up to three capital letters (plates), "de"
  (VAT prefix), or a separator ("(", "/", "-", "+"). Any other character (".", ",", ":",
  a word such as "had") ends the *chain* of members: no match runs across it. Only an IBAN
  takes groups of letters too: from its start (two letters and two digits) it runs over
  single separators for at most ``LONGEST`` characters.
* A match is at most ``LONGEST`` characters long (an IBAN, 34 characters, each with a
  separator); a key or PEM block is one token or runs to its END line.
* Context words still to come can make a weak candidate a match (or a look-alike's label
  veto one, which only masks more than the whole text would): up to ``REACH`` characters
  after it (the recognizers' ``WINDOW``). A chain can be such a candidate only if it has 5
  digits or more, or letters and digits (plates, document numbers); "2024", "365" or "12"
  cannot, so once ended they flow on.

``settled`` applies this to the held text: everything before the first place where an open
chain, an open token, an open PEM block, or a candidate within reach of the end begins is
final, and goes once the analyzer has masked what it found there. Its tests compare streamed
output against whole-text masking on generated answers (``tests/unit/test_hold_back.py``).
"""

from __future__ import annotations

import re

from policies.pseudonym.placeholders import PLACEHOLDER_RE
from policies.recognizers import contact, de_ids, plates

REACH = max(contact.WINDOW, de_ids.WINDOW, plates.WINDOW)
LONGEST = 64
# A character that may sit inside a multi-token value's pieces: letters, digits, combining
# marks, dashes of any kind, "(", ")", "/", "+", and format characters the analyzer removes.
_JOIN = r"[^\W_]|[\u0300-\u036f\u00ad\u200b-\u200f\u2060-\u2064\ufeff()/+\u2010-\u2015\u2212-]"
_PIECE = re.compile(rf"(?:{_JOIN})+")
_GAP = re.compile(r"[^\S\n\r\u2028\u2029\x0b\x0c\x85]+")  # whitespace, no line break
_DIGIT = re.compile(r"\d")
_LETTERS = re.compile(r"[^\W\d_]+")
_SEPARATORS = re.compile(r"[()/+\u2010-\u2015\u2212-]+")
_IBAN_START = re.compile(r"(?<!\w)[^\W\d_]{2}\d\d")
_IBAN = re.compile(r"[^\W\d_]{2}\d\d(?:[ \u00a0\u200b-]?[^\W_])*[ \u00a0\u200b-]?")
_GROUPS = re.compile(r"\d+")
_TOKEN = re.compile(r"\S+")
_SPACES = frozenset(" \t\u00a0")
_MEMBER_SCAN = 8  # "HH-AB" and the like: a longer token is no letter member
_IBAN_CHARACTERS = 34  # letters and digits of the longest IBAN
_PEM = "-----BEGIN"
_PEM_END = "-----END"


def settled(text: str) -> int:
    """How many leading characters of ``text`` no later text can make (part of) a match,
    or a candidate that context may still promote; at a piece's start or 0."""
    end = len(text)
    hold = end
    last = len(text.rstrip())
    if last == end and text:  # the last token is unfinished
        hold = end - len(text.split()[-1])
    # Nothing that begins before ``base`` can reach the end or be promoted: a match is at
    # most LONGEST long and a label at most REACH after it (what a chain's tail holds bounds
    # what a match in it holds).
    base = _piece_at(text, end - REACH - LONGEST, 0)
    for start, stop, open_, candidate in _chains(text, base):
        if open_:
            hold = min(hold, max(start, _piece_at(text, end - LONGEST, start)))
        elif candidate and stop > end - REACH:
            hold = min(hold, max(start, _piece_at(text, end - REACH - LONGEST, start)))
    # A token is a candidate too, where its pieces are not ("123.45.678", "0171/2345678").
    for token in _TOKEN.finditer(text, base):
        if token.end() > end - REACH and _candidate([token.group()]):
            hold = min(hold, token.start())
            break
    for iban in _IBAN_START.finditer(text, max(0, end - LONGEST)):
        rest = _IBAN.fullmatch(text, iban.start())
        if rest is not None and sum(c.isalnum() for c in rest.group()) <= _IBAN_CHARACTERS:
            hold = min(hold, iban.start())
            break
    begin = text.rfind(_PEM)
    if begin >= 0 and text.find(_PEM_END, begin) < 0:
        hold = min(hold, begin)
    return max(hold, 0)


def inert(held: str, ready: int) -> bool:
    """Whether the analyzer can find nothing in ``held[:ready]`` (``ready``: what ``settled``
    said), so it may go unanalysed: it ends between chains (not where a long chain was cut:
    a value may run across that cut), no "@" or PEM marker, and its numbers are short and
    plain ("2024", "12,5",
    "1.204", "(3)"): at most 4 digits in a token, in at most two groups, no letters or ":"
    with them, and no chain that could be a candidate. Every masked type in eager mode needs
    more: 5 digits and more (7 for a phone number), letters with the digits (plates, IBANs,
    keys), two colons (IPv6), four groups (IPv4). Placeholders do not count."""
    if any(start < ready < stop for start, stop, *_ in _chains(held)):
        return False
    # The placeholders the model writes ("<PERSON_1>") are no value: restored afterwards.
    text = PLACEHOLDER_RE.sub("", held[:ready]) if "<" in held else held[:ready]
    if "@" in text or "\uff20" in text or "-----" in text:
        return False
    for token in text.split():
        digits = _DIGIT.findall(token)
        if not digits:
            continue
        if len(digits) > 4 or ":" in token or _LETTERS.search(token):
            return False
        if len(_GROUPS.findall(token)) > 2:
            return False
    return not any(candidate for *_, candidate in _chains(text))


def letters_back(text: str, at: int) -> int:
    """``at`` (a token start) moved back over the letter members just before it ("M AB ",
    "DE "), which a number still to come may join; ``at`` if none. Asked per streamed word:
    it looks at most ``_MEMBER_SCAN`` characters back per token."""
    start = at
    while start > 0 and text[start - 1] in _SPACES:
        end = start - 1
        while end > 0 and text[end - 1] in _SPACES:
            end -= 1
        begin = end
        while begin > 0 and end - begin <= _MEMBER_SCAN and not text[begin - 1].isspace():
            begin -= 1
        piece = text[begin:end]
        if piece.isalpha():  # a word: the usual case, decided without a regex
            short = len(piece) == 1 or (len(piece) <= 3 and piece.isupper())
            if not short and piece.lower() != "de":
                return start
        elif begin == end or end - begin > _MEMBER_SCAN or not _letter_member(piece):
            return start
        start = begin
    return start


def _letter_member(piece: str) -> bool:
    """Letters a value's groups may hold: one letter, up to three capitals ("M", "HH-AB"),
    the VAT prefix "de" in any case; separators may join them."""
    groups = [g for g in _SEPARATORS.split(piece) if g]
    return bool(groups) and all(
        _LETTERS.fullmatch(g) is not None
        and (len(g) == 1 or (len(g) <= 3 and g.isupper()) or g.lower() == "de")
        for g in groups
    )


def _member(piece: str) -> bool:
    return (
        _DIGIT.search(piece) is not None
        or _letter_member(piece)
        or _SEPARATORS.fullmatch(piece) is not None
    )


def _candidate(pieces: list[str]) -> bool:
    """Whether a chain of these pieces may hold a value that context can still promote."""
    digits = sum(len(_DIGIT.findall(p)) for p in pieces)
    if digits >= 5:
        return True
    if not digits:
        return False
    # A plate ("M AB 123", "M-AB123": capitals before digits) or a document number
    # ("L01X00T47"): letters with the digits.
    last_digits = max(i for i, p in enumerate(pieces) if _DIGIT.search(p))
    for i, piece in enumerate(pieces):
        if _LETTERS.search(piece) is None:
            continue
        capitals = any(c.isupper() for c in piece)
        if _DIGIT.search(piece) and (len(piece) >= 8 or capitals):
            return True  # "L01X00T47", "M-AB123"
        if capitals and i < last_digits:
            return True  # "M AB 123", "(0) HH-AB 123"
    return False


def _chains(text: str, base: int = 0) -> list[tuple[int, int, bool, bool]]:
    """(start, end, open, candidate) of each chain of members: pieces joined by whitespace
    without a line break. Open: it reaches the end of the text, or only such whitespace
    follows it (another member may still come)."""
    chains: list[tuple[int, int, bool, bool]] = []
    pieces: list[str] = []
    start = stop = -1
    for found in _PIECE.finditer(text, base):
        piece = found.group()
        # An unfinished last piece may still get a digit ("days" -> "days1"): a member.
        if found.end() < len(text) and not _member(piece):
            if pieces:
                chains.append((start, stop, False, _candidate(pieces)))
                pieces = []
            continue
        joined = bool(pieces) and found.start() > stop and _joins(text, stop, found.start())
        if pieces and not joined:
            chains.append((start, stop, False, _candidate(pieces)))
            pieces = []
        if not pieces:
            start = found.start()
        pieces.append(piece)
        stop = found.end()
    if pieces:
        tail = text[stop:]
        open_ = tail == "" or _GAP.fullmatch(tail) is not None
        chains.append((start, stop, open_, _candidate(pieces)))
    return chains


def _joins(text: str, stop: int, start: int) -> bool:
    """Whether the characters between two members join them: whitespace without a line
    break, or any whitespace after "(" ("(\\n0171" is a phone number's start)."""
    between = text[stop:start]
    if _GAP.fullmatch(between) is not None:
        return True
    return text[stop - 1] == "(" and between.isspace()


def _piece_at(text: str, at: int, floor: int) -> int:
    """The start of the piece or gap at ``at`` (not before ``floor``): a cut never splits
    a piece."""
    if at <= floor:
        return floor
    while at > floor and not text[at - 1].isspace():
        at -= 1
    return at
