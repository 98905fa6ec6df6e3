"""What the audit trail, the request log, the span and the request metrics cost per request.

    python -m loadtest.telemetry_overhead [--concurrency 1] [--requests 1200] [--rounds 4]
                                          [--baseline 765a6b3]

Gateways from this checkout, in front of one simulated engine (b200/llama-3.1-8b), embedded
store, the default GDPR policy, phases alternated so the shared machine's noise falls on all
of them alike:

- **telemetry off**: this gateway with the four per-request calls of the telemetry hub made
  no-ops (``log_request``, ``observe``, the span, the audit record), through a
  ``sitecustomize`` hook in a temporary folder: the same code otherwise, so the difference is
  exactly what they cost;
- **telemetry on**: this gateway as shipped (JSON log line, span, metrics, a hash-chained audit
  record written by the batching writer into the file sink with fsync);
- **before** (optional, ``--baseline REV``): the gateway at a commit before the telemetry
  issue, in a git worktree, for the whole change (it also includes unrelated work since).

Reports p50/p99 latency (non-streaming) and TTFT (streaming), what each adds to the first,
and gateway CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from gateway.audit.file import FILE_NAME
from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL
from loadtest.quota_overhead import KEY, ROOT, Side, baseline_tree, measure, process, report

HOOK = """\
import asyncio
from gateway.audit import service
from gateway.telemetry import hub
from opentelemetry.trace import INVALID_SPAN


def _queued(self, usage, **_):
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


hub.log_request = lambda record: None
hub.observe = lambda record: None
hub.start_request_span = lambda tracer, **_: INVALID_SPAN
hub.finish_request_span = lambda span, record, **_: None
service.AuditTrail.queue_request = _queued
service.AuditTrail.seal_request = lambda self, usage, **_: None
hub.Observability._enqueue = lambda self, sealed: None
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.telemetry_overhead", description=__doc__
    )
    parser.add_argument("--baseline", default=None, help="also a gateway at this revision")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1200, help="per gateway and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/telemetry_overhead.md"))
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    engine_port = free_port()
    engine = f"http://127.0.0.1:{engine_port}"
    engine_argv = [
        sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
        "--model", MODEL, "--engines", "1", "--base-port", str(engine_port), "--speed", "1.0",
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (scratch / "hook").mkdir()
        (scratch / "hook" / "sitecustomize.py").write_text(HOOK)
        stack.enter_context(process(engine_argv, ROOT, env))
        wait_http(engine + "/health")
        sides = [
            _gateway(stack, "telemetry off", engine, scratch / "off",
                     {**env, "PYTHONPATH": str(scratch / "hook")}),
            _gateway(stack, "telemetry on", engine, scratch / "on", env),
        ]  # fmt: skip
        if args.baseline:
            old = stack.enter_context(baseline_tree(args.baseline))
            sides.append(
                _gateway(stack, f"before ({args.baseline})", engine, old,
                         {**env, "PYTHONPATH": str(old)})
            )  # fmt: skip
        asyncio.run(measure(sides, args))
        time.sleep(1.0)  # the last batch of records is written
        _check_switch(scratch / "off", scratch / "on")
    title = (
        f"Audit, log, span and metrics per request, {args.concurrency} concurrent clients, "
        f"phases alternated {args.rounds}x"
    )
    text = "\n".join(report(sides, args, title, against="telemetry off"))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


def _check_switch(off: Path, on: Path) -> None:
    """The comparison means something only if the hook really switched the audit off (and
    the shipped gateway really audits): count the request records each one wrote."""

    def records(folder: Path) -> int:
        path = folder / "audit" / FILE_NAME
        return path.read_text().count('"kind":"request"') if path.exists() else 0

    if records(off) != 0 or records(on) == 0:
        raise SystemExit(f"the telemetry switch failed: off {records(off)}, on {records(on)}")


def _gateway(
    stack: contextlib.ExitStack, name: str, engine: str, cwd: Path, env: dict[str, str]
) -> Side:
    """A gateway in quick mode, run in ``cwd`` (its audit folder goes there); its code comes
    from ``PYTHONPATH`` (a worktree) or else this checkout."""
    cwd.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "serve", "--engine", engine, "--api-key", KEY,
            "--port", str(port)]  # fmt: skip
    child = stack.enter_context(process(argv, cwd, env))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz")
    return Side(name, url, child.pid)


if __name__ == "__main__":
    raise SystemExit(main())
