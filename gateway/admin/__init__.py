"""The admin API (``/admin/v1``): tenants, keys and usage, behind a separate admin token.

::

    auth.py      the admin credential (a hash in the settings), checked on every route
    router.py    tenants and keys: thin routes over ``gateway.tenancy.admin``; usage
    schemas.py   the bodies: a tenant's create and update derive from ``TenantSpec``
    engines.py   ``GET /admin/v1/engines``: the engines as routing sees them
    subjects.py  ``POST /admin/v1/subjects/erase``: GDPR Art. 17 erasure, with its receipt
    batches.py   ``DELETE /admin/v1/tenants/{id}/batches``: a tenant's files and batches erased
"""

from gateway.admin.router import router as admin_router

__all__ = ["admin_router"]
