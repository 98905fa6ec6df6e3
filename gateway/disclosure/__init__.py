"""The deployer's disclosure (EU AI Act Art. 50(1)): people are told they talk to an AI.

A tenant's ``ai_disclosure`` setting (``gateway/core/tenant.py``) says how:

::

    notice.py   pure decisions: the notice's text, whether a request is a conversation's
                first turn, whether its answer may carry text, the header's value
    prompt.py   system_prompt mode: the instruction added to the request's system prompt
    answer.py   first_answer mode: the notice put in front of a whole answer's text
    stream.py   first_answer mode: the notice put in front of a stream's first text delta

The request path calls them from its ``policy`` stage (the instruction, after the policy so
it is never masked) and its ``shape`` stage (the answer, after restoration and the response
rules, so the notice is part of the text the client receives and the provenance digest
signs). The engine's usage is what is metered: the notice is not billed.
"""
