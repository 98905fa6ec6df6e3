"""GDPR policy engine: detection (Presidio, offline), pure decisions, pseudonymisation.

policies/
    entities.py     the entity types and their groups (special categories)
    spans.py        what detection returns: typed character spans
    recognizers/    one small Presidio recognizer module per family of identifiers
    analyzer.py     the offline Presidio AnalyzerEngine with our recognizers, chunked
    model.py        policies as code: pydantic models of the YAML presets, content-hash versions
    decide.py       pure decision: spans + policy + direction -> actions
    pseudonym/      reversible pseudonymisation: placeholders, vault, stream restorer
    presets/        the shipped YAML presets
"""
