"""Redis stopped and restarted under load (a Redis of the test's own, with an append-only
file as in production): every request is served and metered once, or refused; after the
disk spool is replayed the ledger has exactly one record per served request."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.auth import hash_key
from gateway.core.usage import UsageRecord
from serving.simulator.background import SimulatorThread
from serving.simulator.host import SimulatorConfig
from tests.processes import VAULT_KEY, RedisServer, gateway_process, ledger

MODEL = "llama-3.1-8b"
RUN = uuid.uuid4().hex[:8]
OPEN, CLOSED = f"open-{RUN}", f"closed-{RUN}"
KEYS = {OPEN: f"sk-open-{RUN}", CLOSED: f"sk-closed-{RUN}"}


@dataclass(frozen=True)
class Outcome:
    tenant: str
    status: int
    request_id: str
    code: str | None


def _request(base_url: str, tenant: str, stream: bool) -> Outcome:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hallo"}],
        "max_tokens": 4,
        "stream": stream,
    }
    headers = {"authorization": "Bearer " + KEYS[tenant]}
    with httpx.Client(timeout=30) as client:
        response = client.post(base_url + "/v1/chat/completions", json=body, headers=headers)
        code = None if response.status_code == 200 else response.json()["error"]["code"]
        if stream and response.status_code == 200:
            assert response.text.rstrip().endswith("data: [DONE]")
        return Outcome(tenant, response.status_code, response.headers["x-request-id"], code)


def test_redis_stopped_and_restarted_under_load(tmp_path: Path) -> None:
    config = SimulatorConfig("b200/llama-3.1-8b", MODEL, engines=1, speed=0.02)
    spool = tmp_path / "spool"
    with RedisServer(tmp_path) as store, SimulatorThread(config) as sim:
        settings = {
            "store": {"redis_url": store.url, "retry_after_failure": 0.5,
                      "jurisdiction": "DE", "operator": "test"},
            "security": {"pseudonym_key": VAULT_KEY},
            "metering": {"spool_dir": str(spool), "replay_interval": 0.5},
            "pools": [{"name": "de", "jurisdiction": "DE", "site": "de-muc-1", "gpu": "b200",
                       "engines": sim.base_urls, "models": [MODEL]}],
            "tenants": [
                {"id": OPEN, "degraded_mode": "fail_open",
                 "limits": {"requests_per_minute": 100_000, "tokens_per_minute": 10_000_000},
                 "api_keys": [{"id": f"{OPEN}-1", "hash": hash_key(KEYS[OPEN])}]},
                {"id": CLOSED, "degraded_mode": "fail_closed",
                 "limits": {"requests_per_minute": 100_000},
                 "api_keys": [{"id": f"{CLOSED}-1", "hash": hash_key(KEYS[CLOSED])}]},
            ],
        }  # fmt: skip
        with (
            gateway_process(settings, tmp_path, "outage-a") as a,
            gateway_process(settings, tmp_path, "outage-b") as b,
        ):
            outcomes: list[Outcome] = []
            lock = threading.Lock()
            stop = threading.Event()

            def client_loop(n: int) -> None:
                base_url = (a, b)[n % 2].base_url
                i = 0
                while not stop.is_set():
                    tenant = (OPEN, CLOSED)[(n + i) % 2]
                    outcome = _request(base_url, tenant, stream=i % 3 == 0)
                    with lock:
                        outcomes.append(outcome)
                    i += 1

            with ThreadPoolExecutor(max_workers=6) as pool:
                loops = [pool.submit(client_loop, n) for n in range(6)]
                time.sleep(1.5)
                store.stop()
                time.sleep(2.0)
                store.start()
                time.sleep(2.0)
                stop.set()
                for loop in loops:
                    loop.result()

            served = {t: {o.request_id for o in outcomes if o.tenant == t and o.status == 200}
                      for t in (OPEN, CLOSED)}  # fmt: skip
            # The spool is replayed once Redis is back: wait for every record to arrive.
            deadline = time.monotonic() + 20
            while any(len(ledger(store.url, t, timeout=0)) < len(served[t]) for t in served):
                assert time.monotonic() < deadline, "spooled records were never replayed"
                time.sleep(0.2)
            time.sleep(1.0)  # anything more that might still arrive would be a double
            log = a.log_path.read_text() + b.log_path.read_text()

    refused = [o for o in outcomes if o.status != 200]
    # The fail-open tenant was served throughout, under local limits while Redis was away.
    assert all(o.status == 200 for o in outcomes if o.tenant == OPEN)
    # The fail-closed tenant was refused, and only with the 503 that says why.
    assert refused, "Redis was down for 2 s under load, yet nothing was refused"
    assert {(o.tenant, o.status, o.code) for o in refused} == {
        (CLOSED, 503, "quota_store_unavailable")
    }
    assert len(served[CLOSED]) > 0
    assert len(served[OPEN]) > 50
    for tenant in (OPEN, CLOSED):
        ids = [r.request_id for r in _ledger_after(tmp_path, store, tenant)]
        assert len(ids) == len(set(ids)), "a request was metered twice"
        assert set(ids) == served[tenant], "the ledger and the served requests differ"
    # Neither mode was silent: each left a log event.
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    degraded = {e["mode"] for e in events if e.get("event") == "quota.degraded"}
    assert degraded == {"fail_open", "fail_closed"}
    assert not list(spool.glob("*.jsonl")), "records left in the spool"


def _ledger_after(folder: Path, store: RedisServer, tenant: str) -> list[UsageRecord]:
    """The ledger as the durable store (PostgreSQL) kept it, with Redis stopped."""
    return ledger(store.url, tenant, timeout=0)
