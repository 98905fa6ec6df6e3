"""Admission and metering around each request, and the usage the engines report.

::

    service.py   Metering: admission against the limits (degraded mode when the shared store
                 is down), exactly-once metering into the ledger, spool replay, heartbeats and
                 the sweep of dead replicas' admissions
    estimate.py  token estimates for admission, clamped by the model's context
    usage.py     the engine's usage, read off answers and stream events
    stream.py    MeteredStream: a streamed answer relayed event by event, metered at its end
    stream_usage.py  the usage a client asked for on a stream, what the engine is asked for,
                 per-chunk usage read and taken out by bytes
    response.py  MeteredResponse: a whole answer, metered after it is sent
    spool.py     the disk spool for records Redis (or its hand-off to the ledger) could not take
    record.py    (the ledger record now lives in ``gateway.core.usage``)
"""
