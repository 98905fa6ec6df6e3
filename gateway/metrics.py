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
ORPHANS_SETTLED = Counter(
    "sovereign_orphans_settled_total",
    "Admissions of dead replicas settled by this one (their leases freed, estimates refunded).",
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
    "jurisdictions, by the failed engine's pool and reason (connect, status_5xx, status_other: "
    "a redirect, never followed, or another status an engine must not answer with).",
    ["pool", "reason"],
)
AUTH_FAILURES = Counter(
    "sovereign_auth_failures_total",
    "Failed authentications, by surface (api: /v1 keys, admin: /admin/v1 token) and reason "
    "(missing, malformed, unknown_key, expired; bearer JWTs: token_expired, unknown_kid, ... "
    "see gateway/errors.py AuthFailureReason). All of them; their log lines are rate-limited.",
    ["surface", "reason"],
)
IDP_FETCH_FAILURES = Counter(
    "sovereign_idp_fetch_failures_total",
    "Failed reads of an identity provider's discovery document or signing keys (JWKS), by "
    "issuer (its configured name). Cached keys stay in use up to jwks_max_stale_s.",
    ["issuer"],
)
IDP_UNREACHABLE_REFUSALS = Counter(
    "sovereign_idp_unreachable_refusals_total",
    "Bearer JWTs refused because the issuer's keys could not be read and the cached ones are "
    "older than jwks_max_stale_s (or were never read): failing closed, by issuer.",
    ["issuer"],
)
