"""The stages of the request path, one small unit each (their order: ``../path.py``).

::

    authenticate.py  who is calling
    read.py          the body, checked; hints; who it is about; the span
    residency.py     the engines allowed, in the tenant's jurisdictions
    policy.py        the GDPR policy on every text; pools cleared for its data classes
    disclose.py      the deployer's AI notice (system_prompt mode; first_answer: shape)
    admit.py         what is sent and what it may use; from here settled exactly once
    send.py          to an engine, with failover within the jurisdictions
    shape.py         the answer as the client gets it (whole or streamed)
"""
