"""What the admin API's read side answers (and the console renders): usage series, the policy
in force and what it found, the audit trail's verification, its entries and its erasures.

Built from the pure computations (``gateway.admin.insight``) and the audit's own types. No
view carries content, a key, or a subject's reference from the audit trail: an audit entry
says whether erasable fields are there (``erasable``), never what they hold.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.admin.insight import Bucket, Findings, GroupBy, Series, Tally, percentile
from gateway.audit.browse import Found
from gateway.audit.chain import Problem
from gateway.audit.trail_check import TrailReport
from policies.model import EntityRule, Policy

MAX_PROBLEMS_SHOWN = 100


class Totals(BaseModel):
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None

    @classmethod
    def fields_of(cls, tally: Tally) -> dict[str, Any]:
        return {
            "requests": tally.requests,
            "prompt_tokens": tally.prompt_tokens,
            "completion_tokens": tally.completion_tokens,
            "total_tokens": tally.total_tokens,
            "ttft_p50_ms": _rounded(percentile(tally.ttft_ms, 50)),
            "ttft_p95_ms": _rounded(percentile(tally.ttft_ms, 95)),
        }


class Point(Totals):
    start: dt.datetime  # the bucket's start (UTC)


class Group(Totals):
    name: str  # key id, model, or subject reference ("(none)", "(other)")
    points: list[Point]


class UsageSeries(BaseModel):
    tenant: str
    start: dt.datetime = Field(serialization_alias="from")
    end: dt.datetime = Field(serialization_alias="to")  # exclusive
    bucket: Bucket
    by: GroupBy | None
    totals: Totals
    points: list[Point]
    groups: list[Group]

    @classmethod
    def of(
        cls,
        tenant: str,
        since: dt.datetime,
        until: dt.datetime,
        bucket: Bucket,
        by: GroupBy | None,
        computed: Series,
    ) -> UsageSeries:
        def points(tallies: list[Tally]) -> list[Point]:
            return [
                Point(start=start, **Totals.fields_of(t))
                for start, t in zip(computed.starts, tallies, strict=True)
            ]

        groups = []
        for name, tallies in computed.groups.items():
            whole = Tally()
            for tally in tallies:
                whole.merge(tally)
            groups.append(Group(name=name, points=points(tallies), **Totals.fields_of(whole)))
        return cls(
            tenant=tenant,
            start=since,
            end=until,
            bucket=bucket,
            by=by,
            totals=Totals(**Totals.fields_of(computed.total)),
            points=points(computed.points),
            groups=groups,
        )


class FindingCount(BaseModel):
    direction: str
    entity: str
    action: str
    count: int


class PolicyView(BaseModel):
    tenant: str
    policy: str | None  # None: no policy applies (filtering off for this tenant)
    version: str | None
    label: str | None  # "id@version", as the ledger records it
    source: Literal["tenant", "default"] | None
    shadow: bool
    description: str
    log_content: bool
    default_rule: EntityRule | None
    rules: dict[str, EntityRule]
    start: dt.datetime = Field(serialization_alias="from")
    end: dt.datetime = Field(serialization_alias="to")
    requests: int
    requests_with_findings: int
    findings: list[FindingCount]
    by_entity: dict[str, int]
    versions_seen: dict[str, int]  # the policy versions the ledger names over the period
    modes: dict[str, int]

    @classmethod
    def of(
        cls,
        tenant: str,
        policy: Policy | None,
        source: Literal["tenant", "default"] | None,
        since: dt.datetime,
        until: dt.datetime,
        found: Findings,
    ) -> PolicyView:
        return cls(
            tenant=tenant,
            policy=policy.id if policy else None,
            version=policy.version if policy else None,
            label=policy.label if policy else None,
            source=source if policy else None,
            shadow=policy.shadow if policy else False,
            description=policy.description if policy else "",
            log_content=policy.log_content if policy else False,
            default_rule=policy.default if policy else None,
            rules=dict(sorted(policy.entities.items())) if policy else {},
            start=since,
            end=until,
            requests=found.requests,
            requests_with_findings=found.with_findings,
            findings=[
                FindingCount(direction=f.direction, entity=f.entity, action=f.action, count=n)
                for f, n in sorted(found.counts.items())
            ],
            by_entity=found.by_entity,
            versions_seen=dict(sorted(found.versions.items())),
            modes=dict(sorted(found.modes.items())),
        )


class ChainState(BaseModel):
    entries: int
    ok: bool
    last_seq: int | None


class AuditVerification(BaseModel):
    ok: bool
    summary: str  # as ``sovereign-gateway audit verify`` prints it
    entries: int
    erased: int
    pruned: int
    hmac_checked: bool
    problem_count: int
    problems: list[Problem]  # the first MAX_PROBLEMS_SHOWN
    chains: dict[str, ChainState]

    @classmethod
    def of(cls, report: TrailReport) -> AuditVerification:
        return cls(
            ok=report.ok,
            summary=report.summary(),
            entries=report.entries,
            erased=report.erased,
            pruned=report.pruned,
            hmac_checked=report.hmac_checked,
            problem_count=report.problem_count,
            problems=report.problems[:MAX_PROBLEMS_SHOWN],
            chains={
                name: ChainState(
                    entries=r.entries, ok=r.ok, last_seq=r.last.seq if r.last else None
                )
                for name, r in report.chains.items()
            },
        )


class AuditEntryView(BaseModel):
    """One audit entry's metadata: no content, no subject reference."""

    chain: str
    seq: int
    at: float
    tenant: str | None
    kind: str
    erasable: Literal["present", "erased"] | None  # subject reference and/or content
    # request entries
    request_id: str | None = None
    key_id: str | None = None
    endpoint: str | None = None
    model: str | None = None
    pool: str | None = None
    site: str | None = None
    jurisdiction: str | None = None
    status: str | None = None
    http_status: int | None = None
    policy: str | None = None
    policy_mode: str | None = None
    pii: str | None = None  # types, actions, counts
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    duration_ms: float | None = None
    # admin entries
    actor: str | None = None
    action: str | None = None
    target: dict[str, str] | None = None
    fields: list[str] | None = None
    details: dict[str, Any] | None = None

    @classmethod
    def of(cls, found: Found) -> AuditEntryView:
        entry = found.entry
        body = entry.body or {}
        erasable: Literal["present", "erased"] | None = (
            "erased" if entry.erased else "present" if entry.erasable else None
        )
        shown = {k: body[k] for k in _SHOWN.get(entry.kind, ()) if k in body}
        return cls(
            chain=found.chain,
            seq=entry.seq,
            at=entry.at,
            tenant=entry.tenant,
            kind=entry.kind,
            erasable=erasable,
            **shown,
        )


