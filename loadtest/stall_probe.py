"""An event-loop stall probe, loaded into a gateway process to say what holds its loop.

Standard library only, so that ``loadtest.loop_stalls`` can load it into any gateway build
(this checkout, or an older revision extracted to a folder) through a ``sitecustomize``
hook, without the gateway knowing. Three instruments, all in the process under test:

- **ticks**: a task that sleeps 1 ms, again and again, and notes how late each wake-up is.
  Lateness is time the loop spent on something else; past the threshold it is a *stall*.
  This is what a request arriving at that moment would have waited.
- **holds**: a task factory that wraps every task's coroutine and times each of its steps
  (one ``send`` from the loop: the time the task held the loop in one go), named after the
  task's outermost coroutine (``EngineMonitor.run``, ``Observability._drain``, ...).
- **gc**: ``gc.callbacks`` give every collection's start, duration and generation.

A stall is then put down to the gc collections and task steps that overlap it, the largest
first (``stall_report``); what no task step and no collection covers is loop work outside
tasks (protocol callbacks, timers), a thread holding the GIL, or the process waiting for a
core. Steps and collections carry their thread CPU time beside their wall time: on a shared
machine only the CPU time says what the code itself cost.

Everything is kept in memory and written as JSON when the server stops (``dump``); times are
unix seconds, so a benchmark can cut them into its own phases.
"""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import json
import os
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

TICK_S = 0.001
MIN_HOLD_S = 0.0002  # task steps shorter than this are not kept (requests take ~50 a piece)
STALL_S = 0.001  # a tick later than this is a stall


class _Timed(collections.abc.Coroutine[Any, Any, Any]):
    """A coroutine that times each step of the one it wraps (what the loop sees as one
    callback of the task) and reports the long ones to ``note``."""

    __slots__ = ("_coro", "_name", "_note")

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        name: str,
        note: Callable[[float, float, float, str], None],
    ) -> None:
        self._coro = coro
        self._name = name
        self._note = note

    def send(self, value: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return self._coro.send(value)
        finally:
            self._note(start, time.perf_counter() - start, time.thread_time() - cpu, self._name)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            if val is None and tb is None:
                return self._coro.throw(typ)
            return self._coro.throw(typ, val, tb)
        finally:
            self._note(start, time.perf_counter() - start, time.thread_time() - cpu, self._name)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()


def task_name(coro: Any) -> str:
    """``module:Class.method`` of a coroutine; its code's qualified name."""
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    if code is None:
        return type(coro).__qualname__
    module = os.path.splitext(os.path.basename(code.co_filename))[0]
    return f"{module}:{code.co_qualname}"


class StallProbe:
    def __init__(self, *, holds: bool = True) -> None:
        self._holds_on = holds
        self._epoch = time.time() - time.perf_counter()  # perf_counter -> unix seconds
        self.lateness: list[tuple[float, float]] = []  # (due, late) of every late tick
        self.ticks = 0
        self.holds: list[tuple[float, float, float, str]] = []  # (start, wall, cpu, task)
        # (start, wall, cpu, generation, thread, objects collected)
        self.collections: list[tuple[float, float, float, int, str, int]] = []
        self._gc_started = (0.0, 0.0)
        self._loop_thread = threading.get_ident()
        self._ticker: asyncio.Task[None] | None = None

    # -- installation ------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop's thread, before the server starts its tasks."""
        self._loop_thread = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        if self._holds_on:
            previous = loop.get_task_factory()
            loop.set_task_factory(self._factory(previous))
        self._ticker = loop.create_task(self._tick())

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _factory(self, previous: Any) -> Callable[..., asyncio.Future[Any]]:
        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **options: Any) -> Any:
            if isinstance(coro, collections.abc.Coroutine) and not isinstance(coro, _Timed):
                name = task_name(coro)
                if name != "stall_probe:StallProbe._tick":
                    coro = _Timed(coro, name, self._note)
            if previous is not None:
                return previous(loop, coro, **options)
            return asyncio.Task(coro, loop=loop, **options)

        return factory

    # -- the instruments -------------------------------------------------------------------

    def _note(self, start: float, duration: float, cpu: float, name: str) -> None:
        if duration >= MIN_HOLD_S:
            self.holds.append((start, duration, cpu, name))

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = (time.perf_counter(), time.thread_time())
            return
        thread = "loop" if threading.get_ident() == self._loop_thread else "other"
        start, cpu = self._gc_started
        wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
        generation, collected = info["generation"], info["collected"]
        self.collections.append((start, wall, cpu, generation, thread, collected))

    async def _tick(self) -> None:
        while True:
            due = time.perf_counter() + TICK_S
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            self.ticks += 1
            if now - due >= STALL_S / 4:
                self.lateness.append((due, now - due))

    # -- results ---------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        at = self._epoch
        return {
            "ticks": self.ticks,
            "lateness": [(at + due, late) for due, late in self.lateness],
            "holds": [(at + start, d, cpu, name) for start, d, cpu, name in self.holds],
            "gc": [(at + start, *rest) for start, *rest in self.collections],
        }

    def dump(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(self.result(), out)


def attach_to_uvicorn(path: str, *, holds: bool = True) -> None:
    """Start a probe with every ``uvicorn.Server._serve`` and write it to ``path`` when the
    server stops (a ``sitecustomize`` calls this in the gateway's process). ``_serve``, not
    ``serve``: that one raises the SIGTERM it caught again once the server is down, which
    ends the process before anything after it runs."""
    from uvicorn.server import Server

    serve = Server._serve

    async def probed(self: Server, sockets: Any = None) -> None:
        probe = StallProbe(holds=holds)
        probe.start(asyncio.get_running_loop())
        try:
            await serve(self, sockets)
        finally:
            probe.stop()
            probe.dump(path)

    Server._serve = probed  # type: ignore[method-assign]
