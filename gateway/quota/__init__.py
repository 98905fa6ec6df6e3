"""Limits in a store shared by every replica (Redis) or in this process.

::

    store.py         the QuotaStore seam, and what both stores share
    redis_store.py   RedisQuotaStore: admission and metering as one Lua call each
    memory_store.py  MemoryQuotaStore: the embedded default, and fail-open local limits
    pending.py       admissions not yet settled, so a replica's death strands none
    resp.py          the lean pipelined Redis connection for the two calls on the hot path
    cluster_runner.py   those two calls on a Redis Cluster: by hash slot, MOVED/ASK followed
    sentinel_runner.py  those two calls on the master a Sentinel service names
    clients.py       redis-py clients and hot-path runners for store.redis_url's deployment
    keyspace.py      RedisClient (one node or a cluster), SCAN over every primary
    admit.lua, meter.lua   the scripts (meter.lua hands records to gateway/ledger)
    limits.py        (limits, scopes and decisions now live in ``gateway.core.limits``)
"""
