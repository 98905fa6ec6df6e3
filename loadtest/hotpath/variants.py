"""What runs: each variant is one relay process, named ``server/routing/validation/client``
(plus ``:read`` or ``:tap`` for the per-event component runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

# Two callback relays on uvloop as references (loadtest/hotpath/floor.py): the floor below
# every choice, and the gateway's work done in callbacks.
Server = Literal["uvicorn", "granian-asgi", "granian-rsgi", "floor", "callback"]
Routing = Literal["fastapi", "starlette", "bare", "none"]
Validation = Literal["pydantic", "msgspec", "none"]
Client = Literal["httpx-aiohttp", "aiohttp", "httpx", "raw"]
# full: relay each event; tap: read + tap each event, write once at the end; read: read only.
Mode = Literal["full", "tap", "read"]


@dataclass(frozen=True, slots=True)
class Variant:
    server: Server
    routing: Routing
    validation: Validation
    client: Client
    mode: Mode = "full"

    @property
    def name(self) -> str:
        name = f"{self.server}/{self.routing}/{self.validation}/{self.client}"
        return name if self.mode == "full" else f"{name}:{self.mode}"

    @classmethod
    def parse(cls, name: str) -> Variant:
        spec, _, mode = name.partition(":")
        parts = spec.split("/")
        if len(parts) != 4:
            raise ValueError(f"expected server/routing/validation/client, got {name!r}")
        server, routing, validation, client = parts
        variant = cls(
            _member(server, Server),
            _member(routing, Routing),
            _member(validation, Validation),
            _member(client, Client),
            _member(mode or "full", Mode),
        )
        variant.check()
        return variant

    def check(self) -> None:
        parts = (self.server, self.routing, self.validation, self.client)
        special = any(part in ("floor", "callback", "none", "raw") for part in parts)
        if special != (self.name in REFERENCES):
            raise ValueError(f"the references are exactly {', '.join(REFERENCES)}")
        if self.routing == "fastapi" and self.validation != "pydantic":
            raise ValueError("FastAPI routing validates with pydantic (its body parameter)")
        if self.server == "granian-rsgi" and self.routing != "bare":
            raise ValueError("RSGI has no FastAPI/Starlette adapter: routing must be bare")


def _member(value: str, kind: Any) -> Any:  # one of the Literal's values
    if value not in get_args(kind):
        raise ValueError(f"{value!r} is not one of {', '.join(get_args(kind))}")
    return value


REFERENCES = ("floor/none/none/raw", "callback/none/msgspec/raw")
TODAY = Variant("uvicorn", "fastapi", "pydantic", "httpx-aiohttp")

# One choice changed at a time from today's stack, then the lean stacks on each server.
MAIN: tuple[Variant, ...] = (
    TODAY,
    Variant("uvicorn", "fastapi", "pydantic", "aiohttp"),
    Variant("uvicorn", "fastapi", "pydantic", "httpx"),
    Variant("uvicorn", "starlette", "pydantic", "httpx-aiohttp"),
    Variant("uvicorn", "bare", "pydantic", "httpx-aiohttp"),
    Variant("uvicorn", "bare", "msgspec", "httpx-aiohttp"),
    Variant("granian-asgi", "fastapi", "pydantic", "httpx-aiohttp"),
    Variant("uvicorn", "bare", "msgspec", "aiohttp"),
    Variant("granian-asgi", "bare", "msgspec", "aiohttp"),
    Variant("granian-rsgi", "bare", "msgspec", "aiohttp"),
    Variant("floor", "none", "none", "raw"),
    Variant("callback", "none", "msgspec", "raw"),
)

# Per-event components on the three lean stacks: read only, read + tap (full is in MAIN).
COMPONENTS: tuple[Variant, ...] = tuple(
    Variant(server, "bare", "msgspec", "aiohttp", mode)
    for server in ("uvicorn", "granian-asgi", "granian-rsgi")
    for mode in ("read", "tap")
)


def rotated(items: tuple[Variant, ...], turn: int) -> list[Variant]:
    """The variants in the order of round ``turn``: each starts first once in a while, so no
    variant always runs right after the same neighbour (caches, the other tenants' load)."""
    if not items:
        return []
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]
