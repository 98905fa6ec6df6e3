"""policies.normalize: what each trick becomes, and the map back to the original offsets.

The property tests insert format characters, expansions and decomposed letters at random
into random text around a value, and check that the value's normalised range maps back to
exactly its original characters, zero-width characters inside included.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.normalize import CONFUSABLES, normalize


def test_ascii_text_is_returned_as_it_is() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00 - Tel. 0171-2345678"
    normalized = normalize(text)
    assert normalized.text is text
    assert not normalized.shifted
    assert normalized.source_range(5, 32) == (5, 32)


def test_text_with_nothing_to_change_keeps_the_identity_map() -> None:
    text = "Grüße aus Köln, „Straße“ 12 \u2013 nein: ß, é, ø, 東京"
    normalized = normalize(text)
    assert not normalized.shifted
    assert normalized.text == text.replace("\u2013", "-")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DE89\u200b3704", "DE893704"),  # zero-width space
        ("86\u00ad095\u00ad742", "86095742"),  # soft hyphen
        ("a\u200c\u200d\u2060\ufeffb", "ab"),  # non-joiner, joiner, word joiner, BOM
        ("\u202e1234\u202c\u200e\u200f", "1234"),  # bidi override, pop, marks
        ("x\ufe0fy\u034fz", "xyz"),  # variation selector, combining grapheme joiner
        ("\uff24\uff25\uff18\uff19\uff20", "DE89@"),  # full-width
        ("\U0001d7cf\U0001d7d0", "12"),  # mathematical bold digits
        ("\u2460\u2461", "12"),  # circled digits
        ("\ufb01", "fi"),  # ligature
        ("\u0663\u0664\u0665", "345"),  # Arabic-Indic digits
        ("1\u20132\u20143\u22124\u20115\ufe636\uff0d7", "1-2-3-4-5-6-7"),  # dashes, minus
        ("1\u00a02\u20093\u20074\u202f5\u30006\u16807", "1 2 3 4 5 6 7"),  # spaces
        ("a\u2028b\u2029c", "a\nb\nc"),  # line and paragraph separators
        ("Mu\u0308ller", "Müller"),  # decomposed umlaut, composed
    ],
)
def test_each_trick_is_undone(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("D\u0415" + "89 3704", "DE89 3704"),  # Cyrillic Ie in an IBAN's country code
        ("m\u0430x@example.de", "max@example.de"),  # Cyrillic a in an e-mail address
        ("\u0392\u0395" + "68", "BE68"),  # Greek capitals with digits
        ("\u0410\u0412\u0421 123", "\u0410\u0412\u0421 123"),  # a Cyrillic word stays
        ("\u041e\u043b\u0435\u0433 \u0438 Anna", "\u041e\u043b\u0435\u0433 \u0438 Anna"),
        ("\u0391\u03b8\u03ae\u03bd\u03b1 2024", "\u0391\u03b8\u03ae\u03bd\u03b1 2024"),
    ],
)
def test_look_alike_letters_become_latin_only_among_latin(text: str, expected: str) -> None:
    assert normalize(text).text == expected


def test_every_confusable_maps_to_one_ascii_letter() -> None:
    for source, target in CONFUSABLES.items():
        assert unicodedata.category(source).startswith("L"), hex(ord(source))
        assert len(target) == 1
        assert target.isascii()
        assert target.isalpha()


def test_spacing_accents_keep_words_whole() -> None:
    # NFKC would make the acute accent U+00B4 a space and a combining accent: two words.
    assert normalize("Don\u00b4t, na\u00a8").text == "Don\u00b4t, na\u00a8"


def test_source_range_covers_expansions_and_removed_characters() -> None:
    text = "\ufb01x 86\u200b09\u200b57"
    normalized = normalize(text)
    assert normalized.text == "fix 860957"
    assert normalized.source_range(1, 2) == (0, 1)  # the "i" of "ﬁ" is the ligature
    assert normalized.source_range(0, 3) == (0, 2)
    value = normalized.text.index("860957")
    assert normalized.source_range(value, value + 6) == (3, len(text))


def test_removed_characters_at_the_edges_stay_outside() -> None:
    text = "a \u200b123\u200b b"
    normalized = normalize(text)
    start = normalized.text.index("123")
    assert normalized.source_range(start, start + 3) == (3, 6)


# --- properties ------------------------------------------------------------------------------

# Characters that normalisation removes, expands, composes or keeps.
INVISIBLE = st.sampled_from(
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e", "\ufe0f"]
)
AROUND = st.lists(
    st.sampled_from(
        [
            *"abc xyzÄöüß,.-0189\n",
            *("\u200b", "\u00ad", "\ufb01", "\u2460", "\u00bd", "\uff11", "\u2013", "\u00a0"),
            *("u\u0308", "\u0301", "\u0410", "\u043e", "\u2122", "\u3000", "\U0001d7cf"),
        ]
    ),
    max_size=40,
).map("".join)
VALUE = st.text(alphabet=st.sampled_from(list("QWZ0123456789@")), min_size=2, max_size=20)


@st.composite
def obfuscated(draw: st.DrawFn) -> tuple[str, str, int, int]:
    """(text, clean value, original start and end of the obfuscated value)."""
    value = "Q" + draw(VALUE) + "Z"
    cuts = draw(st.lists(st.integers(1, len(value) - 1), max_size=6))
    written = value
    for cut in sorted(cuts, reverse=True):
        written = written[:cut] + draw(INVISIBLE) + written[cut:]
    before, after = draw(AROUND) + " ", " " + draw(AROUND)
    return before + written + after, value, len(before), len(before) + len(written)


@given(obfuscated())
def test_a_value_maps_back_to_exactly_its_original_characters(
    case: tuple[str, str, int, int],
) -> None:
    text, value, start, end = case
    normalized = normalize(text)
    at = normalized.text.index(value)  # "Q" and "Z" occur nowhere else
    assert normalized.source_range(at, at + len(value)) == (start, end)


def assert_valid_ordered_ranges(text: str) -> None:
    normalized = normalize(text)
    previous = (0, 0)
    for i in range(len(normalized.text)):
        start, end = normalized.source_range(i, i + 1)
        assert 0 <= start < end <= len(text)
        assert previous <= (start, end)
        previous = (start, end)
    if not normalized.shifted:
        assert len(normalized.text) == len(text)


@given(st.text(max_size=60))
def test_every_character_maps_to_a_valid_ordered_range(text: str) -> None:
    assert_valid_ordered_ranges(text)


# Characters whose normalisation interacts: look-alikes next to Latin (or to characters that
# only become Latin, "\U0001d7cf"), expansions with spaces ("\ufdfa"), combining marks after
# removed characters.
TRICKY = st.lists(
    st.sampled_from(
        [
            *"aZ0 -\n",
            *list(CONFUSABLES)[:20],
            *("\U0001d7cf", "\u1d61", "\u2460", "\ufb01", "\u00b4", "\u0308", "\u0301"),
            *("\u200b", "\ufdfa", "\u33c2", "\u2474", "\uff21", "\u0345", "\u0323", "\u00ad"),
        ]
    ),
    max_size=40,
).map("".join)


@given(st.one_of(st.text(max_size=60), TRICKY))
def test_normalising_twice_changes_nothing_more(text: str) -> None:
    once = normalize(text).text
    assert normalize(once).text == once


@given(TRICKY)
def test_tricky_text_maps_to_valid_ordered_ranges(text: str) -> None:
    assert_valid_ordered_ranges(text)
