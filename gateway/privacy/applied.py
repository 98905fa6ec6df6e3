"""What a policy did to one request: carried to the answer, the headers and the ledger."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from policies.decide import summary
from policies.model import Policy

Mode = Literal["enforce", "shadow", "degraded"]


@dataclass(slots=True)
class Applied:
    policy: Policy
    # enforce: decided and applied; shadow: decided and recorded only; degraded: the analysis
    # failed and the policy said fail_open, so the request passed unfiltered (and says so).
    mode: Mode
    prompt: Counter[tuple[str, str]] = field(default_factory=Counter)
    answer: Counter[tuple[str, str]] = field(default_factory=Counter)
    # placeholder -> the value it stands for in this request (restored in the answer)
    mapping: dict[str, str] = field(default_factory=dict)
    route_classes: frozenset[str] = frozenset()
    # Whose request: the answer's analysis runs in this tenant's share (privacy/fair.py).
    tenant: str = field(kw_only=True)

    def headers(self) -> dict[str, str]:
        """Policy, mode and actions (types and counts, never values) for the client."""
        headers = {
            "x-sovereign-policy": self.policy.label,
            "x-sovereign-policy-mode": self.mode,
        }
        if self.prompt:
            headers["x-sovereign-pii-prompt"] = summary(self.prompt)
        if self.answer:
            headers["x-sovereign-pii-response"] = summary(self.answer)
        return headers

    def ledger_summary(self) -> str:
        """``prompt:PERSON:pseudonymize=1,response:IBAN:mask=1`` for the usage record."""
        parts = [f"prompt:{k}" for k in summary(self.prompt).split(",") if k]
        parts += [f"response:{k}" for k in summary(self.answer).split(",") if k]
        return ",".join(parts)
