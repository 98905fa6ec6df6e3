"""Fair analysis under a flood (issue 12): what one tenant's flood does to the other tenants.

    python -m loadtest.analysis_flood [--duration 20] [--rate 10] [--out PATH]

One simulated engine (b200/llama-3.1-8b) and, one after the other, gateways (one worker,
embedded store, the gdpr-default policy, two analysis threads) that differ only in how the
analysis threads are shared (``privacy.analysis_scheduling``) and in the per-request limits
(``privacy.max_analysed_*``):

- **fifo, no limits**: the gateway before issue 12 (a first-come-first-served pool, no
  limits), flooded as the attacker did: 3 MB prompts and 10,000-message requests;
- **fair, no limits**: the fair scheduler alone, the same flood;
- **fifo, limits** / **fair, limits** (the shipped defaults): a flood at the limits, which
  is the most the limits let through: prompts of 480,000 characters and requests of 4,000
  messages.

On each gateway, two neighbour tenants send a one-line chat request each, ``--rate`` times a
second (open loop: a stalled request does not delay the next), first without a flood, then
while the flooder keeps ``FLOOD_PROMPTS`` prompts and ``FLOOD_ITEMS`` many-item requests in
flight. Reported: the neighbours' latency p50/p99/max and errors (any status but 200), and
what became of the flood (analysed and sent; refused by the limits; 503 when its own
deadline passed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import yaml

from gateway.auth import hash_key
from loadtest.corpus import SUMMARY_SENTENCES, synthetic_text
from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL, pct
from loadtest.quota_overhead import ROOT, process

FLOODER = "sk-flood-flooder-0000000001"
NEIGHBOURS = ("sk-flood-neighbour-000000001", "sk-flood-neighbour-000000002")
FLOOD_PROMPTS = 4  # concurrent long prompts ...
FLOOD_ITEMS = 2  # ... and concurrent many-item requests
PERSONAL = (
    " Rückfragen an Annette Brandmeier, Tel. 0171 2345678, a.brandmeier@example.de, "
    "IBAN DE89 3704 0044 0532 0130 00."
)
ONE_LINE = "Wie beantrage ich einen Anwohnerparkausweis?"


@dataclass(frozen=True)
class Flood:
    name: str
    prompt_chars: int
    items: int


AT_LIMITS = Flood("at the limits: 480k-character prompts, 4,000-message requests", 480_000, 4_000)
ATTACK = Flood("the attack: 3 MB prompts, 10,000-message requests", 3_000_000, 10_000)


@dataclass(frozen=True)
class Gateway:
    name: str
    scheduling: str
    limits: bool
    flood: Flood


GATEWAYS = (
    Gateway("fifo, no limits (before issue 12)", "fifo", False, ATTACK),
    Gateway("fair, no limits", "fair", False, ATTACK),
    Gateway("fifo, limits", "fifo", True, AT_LIMITS),
    Gateway("fair, limits (shipped)", "fair", True, AT_LIMITS),
)


@dataclass
class Phase:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    flood: Counter[str] = field(default_factory=Counter)


def document(chars: int, seed: int) -> str:
    """German report prose with a contact line (a name, a phone number, an e-mail address,
    an IBAN) about every 2,000 characters: a long document as tenants send them."""
    rng = random.Random(seed)
    parts: list[str] = []
    length = 0
    while length < chars:
        part = synthetic_text(rng, SUMMARY_SENTENCES, 2_000) + PERSONAL
        parts.append(part)
        length += len(part) + 1
    return " ".join(parts)[:chars]


def config(engine: str, port: int, gateway: Gateway, scratch: Path) -> dict[str, object]:
    keys = {"flooder": FLOODER, "neighbour-1": NEIGHBOURS[0], "neighbour-2": NEIGHBOURS[1]}
    privacy: dict[str, object] = {"analysis_threads": 2, "analysis_scheduling": gateway.scheduling}
    if not gateway.limits:
        privacy |= {"max_analysed_chars": 10**8, "max_analysed_items": 10**8}
    return {
        "server": {"host": "127.0.0.1", "port": port, "workers": 1},
        "telemetry": {"audit_dir": str(scratch / f"audit-{port}")},
        "metering": {"spool_dir": str(scratch / f"spool-{port}")},
        "pools": [{"name": "local", "jurisdiction": "DE", "site": "local", "gpu": "b200",
                   "engines": [engine], "models": [MODEL]}],
        "tenants": [{"id": tid, "api_keys": [{"id": tid, "hash": hash_key(key)}]}
                    for tid, key in keys.items()],
        "privacy": privacy,
    }  # fmt: skip


def _chat(messages: list[str]) -> bytes:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": m} for m in messages],
        "max_tokens": 1,
    }
    return orjson.dumps(body)


async def _post(session: aiohttp.ClientSession, url: str, key: str, body: bytes) -> str:
    """``ok``, or what went wrong: the HTTP status and the error code."""
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    try:
        async with session.post(url, data=body, headers=headers) as response:
            payload = await response.read()
            if response.status == 200:
                return "ok"
            try:
                code = orjson.loads(payload)["error"]["code"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                code = "?"
            return f"{response.status} {code}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


async def _flood(
    session: aiohttp.ClientSession, url: str, flood: Flood, phase: Phase, stop: asyncio.Event
) -> None:
    prompts = [_chat([document(flood.prompt_chars, seed)]) for seed in range(FLOOD_PROMPTS)]
    many = _chat([f"Zeile {n}: Lieferung geprüft." for n in range(flood.items)])

    async def worker(body: bytes) -> None:
        while not stop.is_set():
            outcome = await _post(session, url, FLOODER, body)
            phase.flood[outcome] += 1

    workers = [worker(body) for body in prompts] + [worker(many) for _ in range(FLOOD_ITEMS)]
    await asyncio.gather(*workers)


async def _neighbours(
    session: aiohttp.ClientSession, url: str, rate: float, duration: float, phase: Phase
) -> None:
    body = _chat([ONE_LINE])

    async def one(key: str) -> None:
        started = time.perf_counter()
        outcome = await _post(session, url, key, body)
        phase.latencies.append(time.perf_counter() - started)
        if outcome != "ok":
            phase.errors[outcome] += 1

    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    for n in range(int(duration * rate)):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        tasks += [asyncio.create_task(one(key)) for key in NEIGHBOURS]
    await asyncio.gather(*tasks)


async def measure(url: str, gateway: Gateway, args: argparse.Namespace) -> tuple[Phase, Phase]:
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        endpoint = url + "/v1/chat/completions"
        quiet = Phase()
        await _neighbours(session, endpoint, args.rate, args.duration / 2, quiet)
        flooded, stop = Phase(), asyncio.Event()
        flood = asyncio.create_task(_flood(session, endpoint, gateway.flood, flooded, stop))
        await asyncio.sleep(args.warmup)  # the flood is in full swing
        await _neighbours(session, endpoint, args.rate, args.duration, flooded)
        stop.set()
        flood.cancel()  # no need to wait for the flood's last requests
    return quiet, flooded


def _outcome(outcome: str) -> str:
    """The flood's outcomes in words: whatever is not a limit or a deadline was analysed."""
    if outcome == "400 analysis_limit_exceeded":
        return "refused by the limits (400)"
    if outcome == "503 policy_unavailable":
        return "503, its own deadline passed"
    if outcome == "ok" or outcome.startswith("400 "):  # the engine's 400: context too long
        return "analysed and sent"
    return outcome


