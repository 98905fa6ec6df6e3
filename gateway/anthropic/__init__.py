"""Anthropic's Messages API (``POST /v1/messages``), as vLLM serves it, through the request path.

::

    schemas.py   the request body (messages, system, tools, ...), checked as vLLM would
    stream.py    a streamed answer's events (message_start ... message_stop): protocol
                 checks, metering from its usage, placeholders restored and response rules
                 applied to its text, input_json and thinking deltas

The rest is the request path's own (``gateway/pipeline/``): the endpoint says its errors are
Anthropic's (``gateway/http_errors.py`` renders them), its key may come as ``x-api-key``, and
``gateway/privacy/fields.py`` has the catalogue of its fields under a policy.
"""
