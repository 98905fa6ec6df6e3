"""Pure decisions: what a policy does with the spans the analyzer found in one direction.

No I/O, no clock: spans and a policy in, a ``Decision`` out. The gateway applies it (blocks,
routes, asks the vault for placeholders, rewrites the text) and records its counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from policies.model import Action, Direction, Policy
from policies.spans import Span

_REWRITES = (Action.MASK, Action.PSEUDONYMIZE)


@dataclass(frozen=True, slots=True)
class Finding:
    span: Span
    action: Action
    route_to: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict on one text. In shadow mode it is recorded but changes nothing."""

    direction: Direction
    findings: tuple[Finding, ...]
    shadow: bool = False

    @property
    def blocked(self) -> frozenset[str]:
        return frozenset(f.span.entity for f in self.findings if f.action is Action.BLOCK)

    @property
    def route_classes(self) -> frozenset[str]:
        return frozenset(f.route_to for f in self.findings if f.route_to is not None)

    def to_rewrite(self) -> tuple[Finding, ...]:
        """The findings whose text changes (none in shadow mode)."""
        if self.shadow:
            return ()
        return tuple(f for f in self.findings if f.action in _REWRITES)


def decide(spans: Iterable[Span], policy: Policy, direction: Direction) -> Decision:
    findings = []
    for span in spans:
        rule = policy.rule(span.entity)
        action = rule.action(direction)
        if action is Action.ALLOW:
            continue
        route_to = rule.route_to if action is Action.ROUTE else None
        findings.append(Finding(span, action, route_to))
    return Decision(direction, tuple(findings), policy.shadow)


def counts(decisions: Iterable[Decision]) -> Counter[tuple[str, str]]:
    """(entity type, action) -> how many spans: what headers, ledger and logs report."""
    return Counter((f.span.entity, f.action.value) for d in decisions for f in d.findings)


def summary(tally: Mapping[tuple[str, str], int]) -> str:
    """``PERSON:pseudonymize=2,HEALTH:flag=1``: types and counts only, never values."""
    return ",".join(f"{entity}:{action}={n}" for (entity, action), n in sorted(tally.items()))


def rewrite(text: str, replacements: Sequence[tuple[Span, str]]) -> str:
    """``text`` with each span replaced; spans must not overlap (the analyzer guarantees it)."""
    if not replacements:
        return text
    parts: list[str] = []
    cursor = 0
    for span, new in sorted(replacements, key=lambda r: r[0].start):
        if span.start < cursor:
            raise ValueError("overlapping spans cannot be rewritten")
        parts.append(text[cursor : span.start])
        parts.append(new)
        cursor = span.end
    parts.append(text[cursor:])
    return "".join(parts)


def mask_token(entity: str) -> str:
    """What a masked span becomes: the type only, irreversibly."""
    return f"<{entity}>"
