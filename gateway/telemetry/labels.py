"""Client input never names a metric series, and reaches logs, traces and audit bounded.

A metric label takes only values from configuration (served models, tenants, pools): a model
name nobody serves is counted as ``other``, so 5,000 made-up names add no series (each would
live in /metrics for good). In logs, traces and the audit trail an unknown name is kept for
the operator who must answer "why 404?", but capped and analysed like a prompt
(``gateway.privacy.service.Privacy.client_string``), so neither its size nor what it holds is
the client's choice.
"""

from __future__ import annotations

from collections.abc import Collection

OTHER = "other"


def model_label(model: str, known: Collection[str]) -> str:
    """The model as a metric label: a configured name, else ``other``."""
    return model if model in known else OTHER
