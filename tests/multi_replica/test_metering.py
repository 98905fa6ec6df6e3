"""Metering across four replicas: the durable ledger (read through the admin API) holds one
record per served request, no more, and its token counts are the engines' own, request by
request and in total (the simulated engines' /metrics counters)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.multi_replica.load import chat, completion, fire, tally
from tests.multi_replica.topology import Topology

COUNTERS = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total")


def engine_counters(replicas: Topology) -> tuple[int, int]:
    """The engines' prompt and generation token counters, summed over the pool."""
    totals = dict.fromkeys(COUNTERS, 0.0)
    for url in replicas.simulator.base_urls:
        for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
            name = line.partition("{")[0]
            if name in totals:
                totals[name] += float(line.rpartition(" ")[2])
    return int(totals[COUNTERS[0]]), int(totals[COUNTERS[1]])


def mixed_bodies(count: int) -> list[dict[str, Any]]:
    """Chats and completions, whole and streamed (with and without the usage chunk), of
    varied prompts and lengths, some stopping on their own before max_tokens."""
    bodies: list[dict[str, Any]] = []
    for n in range(count):
        tokens, prompt = 1 + n % 37, f"Frage {n}: " + "wie bitte? " * (n % 7)
        kind = n % 5
        if kind == 0:
            bodies.append(chat(tokens, prompt=prompt))
        elif kind == 1:
            bodies.append(chat(tokens, stream=True, prompt=prompt))
        elif kind == 2:
            bodies.append(chat(tokens, stream=True, usage=True, prompt=prompt))
        elif kind == 3:
            bodies.append(completion(tokens, stream=n % 2 == 0, prompt=prompt))
        else:  # the engine's natural length, capped (stops early with EOS)
            bodies.append(chat(200 + n, prompt=prompt, ignore_eos=False))
    return bodies


def test_the_ledger_equals_what_the_engines_counted(replicas: Topology) -> None:
    tenant = replicas.tenants["meter"]
    replicas.witness.reset()
    prompt_before, generated_before = engine_counters(replicas)
    urls = [g.base_url for g in replicas.gateways]
    outcomes = fire(urls, tenant.key, mixed_bodies(120), workers=16)
    assert tally(outcomes) == {200: 120}
    assert all(o.served for o in outcomes), [o.detail for o in outcomes if not o.served]
    served = sorted(str(o.request_id) for o in outcomes)
    assert len(set(served)) == 120

    ledger = replicas.wait_usage(tenant, 120)
    assert sorted(r.request_id for r in ledger) == served  # none lost, none twice
    assert {r.gateway for r in ledger} == {f"gw{i}" for i in range(len(urls))}
    assert all(r.usage_source == "engine" and r.status == "ok" for r in ledger)
    # Request by request, the engines' counts ...
    engines = replicas.witness.usage()
    assert {r.request_id: (r.prompt_tokens, r.completion_tokens) for r in ledger} == engines
    # ... and in total, the engines' own counters.
    prompt_after, generated_after = engine_counters(replicas)
    totals = (sum(r.prompt_tokens for r in ledger), sum(r.completion_tokens for r in ledger))
    assert totals == (prompt_after - prompt_before, generated_after - generated_before)
