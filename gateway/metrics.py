"""The gateway's Prometheus metrics (exposed on their own port in the telemetry issue).

Labels carry tenant ids and outcome names only: never keys, prompts or user identifiers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

QUOTA_DEGRADED = Counter(
    "sovereign_quota_degraded_total",
    "Requests decided without the shared quota store (Redis unreachable), by tenant and mode.",
    ["tenant", "mode"],
)
QUOTA_REFUSED = Counter(
    "sovereign_quota_refused_total",
    "Requests refused by a limit, by tenant and limit.",
    ["tenant", "limit"],
)
LEDGER_SPOOLED = Counter(
    "sovereign_ledger_spooled_total", "Usage records written to the local disk spool."
)
LEDGER_REPLAYED = Counter(
    "sovereign_ledger_replayed_total", "Spooled usage records replayed into the shared store."
)
LEDGER_SPOOL_PENDING = Gauge(
    "sovereign_ledger_spool_pending", "Usage records waiting in this replica's disk spool."
)
POLICY_ACTIONS = Counter(
    "sovereign_policy_actions_total",
    "Entities acted on by the GDPR policy, by direction, entity type, action and mode.",
    ["direction", "entity", "action", "mode"],
)
POLICY_DEGRADED = Counter(
    "sovereign_policy_degraded_total",
    "Requests passed under a fail_open policy because its analyzer or vault failed.",
    ["tenant", "part"],
)
FAILOVERS = Counter(
    "sovereign_failovers_total",
    "Attempts that failed before any answer and moved the request to another engine in its "
    "jurisdictions, by the failed engine's pool and reason (connect, status_5xx).",
    ["pool", "reason"],
)