_SHOWN: dict[str, tuple[str, ...]] = {
    "request": (
        "request_id",
        "key_id",
        "endpoint",
        "model",
        "pool",
        "site",
        "jurisdiction",
        "status",
        "http_status",
        "policy",
        "policy_mode",
        "pii",
        "prompt_tokens",
        "completion_tokens",
        "duration_ms",
    ),
    "admin": ("actor", "action", "target", "fields", "details"),
}


class AuditPage(BaseModel):
    records: list[AuditEntryView]
    next_before: str | None  # pass as ``before`` for the next page; None: this was the last


class ErasureEntry(BaseModel):
    """An erasure as the audit chain recorded it: its receipt's digest, never the subject."""

    at: float
    chain: str
    seq: int
    actor: str
    digest: str
    counts: dict[str, int]

    @classmethod
    def of(cls, found: Found) -> ErasureEntry:
        body = found.entry.body or {}
        details: dict[str, Any] = body.get("details") or {}
        counts = {
            k.removeprefix("erased."): int(v)
            for k, v in details.items()
            if k.startswith("erased.") and isinstance(v, int | float)
        }
        return cls(
            at=found.entry.at,
            chain=found.chain,
            seq=found.entry.seq,
            actor=str(body.get("actor", "")),
            digest=str(details.get("receipt", "")),
            counts=counts,
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
