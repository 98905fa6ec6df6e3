"""Limits in a store shared by every replica (Redis) or in this process.

::

    store.py         the QuotaStore seam, and what both stores share
    redis_store.py   RedisQuotaStore: admission and metering as one Lua call each
    memory_store.py  MemoryQuotaStore: the embedded default, and fail-open local limits
    pending.py       admissions not yet settled, so a replica's death strands none
    resp.py          the lean pipelined Redis connection for the two calls on the hot path
    admit.lua, meter.lua, erase.lua   the scripts
    limits.py        (limits, scopes and decisions now live in ``gateway.core.limits``)
"""
