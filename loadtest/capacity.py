"""``sovereign-gateway capacity``: GPUs for N users, users for G GPUs, and the full report.

    sovereign-gateway capacity gpus  --profile b200/llama-3.3-70b --users 100000
    sovereign-gateway capacity users --profile b200/llama-3.3-70b --gpus 10000
    sovereign-gateway capacity report --out loadtest/results/capacity [--validate]

The workload mix is ``--mix contact-centre=0.5,citizen-chat=0.4,batch-summary=0.1``
(request shares); the SLO is ``--ttft-p95`` seconds and ``--tokens-per-user`` tokens/s.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from loadtest.planner import (
    WORKLOADS,
    Plan,
    Slo,
    Workload,
    gpus_for_users,
    mix,
    users_for_gpus,
)
from serving.perfmodel import ENGINE_PERF, get


def parse_mix(text: str) -> Workload:
    parts: dict[Workload, float] = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        if name.strip() not in WORKLOADS:
            raise SystemExit(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
        parts[WORKLOADS[name.strip()]] = float(weight or 1)
    if len(parts) == 1:
        return next(iter(parts))
    return mix(parts, name=text)


def describe(plan: Plan, work: Workload, slo: Slo) -> str:
    lines = [
        f"profile {plan.perf_key}, workload {work.name}, SLO TTFT p95 <= {slo.ttft_p95_s} s "
        f"and >= {slo.tokens_per_s_per_user} tokens/s per user",
        f"  one engine serves {plan.users_per_engine} users within the SLO",
        f"  {plan.users:,} users need {plan.engines:,} engines = {plan.gpus:,} GPUs",
    ]
    point = plan.at_capacity
    if point is not None:
        lines.append(
            f"  at capacity: batch {point.batch:.0f}, TPOT {point.step_s * 1e3:.1f} ms "
            f"({point.tokens_per_s_per_user:.1f} tok/s/user), TTFT p95 {point.ttft_p95_s:.2f} s, "
            f"{point.output_tokens_per_s:,.0f} output tok/s per engine, bound by {point.limit}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sovereign-gateway capacity", description=__doc__)
    sub = parser.add_subparsers(dest="capacity_command", required=True)
    for name, help_text in (("gpus", "GPUs needed for --users"), ("users", "users on --gpus")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--profile", default="b200/llama-3.3-70b", choices=sorted(ENGINE_PERF))
        cmd.add_argument("--mix", default="citizen-chat")
        cmd.add_argument("--ttft-p95", type=float, default=1.0)
        cmd.add_argument("--tokens-per-user", type=float, default=20.0)
        if name == "gpus":
            cmd.add_argument("--users", type=int, required=True)
        else:
            cmd.add_argument("--gpus", type=int, required=True)
    report = sub.add_parser("report", help="write the report with plots (and validation)")
    report.add_argument("--out", type=Path, default=Path("loadtest/results/capacity"))
    report.add_argument(
        "--validate", action="store_true", help="measure against simulator runs (minutes)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.capacity_command == "report":
        from loadtest.capacity_report import write_report

        path = write_report(args.out, validate=args.validate)
        print(f"report written to {path}")
        return 0
    perf = get(args.profile)
    work = parse_mix(args.mix)
    slo = Slo(args.ttft_p95, args.tokens_per_user)
    if args.capacity_command == "gpus":
        plan = gpus_for_users(perf, work, slo, args.users)
    else:
        plan = users_for_gpus(perf, work, slo, args.gpus)
    print(describe(plan, work, slo))
    return 0


def register_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sovereign-gateway capacity ...``, plugged into the gateway's CLI by its entry point
    (pyproject.toml): the gateway does not import the planner."""
    parser = commands.add_parser(
        "capacity", help="capacity planner: gpus | users | report (see `capacity -h`)"
    )
    parser.add_argument("capacity_args", nargs=argparse.REMAINDER)

    def run(args: argparse.Namespace) -> int:
        return main(args.capacity_args)

    parser.set_defaults(func=run)
