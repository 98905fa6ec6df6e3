"""The Batches row: the openai SDK's batch helpers (``files.create``, ``batches.create``,
``batches.retrieve``, ``files.content``) on chat lines.

vLLM serves no batch API of its own, so its column is what a client of the engine does
without one: the same lines sent one by one with ``chat.completions.create``. Through the
gateway the lines go as one batch; each line's answer in the output file, read as the SDK
reads a chat completion, must equal the engine's answer to that line (ids and timestamps by
type), in the order of the lines, each with status 200 and nothing in an error file.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any, Final, Literal

import openai
from openai.types.chat import ChatCompletion

from tests.compat.compare import observe
from tests.compat.matrix import Observation, row
from tests.compat.openai_sdk import GREEDY, client, messages
from tests.compat.sides import CHAT_MODEL, Side

CHAT: Final[Literal["/v1/chat/completions"]] = "/v1/chat/completions"
ENDED = ("completed", "failed", "expired", "cancelled")


def _lines(prompt: str) -> list[dict[str, Any]]:
    prompts = (prompt, f"{prompt} Once more.")  # every line carries the row's prompt
    return [
        {"custom_id": f"line-{i}", "method": "POST", "url": CHAT,
         "body": {"model": CHAT_MODEL, "messages": messages(p), **GREEDY}}
        for i, p in enumerate(prompts)
    ]  # fmt: skip


def _batched(sdk: openai.OpenAI, lines: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    upload = sdk.files.create(file=("lines.jsonl", io.BytesIO(content)), purpose="batch")
    batch = sdk.batches.create(input_file_id=upload.id, endpoint=CHAT, completion_window="24h")
    deadline = time.monotonic() + 120
    while batch.status not in ENDED:
        assert time.monotonic() < deadline, f"the batch is still {batch.status}"
        time.sleep(0.2)
        batch = sdk.batches.retrieve(batch.id)
    assert batch.error_file_id is None, sdk.files.content(batch.error_file_id).text
    assert batch.output_file_id is not None, batch
    output = [json.loads(x) for x in sdk.files.content(batch.output_file_id).text.splitlines()]
    by_id = {line["custom_id"]: line for line in output}
    return batch, [by_id[line["custom_id"]] for line in lines]


def _answered(observation: Observation) -> None:
    assert observation["statuses"] == [200, 200], observation
    for answer in observation["answers"]:
        assert answer["choices"][0]["message"]["content"], answer


@row("openai batches (chat lines)", "openai", check=_answered, personal_data=True)
def batches(side: Side, prompt: str) -> Observation:
    sdk, lines = client(side), _lines(prompt)
    if not side.through_gateway:  # no batch API: the same lines, one by one
        answers = [sdk.chat.completions.create(**line["body"]) for line in lines]
        return {
            "answers": [observe(a) for a in answers],
            "statuses": [200] * len(lines),
            "custom_ids": [line["custom_id"] for line in lines],
            "status": "completed",
            "request_counts": {"total": len(lines), "completed": len(lines), "failed": 0},
        }
    batch, results = _batched(sdk, lines)
    return {
        # As the SDK reads a chat completion: the same model class as the direct answers.
        "answers": [observe(ChatCompletion.model_validate(r["response"]["body"])) for r in results],
        "statuses": [r["response"]["status_code"] for r in results],
        "custom_ids": [r["custom_id"] for r in results],
        "status": batch.status,
        "request_counts": batch.request_counts.model_dump() if batch.request_counts else None,
    }
