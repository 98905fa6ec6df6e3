"""Send a request to an engine the tenant's jurisdictions allow, and hand back its answer.

Failover is limited to failures where the request provably never reached an engine (the
connection could not be made): those are retried on the next candidate, which residency has
already restricted to the allowed jurisdictions. Everything else is translated into the
gateway's exception tree here, at the boundary.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import httpx

from gateway.errors import (
    NoEngineAvailable,
    ResidencyViolation,
    UpstreamError,
    UpstreamTimeout,
    render_sse,
)
from gateway.residency import is_allowed
from gateway.topology import Engine, Tenant
from gateway.upstream.errors import from_engine_response
from gateway.upstream.selection import EngineSelector
from gateway.upstream.sse import split_events

# Failures before the request left this process: safe to try another engine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    engine: Engine
    status: int
    content_type: str
    body: bytes


@dataclass(slots=True)
class UpstreamStream:
    """An open streamed answer; whoever holds it must consume or ``aclose`` it."""

    engine: Engine
    response: httpx.Response

    async def events(
        self, tap: Callable[[bytes], bytes] | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Each SSE event as it arrives; a failure mid-stream becomes an in-band error event.

        ``tap`` sees every event (errors included) and returns what to relay (``b""``: drop
        it). A plain call per event, where a wrapping generator would cost a whole async
        generator round trip per event.
        """
        try:
            async for event in split_events(self.response.aiter_raw()):
                if tap is not None:
                    event = tap(event)
                    if not event:
                        continue
                yield event
        except httpx.TimeoutException:
            error = render_sse(UpstreamTimeout("The engine stopped sending mid-stream."))
            yield tap(error) if tap is not None else error
        except httpx.HTTPError:
            error = render_sse(UpstreamError("The connection to the engine broke mid-stream."))
            yield tap(error) if tap is not None else error
        finally:
            await self.response.aclose()

    async def aclose(self) -> None:
        await self.response.aclose()


class Forwarder:
    def __init__(self, client: httpx.AsyncClient, selector: EngineSelector) -> None:
        self._client = client
        self._selector = selector

    async def call(
        self,
        tenant: Tenant,
        candidates: tuple[Engine, ...],
        path: str,
        body: bytes,
        request_id: str,
    ) -> UpstreamAnswer:
        stream = await self.open(tenant, candidates, path, body, request_id)
        try:
            content = await stream.response.aread()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("The engine did not answer in time.") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError("The connection to the engine broke.") from exc
        finally:
            await stream.aclose()
        content_type = stream.response.headers.get("content-type", "application/json")
        return UpstreamAnswer(stream.engine, stream.response.status_code, content_type, content)

    async def open(
        self,
        tenant: Tenant,
        candidates: tuple[Engine, ...],
        path: str,
        body: bytes,
        request_id: str,
    ) -> UpstreamStream:
        for engine in self._selector.order(candidates):
            if not is_allowed(tenant, engine):  # unreachable by construction; never relax it
                raise ResidencyViolation("Refusing to send the request outside its jurisdiction.")
            # identity: we relay the engine's bytes as they are (aiter_raw), never re-encoded.
            headers = {
                "content-type": "application/json",
                "accept-encoding": "identity",
                "x-request-id": request_id,
            }
            if engine.pool.engine_api_key:
                headers["authorization"] = "Bearer " + engine.pool.engine_api_key
            request = self._client.build_request(
                "POST", engine.url + path, content=body, headers=headers
            )
            try:
                response = await self._client.send(request, stream=True)
            except _NOT_SENT:
                self._selector.report_failure(engine)
                continue
            except httpx.TimeoutException as exc:
                raise UpstreamTimeout("The engine did not answer in time.") from exc
            except httpx.HTTPError as exc:
                self._selector.report_failure(engine)
                raise UpstreamError("The connection to the engine failed.") from exc
            self._selector.report_success(engine)
            if response.status_code >= 400:
                try:
                    content = await response.aread()
                except httpx.HTTPError:
                    content = b""
                finally:
                    await response.aclose()
                raise from_engine_response(response.status_code, content)
            return UpstreamStream(engine, response)
        raise NoEngineAvailable(
            "No engine in your allowed jurisdictions is reachable right now; "
            "the request was not sent anywhere else.",
            headers={"retry-after": "1"},
        )
