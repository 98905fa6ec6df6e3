"""Live health and load of every engine: /health and /metrics scraped concurrently.

Each refresh scrapes all engines at once (one slow engine delays no other) and keeps, per
engine: healthy, vLLM's own load gauges, and when they were read. A failed scrape marks the
engine unhealthy and keeps the old gauges, which then age into ``stale``: an engine we cannot
read is never mistaken for an idle one.

In-flight accounting. The scraped ``running + waiting`` lags this replica's own sends, so the
gateway wraps each upstream request in ``started``/``finished`` (or ``track``), and a view's
``inflight`` is what to add to the scraped load:

    inflight = this replica's requests to the engine, still open, that started after the
               last good scrape was sent,
             - its requests from before that scrape that have finished since,
    floored so that scraped load + inflight >= this replica's own open requests.

Each request is numbered when it starts; a scrape remembers the next number when it is sent
(its *boundary*), and on success the requests numbered at or past the boundary are the
in-flight ones. Why this rule:
- Requests open when the scrape was sent are in the engine's gauges (once it received them),
  so they are not counted a second time.
- A request that started after the boundary is counted until it finishes, however quickly.
  If it is in the gauges too (it arrived while the scrape was on the wire), it is counted
  twice: an overestimate, gone at the next scrape.
- A request from before the boundary that finishes lowers the estimate: the scrape counted
  it (or had already dropped it, if the engine finished it before our stream saw the end).
  Not subtracting it overestimates a fast engine by every request it finished in the
  interval, which made a 12x slower engine look no busier than a fast one in the routing
  benchmark (least load then sent it 5-8 % of requests instead of ~3 %). Subtracting can
  undercount (the second case), and an engine that looks emptier than it is attracts every
  request (herding); the floor at this replica's own open requests bounds that error.
- Known miss: a request that started just before the scrape but had not reached the engine's
  scheduler when the gauges were read is in neither number until the next scrape
  (a window of the connect and upload time, milliseconds).
Counting by engine alone (open now minus open at the scrape) cannot tell which request ended,
and mixing long streams with short requests then skews it; hence the ticket.

Model cards. Once an engine answers, and then every ``models_every`` seconds, its
``/v1/models`` is read too: vLLM's cards carry each served model's ``max_model_len``, which
admission needs to refuse a ``max_tokens`` no engine could honour and to cap its estimates
(``context_length``), and the gateway's own ``/v1/models`` passes them on (``card``). A failed
read keeps the last cards and says nothing about health.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from prometheus_client import Counter, Gauge

from gateway.routing.view import EngineView
from gateway.topology import Engine

log = structlog.get_logger("gateway.routing.monitor")

ENGINE_UP = Gauge(
    "sovereign_engine_up", "1 if the engine's last scrape succeeded, else 0.", ["pool", "engine"]
)
SCRAPE_FAILURES = Counter(
    "sovereign_engine_scrape_failures_total",
    "Failed scrapes of an engine's /health or /metrics.",
    ["pool", "engine"],
)
ENGINE_LOAD = Gauge(
    "sovereign_engine_load",
    "An engine's load from its last good scrape: running, waiting (requests), kv (0..1).",
    ["pool", "engine", "kind"],
)

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")  # newer vLLM first


# What follows a load gauge's name on one of its sample lines: the labels (quoted values may
# hold braces and escaped quotes), the value, and an optional timestamp.
_SAMPLE_REST = re.compile(
    r'(?:\{[ \t]*(?:[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\]|\\.)*"[ \t]*,?[ \t]*)*\})?'
    r"[ \t]+([^ \t\r]+)(?:[ \t]+-?\d+)?[ \t\r]*"
)
_AFTER_NAME = frozenset("{ \t")


def _samples(text: str, name: str) -> list[float]:
    """The values of the samples named exactly ``name`` (not a longer name it begins, as
    ``x_total``), as the exposition format writes them.

    A vLLM /metrics page has hundreds of lines (histograms per model), scraped twice a
    second per engine for three numbers, on the event loop: the lines are found with
    ``str.find`` rather than handed to prometheus_client's parser. That took 2.5 ms for a
    130 KiB page (0.2 ms now) and 0.3 ms for the simulator's 170 lines even when given only
    the gauges' lines (0.05 ms now)."""
    values: list[float] = []
    at = text.find(name)
    while at >= 0:
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        after = at + len(name)
        if (at == 0 or text[at - 1] == "\n") and text[after : after + 1] in _AFTER_NAME:
            values.append(_value(text[after:end], name))
        at = text.find(name, end)
    return values


