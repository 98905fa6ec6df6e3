"""The claim: "about 10,000 Blackwell GPUs let 450 million EU citizens use an assistant at once".

What the planner says depends on what "at once" means, so the check states each reading:

1. *streaming at once*: every citizen is receiving tokens at the same moment (no think time);
2. *in a session at once*: every citizen has a chat open, asking a question about every
   ``think_s`` seconds (the citizen-chat workload, a generous 60 s between questions);

each for a 70B model (the quality a public assistant needs) and an 8B model (the most
generous case), on B200 engines, at a conversational SLO (TTFT p95 <= 1 s, >= 20 tokens/s).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loadtest.planner import CITIZEN_CHAT, Slo, Workload, streaming_only, users_for_gpus
from serving.perfmodel import get

GPUS = 10_000
CITIZENS = 450_000_000
SLO = Slo(ttft_p95_s=1.0, tokens_per_s_per_user=20.0)


@dataclass(frozen=True)
class ClaimRow:
    profile: str
    reading: str
    users_per_engine: int
    users_on_10k: int
    share_of_claim: float
    gpus_needed: int


def readings() -> list[Workload]:
    session = replace(CITIZEN_CHAT, think_s=60.0, name="citizen-chat, a question a minute")
    return [streaming_only(CITIZEN_CHAT), session]


def check(gpus: int = GPUS, citizens: int = CITIZENS) -> list[ClaimRow]:
    rows = []
    for key in ("b200/llama-3.3-70b", "b200/llama-3.1-8b"):
        perf = get(key)
        for work in readings():
            plan = users_for_gpus(perf, work, SLO, gpus)
            per_gpu = plan.users_per_engine / max(1, perf.gpus)
            rows.append(
                ClaimRow(
                    profile=key,
                    reading=work.name,
                    users_per_engine=plan.users_per_engine,
                    users_on_10k=plan.users,
                    share_of_claim=plan.users / citizens,
                    gpus_needed=int(citizens / per_gpu) if per_gpu else 0,
                )
            )
    return rows


def as_markdown(rows: list[ClaimRow]) -> str:
    lines = [
        '| profile | reading of "at once" | users per GPU | users on 10,000 GPUs '
        "| share of 450 M | GPUs for 450 M |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.profile} | {r.reading} | {r.users_per_engine:,} | {r.users_on_10k:,} "
            f"| {r.share_of_claim:.1%} | {r.gpus_needed:,} |"
        )
    return "\n".join(lines)
