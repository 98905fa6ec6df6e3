"""What detection returns: an entity type on a character range of the analysed text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Span:
    start: int
    end: int
    entity: str
    score: float

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]
