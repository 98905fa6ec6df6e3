"""The text watermark's switch in what an engine is sent (EU AI Act Art. 50(2)).

The engine's logits processor (``serving/watermark_processor.py``) marks a request whose
``vllm_xargs`` carry ``sovereign_watermark: 1`` and leaves every other one untouched. The
gateway owns that switch. It is decided per engine pool, once routing has chosen the engine
(a failover may land in a pool that marks differently), and it overwrites whatever the client
sent:

- pool ``off``: removed. A client cannot switch on a watermark its pool does not offer (an
  engine without the processor's key would refuse the request);
- pool ``on``: set. A client cannot switch it off;
- pool ``client``: set when the request asks for it (its own
  ``vllm_xargs.sovereign_watermark``, read by the engine's own rule, ``requested``) or its
  tenant has ``watermark: true``; else removed.

Only the endpoints that generate text carry it. The common case (no candidate pool marks,
the client did not touch the switch) costs one scan of the candidates; else each form of the
body (marked, unmarked) is serialised at most once per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.core.topology import Engine
from serving.watermark_scheme import REQUEST_ARG, requested

XARGS = "vllm_xargs"


def marks(mode: str, asked: bool, tenant_wants: bool) -> bool:
    """Whether a pool in ``mode`` marks a request that ``asked`` (its own switch) for a
    tenant that ``tenant_wants`` every answer marked."""
    if mode == "on":
        return True
    return mode == "client" and (asked or tenant_wants)


def marked_by(engine: Engine, payload: Mapping[str, Any], tenant_wants: bool) -> bool:
    """Whether ``engine`` is sent the switch set, for this request's ``payload`` and tenant:
    what the provenance token states (``watermark``) for the engine that answered."""
    return marks(engine.pool.watermark, asked(payload), tenant_wants)


def asked(payload: Mapping[str, Any]) -> bool:
    """The client's own switch, read as the engine reads it."""
    xargs = payload.get(XARGS)
    return isinstance(xargs, Mapping) and requested(xargs)


def payload_for_pool(payload: Mapping[str, Any], mark: bool) -> dict[str, Any] | None:
    """``payload`` with the switch set (``mark``) or removed; None when it already is."""
    xargs = payload.get(XARGS)
    if mark:
        if isinstance(xargs, Mapping) and xargs.get(REQUEST_ARG) == 1:
            return None
        kept = dict(xargs) if isinstance(xargs, Mapping) else {}
        return {**payload, XARGS: {**kept, REQUEST_ARG: 1}}
    if not isinstance(xargs, Mapping) or REQUEST_ARG not in xargs:
        return None
    return {**payload, XARGS: {k: v for k, v in xargs.items() if k != REQUEST_ARG}}


class PoolBodies:
    """One request's body for each engine: the body as admitted, or a copy of its payload
    with the switch overwritten for the engine's pool, each form serialised at most once."""

    def __init__(self, payload: Mapping[str, Any], body: bytes, tenant_wants: bool) -> None:
        self._payload = payload
        self._asked = asked(payload)
        self._tenant_wants = tenant_wants
        self._forms: dict[bool, bytes] = {}
        self._admitted = body

    def __call__(self, engine: Engine) -> bytes:
        mark = marks(engine.pool.watermark, self._asked, self._tenant_wants)
        form = self._forms.get(mark)
        if form is None:
            changed = payload_for_pool(self._payload, mark)
            form = self._admitted if changed is None else orjson.dumps(changed)
            self._forms[mark] = form
        return form


def pool_bodies(
    payload: Mapping[str, Any],
    body: bytes,
    candidates: tuple[Engine, ...],
    tenant_wants: bool,
) -> Callable[[Engine], bytes] | None:
    """The body per engine, or None when every candidate gets ``body`` as it is: no pool
    marks and the client's payload holds no switch to take out."""
    xargs = payload.get(XARGS)
    touched = isinstance(xargs, Mapping) and REQUEST_ARG in xargs
    if not touched and all(e.pool.watermark == "off" for e in candidates):
        return None
    return PoolBodies(payload, body, tenant_wants)
