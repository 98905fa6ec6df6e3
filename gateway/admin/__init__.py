"""Administration: the admin API (``/admin/v1``) and the service the console shares with it.

Who acts is resolved on every request (an admin token, or a person's bearer JWT) and every
operation checks the actor's permission in one place, ``service.AdminService``; every
change is recorded in the audit trail under the actor's id.

::

    auth.py      admin token hashes: the platform admin's, and named tokens with roles
    access.py    the acting identity of a request (token or JWT)
    rules.py     pure: the permission check (403 or 404), a tenant admin's changes
    service.py   AdminService: every operation, permission-checked (API and console)
    insight.py   pure: usage per time bucket and group, TTFT percentiles, policy findings
    views.py     the read side's answers: usage series, policy view, audit pages, erasures
    schemas.py   the bodies: a tenant's create and update derive from ``TenantSpec``
    deps.py      the routes' dependencies: the actor and the service
    router.py    ``/admin/v1``: tenants, keys, engines; includes the routers below
    usage.py     a tenant's usage: totals, series, CSV
    policy.py    a tenant's policy in force and what it found
    audit.py     the audit trail: verify, records (metadata only), erasure receipts
    engines.py   the engines as routing sees them
    subjects.py  ``POST /admin/v1/subjects/erase``: GDPR Art. 17 erasure, with its receipt
    batches.py   ``DELETE /admin/v1/tenants/{id}/batches``: a tenant's files and batches erased

Who may do what (``gateway.identity.roles``; 403 when a role lacks the permission; 404 when
a tenant admin names another tenant, as for a tenant that does not exist):

==================  ========  =====  ===========  ======  =====  ======  =======  ========
role                tenants   keys   keys write   usage   audit  verify  erasure  engines
==================  ========  =====  ===========  ======  =====  ======  =======  ========
platform_admin      all, new  all    all          all     all    yes     yes      yes
tenant_admin        own       own    own          own     own    no      no       no
auditor             all       no     no           all     all    yes     receipts no
dpo                 all       no     no           no      all    yes     yes      no
operator            all       all    no           all     no     no      no       yes
==================  ========  =====  ===========  ======  =====  ======  =======  ========
"""

from gateway.admin.router import router as admin_router

__all__ = ["admin_router"]
