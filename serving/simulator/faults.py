"""Scripted faults: parsing the spec, merging engine and request faults, drawing errors.

Syntax (the same for ``--fault INDEX:SPEC`` and the ``x-sim-fault`` request header): items
separated by commas, each ``key=value`` or a bare ``crash``. See the package docstring.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from http import HTTPStatus

_FLOAT_KEYS = {"error_rate": "error_rate", "ttft": "ttft_s", "stall": "stall_s"}
_INT_KEYS = {
    "error": "error_status",
    "stall_after": "stall_after",
    "disconnect_after": "disconnect_after",
    "crash_after": "crash_after",
}
_ENGINE_ONLY = ("crash_after", "crash_at")


class FaultSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class FaultSpec:
    """Every field None means "not set", so a request's spec can overlay an engine's."""

    error_status: int | None = None
    error_rate: float | None = None
    ttft_s: float | None = None
    stall_s: float | None = None
    stall_after: int | None = None
    disconnect_after: int | None = None
    crash: bool | None = None
    crash_after: int | None = None  # engine: crash when request number N+1 arrives
    crash_at: float | None = None  # engine: crash this many (scaled) seconds after start

    def overlay(self, other: FaultSpec) -> FaultSpec:
        changes = {f.name: getattr(other, f.name) for f in fields(other)}
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def error_probability(self) -> float:
        if self.error_rate is not None:
            return self.error_rate
        return 1.0 if self.error_status is not None else 0.0

    @property
    def status(self) -> int:
        return self.error_status or 500

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def parse_fault(text: str, *, engine_level: bool = True) -> FaultSpec:
    values: dict[str, object] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if key == "crash" and not sep:
            values["crash"] = True
        elif key == "crash_at" and engine_level:
            values["crash_at"] = _number(key, raw, float)
        elif key in _FLOAT_KEYS:
            values[_FLOAT_KEYS[key]] = _number(key, raw, float)
        elif key in _INT_KEYS and (engine_level or key not in _ENGINE_ONLY):
            values[_INT_KEYS[key]] = _number(key, raw, int)
        else:
            raise FaultSyntaxError(f"unknown fault {item!r}")
    spec = FaultSpec(**values)  # type: ignore[arg-type]
    _check(spec)
    return spec


def _number(key: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(raw.strip())
    except ValueError:
        raise FaultSyntaxError(f"fault {key!r} needs a number, got {raw!r}") from None
    if value < 0:
        raise FaultSyntaxError(f"fault {key!r} must not be negative")
    return value


def _check(spec: FaultSpec) -> None:
    if spec.error_rate is not None and spec.error_rate > 1:
        raise FaultSyntaxError("error_rate is a fraction between 0 and 1")
    if spec.error_status is not None and not 400 <= spec.error_status <= 599:
        raise FaultSyntaxError("error must be an HTTP error status (400-599)")


def parse_engine_fault(text: str) -> tuple[int, FaultSpec]:
    """``INDEX:SPEC`` from the command line."""
    index, sep, spec = text.partition(":")
    if not sep or not index.strip().isdigit():
        raise FaultSyntaxError(f"expected ENGINE_INDEX:SPEC, got {text!r}")
    return int(index), parse_fault(spec)


def error_type(status: int) -> str:
    """The error ``type`` vLLM (and the openai SDK's naming) uses for a status."""
    known = {
        400: "BadRequestError",
        404: "NotFoundError",
        429: "RateLimitError",
        500: "InternalServerError",
        503: "ServiceUnavailableError",
    }
    if status in known:
        return known[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "") + "Error"
    except ValueError:
        return "InternalServerError"


class ErrorDice:
    """Per-engine seeded draws, so a run with error_rate faults is reproducible."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security

    def fails(self, spec: FaultSpec) -> bool:
        p = spec.error_probability
        return p >= 1.0 or (p > 0.0 and self._rng.random() < p)
