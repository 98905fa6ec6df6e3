"""The deployer's disclosure (EU AI Act Art. 50(1)) over HTTP, with the openai SDK, through
the gateway in front of a simulated engine: a conversation's first answer begins with the
tenant's notice, in its language (whole, and in a stream's first delta); a later turn, an
answer constrained to JSON and a tenant without the setting are left as the engine wrote
them. The pure decisions: ``tests/unit/test_disclosure.py``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from gateway.auth import hash_key
from gateway.disclosure.notice import DEFAULT_NOTICES, HEADER
from gateway.settings import Settings
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.servers import gateway_thread

MODEL = "llama-3.1-8b"
FIRST: list[Any] = [{"role": "user", "content": "Hallo"}]
LATER: list[Any] = [*FIRST, {"role": "assistant", "content": "Guten Tag!"}, *FIRST]
TENANTS = {  # key: its tenant's ai_disclosure
    "sk-disclose-de": {"mode": "first_answer", "language": "de"},
    "sk-disclose-en": {"mode": "first_answer", "language": "en"},
    "sk-disclose-off": {"mode": "off"},
}


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    config = SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=1, speed=0.05)
    with SimulatorThread(config) as sim:
        settings = Settings(
            telemetry={"allowed_jurisdictions": ["DE"], "audit_dir": tempfile.mkdtemp()},
            privacy={"default_policy": None},
            pools=[
                {"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                 "engines": sim.base_urls, "models": [MODEL]},
            ],
            tenants=[
                {"id": key.removeprefix("sk-"), "ai_disclosure": setting,
                 "api_keys": [{"id": key, "hash": hash_key(key)}]}
                for key, setting in TENANTS.items()
            ],
        )  # fmt: skip
        with gateway_thread(settings) as url:
            yield url


def _client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def test_the_first_answer_begins_with_the_tenants_notice(gateway_url: str) -> None:
    for key, language in (("sk-disclose-de", "de"), ("sk-disclose-en", "en")):
        raw = _client(gateway_url, key).chat.completions.with_raw_response.create(
            model=MODEL, messages=FIRST, max_tokens=6
        )
        answer = raw.parse()
        notice = DEFAULT_NOTICES[language]
        content = answer.choices[0].message.content
        assert content is not None
        assert content.startswith(notice + "\n\n")
        assert len(content) > len(notice) + 2  # the model's own text follows
        assert raw.headers[HEADER] == notice
        assert answer.usage is not None
        assert answer.usage.completion_tokens == 6  # the engine's count: the notice is free


def test_a_stream_carries_the_notice_in_its_first_delta(gateway_url: str) -> None:
    stream = _client(gateway_url, "sk-disclose-en").chat.completions.create(
        model=MODEL, messages=FIRST, max_tokens=6, stream=True
    )
    deltas = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    texts = [d for d in deltas if d is not None]
    assert texts[0].startswith(DEFAULT_NOTICES["en"] + "\n\n")
    assert all(DEFAULT_NOTICES["en"] not in d for d in texts[1:])
    assert len("".join(texts)) > len(DEFAULT_NOTICES["en"]) + 2


def test_a_later_turn_json_mode_and_a_tenant_without_it_are_untouched(gateway_url: str) -> None:
    later = _client(gateway_url, "sk-disclose-de").chat.completions.with_raw_response.create(
        model=MODEL, messages=LATER, max_tokens=6
    )
    assert HEADER not in later.headers
    assert "Hinweis" not in (later.parse().choices[0].message.content or "")
    json_mode = _client(gateway_url, "sk-disclose-de").chat.completions.with_raw_response.create(
        model=MODEL, messages=FIRST, max_tokens=6, response_format={"type": "json_object"}
    )
    assert "Hinweis" not in (json_mode.parse().choices[0].message.content or "")
    assert json_mode.headers[HEADER] == DEFAULT_NOTICES["de"]  # where text cannot go
    off = _client(gateway_url, "sk-disclose-off").chat.completions.with_raw_response.create(
        model=MODEL, messages=FIRST, max_tokens=6, stream=True
    )
    assert HEADER not in off.headers
    texts = [c.choices[0].delta.content or "" for c in off.parse() if c.choices]
    assert not any("Note:" in t or "Hinweis" in t for t in texts)
