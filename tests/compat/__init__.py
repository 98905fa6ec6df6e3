"""The compatibility suite (issue 14): the same client code run against vLLM directly and
through the gateway, for a tenant with no policy and one with gdpr-default; it fails on any
difference the gateway introduces that is not a documented policy action.

Modules:
    sides.py              the three sides (direct, gateway-none, gateway-gdpr)
    matrix.py             the row registry: ``@row(name, client, check=...)`` on client code
    compare.py            SDK objects as JSON (ids and timestamps by type) and the diff
    openai_sdk.py         openai SDK rows, sync and async
    anthropic_sdk.py      Anthropic SDK rows (/v1/messages)
    frameworks.py         LangChain and LlamaIndex rows
    llamaindex_env.py     LlamaIndex's LLM needs openai<3: its own venv (``make install``)
    llamaindex_runner.py  run with that venv's python: one LlamaIndex call, as JSON
    batches.py            the openai SDK's batch helpers (vLLM directly: the lines one by one)
    conftest.py           the suite's gateway and tenants, over the session's engines
    test_matrix.py        every row x side, a prompt without personal data: equal
    test_personal_data.py rows marked ``personal_data``, a prompt with a name and an IBAN:
                          gdpr-default differs only by pseudonymisation and restoration
    test_llamaindex_env.py  the venv's install check (no engine)

The matrix (feature x direct / gateway none / gateway gdpr-default) is the list of test ids
of ``pytest tests/compat -q -rA``; README "Compatibility suite" has the current table.
Adding a row is one function decorated with ``@row`` in a module imported below.
"""

from tests.compat import anthropic_sdk, batches, frameworks, openai_sdk
from tests.compat.matrix import ROWS

__all__ = ["ROWS", "anthropic_sdk", "batches", "frameworks", "openai_sdk"]
