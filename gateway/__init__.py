"""Sovereign Gateway: an OpenAI-compatible inference gateway that keeps requests, logs and
personal data in their jurisdiction. The package map, bottom layer first (a module imports
only from the layers above it in this list, never from below; ``tests/unit/test_architecture
.py`` checks it, and ``docs/architecture.md`` walks a request through it):

::

    core/          value types every feature shares: tenant spec, limits, pools, usage record
    settings.py    the one settings root (YAML + environment), built once in ``main``
    errors.py      the one exception tree, drawn in its docstring
    topology.py    pools and engines, from the settings
    residency.py   where a tenant's request may go: a pure decision
    auth.py        API keys: hashing, the key ring
    auth_failures.py  failed authentications, counted and logged (rate-limited)
    jsonl.py       append-only JSON-lines files (spool, audit, content log)
    postgres.py    a PostgreSQL store's one connection, one operation at a time (ledger,
                   audit, batches)
    metrics.py     the gateway's Prometheus counters
    quota/         limits in Redis or in this process; pending admissions
    ledger/        the durable usage ledger in PostgreSQL, shipped from Redis's hand-off
    metering/      admission, exactly-once metering, the spool, metered answers
    tenancy/       tenants and keys: stored, administered, known to every replica
    identity/      OIDC issuers: bearer JWTs for /v1 (with keys, the one authentication),
                   roles and the acting identity of administration
    audit/         the tamper-evident audit trail, erasure
    telemetry/     spans, request metrics, logs, content log, residency of every sink
    privacy/       the GDPR policy in the request path (``policies/`` is the engine)
    routing/       engine choice: load, circuit breakers, retry budget, admission queues
    upstream/      the engines' side: client, failover, SSE relay
    erasure.py     GDPR Art. 17 across every store
    stores.py      the stores from the settings: Redis, or in this process
    health.py      readiness from the routing monitor
    usage_export.py  usage totals and exports
    openai/        the OpenAI surface: request schemas, strict bodies, ``GET /v1/models``
    anthropic/     Anthropic's Messages API (``/v1/messages``): its request, its stream events
    pipeline/      the request path: authenticate, read, residency, policy, admit, send,
                   shape, record (``pipeline/path.py``)
    batches/       ``/v1/files`` and ``/v1/batches``: each line through the request path,
                   files and results in a declared in-jurisdiction store
    provenance/    EU AI Act Art. 50: signed provenance of answers (JWS), its JWKS and the
                   free verification; the text watermark's detector
    disclosure/    EU AI Act Art. 50(1): the deployer's notice to people, per tenant
    settle.py      the net that settles every admitted request however it ends
    edge.py        request ids and the body size limit (pure ASGI)
    http_errors.py the one place errors become OpenAI JSON (Anthropic's on /v1/messages);
                   the catch-all
    resources.py   the lifespan: everything built once, torn down at exit
    probes.py      ``/healthz``, ``/readyz``
    admin/         the admin API
    console/       the web console at /console: OIDC sign-in, pages over the admin service
    app.py         the app factory: wiring only
    server.py      uvicorn with the request-head limits and timeouts it lacks
    runtime.py     process tuning for serving: frozen start-up objects, GIL switch interval
    cli.py, cli_support.py, admin_cli.py, audit_cli.py   the command line
"""
