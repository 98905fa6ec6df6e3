"""What every recognizer module shares: how a finding becomes Presidio's result, and merging.

Our recognizers weigh their context words themselves (a window around each candidate), so
their results are marked as context-scored: Presidio's context enhancer, which needs lemmas a
blank spaCy pipeline lacks, must not add to them.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (before Presidio: no network at import)

# isort: split

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult

Found = tuple[int, int, float, str]  # start, end, score, why


def result(
    recognizer: EntityRecognizer, entity: str, start: int, end: int, score: float, why: str = ""
) -> RecognizerResult:
    name = type(recognizer).__name__
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(
            recognizer=name, original_score=score, textual_explanation=why
        ),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
            RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
        },
    )


def merge(found: list[Found]) -> list[Found]:
    """Overlapping findings of one type become one: the union of the spans, the best score
    (and its reason)."""
    merged: list[Found] = []
    for start, end, score, why in sorted(found):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            best = max(last[2], score)
            merged[-1] = (last[0], max(last[1], end), best, last[3] if best == last[2] else why)
        else:
            merged.append((start, end, score, why))
    return merged