def _value(rest: str, name: str) -> float:
    match = _SAMPLE_REST.fullmatch(rest)
    # The exposition format's values are Go floats: Python's float() also reads "1_0".
    if match is None or "_" in match.group(1):
        raise ValueError(f"unparsable /metrics: a {name} sample reads {rest.strip()!r}")
    try:
        return float(match.group(1))
    except ValueError as exc:
        raise ValueError(f"unparsable /metrics: {exc}") from exc


def parse_load(text: str) -> tuple[float, float, float]:
    """(running, waiting, kv_usage) from a vLLM /metrics exposition.

    Running and waiting are summed over label sets (one per model or data-parallel engine);
    KV usage is the fullest cache. Samples are matched by their own name, not a family's:
    a counter ``x_total`` must not pass for a gauge ``x``. Raises ``ValueError`` when a gauge
    is missing, unparsable or not finite: an engine that does not report its load cannot be
    taken for idle.
    """

    def values(*names: str) -> list[float]:
        for name in names:
            if found := _samples(text, name):
                if not all(math.isfinite(v) for v in found):
                    raise ValueError(f"/metrics has a non-finite {name}")
                return found
        raise ValueError(f"/metrics lacks {' or '.join(names)}")

    return sum(values(RUNNING)), sum(values(WAITING)), max(values(*KV_USAGE))


@dataclass(frozen=True, slots=True)
class Ticket:
    """One upstream request, from ``started`` to ``finished``."""

    engine: Engine
    seq: int


@dataclass(slots=True)
class _State:
    healthy: bool = True  # not yet scraped: unknown, not down; ``stale`` says it is unknown
    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float = 0.0
    scraped_at: float | None = None  # clock when the last good scrape was sent
    boundary: int = 0  # first request number the last good scrape cannot have seen
    open: set[int] = field(default_factory=set)  # numbers of requests still open
    inflight: int = 0  # open requests numbered >= boundary
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # /v1/models, by id
    cards_at: float | None = None  # clock of the last good /v1/models read


