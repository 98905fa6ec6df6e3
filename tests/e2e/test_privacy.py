"""The GDPR policy against the real vLLM engine: personal data reaches the engine only as
placeholders, and the streamed answer comes back with the values restored.

A recording proxy between the gateway and the engine shows what the engine received and what
it generated. The answer is pinned with vLLM's structured outputs (a one-choice grammar), so
that the small CPU model really writes the placeholders the gateway must restore.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.auth import hash_key
from tests.e2e.conftest import MODEL
from tests.processes import SYSTEM_REDIS, VAULT_KEY, gateway_process, ledger
from tests.recording_proxy import recording_proxy
from tests.servers import EngineUnderTest

pytestmark = pytest.mark.engine

KEY = "sk-e2e-privacy-0001"
NAME = "Annette Brandmeier"
IBAN = "DE89 3704 0044 0532 0130 00"
TAX_ID = "86095742719"  # a valid Steuer-ID (check digit by ISO 7064)
ANSWER = (
    "Sehr geehrte Frau <PERSON_1>, wir haben Ihre IBAN <IBAN_1> und Ihre "
    "Steuer-ID <DE_TAX_ID_1> gespeichert."
)


def _streamed_text(sse: bytes) -> str:
    text = ""
    for event in sse.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in json.loads(event[6:])["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def test_name_iban_and_tax_id_reach_the_engine_as_placeholders_and_the_stream_is_restored(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    prompt = (
        f"Bitte bestätige Frau {NAME}, dass ihre IBAN {IBAN} und ihre Steuer-ID {TAX_ID} "
        "gespeichert wurden."
    )
    with recording_proxy(engine.base_url) as proxy:
        config = {
            # The shared vault: placeholders live in Redis, encrypted, shared by replicas.
            "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
            "pools": [
                {
                    "name": "local-de",
                    "jurisdiction": "DE",
                    "site": "de-local-1",
                    "engines": [proxy.url],
                    "models": [MODEL],
                }
            ],
            "tenants": [
                {
                    "id": "privacy-e2e",
                    "api_keys": [{"id": "privacy-e2e-1", "hash": hash_key(KEY)}],
                    "policy": "gdpr-default",
                }
            ],
        }
        with gateway_process(config, tmp_path, "privacy") as gateway:
            client = gateway.client(KEY)
            raw = client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": prompt}],
                stream=True,
                max_tokens=80,
                temperature=0,
                extra_body={"structured_outputs": {"choice": [ANSWER]}},
            )
            headers = raw.headers
            request_id = headers["x-request-id"]
            text = "".join(
                chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices
            )

    sent = json.loads(proxy.requests[-1])["messages"][0]["content"]
    for value in (NAME, IBAN, TAX_ID, IBAN.replace(" ", "")):
        assert value not in sent
    assert "Frau <PERSON_1>, dass ihre IBAN <IBAN_1> und ihre Steuer-ID <DE_TAX_ID_1>" in sent
    # The engine really generated the placeholders, and the client got the values back.
    assert _streamed_text(proxy.answers[-1]) == ANSWER
    assert text == ANSWER.replace("<PERSON_1>", NAME).replace("<IBAN_1>", IBAN).replace(
        "<DE_TAX_ID_1>", TAX_ID
    )
    assert headers["x-sovereign-policy"].startswith("gdpr-default@")
    assert headers["x-sovereign-pii-prompt"] == (
        "DE_TAX_ID:pseudonymize=1,IBAN:pseudonymize=1,PERSON:pseudonymize=1"
    )
    # The ledger records the policy version and what it did: types and counts, no values.
    (record,) = [r for r in ledger(SYSTEM_REDIS, "privacy-e2e") if r.request_id == request_id]
    assert record.policy == headers["x-sovereign-policy"]
    assert record.policy_mode == "enforce"
    assert record.pii == (
        "prompt:DE_TAX_ID:pseudonymize=1,prompt:IBAN:pseudonymize=1,prompt:PERSON:pseudonymize=1"
    )
    assert record.completion_tokens > 0
