"""Labelled German/English PII evaluation sets and their generators.

- ``dataset.jsonl`` (``python -m tests.pii_eval.generate``): the development set, from
  ``templates.py``. The recognizers were tuned on its failures, so its scores are optimistic.
- ``holdout.jsonl`` (``python -m tests.pii_eval.generate_holdout``): the held-out set, from
  ``templates_holdout.py`` and its own name pools, written without looking at the
  recognizers. It is the honest measure.

``loadtest/pii_benchmark.py`` scores the analyzer and stock Presidio on both.
"""
