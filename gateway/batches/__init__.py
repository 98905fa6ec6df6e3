"""``/v1/files`` and ``/v1/batches``: OpenAI's Batch API, each line through the request path.

A tenant uploads a JSONL file of requests and creates a batch from it; each line is run
in-process through the same path as an online request (the tenant's policy, residency,
limits, metering, audit, telemetry) as the key that created the batch, at batch priority
(behind interactive requests in the engines' admission). Files, batches and results live only
in a declared store in the allowed jurisdictions (PostgreSQL or a directory), are deleted when
retention ends, and by tenant and subject erasure. README, "Batches".

::

    models.py           files and batches as stored, and as OpenAI shows them (public())
    jsonl_input.py      pure checks of an upload and of a batch's request lines
    store.py            the BatchStore Protocol (tenant-scoped, cancellation, leases)
    directory_store.py  the store in a directory (one host; flock)
    postgres_store.py   the store in PostgreSQL (every replica)
    service.py          what the routes do, per tenant; not configured: 404 with why
    routes.py           the routes (thin), described in the OpenAPI document by FastAPI
    line.py             one line through Pipeline.handle_authenticated, in-process
    decisions.py        pure: a line's verdict, retry delays, endings, result lines, counts
    runner.py           the per-worker runner: leases, concurrency, retries, cancel, expiry
    build.py            the parts, built once in the lifespan
"""
