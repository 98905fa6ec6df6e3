"""The GDPR policy engine in the request path: the gateway's side of ``policies/``.

catalogue.py     which policies exist (presets + files) and which one a tenant's request gets
texts.py         where the text is in OpenAI requests and answers
responses.py     where it is in the Responses API's, and its answers' echoes restored
responses_stream.py  a Responses API stream through the policy: typed events shaped
messages.py      where it is in Anthropic Messages requests and answers; answers restored
analysis.py      the analyzer, run off the event loop with a deadline; per-request limits
fair.py          the analysis threads, shared fairly between tenants
conversation.py  which conversation a request belongs to (the pseudonym map's scope)
prompt.py        a prompt through its policy: block, route, mask, pseudonymise, record
answer.py        an answer through its policy: mask, restore placeholders (whole or streamed)
json_answers.py  which texts of an answer are JSON (response_format, tool calls) and what a
                 value masked there becomes: a JSON string, null, or the answer withheld
fields.py        every field of a request: analysed, type-checked, or refused
applied.py       what the policy did to one request (headers, ledger summary, pseudonyms)
stream_guard.py  response rules on a stream: hold and mask what the model makes up
hold_back.py     which held text later text can no longer make a masked value (eager mode)
logprobs.py      logprobs regrouped with their text: masked, restored, held and released
event_shape.py   which stream events can matter to the policy (the others pass unparsed)
content.py       the masked content log of tenants whose policy keeps content
service.py       Privacy: built once in the lifespan (catalogue, analysis, prompt filter)
"""