def _row(name: str, flood: str, phase: Phase) -> str:
    values = phase.latencies
    errors = sum(phase.errors.values())
    what = ", ".join(f"{n} {k}" for k, n in phase.errors.most_common()) or "-"
    outcomes: Counter[str] = Counter()
    for outcome, n in phase.flood.items():
        outcomes[_outcome(outcome)] += n
    flooded = ", ".join(f"{n} {k}" for k, n in outcomes.most_common()) or "-"
    return (
        f"| {name} | {flood} | {len(values)} | {pct(values, 0.5) * 1e3:,.1f} | "
        f"{pct(values, 0.99) * 1e3:,.1f} | {max(values) * 1e3:,.1f} | **{errors}** ({what}) | "
        f"{flooded} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.analysis_flood", description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds under the flood")
    parser.add_argument("--warmup", type=float, default=3.0, help="flood before measuring")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per neighbour")
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/analysis_flood.md"))
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    engine_port = free_port()
    engine_argv = [
        sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
        "--model", MODEL, "--engines", "1", "--base-port", str(engine_port), "--speed", "1.0",
    ]  # fmt: skip
    engine = f"http://127.0.0.1:{engine_port}"
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as scratch, process(engine_argv, ROOT, env):
        wait_http(engine + "/health")
        for gateway in GATEWAYS:
            port = free_port()
            path = Path(scratch) / f"gateway-{port}.yaml"
            path.write_text(yaml.safe_dump(config(engine, port, gateway, Path(scratch))))
            serve = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
            with process(serve, ROOT, env):
                url = f"http://127.0.0.1:{port}"
                wait_http(url + "/healthz")
                quiet, flooded = asyncio.run(measure(url, gateway, args))
            rows.append(_row(gateway.name, "none", quiet))
            rows.append(_row(gateway.name, gateway.flood.name, flooded))
            print(rows[-2], rows[-1], sep="\n", flush=True)
    lines = [
        f"Fair analysis under a flood, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
        f"({os.cpu_count()} cores): 2 neighbours x {args.rate:g} one-line requests/s, "
        f"{args.duration / 2:g} s without and {args.duration:g} s under the flood "
        f"({FLOOD_PROMPTS} long prompts + {FLOOD_ITEMS} many-item requests in flight); "
        "latencies in ms",
        "",
        "| gateway | flood | neighbour requests | p50 | p99 | max | neighbour errors | "
        "flood requests |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
        *rows,
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
