"""Hot path choices (issue 13): the relay's server, upstream client, routing and validation,
measured side by side in one run.

    python -m loadtest.hotpath [--quick] [--json PATH]

Each variant is a minimal relay that does what the gateway's hot path does for one chat
completion and nothing else (no auth, no policy, no metering store): read and validate the
body, send it to one engine, relay the answer (whole, or its SSE stream event by event with
a metering-like tap). Variants differ in exactly one choice from a neighbour, so a difference
in CPU is that choice's cost. Every piece that the gateway already has is the gateway's own
(head limits, schemas, strict JSON parse, SSE splitting, ``RelayResponse``, error rendering);
only the choices under test are new.

Modules: ``variants`` (what runs), ``engine`` (a near-instant engine process), ``client``
(the load process), ``upstreams`` / ``validation`` / ``relaying`` (the parts), ``apps``
(the four app shapes), ``serve`` (one relay process), ``measure`` / ``runner`` / ``report``
(the run), ``micro`` (in-process validation figures), ``protections`` (what each server
refuses), ``profile`` (py-spy of one variant).
"""
