"""``python -m loadtest.hotpath [--quick] [--json PATH]``: see ``loadtest/hotpath/__init__.py``
and loadtest/README.md."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

import orjson

from loadtest.hotpath import micro, report
from loadtest.hotpath.fleet import check_relay, fleet
from loadtest.hotpath.measure import Spread
from loadtest.hotpath.profile import profile
from loadtest.hotpath.protections import protections_table
from loadtest.hotpath.runner import Results, Sizes, run_rounds, variants_of
from loadtest.hotpath.variants import MAIN, REFERENCES

PACKAGES = (
    *("uvicorn", "granian", "fastapi", "starlette", "pydantic", "msgspec"),
    *("aiohttp", "httpx", "httpx-aiohttp", "uvloop", "httptools"),
)


def conditions(sizes: Sizes, tick_ms: float) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = ", ".join(f"{name} {version(name)}" for name in PACKAGES)
    return (
        f"Hot path benchmark, {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, load average {load} "
        f"at the start); {sizes.rounds} rounds, variants alternated; engine tick "
        f"{tick_ms:g} ms. {versions}."
    )


def best(results: Results) -> str:
    """The full-relay variant with the least CPU for a typical request: a whole answer's
    CPU plus 64 events of a stream's."""

    def score(name: str) -> float:
        per_request = Spread.of(results.per_request[name]).median
        return per_request + 64 * Spread.of(results.per_event[name]).median

    measured = [
        v.name for v in MAIN if v.name not in REFERENCES and results.per_request.get(v.name)
    ]
    return min(measured, key=score) if measured else "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.hotpath", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds, smaller phases")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/hotpath.md"))
    parser.add_argument("--variants", nargs="*", help="server/routing/validation/client[:mode]")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--tick-ms", type=float, default=1.0, help="engine: ms between events")
    parser.add_argument("--profile", default="best", help="variant to py-spy, 'best' or 'none'")
    parser.add_argument("--no-protections", action="store_true")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    if args.rounds:
        sizes = dataclasses.replace(sizes, rounds=args.rounds)
    lines = [conditions(sizes, args.tick_ms), ""]
    lines += ["### Request check, CPU µs per body (in-process, best of 5)", ""]
    lines += [*micro.validation_table(), "", micro.tap_line(), ""]
    lines += ["### The 400s each check gives", "", *micro.error_table(), ""]
    print("\n".join(lines), flush=True)
    variants = variants_of(args.variants)
    with fleet(variants, args.tick_ms) as running:
        problems = {v.name: check_relay(running.relays[v.name].port, v) for v in variants}
        bad = {name: found for name, found in problems.items() if found}
        print(f"answers checked: {bad or 'all as expected'}", flush=True)
        results = run_rounds(running, sizes)
        names = [v.name for v in variants if v.mode == "full"]
        tables = ["### CPU (relay process tree; median over rounds, range)", ""]
        tables += [*report.cpu_table(results, names), ""]
        tables += ["### Latency, non-streamed, and time to first event (ms)", ""]
        tables += [*report.latency_table(results, names), ""]
        tables += ["### Per-event components (CPU µs per event)", ""]
        tables += [*report.component_table(results), ""]
        failures = {name: n for name, n in results.failures.items() if n}
        tables += [f"- failures: {failures or 'none'}; answers: {bad or 'as expected'}", ""]
        print("\n".join(tables), flush=True)
        lines += tables
        chosen = best(results) if args.profile == "best" else args.profile
        if chosen != "none" and chosen in running.relays:
            spied = ["### py-spy: where the CPU goes", ""]
            spied += [*profile(running, chosen, stream=True), ""]
            spied += [*profile(running, chosen, stream=False), ""]
            print("\n".join(spied), flush=True)
            lines += spied
        if not args.no_protections:
            guarded = ["### What each server refuses", ""]
            guarded += [*protections_table(running.engine_port), ""]
            print("\n".join(guarded), flush=True)
            lines += guarded
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_bytes(orjson.dumps(report.as_json(results), option=orjson.OPT_INDENT_2))
    return 1 if bad or any(results.failures.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
