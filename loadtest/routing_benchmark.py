"""Routing under skew: p99 TTFT and prefix-cache hits per strategy, on one simulated B200 pool.

    python -m loadtest.routing_benchmark [--quick] [--rounds N] [--out PATH]

One pool (gpu b200, profile b200/llama-3.1-8b) of four simulated engines: three at speed 1
(one simulator process) and one ``--slow-speed`` times slower (a second process; ``--speed``
stretches simulated time, so a slow engine costs no extra CPU). Three gateways in front of it,
identical but for ``routing.strategy``: round_robin, least_load, affinity. Two workloads,
phases alternated over ``--rounds`` (the starting strategy rotates each round) so the shared
machine's noise falls on all alike, the engines drained (running + waiting = 0) before each:

- **skewed**: closed-loop clients streaming chats, 80 % short prompts (~100 tokens) and 20 %
  long ones (~2,000), a modest ``max_tokens``. Every prompt starts with a nonce, so no phase
  reuses another's prefix-cache blocks; the sizes are the same for every strategy.
- **sessions**: multi-turn conversations, all at once, each turn resending the history after
  a long system prompt of its own, the session in the ``x-session-id`` header. The assistant
  turns are synthetic (deterministic) rather than the engine's answers: the simulator caches
  prompt blocks only, so the hits are the same and the workload stays a pure function of the
  seed. Hit rate = delta ``vllm:prefix_cache_hits`` / delta ``vllm:prefix_cache_queries``
  summed over the engines during the strategy's phases.

Why the slow engine is 12x slower by default: closed-loop least-load gives an engine requests
in proportion to its speed, so a 4x slower engine still gets ~8 % of them and its long
prompts set p99 under any strategy (an offline run of ``serving.simulator``'s scheduler with
exact in-flight counts gave least-load only 1.1-2.6x over round robin at 4x, 10-20x at 12x).
Checks (exit status 1 if one is missed): least-load p99 TTFT <= round-robin p99 / 2 with at
most 1 % failures; affinity's hit rate on sessions above round robin's. The "slow share"
column (requests the slow engine finished) shows whether a strategy is in effect at all:
round robin sends it 1 in 4. CPU: the busiest phase's share of all cores, taken by this
benchmark's processes and by the whole (shared) machine. ``--quick`` (300 samples per
strategy, p99 = the 3rd worst) checks the mechanics; its ratios move by 2x from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import math
import os
import platform
import random
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL, pct
from loadtest.overhead_client import Sample
from loadtest.quota_overhead import KEY, ROOT, gateway_config, process

STRATEGIES = ("round_robin", "least_load", "affinity")
PROFILE = "b200/llama-3.1-8b"
SESSION_HEADER = "x-session-id"  # routing.session_header's default
TARGET = 2.0  # least-load p99 TTFT at least this many times better than round robin
MAX_FAILURE_SHARE = 0.01
# Short English words: one token each in the simulator's pseudo-tokenizer (and mostly in BPE).
_WORD_TEXT = (
    "the of and to in is that for it as was with be by on not this are or from at which but "
    "have an they you were had her all she there would their we him been has when who will "
    "more no if out so said what up its about into than them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made"
)
_WORDS = _WORD_TEXT.split()


# --- workloads: pure functions of the seed --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    body: dict[str, object]
    session: str | None = None
    think_s: float = 0.0  # pause before sending (sessions: a user reading the answer)


def filler(rng: random.Random, tokens: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(tokens))


def _chat(messages: list[dict[str, str]], max_tokens: int) -> dict[str, object]:
    return {"model": MODEL, "messages": messages, "max_tokens": max_tokens,
            "ignore_eos": True, "stream": True}  # fmt: skip


def skewed_calls(
    count: int, seed: int, phase: int, long_share: float = 0.2, max_tokens: int = 32
) -> list[Call]:
    """``count`` single-turn chats: sizes from ``seed`` only, a nonce per ``phase`` and call."""
    rng = random.Random(seed)
    calls = []
    for i in range(count):
        size = rng.randint(1600, 2400) if rng.random() < long_share else rng.randint(80, 120)
        # The nonce fills the first KV block: every later block hash differs too.
        content = f"Case {phase:03d}-{i:05d}. " + filler(rng, size)
        calls.append(Call(_chat([{"role": "user", "content": content}], max_tokens)))
    return calls


def sessions(
    count: int, turns: int, seed: int, phase: int, system_tokens: int = 1000, max_tokens: int = 32
) -> list[list[Call]]:
    """``count`` conversations of ``turns`` calls, each resending the history so far."""
    rng = random.Random(seed)
    conversations = []
    for s in range(count):
        key = f"s-{phase:03d}-{s:03d}"
        system = f"Session {phase:03d}-{s:03d}. " + filler(rng, system_tokens)
        history = [{"role": "system", "content": system}]
        calls = []
        for _ in range(turns):
            history.append({"role": "user", "content": filler(rng, rng.randint(30, 80))})
            think = rng.uniform(0.0, 0.3)  # also keeps round robin from cycling in step
            calls.append(Call(_chat(list(history), max_tokens), key, think))
            history.append({"role": "assistant", "content": filler(rng, rng.randint(40, 80))})
        conversations.append(calls)
    return conversations


# --- statistics: pure ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float


def percentiles(values: Sequence[float]) -> Percentiles:
    if not values:
        return Percentiles(math.nan, math.nan, math.nan)
    return Percentiles(pct(list(values), 0.5), pct(list(values), 0.95), pct(list(values), 0.99))


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """One engine's /metrics at one moment: load gauges and cumulative counters."""

    running: float = 0.0
    waiting: float = 0.0
    cache_queries: float = 0.0
    cache_hits: float = 0.0
    finished: float = 0.0  # vllm:request_success, every finished_reason


