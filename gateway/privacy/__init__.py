"""The GDPR policy engine in the request path: the gateway's side of ``policies/``.

catalogue.py     which policies exist (presets + files) and which one a tenant's request gets
texts.py         where the text is in OpenAI requests and answers
analysis.py      the analyzer, run off the event loop with a deadline; per-request limits
fair.py          the analysis threads, shared fairly between tenants
conversation.py  which conversation a request belongs to (the pseudonym map's scope)
prompt.py        a prompt through its policy: block, route, mask, pseudonymise, record
answer.py        an answer through its policy: mask, restore placeholders (whole or streamed)
fields.py        every field of a request: analysed, type-checked, or refused
applied.py       what the policy did to one request (headers, ledger summary, pseudonyms)
stream_guard.py  response rules on a stream: hold and mask what the model makes up
event_shape.py   which stream events can matter to the policy (the others pass unparsed)
content.py       the masked content log of tenants whose policy keeps content
service.py       Privacy: built once in the lifespan (catalogue, analysis, prompt filter)
"""
