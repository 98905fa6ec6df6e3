"""In-process figures: the request check on realistic bodies, the 400s each way, the tap.

CPU per call with ``time.process_time`` over enough calls to take ~0.1 s, best of 5
repeats (the machine is shared; the best repeat is the one least disturbed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.errors import InvalidRequest
from gateway.openai.body import parse_json
from gateway.openai.schemas import ChatCompletionRequest
from loadtest.hotpath.bodies import INVALID, realistic
from loadtest.hotpath.engine import TOKEN, usage_event
from loadtest.hotpath.relaying import Meter
from loadtest.hotpath.validation import (
    msgspec_check,
    msgspec_prepare,
    pydantic_prepare,
    pydantic_prepare_walk,
)


def cpu_per_call(call: Callable[[], object], budget: float = 0.1, repeats: int = 5) -> float:
    loops, best = 1, float("inf")
    while True:  # how many calls take ~budget
        started = time.process_time()
        for _ in range(loops):
            call()
        took = time.process_time() - started
        if took >= budget / 4 or loops >= 1 << 20:
            break
        loops *= 4
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(loops):
            call()
        best = min(best, (time.process_time() - started) / loops)
    return best


CHECKS: dict[str, Callable[[bytes], object]] = {
    "pydantic, as the gateway (parse_json + model_validate + forward_payload + dumps)": (
        pydantic_prepare
    ),
    "the same with an integer walk instead of the regex gate": pydantic_prepare_walk,
    "pydantic model_validate_json (check only)": ChatCompletionRequest.model_validate_json,
    "msgspec decode to Struct (check only)": msgspec_check,
    "msgspec, as the relay (Struct + untyped decode + integer walk + dumps)": msgspec_prepare,
    # The regex gate measured here before (25-50 ns per byte) is gone from the gateway: it
    # walks the parsed body instead (gateway/openai/body.py), which this row now measures.
    "the gateway's strict parse (`gateway.openai.body.parse_json`)": parse_json,
}


def validation_table(budget: float = 0.1) -> list[str]:
    bodies = realistic()
    lines = [
        "| check | "
        + " | ".join(f"{name} ({len(b) / 1024:.1f} KB)" for name, b in bodies.items())
        + " |",
        "| --- |" + " ---: |" * len(bodies),
    ]
    for label, check in CHECKS.items():
        cells = [
            f"{cpu_per_call(lambda c=check, b=body: c(b), budget) * 1e6:.1f}"  # type: ignore[misc]
            for body in bodies.values()
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _outcome(prepare: Callable[[bytes], object], body: bytes) -> str:
    try:
        prepare(body)
    except InvalidRequest as exc:
        param = f"`{exc.param}`" if exc.param else "none"
        return f"{param}: {exc.message[:70]}"
    return "**accepted**"


def error_table() -> list[str]:
    lines = [
        "| invalid body | OpenAI names | pydantic (gateway today) | msgspec |",
        "| --- | --- | --- | --- |",
    ]
    for case, (body, param) in INVALID.items():
        named = f"`{param}`" if param else "none"
        lines.append(
            f"| {case} | {named} | {_outcome(pydantic_prepare, body)} "
            f"| {_outcome(msgspec_prepare, body)} |"
        )
    return lines


def tap_line(budget: float = 0.1) -> str:
    meter = Meter(strip=True)
    usage = usage_event(256)
    content = cpu_per_call(lambda: meter(TOKEN), budget)
    last = cpu_per_call(lambda: Meter(strip=True)(usage), budget)
    return (
        f"- The tap alone, in a loop: {content * 1e6:.2f} µs per content event, "
        f"{last * 1e6:.2f} µs for the usage event (parsed, then dropped)."
    )
