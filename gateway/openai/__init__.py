"""The OpenAI-compatible surface: request schemas and the routes clients call.

::

    schemas.py     the request bodies of chat, completions, embeddings, and vLLM's tokenize
                   and detokenize (pydantic)
    responses.py   the body of ``/v1/responses`` (the Responses API), stateless: ``store``
                   forced false, ``previous_response_id`` and ``background`` refused
    body.py        strict JSON: what is accepted can be forwarded and accounted for
    models.py      ``GET /v1/models`` and ``/v1/models/{id}``: the models a tenant may reach,
                   with the cards their engines report
    stored.py      the stored-response routes (retrieve, delete, cancel, input items): a 404
                   ``response_not_stored`` saying why, since nothing is stored
"""
