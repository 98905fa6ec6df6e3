"""The OpenAI-compatible surface: request schemas and the routes clients call.

::

    schemas.py     the request bodies of chat, completions and embeddings (pydantic)
    body.py        strict JSON: what is accepted can be forwarded and accounted for
    models.py      ``GET /v1/models``: the models a tenant may reach
"""
