"""German vehicle licence plates (Kfz-Kennzeichen): "M-AB 1234", "HH-A 1E", "KA-AB 123H".

A plate is a district code (Unterscheidungszeichen, 1-3 capitals), 1-2 letters and 1-4
digits, at most 8 characters, optionally followed by E (electric) or H (historic). Matching
is case-sensitive on purpose: Presidio compiles patterns case-insensitively by default, and
then "bis zu 200" looks like a plate. Capitals alone still occur in prose, so a plate counts
only in the hyphenated form with a known district code, or next to a vehicle word.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import re
from functools import cache
from importlib import resources

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.entities import DE_LICENSE_PLATE
from policies.recognizers.base import result

WINDOW = 50  # characters of context looked at on each side
HYPHEN_KNOWN = 0.85  # "M-AB 1234" with a real district code: the written form of a plate
CONTEXT_KNOWN = 0.75  # known district code, another spelling, a vehicle word nearby
CONTEXT_UNKNOWN = 0.6  # district code not in our list, a vehicle word nearby

# No look-behind (it slows the scan); plate_score checks what stands before the match.
_PLATE = re.compile(
    r"(?P<district>[A-ZÄÖÜ]{1,3})(?P<sep>-|[ \u00a0])"
    r"(?P<letters>[A-Z]{1,2})[ \u00a0-]?"
    r"(?P<digits>[1-9][0-9]{0,3})(?P<suffix>[EH]?)"
    r"(?![\w-]|[/.,]\d)"
)
# Regulations ("EU-VO 2016/679", "EG-VO 1234") share the plate's written form.
_NOT_PLATES = frozenset({"EU-VO", "EG-VO", "EWG-VO", "EU-RL", "EG-RL"})
# Words that put a plate in context; substrings, so compounds count ("Dienstfahrzeug",
# "Kfz-Kennzeichen", "Wunschkennzeichen"). English ones are whole words where a substring
# would be another word ("plateau", "scar"); "plate" covers "licence plate",
# "number plate", "my plate is".
_VEHICLE_WORDS = re.compile(
    r"(?i)kennzeichen|nummernschild|fahrzeug|kfz|pkw|lkw|zulassung|motorrad|\bautos?\b"
    r"|wagen\b|parkausweis|geblitzt|strafzettel|knöllchen|abgeschleppt|falschpark"
    r"|\bplates?\b|registration|vehicle|\bcars?\b|parking|motorbike|motorcycle"
)


@cache
def districts() -> frozenset[str]:
    """The district codes of data/de_plate_districts.txt (read once)."""
    text = resources.files("policies.recognizers").joinpath("data/de_plate_districts.txt")
    lines = (line.split("#", 1)[0].strip() for line in text.read_text("utf-8").splitlines())
    return frozenset(line for line in lines if line)


def _near_vehicle_word(text: str, start: int, end: int) -> bool:
    return bool(
        _VEHICLE_WORDS.search(text, max(0, start - WINDOW), start)
        or _VEHICLE_WORDS.search(text, end, min(len(text), end + WINDOW))
    )


def plate_score(text: str, match: re.Match[str]) -> float:
    """The score of a plate candidate in its text, 0.0 if it is not reported."""
    start = match.start()
    if start and (text[start - 1].isalnum() or text[start - 1] in "_-"):
        return 0.0
    district, letters, digits = match["district"], match["letters"], match["digits"]
    if len(district) + len(letters) + len(digits) > 8:
        return 0.0
    if f"{district}-{letters}" in _NOT_PLATES:
        return 0.0
    known = district in districts()
    if known and match["sep"] == "-":
        return HYPHEN_KNOWN
    if not _near_vehicle_word(text, *match.span()):
        return 0.0
    return CONTEXT_KNOWN if known else CONTEXT_UNKNOWN


class GermanLicensePlateRecognizer(EntityRecognizer):
    """Kfz-Kennzeichen, case-sensitive, validated against the list of district codes."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[DE_LICENSE_PLATE], supported_language="de")

    def load(self) -> None:
        districts()

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if DE_LICENSE_PLATE not in entities:
            return []
        results = []
        for match in _PLATE.finditer(text):
            score = plate_score(text, match)
            if not score:
                continue
            results.append(
                result(
                    self,
                    DE_LICENSE_PLATE,
                    match.start(),
                    match.end(),
                    score,
                    f"plate, district {match['district']}",
                )
            )
        return results


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of this module's recognizers."""
    return [GermanLicensePlateRecognizer()]
