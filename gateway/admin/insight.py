"""What the ledger says over a period, computed for people: usage per time bucket (and per key,
model or user), time-to-first-token percentiles, and what a policy found. Pure: records in,
values out; reading the ledger is the service's business (``gateway.admin.service``).

Buckets are aligned to UTC hours or days and zero-filled over the whole range, so a chart
has a point for every bucket. A record counts in the bucket its request *ended* in, as the
usage report counts it in the range it ended in: the series adds up to the report. Users are
subject references (keyed hashes of the OpenAI ``user`` value), never identities.

A record's ``pii`` field reads ``prompt:PERSON:pseudonymize=1,response:IBAN:mask=2``: types,
actions and counts, never values; ``findings`` adds these up.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.core.usage import UsageRecord
from gateway.errors import InvalidRequest

Bucket = Literal["hour", "day"]
GroupBy = Literal["key", "model", "user"]
BUCKET_SECONDS: dict[Bucket, int] = {"hour": 3600, "day": 86_400}
MAX_BUCKETS = 2000  # about 83 days of hours, 5 years of days
MAX_GROUPS = 50  # the biggest by tokens; the rest add up to OTHER
NO_USER = "(none)"  # records without a subject
OTHER = "(other)"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated between the
    closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(slots=True)
class Tally:
    """Requests, tokens and first-token times of some records."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: list[float] = field(default_factory=list)

    def add(self, record: UsageRecord) -> None:
        self.requests += 1
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        if record.ttft_ms is not None:
            self.ttft_ms.append(record.ttft_ms)

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.ttft_ms += other.ttft_ms

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def bucket_starts(since: dt.datetime, until: dt.datetime, bucket: Bucket) -> list[dt.datetime]:
    """The UTC-aligned starts of every bucket that meets ``[since, until)``."""
    width = BUCKET_SECONDS[bucket]
    first = math.floor(since.timestamp() / width) * width
    count = math.ceil((until.timestamp() - first) / width)
    if count > MAX_BUCKETS:
        raise InvalidRequest(
            f"{count} buckets of a {bucket} are too many (at most {MAX_BUCKETS}): "
            "choose a shorter range or bucket=day.",
            param="bucket",
            code="invalid_value",
        )
    return [dt.datetime.fromtimestamp(first + n * width, dt.UTC) for n in range(count)]


def _group_key(by: GroupBy) -> Callable[[UsageRecord], str]:
    if by == "key":
        return lambda r: r.key_id
    if by == "model":
        return lambda r: r.model
    return lambda r: r.subject_ref or NO_USER


@dataclass(slots=True)
class Series:
    starts: list[dt.datetime]
    total: Tally
    points: list[Tally]
    groups: dict[str, list[Tally]]  # biggest total_tokens first; OTHER last


def series(
    records: Iterable[UsageRecord],
    since: dt.datetime,
    until: dt.datetime,
    bucket: Bucket,
    by: GroupBy | None = None,
    max_groups: int = MAX_GROUPS,
) -> Series:
    """Per bucket (and per group, with ``by``), the records' tallies."""
    starts = bucket_starts(since, until, bucket)
    width = BUCKET_SECONDS[bucket]
    origin = starts[0].timestamp()
    total, points = Tally(), [Tally() for _ in starts]
    groups: dict[str, list[Tally]] = {}
    name_of = _group_key(by) if by is not None else None
    for record in records:
        index = int((record.finished_at - origin) // width)
        if not 0 <= index < len(starts):
            continue  # outside the range asked for
        total.add(record)
        points[index].add(record)
        if name_of is not None:
            name = name_of(record)
            groups.setdefault(name, [Tally() for _ in starts])[index].add(record)
    return Series(starts, total, points, _top(groups, max_groups))


def _top(groups: dict[str, list[Tally]], limit: int) -> dict[str, list[Tally]]:
    def size(item: tuple[str, list[Tally]]) -> tuple[int, str]:
        return (-sum(t.total_tokens for t in item[1]), item[0])

    ordered = sorted(groups.items(), key=size)
    kept = dict(ordered[:limit])
    rest = ordered[limit:]
    if rest:
        other = [Tally() for _ in rest[0][1]]
        for _, tallies in rest:
            for into, tally in zip(other, tallies, strict=True):
                into.merge(tally)
        kept[OTHER] = other
    return kept


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    direction: str  # "prompt" or "response"
    entity: str
    action: str


def parse_pii(text: str | None) -> Counter[Finding]:
    """``prompt:PERSON:pseudonymize=1,...`` as counts; what does not parse is skipped."""
    found: Counter[Finding] = Counter()
    for part in (text or "").split(","):
        head, _, count = part.rpartition("=")
        direction, _, rest = head.partition(":")
        entity, _, action = rest.rpartition(":")
        if not (direction and entity and action and count.isdigit()):
            continue
        found[Finding(direction, entity, action)] += int(count)
    return found


@dataclass(slots=True)
class Findings:
    requests: int = 0
    with_findings: int = 0
    counts: Counter[Finding] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)  # "id@version" -> requests
    modes: Counter[str] = field(default_factory=Counter)  # enforce | shadow | degraded

    @property
    def by_entity(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for finding, n in self.counts.items():
            out[finding.entity] += n
        return dict(sorted(out.items()))


def findings(records: Iterable[UsageRecord]) -> Findings:
    """What the policies in force found in these requests: types, actions, counts."""
    out = Findings()
    for record in records:
        out.requests += 1
        found = parse_pii(record.pii)
        if found:
            out.with_findings += 1
            out.counts.update(found)
        if record.policy is not None:
            out.versions[record.policy] += 1
        if record.policy_mode is not None:
            out.modes[record.policy_mode] += 1
    return out
