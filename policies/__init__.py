"""GDPR policy engine: detection (Presidio, offline), pure decisions, pseudonymisation.

policies/
    entities.py     the entity types and their groups (special categories)
    spans.py        what detection returns: typed character spans
    recognizers/    one small Presidio recognizer module per family of identifiers
    analyzer.py     the offline Presidio AnalyzerEngine with our recognizers, chunked
    normalize.py    text as the recognizers see it (NFKC, invisible characters, look-alike
                    letters, dashes, spaces), with spans mapped back to the original
    encoded.py      base64 blobs, decoded and analysed (bounded)
    nlp.py          the spaCy side: blank pipelines, NER only when a model is installed
    offline.py      nothing may download (tldextract's suffix list is the bundled one)
    model.py        policies as code: pydantic models of the YAML presets, content-hash versions
    decide.py       pure decision: spans + policy + direction -> actions
    jsontext.py     JSON texts followed piece by piece; masking that keeps them JSON
    schema_types.py which JSON types a JSON schema allows at a path
    pseudonym/      reversible pseudonymisation: placeholders, vault, stream restorer
    presets/        the shipped YAML presets
"""
