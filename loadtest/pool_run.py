"""A headless Locust run through the gateway in front of a simulated GPU pool, one command.

    python -m loadtest.pool_run [--engines 20] [--profile b200/llama-3.3-70b] [--users 60]
        [--run-time 60s] [--speed 1.0] [--out loadtest/results/pool-b200]

Starts N simulated engines in one process, the gateway with a configuration holding them as
one pool in DE (one worker), then ``loadtest.run`` with the three workloads, and stops
everything. The report (CSV, HTML, the per-workload table) lands in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

from gateway.auth import hash_key
from loadtest.local import wait_http

KEY = "sk-pool-run-key"


@contextlib.contextmanager
def _process(cmd: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as sink:
        process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(20)


def pool_config(engine_urls: list[str], profile: str, model: str, port: int) -> dict[str, object]:
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "pools": [
            {
                "name": "sim-" + profile.split("/")[0],
                "jurisdiction": "DE",
                "site": "de-sim-1",
                "gpu": profile.split("/")[0],
                "engines": engine_urls,
                "models": [model],
            }
        ],
        "tenants": [{"id": "load", "api_keys": [{"id": "load-1", "hash": hash_key(KEY)}]}],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.pool_run", description=__doc__)
    parser.add_argument("--engines", type=int, default=20)
    parser.add_argument("--profile", default="b200/llama-3.3-70b")
    parser.add_argument("--model", default="llama-3.3-70b")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--spawn-rate", type=int, default=20)
    parser.add_argument("--run-time", default="60s")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--base-port", type=int, default=19100)
    parser.add_argument("--gateway-port", type=int, default=19080)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/pool-b200"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    urls = [f"http://127.0.0.1:{args.base_port + i}" for i in range(args.engines)]
    config = args.out / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(pool_config(urls, args.profile, args.model, args.gateway_port))
    )
    simulator = [
        sys.executable, "-m", "serving.simulator", "--profile", args.profile,
        "--model", args.model, "--engines", str(args.engines),
        "--base-port", str(args.base_port), "--speed", str(args.speed),
        "--max-model-len", "32768",
    ]  # fmt: skip
    gateway = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)]
    gateway_url = f"http://127.0.0.1:{args.gateway_port}"
    with _process(simulator, args.out / "simulator.log"):
        for url in urls:
            wait_http(url + "/health")
        with _process(gateway, args.out / "gateway.log"):
            wait_http(gateway_url + "/readyz")
            run = [
                sys.executable, "-m", "loadtest.run", "--host", gateway_url,
                "--model", args.model, "--users", str(args.users),
                "--spawn-rate", str(args.spawn_rate), "--run-time", args.run_time,
                "--max-context", "32768", "--out", str(args.out),
            ]  # fmt: skip
            result = subprocess.run(run, env={**os.environ, "SOVEREIGN_API_KEY": KEY})
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
