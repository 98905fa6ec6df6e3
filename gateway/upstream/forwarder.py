"""Send a request to an engine the tenant's jurisdictions allow, and hand back its answer.

The router orders the candidates residency computed (strategy, site preference, open circuits
last); admission gives a slot on the first engine with room, waiting by priority up to the
request's deadline. Failures where the request provably produced nothing are retried on the
next candidate, within ``max_attempts`` and the replica's retry budget:

- connection failures (the request never reached an engine);
- 5xx answers before the first byte of a body (the engine refused it);
- redirects and other statuses an engine must not answer with (a redirect is never
  followed: it could lead out of the jurisdiction).

Timeouts and broken connections after sending are not retried (the engine may be working on
it), nor are success answers in a form the endpoint does not speak (a body that is not a
JSON object, a stream that is not an event stream): those are 502s. Each outcome feeds the
engine's circuit breaker. Everything else is translated into the gateway's exception tree
here, at the boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

import orjson

from gateway.errors import (
    EnginesSaturated,
    GatewayError,
    NoEngineAvailable,
    RateLimited,
    ResidencyViolation,
    UpstreamError,
    UpstreamInvalidResponse,
    render_sse,
)
from gateway.metrics import FAILOVERS
from gateway.residency import is_allowed
from gateway.routing.admission import Overloaded, Slot
from gateway.routing.router import Router
from gateway.routing.view import RouteContext
from gateway.topology import Engine, Tenant
from gateway.upstream.engines import EngineClient, EngineResponse, NotSent
from gateway.upstream.errors import from_engine_response
from gateway.upstream.sse import ends_stream, split_events, well_formed

# The media types the endpoints speak: whole answers, and streamed ones.
JSON = "application/json"
SSE = "text/event-stream"


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    engine: Engine
    status: int
    content_type: str
    body: bytes


@dataclass(slots=True)
class UpstreamStream:
    """An open answer; whoever holds it must consume or ``aclose`` it."""

    engine: Engine
    answer: EngineResponse
    # Frees the admission slot and ends the in-flight count, exactly once, at the end.
    on_close: Callable[[], None] | None = field(default=None, repr=False)
    body: bytes = b""  # a whole answer, once read (``expect=JSON``)

    def _closed(self) -> None:
        done, self.on_close = self.on_close, None
        if done is not None:
            done()

    async def events(
        self, tap: Callable[[bytes], bytes] | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Each SSE event as it arrives; a failure mid-stream becomes an in-band error event,
        and so does an engine that breaks the stream protocol (an event that is not
        ``data: {...}`` or ``[DONE]``, a stream that ends without ``[DONE]``): the stream
        ends there, and the metering tap sees the error (the request is recorded failed).

        ``tap`` sees every event (errors included) and returns what to relay (``b""``: drop
        it). A plain call per event, where a wrapping generator would cost a whole async
        generator round trip per event. A gateway error the tap raises (an event the
        response rules could not parse) ends the stream the same way.
        """
        error: GatewayError | None = None
        last = b""
        try:
            async for event in split_events(self.answer.chunks()):
                if not well_formed(event):
                    raise UpstreamInvalidResponse(
                        "The engine sent a stream event that is not an OpenAI event; the "
                        "stream was ended."
                    )
                last = event
                if tap is not None:
                    event = tap(event)
                    if not event:
                        continue
                yield event
            if not ends_stream(last):
                raise UpstreamInvalidResponse("The engine ended the stream before its end event.")
        except UpstreamError as exc:  # the engine's seam reports its failures as these
            error = exc
        finally:
            await self.answer.aclose()
            self._closed()
        if error is not None:
            event = render_sse(error)
            yield tap(event) if tap is not None else event

    async def aclose(self) -> None:
        try:
            await self.answer.aclose()
        finally:
            self._closed()