_FIELDS = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:prefix_cache_queries": "cache_queries",
    "vllm:prefix_cache_hits": "cache_hits",
    "vllm:request_success": "finished",
}


def parse_engine_metrics(text: str) -> EngineSnapshot:
    """Sums each metric's samples (over labels such as ``finished_reason``).

    The parser names a counter's family without ``_total`` when its TYPE line says counter,
    and with it when the page gives no type; its samples keep ``_total`` either way.
    """
    values = dict.fromkeys(_FIELDS.values(), 0.0)
    for family in text_string_to_metric_families(text):
        base = family.name.removesuffix("_total")
        name = _FIELDS.get(base)
        if name is None:
            continue  # including the counters' "_created" families
        wanted = {base, base + "_total"}
        values[name] += sum(s.value for s in family.samples if s.name in wanted)
    return EngineSnapshot(**values)


@dataclass(frozen=True, slots=True)
class Delta:
    """What a set of engines did between two snapshots (or over several phases, added up)."""

    cache_queries: float = 0.0
    cache_hits: float = 0.0
    finished: float = 0.0
    finished_slow: float = 0.0

    def __add__(self, other: Delta) -> Delta:
        return Delta(
            self.cache_queries + other.cache_queries,
            self.cache_hits + other.cache_hits,
            self.finished + other.finished,
            self.finished_slow + other.finished_slow,
        )

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.cache_queries if self.cache_queries else math.nan

    @property
    def slow_share(self) -> float:
        return self.finished_slow / self.finished if self.finished else math.nan


def delta(
    before: Sequence[EngineSnapshot], after: Sequence[EngineSnapshot], slow: frozenset[int]
) -> Delta:
    """Engines in the same order in both; ``slow`` holds the indices of the slow ones."""
    total = Delta()
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        done = a.finished - b.finished
        total += Delta(
            a.cache_queries - b.cache_queries,
            a.cache_hits - b.cache_hits,
            done,
            done if i in slow else 0.0,
        )
    return total


