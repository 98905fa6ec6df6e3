"""The planner against measured simulator runs: predicted vs measured throughput at the SLO.

For a profile and a workload, the planner says how many users one engine serves within the
SLO. A pool of simulated engines (``python -m serving.simulator``) is then loaded with that
many closed-loop users per engine (unique prompts, exponential think times), and output
tokens/s, TTFT p95 and TPOT are measured over a steady window. The simulator runs slowed
down by ``speed`` (all its times multiplied) so this small machine's client keeps up; the
think times are slowed by the same factor and the results scaled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import orjson

from loadtest.local import free_port, wait_http
from loadtest.planner import Slo, Workload, max_users, operating_point
from serving.perfmodel import get

SLO = Slo(ttft_p95_s=1.0, tokens_per_s_per_user=20.0)
# A contact-centre-like turn with unique prompts (nothing for the prefix cache to find), so
# the comparison does not hinge on the pseudo-tokenizer's cache behaviour.
VALIDATION_WORKLOAD = Workload("validation (contact-centre turns)", 350, 120, 4.0, 0.0, 350)
WORDS = [
    "Bürgeramt",
    "Antrag",
    "Termin",
    "Wohnsitz",
    "Meldebescheinigung",
    "Frist",
    "Gebühr",
    "Formular",
]


@dataclass
class Measured:
    started: float
    window: tuple[float, float]
    tokens_in_window: int = 0
    ttfts: list[float] = field(default_factory=list)
    tpots: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    errors: int = 0


@dataclass(frozen=True)
class ValidationResult:
    profile: str
    workload: str
    engines: int
    users: int  # per engine
    speed: float
    predicted_tokens_s: float  # per engine
    measured_tokens_s: float  # per engine
    predicted_ttft_p95_s: float
    ttft_p95_s: float
    predicted_tpot_s: float
    tpot_s: float
    mean_prompt_tokens: float
    errors: int

    @property
    def throughput_error(self) -> float:
        return self.measured_tokens_s / self.predicted_tokens_s - 1


def _prompt(rng: random.Random, tokens: int) -> str:
    # The simulator's pseudo-tokenizer makes one token of a space and up to five letters, so
    # random four-letter words give exactly ``tokens`` tokens, all but certainly unique from
    # the first block on (nothing for the prefix cache to find).
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join("".join(rng.choices(letters, k=4)) for _ in range(tokens))


async def _user(
    client: aiohttp.ClientSession, url: str, work: Workload, speed: float, seed: int, out: Measured
) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, work.think_s * speed))  # desynchronise the start
    while time.monotonic() < out.window[1]:
        body = {
            "model": "sim",
            "prompt": _prompt(rng, int(work.prompt_tokens)),
            "max_tokens": int(work.output_tokens),
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        await _one(client, url, body, out)
        await asyncio.sleep(rng.expovariate(1 / (work.think_s * speed)) if work.think_s else 0)


async def _one(
    client: aiohttp.ClientSession, url: str, body: dict[str, object], out: Measured
) -> None:
    started = time.monotonic()
    first = last = 0.0
    tokens = 0
    try:
        async with client.post(url + "/v1/completions", data=orjson.dumps(body)) as response:
            async for raw in response.content:  # one SSE line at a time
                if not raw.startswith(b"data: {"):
                    continue
                event = orjson.loads(raw[6:])
                if event.get("usage") and not event.get("choices"):
                    out.prompt_tokens.append(event["usage"]["prompt_tokens"])
                    continue
                now = time.monotonic()
                first = first or now
                last, tokens = now, tokens + 1
                if out.window[0] <= now <= out.window[1]:
                    out.tokens_in_window += 1
    except aiohttp.ClientError:
        out.errors += 1
        return
    if out.window[0] <= started <= out.window[1] and tokens > 1:
        out.ttfts.append(first - started)
        out.tpots.append((last - first) / (tokens - 1))


@contextlib.contextmanager
def simulator(profile: str, engines: int, speed: float) -> Iterator[list[str]]:
    base = 20000 + free_port() % 20000  # a block of ports, likely free
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.simulator", "--profile", profile, "--model", "sim",
         "--engines", str(engines), "--base-port", str(base), "--speed", str(speed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    urls = [f"http://127.0.0.1:{base + i}" for i in range(engines)]
    try:
        for url in urls:
            wait_http(url + "/health", timeout=60)
        yield urls
    finally:
        process.terminate()
        process.wait(15)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))] if ordered else float("nan")


async def _measure(
    urls: list[str], work: Workload, users: int, speed: float, warmup: float, seconds: float
) -> Measured:
    now = time.monotonic()
    out = Measured(now, (now + warmup * speed, now + (warmup + seconds) * speed))
    # aiohttp, not httpx: httpcore's pool polls every pooled connection on each request, which
    # with hundreds of users made the client, not the simulator, the bottleneck.
    connector = aiohttp.TCPConnector(limit=users * len(urls) + 8)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as client:
        await asyncio.gather(
            *(
                _user(client, url, work, speed, seed=1000 * e + u, out=out)
                for e, url in enumerate(urls)
                for u in range(users)
            )
        )
    return out


def validate(
    profile: str,
    work: Workload = VALIDATION_WORKLOAD,
    engines: int = 2,
    speed: float = 4.0,
    warmup: float = 15.0,
    seconds: float = 30.0,
) -> ValidationResult:
    perf = get(profile)
    users = max_users(perf, work, SLO)
    predicted = operating_point(perf, work, users)
    with simulator(profile, engines, speed) as urls:
        out = asyncio.run(_measure(urls, work, users, speed, warmup, seconds))
    return ValidationResult(
        profile=profile,
        workload=work.name,
        engines=engines,
        users=users,
        speed=speed,
        predicted_tokens_s=predicted.output_tokens_per_s,
        # tokens per wall second x speed = tokens per simulated (GPU) second
        measured_tokens_s=out.tokens_in_window / (seconds * speed) * speed / engines,
        predicted_ttft_p95_s=predicted.ttft_p95_s,
        ttft_p95_s=_p95(out.ttfts) / speed,
        predicted_tpot_s=predicted.step_s,
        tpot_s=sum(out.tpots) / max(1, len(out.tpots)) / speed,
        mean_prompt_tokens=sum(out.prompt_tokens) / max(1, len(out.prompt_tokens)),
        errors=out.errors,
    )


def run_validation() -> list[ValidationResult]:
    return [validate("b200/llama-3.3-70b"), validate("rtx-pro-6000/llama-3.1-8b")]


def validation_markdown(results: list[ValidationResult]) -> str:
    lines = [
        "| profile | engines | users/engine | predicted tok/s | measured tok/s | error "
        "| TTFT p95 pred/meas (s) | TPOT pred/meas (ms) | mean prompt | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.profile} | {r.engines} | {r.users} | {r.predicted_tokens_s:,.0f} "
            f"| {r.measured_tokens_s:,.0f} | {r.throughput_error:+.1%} "
            f"| {r.predicted_ttft_p95_s:.2f} / {r.ttft_p95_s:.2f} "
            f"| {r.predicted_tpot_s * 1e3:.1f} / {r.tpot_s * 1e3:.1f} "
            f"| {r.mean_prompt_tokens:.0f} | {r.errors} |"
        )
    return "\n".join(lines)
