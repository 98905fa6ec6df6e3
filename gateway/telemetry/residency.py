"""Where every destination of data lies: checked before the gateway starts, never assumed.

Sinks (logs, audit, content logs, traces, metrics), the shared store and every engine declare their
jurisdiction; one outside ``telemetry.allowed_jurisdictions``, or one not declared, stops the
start with a message naming it. There is no default that sends data anywhere else: unset
sinks mean this process's own stdout and local files, on this host.
"""

from __future__ import annotations

from gateway.settings import Settings


class SinkOutsideJurisdiction(ValueError):
    """The configuration would send data outside the allowed jurisdictions (or undeclared)."""


def residency_problems(settings: Settings) -> list[str]:
    """Every destination outside the allowed jurisdictions, or not declared; empty: all fine."""
    telemetry = settings.telemetry
    allowed = set(telemetry.allowed_jurisdictions)
    problems: list[str] = []

    def check(what: str, jurisdiction: str | None, operator: str | None = "?") -> None:
        if jurisdiction is None or not operator:
            problems.append(f"{what}: jurisdiction and operator must be declared")
        elif jurisdiction not in allowed:
            problems.append(
                f"{what} is in {jurisdiction}, outside the allowed jurisdictions "
                f"({', '.join(sorted(allowed))})"
            )

    check("this gateway host (telemetry.host_jurisdiction)", telemetry.host_jurisdiction)
    for name, sink in (
        ("log sink", telemetry.logs),
        ("audit sink", telemetry.audit),
        ("content log sink", telemetry.content),
        ("trace exporter", telemetry.traces),
        ("metrics endpoint", telemetry.metrics),
        ("batch store (batches.store)", settings.batches.store),
    ):
        if sink is not None:
            check(f"{name} (operator {sink.operator})", sink.jurisdiction, sink.operator)
    if settings.store.redis_url is not None:
        check("the shared store (store.redis_url)", settings.store.jurisdiction,
              settings.store.operator)  # fmt: skip
    metering = settings.metering
    if metering.ledger_dsn is not None:
        check("the usage ledger (metering.ledger_dsn)", metering.ledger_jurisdiction,
              metering.ledger_operator)  # fmt: skip
    for issuer in settings.identity.issuers:
        check(f"identity provider {issuer.name!r} (operator {issuer.operator})",
              issuer.jurisdiction, issuer.operator)  # fmt: skip
    for pool in settings.pools:
        check(f"engine pool {pool.name!r}", pool.jurisdiction)
    return problems


def check_residency(settings: Settings) -> None:
    problems = residency_problems(settings)
    if problems:
        raise SinkOutsideJurisdiction(
            "refusing to start: data would leave the allowed jurisdictions:\n  - "
            + "\n  - ".join(problems)
        )