def ratio(reference: float, other: float) -> float:
    """How many times lower ``other`` is than ``reference`` (e.g. round robin's p99)."""
    if math.isnan(reference) or math.isnan(other):
        return math.nan
    return reference / other if other > 0 else math.inf


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    message: str


def latency_check(rr_p99: float, ll_p99: float, ll_failure_share: float) -> Check:
    gain = ratio(rr_p99, ll_p99)
    if ll_failure_share > MAX_FAILURE_SHARE:
        return Check(
            False,
            f"least_load failed {ll_failure_share:.1%} of its requests "
            f"(at most {MAX_FAILURE_SHARE:.0%})",
        )
    ok = not math.isnan(gain) and gain >= TARGET
    word = "met" if ok else "MISSED"
    return Check(
        ok,
        f"target {word}: least_load p99 TTFT {ll_p99 * 1e3:.0f} ms vs round_robin "
        f"{rr_p99 * 1e3:.0f} ms = {gain:.2f}x better (target >= {TARGET:.0f}x)",
    )


def affinity_check(rr_rate: float, affinity_rate: float) -> Check:
    ok = affinity_rate > rr_rate  # False for NaN
    word = "higher" if ok else "NOT higher"
    return Check(
        ok,
        f"affinity prefix-cache hit rate {affinity_rate:.1%} {word} than "
        f"round_robin's {rr_rate:.1%} on multi-turn sessions",
    )


@dataclass(frozen=True, slots=True)
class Cpu:
    """Busy share of all cores during a phase: this benchmark's processes, and the machine's
    (the host is shared: other work shows in the second figure only)."""

    ours: float
    machine: float


def cpu_warning(phases: Sequence[Cpu], limit: float = 90.0) -> str | None:
    """A saturated host queues requests in its run queue, not in the engines: say so."""
    worst = max(phases, key=lambda c: c.machine, default=None)
    if worst is None or worst.machine <= limit:
        return None
    who = "this benchmark" if worst.ours > limit / 2 else "other work on the host"
    return (
        f"the machine was {worst.machine:.0f} % busy in a phase ({worst.ours:.0f} % from this "
        f"benchmark), mostly {who}: latencies from a saturated host are not trustworthy"
    )


def not_in_effect(rr_share: float, other_share: float) -> bool:
    """A load-aware strategy that sends the slow engine as much as round robin is not wired."""
    return abs(rr_share - other_share) < 0.03


# --- I/O: engines, clients ------------------------------------------------------------------


def snapshot(engines: Sequence[str]) -> list[EngineSnapshot]:
    return [parse_engine_metrics(httpx.get(url + "/metrics", timeout=10).text) for url in engines]


def drain(engines: Sequence[str], timeout: float = 120.0) -> list[EngineSnapshot]:
    """Until no engine runs or queues anything; returns the idle snapshot."""
    deadline = time.monotonic() + timeout
    while True:
        state = snapshot(engines)
        if all(s.running + s.waiting == 0 for s in state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"engines still busy after {timeout:.0f} s: {state}")
        time.sleep(0.1)


async def _stream(session: aiohttp.ClientSession, url: str, call: Call) -> Sample:
    headers = {SESSION_HEADER: call.session} if call.session else None
    started = time.perf_counter()
    ttft, events, failed = 0.0, 0, False
    try:
        async with session.post(url, data=orjson.dumps(call.body), headers=headers) as response:
            async for chunk in response.content.iter_any():
                count = chunk.count(b"data: ")
                if count and not ttft:
                    ttft = time.perf_counter() - started
                events += count
                failed = failed or b'data: {"error"' in chunk  # in-band, after the start
            failed = failed or response.status != 200
    except (aiohttp.ClientError, TimeoutError):
        failed = True
    return Sample(time.perf_counter() - started, ttft, events, not failed and events > 0)


