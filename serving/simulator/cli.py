"""``python -m serving.simulator``: N simulated vLLM engines on consecutive ports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from serving import perfmodel
from serving.simulator.faults import FaultSpec, FaultSyntaxError, parse_engine_fault
from serving.simulator.host import SimulatorConfig, run_simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.simulator",
        description="vLLM-compatible engine simulator (OpenAI API, /metrics, faults)",
    )
    parser.add_argument("--profile", required=True, choices=sorted(perfmodel.ENGINE_PERF))
    parser.add_argument("--model", required=True, help="served model name")
    parser.add_argument("--engines", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=8000, help="engine i gets port+i")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--speed", type=float, default=1.0, help="time scale: 0.1 = 10x faster")
    parser.add_argument("--max-model-len", type=int, default=None)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ENGINE_INDEX:SPEC",
        help="e.g. 3:error_rate=0.1 or 0:crash_at=60 (see the package docstring)",
    )
    return parser


def _faults(values: list[str]) -> dict[int, FaultSpec]:
    faults: dict[int, FaultSpec] = {}
    for value in values:
        index, spec = parse_engine_fault(value)
        faults[index] = faults.get(index, FaultSpec()).overlay(spec)
    return faults


def _raise_fd_limit() -> None:
    """Every client connection is a file descriptor; 50 engines under load need many."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with run_simulator(config) as simulator:
        urls = simulator.base_urls
        span = urls[0] if len(urls) == 1 else f"{urls[0]} .. {urls[-1]}"
        print(
            f"simulator ready: {len(urls)} engine(s) {config.profile} serving "
            f"{config.model!r} on {span}",
            flush=True,
        )
        await stop.wait()


def _runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    try:
        import uvloop  # the faster loop when installed (uvicorn[standard] brings it)
    except ImportError:
        return asyncio.run

    def run(coro: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(coro)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = SimulatorConfig(
            profile=args.profile,
            model=args.model,
            engines=args.engines,
            host=args.host,
            base_port=args.base_port,
            speed=args.speed,
            max_model_len=args.max_model_len,
            faults=_faults(args.fault),
        )
    except FaultSyntaxError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    _raise_fd_limit()
    try:
        _runner()(_serve(config))
    except (OSError, ValueError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    return 0
