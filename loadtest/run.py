"""Run the workloads headless against a gateway, keep CSV + HTML, print a per-workload table.

    python -m loadtest.run --host http://127.0.0.1:8080 --api-key KEY --model smollm2 \\
        --users 50 --spawn-rate 10 --run-time 60s --out loadtest/results/my-run

Writes into ``--out`` (default ``loadtest/results/<UTC time>``): ``locust_stats.csv``,
``locust_stats_history.csv``, ``locust_failures.csv``, ``locust_exceptions.csv``,
``report.html`` and ``run.json`` (the parameters, without the key). Anything after ``--`` goes
to Locust unchanged. Exits with Locust's code: 1 when any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from loadtest.config import DEFAULT_WEIGHTS, parse_weights
from loadtest.summary import format_table, read_stats, summarise
from loadtest.workloads import CHARS_PER_TOKEN

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
CSV_PREFIX = "locust"


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, extra = _split_extra(argv)
    parser = argparse.ArgumentParser(prog="python -m loadtest.run", description=__doc__)
    parser.add_argument("--host", required=True, help="gateway base URL (no /v1)")
    parser.add_argument("--api-key", default=None, help="default: $SOVEREIGN_API_KEY")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=5.0)
    parser.add_argument("--run-time", default="60s", help="Locust syntax: 30s, 5m, 1h")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS)
    parser.add_argument("--max-context", type=int, default=2048)
    parser.add_argument("--chars-per-token", type=float, default=CHARS_PER_TOKEN)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--think-scale", type=float, default=1.0)
    parser.add_argument(
        "--stop-timeout",
        default="30s",
        help="at the end, how long running requests may finish (Locust syntax)",
    )
    args = parser.parse_args(own)
    parse_weights(args.weights)  # fail here, not in the child, on a typo
    if args.out is None:
        args.out = HERE / "results" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return args, extra


def _split_extra(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our options, and what comes after ``--`` (for Locust)."""
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def locust_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The Locust command line; the API key is not on it (see ``child_environment``)."""
    out: Path = args.out
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        args.host,
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        args.run_time,
        "--stop-timeout",
        args.stop_timeout,
        "--csv",
        str(out / CSV_PREFIX),
        "--html",
        str(out / "report.html"),
        "--model",
        args.model,
        "--weights",
        args.weights,
        "--max-context",
        str(args.max_context),
        "--chars-per-token",
        str(args.chars_per_token),
        "--seed",
        str(args.seed),
        "--think-scale",
        str(args.think_scale),
        *extra,
    ]


def child_environment(api_key: str | None) -> dict[str, str]:
    """The key travels in the environment: a command line is visible to every local user."""
    env = dict(os.environ)
    if api_key is not None:
        env["SOVEREIGN_API_KEY"] = api_key
        env.pop("LOCUST_API_KEY", None)  # it would win over SOVEREIGN_API_KEY in the child
    root = str(HERE.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    record = {k: str(v) for k, v in vars(args).items() if k != "api_key"}
    (out / "run.json").write_text(json.dumps({**record, "locust_args": extra}, indent=2) + "\n")
    code = subprocess.call(
        locust_command(args, extra), env=child_environment(args.api_key), cwd=HERE.parent
    )
    stats = out / f"{CSV_PREFIX}_stats.csv"
    if not stats.exists():
        print(f"no statistics written ({stats}); Locust exited with {code}", file=sys.stderr)
        return code or 1
    summaries = summarise(read_stats(stats))
    print()
    print(format_table(summaries) if summaries else "No request was recorded.")
    print("\nTTFT/ITL in ms (ITL: mean per request); tok/s: output tokens/s per request.")
    print(f"CSV: {out}/{CSV_PREFIX}_stats.csv  HTML: {out / 'report.html'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