def engine_label(engine: Engine) -> str:
    """The engine's URL for labels and logs, without any user:password part."""
    parts = urlsplit(engine.url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


class EngineMonitor:
    def __init__(
        self,
        client: httpx.AsyncClient,
        engines: Sequence[Engine],
        *,
        interval: float = 0.5,
        timeout: float = 0.4,
        stale_after: float = 1.5,
        models_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_unreachable: Callable[[Engine], None] | None = None,
        on_answered: Callable[[Engine], None] | None = None,
    ) -> None:
        self._client = client
        # Told when an engine refuses connections (it is down, not slow): the router opens
        # its circuit at once instead of waiting for requests to fail on it.
        self._on_unreachable = on_unreachable
        self._on_answered = on_answered  # and told each time it answers
        self._engines = tuple(engines)
        self._interval = interval
        self._timeout = timeout
        self._stale_after = stale_after
        self._models_every = models_every
        self._clock = clock
        self._states: dict[Engine, _State] = {e: _State() for e in self._engines}
        self._numbers = itertools.count()

    async def run(self) -> None:
        """Refresh every ``interval`` until cancelled; an error is logged, never fatal."""
        while True:
            start = self._clock()
            try:
                await self.refresh()
            except Exception:
                log.exception("engine_monitor_refresh_failed")
            await asyncio.sleep(max(0.0, self._interval - (self._clock() - start)))

    async def refresh(self) -> None:
        """Scrape every engine concurrently; returns once all have answered or timed out."""
        await asyncio.gather(*(self._scrape(engine) for engine in self._engines))

    async def _scrape(self, engine: Engine) -> None:
        state = self._state(engine)
        sent_at, boundary = self._clock(), next(self._numbers)
        labels = (engine.pool.name, engine_label(engine))
        key = engine.pool.engine_api_key
        headers = {"authorization": f"Bearer {key}"} if key else {}
        try:
            # httpx's timeout is per phase; this bounds the whole scrape of the engine.
            async with asyncio.timeout(self._timeout):
                health, metrics = await asyncio.gather(
                    self._client.get(
                        f"{engine.url}/health", headers=headers, timeout=self._timeout
                    ),
                    self._client.get(
                        f"{engine.url}/metrics", headers=headers, timeout=self._timeout
                    ),
                )
            for response in (health, metrics):
                if response.status_code != 200:
                    raise ValueError(f"{response.url.path} answered {response.status_code}")
            running, waiting, kv_usage = parse_load(metrics.text)
        except Exception as exc:  # connect, timeout, status, parse, or a bug: all mean "down"
            SCRAPE_FAILURES.labels(*labels).inc()
            ENGINE_UP.labels(*labels).set(0)
            if state.healthy:
                log.warning("engine_down", engine=labels[1], reason=repr(exc))
            state.healthy = False
            if self._on_unreachable is not None and isinstance(exc, httpx.ConnectError):
                self._on_unreachable(engine)
            return
        if boundary < state.boundary:
            return  # an overlapping older scrape finished last: keep the newer reading
        if not state.healthy:
            log.info("engine_up", engine=labels[1])
        if self._on_answered is not None:
            # Every time, not only after a scrape failed: a request may have found the engine
            # refusing between two scrapes (it restarted within one interval).
            self._on_answered(engine)
        state.healthy, state.scraped_at, state.boundary = True, sent_at, boundary
        state.running, state.waiting, state.kv_usage = running, waiting, kv_usage
        state.inflight = sum(1 for n in state.open if n >= boundary)
        ENGINE_UP.labels(*labels).set(1)
        for kind, value in (("running", running), ("waiting", waiting), ("kv", kv_usage)):
            ENGINE_LOAD.labels(*labels, kind).set(value)
        if state.cards_at is None or self._clock() - state.cards_at >= self._models_every:
            await self._read_cards(engine, state, headers)

    async def _read_cards(self, engine: Engine, state: _State, headers: dict[str, str]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.get(
                    f"{engine.url}/v1/models", headers=headers, timeout=self._timeout
                )
            data = response.json().get("data") if response.status_code == 200 else None
        except Exception:  # unreadable cards change nothing: the last ones stay
            return
        if isinstance(data, list):
            state.cards = {
                str(card["id"]): card
                for card in data
                if isinstance(card, dict) and isinstance(card.get("id"), str)
            }
            state.cards_at = self._clock()

    def context_length(self, model: str, engines: Sequence[Engine]) -> int | None:
        """The longest context (prompt plus completion tokens) any of ``engines`` reports for
        ``model`` on its last read card; None when none has reported one."""
        best: int | None = None
        for engine in engines:
            card = self._state(engine).cards.get(model)
            length = card.get("max_model_len") if card is not None else None
            if isinstance(length, int) and not isinstance(length, bool) and length > 0:
                best = length if best is None else max(best, length)
        return best

    def card(self, model: str, engines: Sequence[Engine]) -> dict[str, Any] | None:
        """The card for ``model`` as the first of ``engines`` (in their order) that has one
        last reported it on ``/v1/models``; None when none has."""
        for engine in engines:
            card = self._state(engine).cards.get(model)
            if card is not None:
                return card
        return None

    def started(self, engine: Engine) -> Ticket:
        """Count a request as sent to ``engine``; hand the ticket to ``finished``."""
        state = self._state(engine)
        ticket = Ticket(engine, next(self._numbers))
        state.open.add(ticket.seq)
        state.inflight += 1  # a new number is always past the last boundary
        return ticket

    def finished(self, ticket: Ticket) -> None:
        """The request ended (answered, failed or cancelled). Idempotent."""
        state = self._state(ticket.engine)
        if ticket.seq not in state.open:
            return
        state.open.remove(ticket.seq)
        state.inflight -= 1  # after the boundary: no longer open; before it: left the gauges

    @contextmanager
    def track(self, engine: Engine) -> Iterator[Ticket]:
        ticket = self.started(engine)
        try:
            yield ticket
        finally:
            self.finished(ticket)

    def view(self, engine: Engine) -> EngineView:
        state = self._state(engine)
        age = None if state.scraped_at is None else self._clock() - state.scraped_at
        # Never below what this replica alone has open on the engine.
        floor = len(state.open) - math.ceil(state.running + state.waiting)
        return EngineView(
            engine=engine,
            healthy=state.healthy,
            running=state.running,
            waiting=state.waiting,
            kv_usage=state.kv_usage,
            inflight=max(state.inflight, floor),
            stale=age is None or age > self._stale_after,
            age_s=age,
        )

    def views(self, engines: Sequence[Engine]) -> list[EngineView]:
        return [self.view(engine) for engine in engines]

    def _state(self, engine: Engine) -> _State:
        # Engines outside the scraped set (none, in a gateway built from one topology) still
        # get in-flight accounting, and read as never scraped: stale.
        return self._states.setdefault(engine, _State())