class Forwarder:
    def __init__(self, engines: EngineClient, router: Router) -> None:
        self._engines = engines
        self._router = router

    async def call(
        self,
        tenant: Tenant,
        candidates: tuple[Engine, ...],
        path: str,
        body: bytes,
        request_id: str,
        ctx: RouteContext,
        on_attempt: Callable[[Engine], None] | None = None,
        body_for: Callable[[Engine], bytes] | None = None,
    ) -> UpstreamAnswer:
        """A whole answer, read and checked to be a JSON object (by ``open``)."""
        stream = await self.open(
            tenant,
            candidates,
            path,
            body,
            request_id,
            ctx,
            expect=JSON,
            on_attempt=on_attempt,
            body_for=body_for,
        )
        await stream.aclose()
        answer = stream.answer
        return UpstreamAnswer(
            stream.engine, answer.status, answer.content_type or JSON, stream.body
        )

    async def open(
        self,
        tenant: Tenant,
        candidates: tuple[Engine, ...],
        path: str,
        body: bytes,
        request_id: str,
        ctx: RouteContext,
        *,
        expect: str = SSE,
        on_attempt: Callable[[Engine], None] | None = None,
        body_for: Callable[[Engine], bytes] | None = None,
    ) -> UpstreamStream:
        """An answer of media type ``expect`` with a success status: an event stream, open,
        or a JSON object, already read (``UpstreamStream.body``). ``on_attempt`` hears of each
        engine the request is sent to, before it is sent (where a request cancelled while
        waiting went). ``body_for`` gives the body for the engine chosen, when it depends on
        the engine's pool (the text watermark's switch: ``watermark.py``); else ``body``."""
        router = self._router
        ranked = router.rank(candidates, ctx)
        router.budget.deposit()
        deadline = router.deadline(ctx.priority)
        tried: set[str] = set()
        attempts = 0
        failure: GatewayError | None = None
        while True:
            remaining = [e for e in ranked if e.url not in tried]
            if not remaining or attempts >= router.settings.max_attempts:
                raise failure or _none_reachable()
            if attempts and not router.budget.try_spend():
                raise failure or _none_reachable()
            try:
                slot = await router.admission.acquire(remaining, ctx.priority, deadline)
            except Overloaded as exc:
                raise _overloaded(exc) from exc
            engine = slot.engine
            tried.add(engine.url)
            if not is_allowed(tenant, engine):  # unreachable by construction; never relax it
                slot.release()
                raise ResidencyViolation("Refusing to send the request outside its jurisdiction.")
            if not router.breakers.for_engine(engine).allow():
                slot.release()  # its circuit is open (or probing): the next engine
                continue
            attempts += 1
            if on_attempt is not None:
                on_attempt(engine)
            try:
                sent = body if body_for is None else body_for(engine)
                return await self._attempt(engine, slot, path, sent, request_id, expect)
            except _Retryable as retry:
                # An engine's own error says more than "unreachable": keep it if there is one.
                if failure is None or not isinstance(retry.error, NoEngineAvailable):
                    failure = retry.error
                FAILOVERS.labels(engine.pool.name, retry.reason).inc()

    async def _attempt(
        self, engine: Engine, slot: Slot, path: str, body: bytes, request_id: str, expect: str
    ) -> UpstreamStream:
        router = self._router
        breaker = router.breakers.for_engine(engine)
        ticket = router.monitor.started(engine)

        def done() -> None:
            slot.release()
            router.monitor.finished(ticket)

        try:
            answer = await self._send(engine, path, body, request_id)
        except asyncio.CancelledError:
            breaker.abandon()  # the client left: no verdict on the engine (a probe is freed)
            done()
            raise
        except NotSent as exc:
            # Refused: nothing listens there, the engine is down, not slow. Open at once, as
            # the monitor does; one timed-out connect is only one failure among three.
            if exc.refused:
                breaker.trip()
            else:
                breaker.record_failure()
            done()
            raise _Retryable("connect", _none_reachable()) from exc
        except UpstreamError:  # timed out or broke after sending: the engine may be working
            breaker.record_failure()
            done()
            raise
        except BaseException:
            breaker.abandon()  # a fault of ours (a bug): the slot must not leak with it
            done()
            raise
        if answer.status >= 400:
            try:
                content = await answer.read()
            except UpstreamError:
                content = b""
            finally:
                await answer.aclose()
                done()
            error = from_engine_response(answer.status, content)
            if answer.status >= 500:
                breaker.record_failure()
                raise _Retryable("status_5xx", error)
            breaker.record_success()  # a 4xx is the request's fault, not the engine's
            raise error
        stream = UpstreamStream(engine, answer, on_close=done)
        try:
            if expect == JSON:
                stream.body = await _checked_json(answer)
            else:
                _check_status(answer, expect)
        except (_Retryable, GatewayError):
            breaker.record_failure()  # an engine that breaks the protocol is a failing one
            await stream.aclose()
            raise
        except BaseException:  # cancelled while reading the answer: no verdict
            breaker.abandon()
            await stream.aclose()
            raise
        breaker.record_success()
        return stream

    async def _send(
        self, engine: Engine, path: str, body: bytes, request_id: str
    ) -> EngineResponse:
        # identity: we relay the engine's bytes as they are, never re-encoded.
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "x-request-id": request_id,
        }
        if engine.pool.engine_api_key:
            headers["authorization"] = "Bearer " + engine.pool.engine_api_key
        return await self._engines.post(engine.url + path, body, headers)


def _check_status(answer: EngineResponse, expect: str) -> None:
    """A success status and the media type asked for. Anything else is the engine breaking
    the protocol: a redirect (never followed: it could lead out of the jurisdiction) or
    another status is retried on the next engine, as nothing was produced; a wrong body is
    not (the engine did the work)."""
    status = answer.status
    if not 200 <= status < 300:
        if 300 <= status < 400:
            message = (
                f"The engine answered with a redirect (HTTP {status}). The gateway never "
                "follows an engine's redirects: they could lead out of your jurisdictions."
            )
        else:
            message = f"The engine answered with HTTP {status}, which it must not."
        raise _Retryable("status_other", UpstreamError(message))
    media_type = answer.content_type.partition(";")[0].strip().lower()
    if media_type != expect:
        shown = media_type or "no content type"
        raise UpstreamInvalidResponse(
            f"The engine answered with {shown[:64]} where {expect} was expected; the answer "
            "was not relayed."
        )


async def _checked_json(answer: EngineResponse) -> bytes:
    """The whole answer, read: it must be a JSON object."""
    _check_status(answer, JSON)
    content = await answer.read()
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise UpstreamInvalidResponse(
            "The engine's answer is not a JSON object; it was not relayed."
        )
    return content


class _Retryable(Exception):
    """An attempt that produced nothing: the next candidate may take the request."""

    def __init__(self, reason: str, error: GatewayError) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


def _overloaded(exc: Overloaded) -> GatewayError:
    """Waited until its deadline: 429 (a burst's excess, come back later); no room even to
    wait: 503 (a capacity alarm). Both with Retry-After."""
    if exc.status == 429:
        return RateLimited(
            "Every engine allowed for your request stayed at capacity until its deadline; it "
            "was not sent. Retry after the indicated time.",
            code="engines_busy",
            headers=exc.headers,
        )
    return EnginesSaturated(
        "The queue for the engines allowed for your request is full; it was not sent.",
        headers=exc.headers,
    )


def _none_reachable() -> NoEngineAvailable:
    return NoEngineAvailable(
        "No engine in your allowed jurisdictions is reachable right now; "
        "the request was not sent anywhere else.",
        headers={"retry-after": "1"},
    )
