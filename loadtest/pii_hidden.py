"""The hidden-field cases of the adversarial benchmark, through the gateway's own extraction.

A case's text sits in some field of a chat request (``field``: ``tools[0].function.description``,
``metadata.note``, ...). Before either detector sees it, the text is placed at that path in a
request and put through ``gateway.privacy.fields.request_texts``, exactly as the prompt filter
does: if the gateway does not hand that field to the analyzer, the text is analysed as empty,
and its values count as missed. Recall in category ``hidden_field`` is therefore the
gateway's (extraction and detection), not the analyzer's alone.
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path
from typing import Any

from gateway.errors import GatewayError
from gateway.privacy.fields import request_texts
from gateway.privacy.texts import read

HIDDEN = Path(__file__).resolve().parents[1] / "tests" / "pii_eval" / "hidden_fields.jsonl"
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_BASE: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "user", "content": "Hallo"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}]},
        {"role": "tool", "content": "ok"},
    ],
}  # fmt: skip


def _place(body: dict[str, Any], path: str, text: str) -> None:
    steps: list[str | int] = [int(index) if index else name for name, index in _STEP.findall(path)]
    node: Any = body
    for step, following in itertools.pairwise(steps):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(empty)
            node = node[step]
        else:
            node = node.setdefault(step, empty)
    last = steps[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append("")
    node[last] = text


def extracted(field: str, text: str) -> str:
    """``text`` if the gateway analyses it where ``field`` puts it, else an empty text. A
    request the extraction refuses never reaches an engine: that counts as found (the text)."""
    body = copy.deepcopy(_BASE)
    _place(body, field, text)
    try:
        texts = read(request_texts(body, "/v1/chat/completions").slots)
    except GatewayError:
        return text
    return text if text in texts else ""
