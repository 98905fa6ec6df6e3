"""The engines' side of a request: the client, engine choice with failover, the SSE relay.

::

    client.py     the one HTTP client to the engines, limits and timeouts from the settings
    transport.py  its transport: aiohttp's pool under httpx, with exact error mapping
    forwarder.py  Forwarder: an engine of the candidates, failover within the jurisdictions
    sse.py        whole server-sent events out of a byte stream, and their protocol check
    relay.py      RelayResponse: relays a stream event by event; client disconnects
    errors.py     what engines answer, translated into the gateway's error tree
"""
