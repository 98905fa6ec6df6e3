"""Processes of the lean-path benchmarks: engines, gateways from a config, wrk, CPU and RSS.

The gateway is driven as a black box: a process started from a YAML configuration (or the
quick-mode command line), reached over HTTP, measured through psutil. Nothing here imports
the gateway, so the benchmarks keep working while its request path is redesigned.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import resource
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import redis
import yaml

from gateway.tenancy import store as directory
from loadtest.lean_stats import WrkResult, parse_wrk
from loadtest.local import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = Path(__file__).with_name("wrk") / "chat.lua"
# A database of the benchmarks' own on the local Redis: the tenant directory is one hash for
# every tenant of a database, and a record another release's tests wrote there must not
# decide whether a baseline revision starts.
REDIS_URL = "redis://127.0.0.1:6379/7"
LEDGER_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# Set high enough never to refuse: the benchmarks measure the checks, not refusals.
NEVER_REFUSE = {
    "requests_per_minute": 10**8,
    "tokens_per_minute": 10**11,
    "concurrent": 10**6,
    "monthly_tokens": 10**14,
}
PROMPT = "Wie beantrage ich einen Anwohnerparkausweis?"


def hash_key(key: str) -> str:
    """The configuration's form of an API key (``sovereign-gateway keys hash``, no pepper)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "sk-lean-" + secrets.token_hex(16)


def clean_env() -> dict[str, str]:
    """This environment without the gateway's own variables: the config file decides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def raise_open_files() -> None:
    """Thousands of streams are thousands of sockets: children inherit the raised limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def chat_body(model: str, tokens: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "ignore_eos": True,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


@dataclass
class Proc:
    """A started server: its name, base URL and process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu(self) -> float:
        """CPU seconds (user + system) of the process and its live children."""
        try:
            parent = psutil.Process(self.process.pid)
            total = 0.0
            for proc in [parent, *parent.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    total += times.user + times.system
            return total
        except psutil.NoSuchProcess:
            return float("nan")

    def rss(self) -> int:
        """Resident memory in bytes of the process and its live children."""
        parent = psutil.Process(self.process.pid)
        total = 0
        for proc in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{tail}")


class Processes:
    """Starts servers and stops them all (SIGTERM, then SIGKILL) when the block ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._started: list[Proc] = []

    def start(
        self, name: str, argv: Sequence[str], url: str, *, env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:  # fmt: skip
        log = self.folder / f"{name}.log"
        workdir = cwd or self.folder / name
        workdir.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            process = subprocess.Popen(
                list(argv), cwd=workdir, env=env or clean_env(), stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        proc = Proc(name, url, process, log)
        self._started.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        if proc.process.poll() is None:
            proc.process.terminate()
            try:
                proc.process.wait(15)
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait(5)

    def close(self) -> None:
        for proc in reversed(self._started):
            self.stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_engine(procs: Processes, name: str, interval_ms: float) -> Proc:
    port = free_port()
    argv = [sys.executable, "-m", "loadtest.lean_engine", "--port", str(port),
            "--interval-ms", str(interval_ms)]  # fmt: skip
    return procs.start(name, argv, f"http://127.0.0.1:{port}", cwd=ROOT)


@contextlib.contextmanager
def gateway_tree(revision: str | None) -> Iterator[Path]:
    """Where the gateway's code comes from: this checkout, or ``revision`` exported with
    ``git archive`` into a temporary folder (read-only for the repository: no worktree)."""
    if revision is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="sg-gateway-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
            capture_output=True, check=True,
        )  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def describe(revision: str | None) -> str:
    """The gateway under test, for the report: a revision, or this checkout's state."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False)  # fmt: skip
        return done.stdout.strip()

    if revision is not None:
        return f"git revision {git('rev-parse', '--short', revision) or revision}"
    changed = " + uncommitted changes" if git("status", "--porcelain", "--", "gateway") else ""
    return f"this checkout ({git('rev-parse', '--short', 'HEAD')}{changed})"


def start_quick_gateway(
    procs: Processes, name: str, engine: str, key: str, policy: str | None, tree: Path = ROOT
) -> Proc:
    """``sovereign-gateway serve --engine ... --api-key ...``: quick mode, embedded store.
    Runs in its own folder (quick mode keeps its audit file under ./audit)."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--engine", engine, "--api-key", key,
            "--policy", policy or "none", "--port", str(port), "--workers", "1"]  # fmt: skip
    env = {**clean_env(), "PYTHONPATH": str(tree)}
    return procs.start(name, argv, f"http://127.0.0.1:{port}", env=env)


@dataclass(frozen=True)
class Pipeline:
    """What the full pipeline's gateway needs besides its engines."""

    tenant: str
    key: str
    policy: str | None
    max_connections: int = 4096


def full_pipeline_config(
    engines: Sequence[str], models: Sequence[str], folder: Path, pipeline: Pipeline
) -> dict[str, Any]:
    """One worker with the shared store on the local Redis, a tenant and a key with all four
    limits (never reached), the policy, the audit trail in a file, JSON logs to a file, and
    Prometheus metrics on their own port. Traces stay in the process: no collector here."""
    sink = {"jurisdiction": "DE", "operator": "benchmark"}
    max_conn = pipeline.max_connections
    key = {"id": f"{pipeline.tenant}-1", "hash": hash_key(pipeline.key), "limits": NEVER_REFUSE}
    return {
        "server": {"host": "127.0.0.1", "port": free_port(), "workers": 1},
        "upstream": {"max_connections": max_conn, "max_keepalive_connections": max_conn},
        # Redis timeouts above the default 0.5 s: on a loaded 2-core machine a call can wait
        # that long for a core, and the degraded mode then refuses (fail_closed) for 1 s.
        "store": {"redis_url": REDIS_URL, "socket_timeout": 3.0, "connect_timeout": 3.0, **sink},
        "security": {"pseudonym_key": base64.b64encode(secrets.token_bytes(32)).decode()},
        "privacy": {"default_policy": pipeline.policy},
        "routing": {"max_queue": max(1024, max_conn)},
        # The durable ledger (PostgreSQL): one schema for every run on this Redis database,
        # which a ledger claims for itself (gateway/ledger/shipper.py).
        "metering": {
            "spool_dir": str(folder / "spool"),
            "ledger_dsn": LEDGER_DSN,
            "ledger_schema": "bench_lean_ledger",
            "ledger_jurisdiction": "DE",
            "ledger_operator": "benchmark",
        },
        "telemetry": {
            "audit_dir": str(folder / "audit"),
            "audit": {**sink, "path": str(folder / "audit")},
            "logs": {**sink, "path": str(folder / "gateway.jsonl")},
            "metrics": {**sink, "host": "127.0.0.1", "port": free_port()},
        },
        "pools": [{"name": "local", "jurisdiction": "DE", "site": "local", "gpu": "b200",
                   "engines": list(engines), "models": list(models)}],
        "tenants": [{"id": pipeline.tenant, "api_keys": [key], "limits": NEVER_REFUSE}],
    }  # fmt: skip


def start_config_gateway(
    procs: Processes, name: str, config: dict[str, Any], tree: Path = ROOT
) -> Proc:
    """``sovereign-gateway serve --config FILE`` from a config dict."""
    folder = procs.folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path)]
    env = {**clean_env(), "PYTHONPATH": str(tree)}
    url = f"http://127.0.0.1:{config['server']['port']}"
    return procs.start(name, argv, url, env=env)


