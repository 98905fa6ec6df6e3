"""Load-aware, residency-bound engine choice and resilience (issue 6).

routing/
    view.py         what a strategy sees of each engine: scraped load, staleness, in-flight
    monitor.py      scrapes every engine's /health and /metrics concurrently (~500 ms)
    strategies/     one small plugin per strategy: round robin, least load, affinity,
                    site preference; built from config by name
    breaker.py      one circuit breaker per engine (closed, open, half-open probe)
    budget.py       the retry budget shared by all requests of a replica
    admission.py    per-engine concurrency caps, a priority queue with deadlines
    router.py       residency candidates -> breakers -> strategy -> admission -> attempts
    build.py        the router and its parts, built once from the settings

Invariant, everywhere: every function here only ever filters or reorders the candidates
that residency computed for the tenant; none can add an engine. The property test
(tests/unit/routing/test_never_across_the_border.py) checks it over random topologies.
"""
