"""The engines' side of a request: the client, engine choice with failover, the SSE relay.

::

    engines.py    the seam for requests: aiohttp read directly (production), httpx (tests);
                  failures reported as "not sent" or "may have reached the engine"
    client.py     the httpx client of the engine monitor's scrapes, limits and timeouts
    transport.py  its transport: aiohttp's pool under httpx, with exact error mapping
    forwarder.py  Forwarder: an engine of the candidates, failover within the jurisdictions
    watermark.py  the text watermark's switch in the body, set per pool (never the client's)
    sse.py        whole server-sent events out of a byte stream, and their protocol check
    relay.py      RelayResponse: relays a stream event by event; client disconnects
    errors.py     what engines answer, translated into the gateway's error tree
"""