def wait_ready(proc: Proc, health: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check_alive()
        with contextlib.suppress(TimeoutError):
            wait_http(proc.url + health, timeout=2.0)
            return
    raise TimeoutError(f"{proc.name} not ready within {timeout:.0f} s")


def wait_serving(proc: Proc, key: str | None, model: str, timeout: float = 60.0) -> None:
    """Until a chat request through ``proc`` succeeds (the gateway has seen its engines)."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        proc.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.post(proc.url + "/v1/chat/completions", headers=headers,
                                json=chat_body(model, 4, False), timeout=10)  # fmt: skip
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:300]}"
        time.sleep(0.25)
    raise TimeoutError(f"{proc.name} does not serve {model}: {last}")


def run_wrk(
    url: str, body: dict[str, Any], key: str | None, min_events: int, connections: int,
    seconds: int, folder: Path,
) -> WrkResult:  # fmt: skip
    """One wrk run (one thread, whole seconds: wrk knows no shorter) POSTing ``body``;
    streams must carry at least ``min_events`` events."""
    path = folder / f"body-{hashlib.sha256(orjson.dumps(body)).hexdigest()[:12]}.json"
    path.write_bytes(orjson.dumps(body))
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, seconds)}s",
            "--timeout", "30s", "-s", str(WRK_SCRIPT), url + "/v1/chat/completions", "--",
            str(path), key or "-", str(min_events)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    return parse_wrk(done.stdout)


@contextlib.contextmanager
def redis_tenant(prefix: str) -> Iterator[str]:
    """A tenant id of this run's own; its keys are removed from Redis afterwards."""
    tenant = f"{prefix}-{secrets.token_hex(4)}"
    try:
        yield tenant
    finally:
        with contextlib.suppress(redis.RedisError):
            forget_tenant(tenant)


def forget_tenant(tenant: str) -> None:
    """Every Redis key naming the tenant, and the directory entries (hash fields) that do."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        doomed = list(client.scan_iter(match=f"*{tenant}*", count=1000))
        if doomed:
            client.delete(*doomed)
        for name in (directory.TENANTS, directory.KEYS):
            fields = [f for f in client.hkeys(name) if tenant.encode() in f]
            if fields:
                client.hdel(name, *fields)
        if client.exists(directory.VERSION):
            client.incr(directory.VERSION)
    finally:
        client.close()
