"""Request bodies parsed strictly: what the gateway accepts, it can forward and account for.

FastAPI parses JSON bodies with the standard library, which accepts what no engine (and no
JSON serialiser on the way there) can take: lone UTF-16 surrogates (``"\\ud800"``),
``NaN``/``Infinity``, integers of any size, and numbers like ``1e400`` that become infinity.
Each used to reach the gateway's own serialisation after admission and end in a 500 with
the tenant's charge and lease left behind. Here the body is parsed by pydantic-core's JSON
parser (jiter: faster than ``json``, and it refuses surrogates and non-finite literals), and
numbers outside what the engine's JSON can carry (64-bit integers, finite floats) are refused
with a 400 naming the field, before anything is charged.

The check for big numbers walks the parsed body, node by node. (A regular expression over
the raw bytes, tried first to skip the walk, cost 25-50 ns per byte: 0.16 ms for a
20-message chat, 3 ms for a 100 KB prompt. The walk costs per JSON value instead:
``python -m loadtest.hotpath``, BENCHMARKS.md "Hot path choices".)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from gateway.errors import InvalidRequest

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def parse_json(body: bytes) -> Any:
    """The body as Python values; ``json.JSONDecodeError`` when it is not strict JSON (FastAPI
    turns that into its ``json_invalid`` validation error, our 400 ``invalid_json``);
    ``InvalidRequest`` when a number cannot be forwarded."""
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), body.decode("utf-8", "replace"), 0) from exc
    if _unsendable(value):
        where = out_of_range(value)
        if where is not None:
            raise InvalidRequest(
                f"Invalid value for '{where}': numbers must be 64-bit integers or finite "
                "floating-point values.",
                param=where,
                code="invalid_value",
            )
    return value


def _unsendable(value: Any) -> bool:
    """Whether any number in ``value`` is outside what an engine's JSON can carry."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            push(item.values())
        elif kind is list:
            push(item)
        elif kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                return True
        elif kind is float and not math.isfinite(item):
            return True
    return False


def out_of_range(value: Any, path: str = "") -> str | None:
    """The dotted path of the first number no engine could receive, else None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return where or "body"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return where or "body"
        elif isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), v) for i, v in enumerate(item))
    return None


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """An ``APIRoute`` whose JSON body goes through ``parse_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict
