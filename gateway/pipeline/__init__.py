"""The request path of the inference endpoints, as a short sequence of named stages.

::

    path.py       the path, in order: Pipeline.handle (start reading here)
    context.py    RequestContext: one request's journey as one typed value; RequestHints
    endpoints.py  the endpoints served (chat, completions, embeddings, tokenize,
                  detokenize, responses), their schemas, which of them count tokens
                  and which take ``stream_options``
    stages/       one unit per stage: authenticate, read, residency, policy, admit, send,
                  shape
    record.py     the one usage record of a request: refusals, and the Recorder that
                  settles an admitted one exactly once
    build.py      the pipeline, built once in the lifespan from its collaborators
    routes.py     the inference routes: plain ASGI endpoints into the path, and their
                  description in the app's OpenAPI document

"""
