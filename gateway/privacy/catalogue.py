"""The policies a deployment knows, loaded once at start-up, and the one a tenant gets."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import PolicyUnavailable
from gateway.settings import Settings
from gateway.topology import Tenant
from policies.model import Policy, load_policy_file, load_preset, preset_names


@dataclass(frozen=True, slots=True)
class PolicyCatalogue:
    policies: dict[str, Policy]
    default: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyCatalogue:
        """Presets plus the configured files; refuses a start with a policy nobody can find."""
        policies = {name: load_preset(name) for name in preset_names()}
        for path in settings.privacy.policy_files:
            policy = load_policy_file(path)
            if policy.id in policies:
                raise ValueError(f"{path}: policy id {policy.id!r} is defined twice")
            policies[policy.id] = policy
        catalogue = cls(policies, settings.privacy.default_policy)
        wanted = {settings.privacy.default_policy} | {t.policy for t in settings.tenants}
        for name in wanted - {None}:
            catalogue.get(name)
        return catalogue

    def get(self, name: str | None) -> Policy:
        if name is None or name not in self.policies:
            known = ", ".join(sorted(self.policies))
            raise ValueError(f"unknown policy {name!r}; known: {known}")
        return self.policies[name]

    def for_tenant(self, tenant: Tenant) -> Policy | None:
        """The tenant's own policy, else the default; None when filtering is off for it."""
        name = tenant.policy or self.default
        if name is None:
            return None
        found = self.policies.get(name)
        if found is None:
            # A tenant record naming a policy this replica does not know (set through another
            # replica's admin API): the request fails rather than passing unfiltered.
            raise PolicyUnavailable(f"The policy {name!r} is not loaded on this gateway.")
        return found

    def uses(self, action: str) -> bool:
        return any(
            action in (rule.prompt, rule.response)
            for policy in self.policies.values()
            for rule in policy.rules.values()
        )
