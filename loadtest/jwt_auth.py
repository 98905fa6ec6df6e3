"""Bearer JWTs against API keys: what verifying a token costs the gateway per request (issue 16).

    python -m loadtest.jwt_auth [--requests 1500] [--rounds 6] [--concurrency 16] [--no-fresh]
        [--micro-calls 3000] [--policy none] [--json loadtest/results/jwt_auth.json]

One run, side by side, so a noisy shared machine affects every side alike. The simulator
engine answers at once (``--speed 0.001``, as ``overhead.py``'s saturation phase), so the
gateway's own CPU is what is measured. Each gateway (one worker, in-process store, policy
``--policy``) serves a tenant that has an API key and accepts the issuer of a tiny local IdP
(``jwt_idp.py``: discovery and JWKS over HTTP, an RSA-2048 and an EC P-256 key made at
start). Phases, alternated ``--rounds`` times with the order rotated each round, each
``--requests`` non-streaming requests of 16 tokens from ``--concurrency`` clients:

- ``API key``: the key, as today;
- ``RS256 JWT`` / ``ES256 JWT``: one token reused for every request, as a client does until
  it expires;
- ``... fresh``: a new token (new ``jti``) per request, signed before the phase: a gateway
  that kept state per token would show it here.

Per phase: gateway CPU per request (``psutil`` CPU time of the worker over the phase / its
requests), its ratio to the API key phase of the same gateway and round, and latency p50/p99;
the table gives the medians over rounds. A round runs each gateway's phases as one block
(the order rotating), after an unmeasured warm-up. When the verifier has
a verified-token cache (``identity.verified_cache_size``), two gateways run, the cache off
(size 0: the "before") and on, in the same run.

In process, without HTTP: ``TokenVerifier.verify()`` per call (``time.process_time`` over
``--micro-calls`` calls, keys cached), the signature check alone (PyJWT's algorithm objects
over ``cryptography``), one PyJWT parse of the token (the verifier parses it twice:
header and unverified claims in one ``decode_complete``, then verified), and
``KeyRing.authenticate()``, the API key's whole check.

Writes ``--json`` (every round's figures) and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import yaml
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.auth import KeyRing, hash_key
from gateway.core.tenant import Principal, Tenant
from gateway.identity.jwks import idp_client
from gateway.identity.settings import IdentitySettings
from gateway.identity.tokens import TokenVerifier
from loadtest.jwt_idp import TENANT_CLAIM, BenchIdp, make_keys
from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL, body, cpu_seconds, pct
from loadtest.quota_overhead import ROOT, process

KEY = "sk-jwt-bench-" + uuid.uuid4().hex
TENANT = "jwt-bench"
CACHE_FIELD = "verified_cache_size"  # the verifier's cache, when it has one
CREDENTIALS = ("key", "RS256", "ES256")


@dataclass(frozen=True)
class Gateway:
    name: str
    url: str
    pid: int


@dataclass(frozen=True)
class Result:
    gateway: str
    credential: str  # "key", "RS256", "ES256"
    fresh: bool  # a new token per request
    cpu_us: float  # gateway CPU per request
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    vs_key: float = 0.0  # CPU per request over the API key's, same gateway and round

    @property
    def phase(self) -> str:
        label = "API key" if self.credential == "key" else f"{self.credential} JWT"
        return label + (", fresh per request" if self.fresh else "")


def has_cache() -> bool:
    return CACHE_FIELD in IdentitySettings.model_fields


def issuer_settings(idp: BenchIdp) -> dict[str, Any]:
    return {"name": "bench", "issuer": idp.issuer, "jurisdiction": "DE",
            "operator": "benchmark", "claims": {"tenant": TENANT_CLAIM}}  # fmt: skip


def gateway_config(
    engine: str, port: int, idp: BenchIdp, policy: str | None, cache: int | None
) -> dict[str, Any]:
    identity: dict[str, Any] = {"issuers": [issuer_settings(idp)]}
    if cache is not None:
        identity[CACHE_FIELD] = cache
    return {
        "server": {"host": "127.0.0.1", "port": port, "workers": 1},
        "privacy": {"default_policy": policy},
        "identity": identity,
        "pools": [{"name": "local", "jurisdiction": "DE", "site": "local", "gpu": "b200",
                   "engines": [engine], "models": [MODEL]}],
        "tenants": [{"id": TENANT, "jwt_issuers": ["bench"],
                     "api_keys": [{"id": f"{TENANT}-1", "hash": hash_key(KEY)}]}],
    }  # fmt: skip


async def phase(
    gateway: Gateway, authorizations: list[str], concurrency: int
) -> tuple[list[float], float, int]:
    """Latencies, gateway CPU seconds and failures of one closed-loop phase: request i sends
    ``authorizations[i]``."""
    url = gateway.url + "/v1/chat/completions"
    content = orjson.dumps(body(False, 16))
    pending = iter(authorizations)
    latencies: list[float] = []
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for authorization in pending:
            headers = {"authorization": authorization, "content-type": "application/json"}
            started = time.perf_counter()
            async with session.post(url, data=content, headers=headers) as response:
                await response.read()
                failures += response.status != 200
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def warm() -> None:  # open the connections outside the measured window
            async with session.get(gateway.url + "/healthz") as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))
        before = cpu_seconds(gateway.pid)
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        used = cpu_seconds(gateway.pid) - before
    return latencies, used, failures


async def measure(
    gateways: list[Gateway], idp: BenchIdp, args: argparse.Namespace
) -> list[list[Result]]:
    """``args.rounds`` rounds; in each, one block of phases per gateway (the gateways' order
    alternating, the phases' rotating), so every JWT phase is compared with the API key of
    the same gateway seconds apart: on a shared machine the noise drifts over minutes."""
    phases = [(c, False) for c in CREDENTIALS]
    phases += [(c, True) for c in CREDENTIALS[1:]] if args.fresh else []
    reused = {c: "Bearer " + idp.token(c, TENANT) for c in CREDENTIALS[1:]}

    async def run(gateway: Gateway, credential: str, fresh: bool, requests: int) -> Result:
        if credential == "key":
            authorizations = ["Bearer " + KEY] * requests
        elif fresh:  # signed now, before the phase's clock starts
            authorizations = ["Bearer " + idp.token(credential, TENANT) for _ in range(requests)]
        else:
            authorizations = [reused[credential]] * requests
        latencies, used, failures = await phase(gateway, authorizations, args.concurrency)
        return Result(gateway.name, credential, fresh, used / len(latencies) * 1e6,
                      pct(latencies, 0.5) * 1e3, pct(latencies, 0.99) * 1e3, len(latencies),
                      failures)  # fmt: skip

    for gateway in gateways:  # warm-up (first requests of each kind), not measured
        for credential, fresh in phases:
            await run(gateway, credential, fresh, max(args.concurrency, args.requests // 10))
    rounds: list[list[Result]] = []
    for n in range(args.rounds):
        results = []
        for gateway in gateways if n % 2 == 0 else gateways[::-1]:
            shift = n % len(phases)
            block = [await run(gateway, c, f, args.requests)
                     for c, f in phases[shift:] + phases[:shift]]  # fmt: skip
            key = next(r.cpu_us for r in block if r.credential == "key")
            results += [replace(r, vs_key=r.cpu_us / key - 1) for r in block]
        rounds.append(results)
    return rounds


def summarise(rounds: list[list[Result]]) -> list[Result]:
    """Per phase, the median over rounds (requests and failures summed)."""
    summary = []
    for first in rounds[0]:
        same = [r for results in rounds for r in results
                if (r.gateway, r.credential, r.fresh) == (first.gateway, first.credential,
                                                          first.fresh)]  # fmt: skip
        summary.append(Result(first.gateway, first.credential, first.fresh,
                              statistics.median(r.cpu_us for r in same),
                              statistics.median(r.p50_ms for r in same),
                              statistics.median(r.p99_ms for r in same),
                              sum(r.requests for r in same),
                              sum(r.failures for r in same),
                              statistics.median(r.vs_key for r in same)))  # fmt: skip
    order = {c: n for n, c in enumerate(CREDENTIALS)}
    return sorted(summary, key=lambda r: (r.gateway, r.fresh, order[r.credential]))


def _per_call(calls: int, run: Callable[[], object]) -> float:
    """µs of this process's CPU per call of the synchronous ``run``."""
    started = time.process_time()
    for _ in range(calls):
        run()
    return (time.process_time() - started) / calls * 1e6


def signature_check(idp: BenchIdp, alg: str, token: str) -> Callable[[], object]:
    """The token's signature checked alone, as PyJWT does it (over ``cryptography``)."""
    check: Any = (
        RSAAlgorithm(RSAAlgorithm.SHA256) if alg == "RS256" else ECAlgorithm(ECAlgorithm.SHA256)
    )
    signed, _, signature = token.rpartition(".")
    message = signed.encode()
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    public = check.prepare_key(idp.keys[alg].private.public_key())
    assert check.verify(message, public, raw)
    return lambda: check.verify(message, public, raw)


async def micro(idp: BenchIdp, calls: int, repeats: int) -> dict[str, float]:
    """In-process µs per call, the median of ``repeats``: the verifier (keys cached; with the
    cache off and hit, when it has one), the signature alone, and the API key's ring."""
    tenant = Tenant(TENANT, frozenset({"DE"}), None, jwt_issuers=frozenset({"bench"}))
    ring = KeyRing([(hash_key(KEY), Principal(tenant, f"{TENANT}-1"))], None)
    authorization = "Bearer " + KEY
    tokens = {alg: idp.token(alg, TENANT) for alg in CREDENTIALS[1:]}
    sizes = {", no cache": 0, ", cache hit": 10_000} if has_cache() else {"": None}
    figures: dict[str, list[float]] = {}
    async with idp_client() as client:
        verifiers = {}
        for label, size in sizes.items():
            options = {} if size is None else {CACHE_FIELD: size}
            settings = IdentitySettings(issuers=[issuer_settings(idp)], **options)
            verifiers[label] = verifier = TokenVerifier(settings, client)
            for token in tokens.values():
                await verifier.verify(token)  # reads the keys, parses them once
        for _ in range(repeats):
            for alg, token in tokens.items():
                for label, verifier in verifiers.items():
                    started = time.process_time()
                    for _ in range(calls):
                        await verifier.verify(token)
                    spent = (time.process_time() - started) / calls * 1e6
                    figures.setdefault(f"TokenVerifier.verify() {alg}{label}", []).append(spent)
                figures.setdefault(f"signature only {alg} (cryptography)", []).append(
                    _per_call(calls, signature_check(idp, alg, token))
                )
                figures.setdefault(f"one PyJWT parse {alg} (get_unverified_header)", []).append(
                    _per_call(calls, partial(jwt.get_unverified_header, token))
                )
            figures.setdefault("KeyRing.authenticate() (API key)", []).append(
                _per_call(calls * 10, lambda: ring.authenticate(authorization))
            )
    return {name: statistics.median(values) for name, values in figures.items()}


def report(summary: list[Result], figures: dict[str, float], args: argparse.Namespace) -> str:
    lines = [
        f"Bearer JWTs vs API keys, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}); {args.concurrency} "
        f"clients, {args.requests} non-streaming requests per phase, {args.rounds} rounds "
        "(medians; 'vs API key': the median of each round's ratio to the key phase of the same "
        f"gateway), policy {args.policy}, near-instant engine",
        "",
        "| gateway | phase | CPU µs/request | vs API key | latency p50 ms | latency p99 ms "
        "| requests | failures |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in summary:
        lines.append(
            f"| {r.gateway or 'gateway'} | {r.phase} | {r.cpu_us:,.0f} | {r.vs_key:+.1%} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.requests:,} | {r.failures} |"
        )
    lines += ["", "| in process (keys cached) | µs per call |", "| --- | ---: |"]
    lines += [f"| {name} | {value:.1f} |" for name, value in sorted(figures.items())]
    return "\n".join(lines)


@contextlib.contextmanager
def running_gateways(
    engine: str, idp: BenchIdp, policy: str | None, env: dict[str, str]
) -> Iterator[list[Gateway]]:
    """One gateway, or two (the verified-token cache off and on) when the verifier has one."""
    sides = [("cache off", 0), ("cache on", None)] if has_cache() else [("", None)]
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        gateways = []
        for name, cache in sides:
            port = free_port()
            path = Path(scratch) / f"gateway-{port}.yaml"
            path.write_text(yaml.safe_dump(gateway_config(engine, port, idp, policy, cache)))
            serve = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
            child = stack.enter_context(process(serve, ROOT, env))
            gateways.append(Gateway(name, f"http://127.0.0.1:{port}", child.pid))
        for gateway in gateways:
            wait_http(gateway.url + "/healthz")
        yield gateways


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.jwt_auth", description=__doc__)
    parser.add_argument("--requests", type=int, default=1500, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fresh", action=argparse.BooleanOptionalAction, default=True,
                        help="also phases with a new token per request")  # fmt: skip
    parser.add_argument("--micro-calls", type=int, default=3000)
    parser.add_argument("--policy", default="none", help="the gateway's default policy")
    parser.add_argument("--json", type=Path, default=Path("loadtest/results/jwt_auth.json"))
    args = parser.parse_args(argv)
    policy = None if args.policy == "none" else args.policy
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    engine_port = free_port()
    engine_argv = [
        sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
        "--model", MODEL, "--engines", "1", "--base-port", str(engine_port), "--speed", "0.001",
    ]  # fmt: skip
    engine = f"http://127.0.0.1:{engine_port}"
    idp = BenchIdp(make_keys())
    with idp.running(), process(engine_argv, ROOT, env):
        wait_http(engine + "/health")
        figures = asyncio.run(micro(idp, args.micro_calls, args.rounds))
        with running_gateways(engine, idp, policy, env) as gateways:
            rounds = asyncio.run(measure(gateways, idp, args))
    summary = summarise(rounds)
    text = report(summary, figures, args)
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "command": "python -m loadtest.jwt_auth " + " ".join(argv or sys.argv[1:]),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node(),
        "cores": os.cpu_count(), "parameters": {k: str(v) for k, v in vars(args).items()},
        "jwks_reads": idp.reads, "summary": [asdict(r) for r in summary],
        "rounds": [[asdict(r) for r in results] for results in rounds], "micro_us": figures,
    }, indent=2) + "\n")  # fmt: skip
    return 1 if any(r.failures for r in summary) else 0


if __name__ == "__main__":
    raise SystemExit(main())
