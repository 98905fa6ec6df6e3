"""A labelled German/English PII evaluation set (``dataset.jsonl``) and its generator.

``python -m tests.pii_eval.generate`` rebuilds the set; ``loadtest/pii_benchmark.py`` scores
the analyzer and stock Presidio on it.
"""
