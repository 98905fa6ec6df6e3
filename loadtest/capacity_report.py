"""The capacity report: per-profile capacity, latency-vs-concurrency plots, the EU claim, and
(with ``--validate``) the planner against measured simulator runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from loadtest.eu_claim import as_markdown, check
from loadtest.planner import WORKLOADS, Slo, max_users, operating_point
from loadtest.planner_validation import VALIDATION_WORKLOAD
from serving.perfmodel import ENGINE_PERF

SLO = Slo(ttft_p95_s=1.0, tokens_per_s_per_user=20.0)
# The workload the simulator runs measure, so the plotted points and lines compare like with like.
PLOT_WORKLOAD = VALIDATION_WORKLOAD


def capacity_table() -> str:
    lines = [
        "| profile | workload | users per engine | batch | TPOT ms | TTFT p95 s | output tok/s "
        "| bound by |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for key, perf in ENGINE_PERF.items():
        if key.startswith("cpu/"):
            continue
        for work in WORKLOADS.values():
            users = max_users(perf, work, SLO)
            point = operating_point(perf, work, max(1, users))
            lines.append(
                f"| {key} | {work.name} | {users:,} | {point.batch:.0f} | "
                f"{point.step_s * 1e3:.1f} | {point.ttft_p95_s:.2f} | "
                f"{point.output_tokens_per_s:,.0f} | {point.limit} |"
            )
    return "\n".join(lines)


def plot(path: Path, measured: dict[str, list[tuple[int, float, float]]] | None = None) -> None:
    """TTFT p95 and TPOT against concurrent users, one line per GPU profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_ttft, ax_tpot) = plt.subplots(1, 2, figsize=(13, 5))
    for key, perf in ENGINE_PERF.items():
        if key.startswith("cpu/"):
            continue
        top = max(8, int(max_users(perf, PLOT_WORKLOAD, SLO) * 1.6))
        users = sorted({max(1, int(top * i / 60)) for i in range(1, 61)})
        points = [operating_point(perf, PLOT_WORKLOAD, n) for n in users]
        (line,) = ax_ttft.plot(users, [p.ttft_p95_s for p in points], label=key)
        ax_tpot.plot(users, [p.step_s * 1e3 for p in points], label=key, color=line.get_color())
        for n, ttft, tpot in (measured or {}).get(key, []):
            ax_ttft.scatter([n], [ttft], color=line.get_color(), marker="x", zorder=3)
            ax_tpot.scatter([n], [tpot * 1e3], color=line.get_color(), marker="x", zorder=3)
    ax_ttft.axhline(SLO.ttft_p95_s, linestyle="--", color="grey", label="SLO")
    ax_tpot.axhline(1e3 / SLO.tokens_per_s_per_user, linestyle="--", color="grey", label="SLO")
    ax_ttft.set(
        xscale="log", yscale="log", xlabel="concurrent users per engine", ylabel="TTFT p95 (s)"
    )
    ax_tpot.set(xscale="log", xlabel="concurrent users per engine", ylabel="TPOT (ms)")
    ax_ttft.set_title(f"TTFT p95, {PLOT_WORKLOAD.name}; x: measured on the simulator", fontsize=9)
    ax_tpot.set_title("time per output token")
    ax_tpot.set_ylim(0, 150)
    ax_ttft.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, *, validate: bool = False) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    measured: dict[str, list[tuple[int, float, float]]] = {}
    validation_text = "Not run (add `--validate`)."
    if validate:
        from loadtest.planner_validation import run_validation, validation_markdown

        results = run_validation()
        validation_text = validation_markdown(results)
        for r in results:
            measured.setdefault(r.profile, []).append((r.users, r.ttft_p95_s, r.tpot_s))
    plot(out / "latency_vs_concurrency.png", measured)
    report = out / "capacity.md"
    report.write_text(
        f"# Capacity report ({dt.date.today().isoformat()})\n\n"
        f"SLO: TTFT p95 <= {SLO.ttft_p95_s} s, >= {SLO.tokens_per_s_per_user} tokens/s per "
        "user. Model: serving/perfmodel.py (calibration sources cited there); planner: "
        "loadtest/planner.py.\n\n"
        "## Users per engine within the SLO\n\n"
        f"{capacity_table()}\n\n"
        "## Latency against concurrency\n\n"
        "![latency](latency_vs_concurrency.png)\n\n"
        "## Planner against the simulator\n\n"
        f"{validation_text}\n\n"
        "## The claim: 10,000 Blackwell GPUs for 450 million citizens at once\n\n"
        f"{as_markdown(check())}\n"
    )
    return report
