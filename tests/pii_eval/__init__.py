"""Labelled German/English PII evaluation sets and their generators.

- ``dataset.jsonl`` (``python -m tests.pii_eval.generate``): the development set, from
  ``templates.py``. The recognizers were tuned on its failures, so its scores are optimistic.
- ``holdout.jsonl`` (``python -m tests.pii_eval.generate_holdout``): the held-out set, from
  ``templates_holdout.py`` and its own name pools, written without looking at the
  recognizers. It is the honest measure.

- ``adversarial.jsonl`` (``python -m tests.pii_eval.generate_adversarial``): values obfuscated
  to slip past patterns (zero-width characters, full-width forms, look-alike letters, dashes,
  base64, split across messages...), with look-alikes obfuscated the same way; a case is a
  list of texts, each naming its request field.

``loadtest/pii_benchmark.py`` scores the analyzer and stock Presidio on all three.
"""
