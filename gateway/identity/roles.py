"""Who may do what in administration: roles, permissions, and the acting identity.

Pure: no I/O. The admin API and the console ask ``Actor.may(permission, tenant)``; the audit
records ``Actor.id`` for every action.

=================  ==========================================================================
platform_admin     everything, every tenant
tenant_admin       its own tenant only: keys, limits, policy choice, usage, its audit records
auditor            read usage and the audit trail of every tenant, verify the chain
dpo                (data-protection officer) erasure requests and their receipts; audit reads
operator           read-only: tenants, keys (never secrets), usage, engines, policies
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    TENANT_ADMIN = "tenant_admin"
    AUDITOR = "auditor"
    DPO = "dpo"
    OPERATOR = "operator"


class Permission(StrEnum):
    TENANTS_READ = "tenants.read"
    TENANTS_CREATE = "tenants.create"  # a new tenant: platform-wide
    TENANTS_WRITE = "tenants.write"  # limits, policy, models of an existing tenant
    KEYS_READ = "keys.read"
    KEYS_WRITE = "keys.write"  # issue, rotate, revoke
    USAGE_READ = "usage.read"
    ENGINES_READ = "engines.read"
    POLICY_READ = "policy.read"
    AUDIT_READ = "audit.read"  # records (never content) and verification
    ERASURE = "erasure"  # file an Art. 17 erasure, read receipts
    BATCHES_ERASE = "batches.erase"


_ALL = frozenset(Permission)
_READ = frozenset(
    {
        Permission.TENANTS_READ,
        Permission.KEYS_READ,
        Permission.USAGE_READ,
        Permission.ENGINES_READ,
        Permission.POLICY_READ,
    }
)
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: _ALL,
    Role.TENANT_ADMIN: _READ
    | {
        Permission.TENANTS_WRITE,
        Permission.KEYS_WRITE,
        Permission.AUDIT_READ,
        Permission.BATCHES_ERASE,
    },
    Role.AUDITOR: frozenset(
        {
            Permission.TENANTS_READ,
            Permission.USAGE_READ,
            Permission.AUDIT_READ,
            Permission.POLICY_READ,
        }
    ),
    Role.DPO: frozenset({Permission.TENANTS_READ, Permission.AUDIT_READ, Permission.ERASURE}),
    Role.OPERATOR: _READ,
}
# Permissions that are never confined to one tenant (they concern the whole platform).
PLATFORM_WIDE = frozenset({Permission.TENANTS_CREATE, Permission.ENGINES_READ, Permission.ERASURE})


@dataclass(frozen=True, slots=True)
class Actor:
    """The acting identity of an admin request or a console session."""

    id: str  # for the audit: "admin-token", "oidc:<issuer>:<subject ref>", "cli"
    name: str  # for display (the IdP's user name); never used for decisions
    roles: frozenset[Role]
    # A tenant admin's own tenant: its tenant-scoped permissions reach this tenant only.
    tenant: str | None = None

    def permissions(self) -> frozenset[Permission]:
        out: frozenset[Permission] = frozenset()
        for role in self.roles:
            out |= GRANTS[role]
        return out

    def may(self, permission: Permission, tenant: str | None = None) -> bool:
        """May this actor do ``permission`` (on ``tenant``; None: across tenants)?"""
        if Role.PLATFORM_ADMIN in self.roles:
            return True
        for role in self.roles:
            if permission not in GRANTS[role]:
                continue
            if role is not Role.TENANT_ADMIN:
                return True
            # A tenant admin: only its own tenant, never a platform-wide or unscoped view.
            if permission not in PLATFORM_WIDE and tenant is not None and tenant == self.tenant:
                return True
        return False

    def tenants_visible(self, all_tenants: list[str]) -> list[str]:
        """The tenants this actor may see at all."""
        if self.may(Permission.TENANTS_READ):
            return all_tenants
        return [t for t in all_tenants if self.may(Permission.TENANTS_READ, t)]


ADMIN_TOKEN = Actor("admin-token", "admin token", frozenset({Role.PLATFORM_ADMIN}))
CLI = Actor("cli", "command line", frozenset({Role.PLATFORM_ADMIN}))