@contextlib.asynccontextmanager
async def _client(base_url: str, connections: int) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        headers={"content-type": "application/json", "authorization": f"Bearer {KEY}"},
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=120),
    ) as session:

        async def warm() -> None:  # so the first requests do not measure TCP set-up
            async with session.get(base_url + "/v1/models") as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(connections)))
        yield session


async def closed_loop(base_url: str, calls: Sequence[Call], concurrency: int) -> list[Sample]:
    url, pending = base_url + "/v1/chat/completions", iter(calls)
    samples: list[Sample] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for call in pending:  # one shared iterator: each call is sent once
            samples.append(await _stream(session, url, call))

    async with _client(base_url, concurrency) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return samples


async def conversations(base_url: str, chats: Sequence[Sequence[Call]]) -> list[Sample]:
    """Every session at once, each sending its turns one after the other."""
    url = base_url + "/v1/chat/completions"
    samples: list[Sample] = []

    async def talk(session: aiohttp.ClientSession, turns: Sequence[Call]) -> None:
        for call in turns:
            await asyncio.sleep(call.think_s)
            samples.append(await _stream(session, url, call))

    async with _client(base_url, len(chats)) as session:
        await asyncio.gather(*(talk(session, turns) for turns in chats))
    return samples


# --- phases ----------------------------------------------------------------------------------

WORKLOADS = ("skewed", "sessions")


