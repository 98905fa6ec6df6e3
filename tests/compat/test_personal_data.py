"""Rows marked ``personal_data``, with a prompt that names a person and an IBAN.

Without a policy the gateway must give what the engine gives for the same prompt. Under
gdpr-default the documented actions are: the name and the IBAN are pseudonymised in the
prompt (``<PERSON_1>``, ``<IBAN_1>``, numbered per conversation), and placeholders in the
answer are restored (README, "GDPR policy engine", "Pseudonymisation"). So what the client
gets through gdpr-default must be what the engine gives directly for the pseudonymised
prompt, with the placeholders restored: the same text, finish reason and token counts,
nothing else changed. The recording proxy shows the engine received exactly that prompt.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.compat import ROWS
from tests.compat.compare import assert_same
from tests.compat.conftest import KEYS, Observe
from tests.compat.matrix import cell
from tests.compat.sides import CHAT_MODEL, DIRECT, GDPR, NONE, Side
from tests.recording_proxy import Recording

pytestmark = pytest.mark.engine

NAME = "Annette Brandmeier"
IBAN = "DE89 3704 0044 0532 0130 00"
# The small model repeats this one, so its answers hold placeholders to restore.
PERSONAL = f"Repeat exactly: {NAME} {IBAN}"
PSEUDONYMISED = "Repeat exactly: <PERSON_1> <IBAN_1>"
PLACEHOLDERS = {"<PERSON_1>": NAME, "<IBAN_1>": IBAN}


def restored(value: Any) -> Any:
    """What the gateway's restorer makes of the engine's answer (whole placeholders only)."""
    if isinstance(value, str):
        for placeholder, original in PLACEHOLDERS.items():
            value = value.replace(placeholder, original)
        return value
    if isinstance(value, dict):
        return {k: restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restored(v) for v in value]
    return value


def cells() -> list[Any]:
    return [cell(row, side) for row in ROWS.values() if row.personal_data for side in (NONE, GDPR)]


@pytest.mark.parametrize(("name", "side"), cells())
def test_only_the_documented_policy_actions(
    name: str, side: str, observe: Observe, chat_proxy: Recording
) -> None:
    row = ROWS[name]
    allowed = dict(row.gateway_may_change)
    if side == NONE:
        assert_same(observe(row, DIRECT, PERSONAL), observe(row, NONE, PERSONAL), ignored=allowed)
        return
    allowed |= row.gdpr_may_change
    before = len(chat_proxy.requests)
    got = observe(row, GDPR, PERSONAL)
    sent = [json.loads(body) for body in chat_proxy.requests[before:]]
    assert sent, "the engine received nothing"
    for body in sent:
        text = json.dumps(body, ensure_ascii=False)
        assert PSEUDONYMISED in text, text
        assert NAME not in text, text
        assert "3704 0044" not in text, text
    expected = restored(observe(row, DIRECT, PSEUDONYMISED))
    assert_same(expected, got, ignored=allowed)


def test_the_headers_name_the_actions(sides: dict[str, Side]) -> None:
    """What the policy did, as the client sees it: the two pseudonymisations the expected
    answers above assume, and nothing for a prompt without personal data."""
    with httpx.Client(base_url=sides[GDPR].chat_url, timeout=120) as http:
        for prompt, actions in (
            (PERSONAL, "IBAN:pseudonymize=1,PERSON:pseudonymize=1"),
            ("Name three colours.", None),
        ):
            answer = http.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {KEYS[GDPR]}"},
                json={"model": CHAT_MODEL, "max_tokens": 2, "temperature": 0,
                      "messages": [{"role": "user", "content": prompt}]},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-sovereign-policy"].startswith("gdpr-default@")
            assert answer.headers.get("x-sovereign-pii-prompt") in (
                (actions,) if actions else (None, "")
            ), answer.headers


def test_streamed_logprobs_spell_the_text_the_client_gets(observe: Observe) -> None:
    """Under gdpr-default, with personal data in the prompt: each chunk's logprobs spell that
    chunk's text (issue 14, "logprobs stay aligned with the text the client receives")."""
    row = ROWS["openai chat stream logprobs"]
    got = observe(row, GDPR, PERSONAL)
    assert got["text"] == restored(observe(row, DIRECT, PSEUDONYMISED))["text"]
    assert got["misaligned_chunks"] == [], got["chunks"]
    assert "".join(got["logprob_tokens"]) == got["text"]
