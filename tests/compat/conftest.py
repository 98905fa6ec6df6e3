"""One gateway for the whole suite, in front of the session's engines (the chat engine behind
a recording proxy, so the personal-data tests can see what the engine received), with two
tenants: one without a policy and one with gdpr-default."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.auth import hash_key
from tests.compat.matrix import Observation, Row
from tests.compat.sides import CHAT_MODEL, DIRECT, GDPR, NONE, Side
from tests.processes import SYSTEM_REDIS, VAULT_KEY, GatewayProcess, gateway_process
from tests.recording_proxy import Recording, recording_proxy
from tests.servers import EngineUnderTest

# Fresh tenants per run: their pseudonym maps (placeholders numbered from 1) and ledgers
# start empty.
RUN = uuid.uuid4().hex[:8]
TENANTS = {NONE: f"compat-none-{RUN}", GDPR: f"compat-gdpr-{RUN}"}
KEYS = {side: f"sk-{tenant}-{uuid.uuid4().hex}" for side, tenant in TENANTS.items()}

Observe = Callable[[Row, str, str], Observation]


@pytest.fixture(scope="session")
def chat_proxy(engine: EngineUnderTest) -> Iterator[Recording]:
    with recording_proxy(engine.base_url) as recording:
        yield recording


@pytest.fixture(scope="session")
def compat_gateway(
    chat_proxy: Recording, embedder: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    folder: Path = tmp_path_factory.mktemp("compat")
    config = {
        "store": {"redis_url": SYSTEM_REDIS, "jurisdiction": "DE", "operator": "test"},
        "security": {"pseudonym_key": VAULT_KEY},
        # No default policy: the "none" tenant really has none.
        "privacy": {"default_policy": None},
        "metering": {"spool_dir": str(folder / "spool")},
        # /v1/files and /v1/batches, for the Batches row: a directory store, polled often.
        "batches": {"store": {"jurisdiction": "DE", "operator": "test",
                              "path": str(folder / "batches")},
                    "poll_interval": 0.2},
        "pools": [
            {"name": "compat-chat", "jurisdiction": "DE", "site": "de-local-1",
             "engines": [chat_proxy.url], "models": [CHAT_MODEL]},
            {"name": "compat-embeddings", "jurisdiction": "DE", "site": "de-local-1",
             "engines": [embedder.base_url], "models": [embedder.model]},
        ],
        "tenants": [
            {"id": TENANTS[NONE], "api_keys": [{"id": f"{TENANTS[NONE]}-1",
                                                "hash": hash_key(KEYS[NONE])}]},
            {"id": TENANTS[GDPR], "policy": "gdpr-default",
             "api_keys": [{"id": f"{TENANTS[GDPR]}-1", "hash": hash_key(KEYS[GDPR])}]},
        ],
    }  # fmt: skip
    with gateway_process(config, folder, "compat") as process:
        yield process


@pytest.fixture(scope="session")
def sides(
    engine: EngineUnderTest, embedder: EngineUnderTest, compat_gateway: GatewayProcess
) -> dict[str, Side]:
    url = compat_gateway.base_url
    return {
        DIRECT: Side(DIRECT, engine.base_url, embedder.base_url, "none", embedder.model),
        NONE: Side(NONE, url, url, KEYS[NONE], embedder.model),
        GDPR: Side(GDPR, url, url, KEYS[GDPR], embedder.model),
    }


@pytest.fixture(scope="session")
def observe(sides: dict[str, Side]) -> Observe:
    """A row's observation on a side for a prompt, run once per session: the direct one is
    compared with both gateway sides. A failure is kept and raised again each time."""
    seen: dict[tuple[str, str, str], Observation | Exception] = {}

    def run(row: Row, side: str, prompt: str) -> Observation:
        key = (row.name, side, prompt)
        if key not in seen:
            try:
                seen[key] = row.run(sides[side], prompt)
            except Exception as error:  # kept, raised below for every caller
                seen[key] = error
        found = seen[key]
        if isinstance(found, Exception):
            raise found
        return found

    return run