def tree_cpu_seconds() -> float:
    """CPU time of this process and its children (simulators, gateways)."""
    me = psutil.Process()
    total = 0.0
    for proc in (me, *me.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def cpu_meter() -> Iterator[list[Cpu]]:
    """Yields a list that holds the phase's Cpu once the block ends."""
    result: list[Cpu] = []
    psutil.cpu_percent()
    ours, started = tree_cpu_seconds(), time.monotonic()
    yield result
    wall = (time.monotonic() - started) * (os.cpu_count() or 1)
    result.append(Cpu(100 * (tree_cpu_seconds() - ours) / wall, psutil.cpu_percent()))


@dataclass
class Tally:
    """One (workload, strategy) over all rounds."""

    ttft: list[float] = field(default_factory=list)
    requests: int = 0
    failures: int = 0
    engines: Delta = Delta()
    cpu: list[Cpu] = field(default_factory=list)  # per phase

    def add(self, samples: Sequence[Sample], change: Delta, cpu: Cpu) -> None:
        self.ttft += [s.ttft for s in samples if s.ok]
        self.requests += len(samples)
        self.failures += sum(not s.ok for s in samples)
        self.engines += change
        self.cpu.append(cpu)


@dataclass(frozen=True)
class Rig:
    gateways: dict[str, str]  # strategy -> base URL
    engines: tuple[str, ...]
    slow: frozenset[int]


def order(round_: int) -> list[str]:
    """The strategies in this round's order: each starts a round in turn."""
    start = round_ % len(STRATEGIES)
    return [*STRATEGIES[start:], *STRATEGIES[:start]]


def measure(rig: Rig, args: argparse.Namespace) -> dict[tuple[str, str], Tally]:
    tallies = {(w, s): Tally() for w in WORKLOADS for s in STRATEGIES}
    phases = itertools.count()  # each phase's nonce: no prefix-cache block carries over
    for round_ in range(args.rounds):
        seed = args.seed + round_  # the same prompt sizes for every strategy in a round
        for workload in WORKLOADS:
            for strategy in order(round_):
                url, phase = rig.gateways[strategy], next(phases)
                job: Callable[[], Coroutine[Any, Any, list[Sample]]]
                if workload == "skewed":
                    calls = skewed_calls(args.requests, seed, phase)
                    job = functools.partial(closed_loop, url, calls, args.concurrency)
                else:
                    chats = sessions(args.sessions, args.turns, seed, phase)
                    job = functools.partial(conversations, url, chats)
                before = drain(rig.engines)
                with cpu_meter() as cpu:
                    samples = asyncio.run(job())
                change = delta(before, drain(rig.engines), rig.slow)
                tallies[workload, strategy].add(samples, change, cpu[0])
                print(
                    f"round {round_ + 1}/{args.rounds} {workload:8} {strategy:11} "
                    f"{len(samples)} requests, CPU {cpu[0].ours:.0f} % ours, "
                    f"{cpu[0].machine:.0f} % machine",
                    flush=True,
                )
    return tallies


def warm_up(rig: Rig) -> None:
    """A few unmeasured requests per gateway; then the scrapers have seen the idle engines."""
    for n, url in enumerate(rig.gateways.values()):
        asyncio.run(closed_loop(url, skewed_calls(8, 0, -1 - n, long_share=0.0), 4))
    drain(rig.engines)
    time.sleep(1.0)  # two scrape intervals


# --- report ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1e3:.0f}"


def _share(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def table(workload: str, tallies: dict[tuple[str, str], Tally]) -> list[str]:
    lines = [
        f"**{workload}** (TTFT in ms)",
        "",
        "| strategy | requests | failures | TTFT p50 | TTFT p95 | TTFT p99 | prefix-cache hits "
        "| slow share | CPU max ours / machine |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for strategy in STRATEGIES:
        t = tallies[workload, strategy]
        p = percentiles(t.ttft)
        lines.append(
            f"| {strategy} | {t.requests} | {t.failures} | {_ms(p.p50)} | {_ms(p.p95)} "
            f"| {_ms(p.p99)} | {_share(t.engines.hit_rate)} | {_share(t.engines.slow_share)} "
            f"| {max((c.ours for c in t.cpu), default=0):.0f} / "
            f"{max((c.machine for c in t.cpu), default=0):.0f} % |"
        )
    return [*lines, ""]


def checks(tallies: dict[tuple[str, str], Tally]) -> tuple[list[str], list[Check]]:
    """Ratios and notes for the report, and the two checks."""
    notes = []
    for workload in WORKLOADS:
        rr = percentiles(tallies[workload, "round_robin"].ttft).p99
        for other in STRATEGIES[1:]:
            tally = tallies[workload, other]
            gain = ratio(rr, percentiles(tally.ttft).p99)
            notes.append(f"- {workload}: round_robin p99 / {other} p99 = **{gain:.2f}x**")
    rr_share = tallies["skewed", "round_robin"].engines.slow_share
    for other in STRATEGIES[1:]:
        if not_in_effect(rr_share, tallies["skewed", other].engines.slow_share):
            notes.append(
                f"- note: {other} sent the slow engine as many requests as round robin "
                "(slow share): the strategy does not seem to be in effect"
            )
    ll = tallies["skewed", "least_load"]
    rr_p99 = percentiles(tallies["skewed", "round_robin"].ttft).p99
    found = [
        latency_check(rr_p99, percentiles(ll.ttft).p99, ll.failures / max(ll.requests, 1)),
        affinity_check(
            tallies["sessions", "round_robin"].engines.hit_rate,
            tallies["sessions", "affinity"].engines.hit_rate,
        ),
    ]
    return notes, found


def report(tallies: dict[tuple[str, str], Tally], args: argparse.Namespace) -> list[str]:
    notes, found = checks(tallies)
    lines = [
        f"Routing under skew, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
        f"({os.cpu_count()} cores): one {PROFILE} pool, 3 engines at speed 1 and 1 at "
        f"{args.slow_speed:g}x slower; skewed: {args.concurrency} closed-loop clients, "
        f"{args.requests} requests per phase (20 % ~2,000-token prompts); sessions: "
        f"{args.sessions} x {args.turns} turns; phases alternated {args.rounds}x.",
        "",
        *(line for w in WORKLOADS for line in table(w, tallies)),
        *notes,
        "",
        *(f"- {check.message}" for check in found),
    ]
    warning = cpu_warning([c for t in tallies.values() for c in t.cpu])
    if warning:
        lines.append(f"- warning: {warning}")
    return lines


# --- main ------------------------------------------------------------------------------------


def free_ports(count: int) -> int:
    """A base port with ``count`` consecutive free ports (the simulator takes base + i)."""
    for _ in range(100):
        base = free_port()
        try:
            for port in range(base + 1, base + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def gateway_yaml(engines: Sequence[str], port: int, strategy: str, args: argparse.Namespace) -> str:
    """quota_overhead's gateway (embedded store, no limits) with our pool and routing."""
    config = gateway_config(engines[0], port, "bench-" + uuid.uuid4().hex[:8], None)
    pool: dict[str, object] = {
        "name": "b200", "jurisdiction": "DE", "site": "local", "gpu": "b200",
        "profile": PROFILE, "engines": list(engines), "models": [MODEL],
    }  # fmt: skip
    if args.max_concurrency:
        pool["max_concurrency"] = args.max_concurrency
    config["pools"] = [pool]
    config["routing"] = {"strategy": strategy, "session_header": SESSION_HEADER}
    # Routing is measured, not the GDPR filter (Presidio on 2,000-token prompts would be the
    # first thing to saturate the two cores).
    config["privacy"] = {"default_policy": None}
    return yaml.safe_dump(config)


@contextlib.contextmanager
def rig(args: argparse.Namespace) -> Iterator[Rig]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    fast, slow = free_ports(3), free_port()
    sim = [sys.executable, "-m", "serving.simulator", "--profile", PROFILE, "--model", MODEL]
    engines = (*(f"http://127.0.0.1:{fast + i}" for i in range(3)), f"http://127.0.0.1:{slow}")
    ports = {s: free_port() for s in STRATEGIES}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        for base, count, speed in ((fast, 3, 1.0), (slow, 1, args.slow_speed)):
            stack.enter_context(
                process(
                    [
                        *sim,
                        "--engines",
                        str(count),
                        "--base-port",
                        str(base),
                        "--speed",
                        str(speed),
                    ],
                    ROOT,
                    env,
                )
            )
        for engine in engines:
            wait_http(engine + "/health")
        for strategy, port in ports.items():
            path = Path(scratch) / f"{strategy}.yaml"
            path.write_text(gateway_yaml(engines, port, strategy, args))
            serve = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
            stack.enter_context(process(serve, ROOT, env))
        gateways = {s: f"http://127.0.0.1:{port}" for s, port in ports.items()}
        for url in gateways.values():
            wait_http(url + "/healthz")
        yield Rig(gateways, engines, frozenset({3}))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.routing_benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds, smaller phases (~1 min)")
    parser.add_argument("--rounds", type=int, help="phases alternated (default 4, quick 2)")
    parser.add_argument("--requests", type=int, help="skewed: per phase (default 400, quick 150)")
    parser.add_argument("--concurrency", type=int, default=12, help="skewed: closed-loop clients")
    parser.add_argument("--sessions", type=int, help="sessions per phase (default 32, quick 16)")
    parser.add_argument("--turns", type=int, help="turns per session (default 6, quick 4)")
    parser.add_argument("--slow-speed", type=float, default=12.0, help="the slow engine's --speed")
    parser.add_argument("--max-concurrency", type=int, help="the pool's per-engine cap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/routing.md"))
    args = parser.parse_args(argv)
    defaults = (2, 150, 16, 4) if args.quick else (4, 400, 32, 6)
    for name, value in zip(("rounds", "requests", "sessions", "turns"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with rig(args) as bench:
        warm_up(bench)
        tallies = measure(bench, args)
    lines = report(tallies, args)
    lines.append(f"- run time {time.monotonic() - started:.0f} s")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    missed = [check.message for check in checks(tallies)[1] if not check.ok]
    for message in missed:
        print(f"routing benchmark: {message}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
