"""Tenants and their API keys: stored, administered, and known to every replica.

::

    records.py    TenantRecord (the tenant spec, stored) and KeyRecord
    store.py      the directory store: Redis, or in this process
    admin.py      TenantAdmin: create, update, issue, rotate, revoke (the admin API and CLI)
    directory.py  this replica's copy: authenticates locally, reloads on every change
"""
