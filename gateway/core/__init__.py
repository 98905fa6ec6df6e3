"""The bottom layer: value types every feature shares, importing nothing of the gateway.

::

    names.py     constrained names: Identifier, Jurisdiction, PolicyName, ModelName
    limits.py    Limits (one model: configuration, stored records and admission read it),
                 Scope, Decision
    tenant.py    TenantSpec (the one specification of a tenant: the configuration, the stored
                 record and the admin API's create and update bodies derive from it), Tenant
                 (its runtime form), Principal (who is calling)
    topology.py  Pool, Engine: where requests may go
    usage.py     Usage (an engine's report), UsageRecord (the one ledger record of a request)
    text.py      bounded client strings
    redis_url.py RedisUrl: store.redis_url parsed (one node, a cluster, a Sentinel service)

Everything above this layer (quota, metering, telemetry, privacy, routing, the pipeline, the
admin API) imports these; nothing here imports them.
"""
