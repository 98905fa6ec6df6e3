"""Many simulated engines in one process: one uvicorn server per port, all on one loop.

``Simulator`` is the asyncio API (``run_simulator`` wraps it as an async context manager);
``SimulatorThread`` runs one on a background thread with its own loop, for sync tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field, replace

import uvicorn

from serving.simulator.api import EngineApp
from serving.simulator.engine import Engine, engine_config
from serving.simulator.faults import FaultSpec, parse_fault
from serving.simulator.wire import DropConnection

_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SimulatorConfig:
    profile: str
    model: str
    engines: int = 1
    host: str = "127.0.0.1"
    base_port: int = 0  # 0: a free port per engine, chosen by the OS
    speed: float = 1.0
    max_model_len: int | None = None
    faults: Mapping[int, FaultSpec] = field(default_factory=dict)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the host owns SIGINT/SIGTERM for all its servers, not each server


class _QuietDrops(logging.Filter):
    """uvicorn logs an app exception as an error; a DropConnection is on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DropConnection))


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # so, and with Nagle on, small SSE events on a kept-alive connection wait 40 ms for ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _listen_all(host: str, ports: list[int]) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for port in ports:
            sockets.append(_listen(host, port))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass
class _Slot:
    index: int
    port: int
    engine: Engine
    server: _Server
    task: asyncio.Task[None]


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        if config.engines < 1:
            raise ValueError("at least one engine")
        self.config = config
        self._slots: list[_Slot] = []
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def base_urls(self) -> list[str]:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return [f"http://{shown}:{slot.port}" for slot in self._slots]

    def engine(self, index: int) -> Engine:
        return self._slots[index].engine

    async def start(self) -> None:
        _quiet_uvicorn()
        config = self.config
        ports = [config.base_port + i if config.base_port else 0 for i in range(config.engines)]
        sockets = _listen_all(config.host, ports)  # fail before starting any engine
        for index, sock in enumerate(sockets):
            self._slots.append(self._launch(index, sock, config.faults.get(index)))
        await self._wait_started(self._slots)
        loop = asyncio.get_running_loop()
        for index, spec in config.faults.items():
            if spec.crash_at is not None:
                delay = spec.crash_at * config.speed
                self._timers.append(loop.call_later(delay, self._crash_now, index))

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for slot in self._slots:
            self._crash_now(slot.index)
        await asyncio.gather(*(slot.task for slot in self._slots), return_exceptions=True)
        await asyncio.gather(*(slot.engine.stop() for slot in self._slots))

    async def crash(self, index: int) -> None:
        """The engine dies: connections cut, port closed. Others go on."""
        self._crash_now(index)
        await asyncio.gather(self._slots[index].task, return_exceptions=True)
        await self._slots[index].engine.stop()

    async def restart(self, index: int, faults: FaultSpec | None = None) -> None:
        """A crashed (or running) engine comes back on its port, fresh, like a new process."""
        await self.crash(index)
        old = self._slots[index]
        spec = old.engine.config.faults if faults is None else faults
        spec = replace(spec, crash=None, crash_after=None, crash_at=None)
        slot = self._launch(index, _listen(self.config.host, old.port), spec)
        self._slots[index] = slot
        await self._wait_started([slot])

    def set_fault(self, index: int, spec: FaultSpec | str) -> None:
        """Replace an engine's faults from now on (``""`` clears them)."""
        self._slots[index].engine.faults = parse_fault(spec) if isinstance(spec, str) else spec

    def _launch(self, index: int, sock: socket.socket, faults: FaultSpec | None) -> _Slot:
        config = self.config
        engine = Engine(
            engine_config(
                config.profile,
                config.model,
                max_model_len=config.max_model_len,
                speed=config.speed,
                index=index,
                faults=faults,
            )
        )
        app = EngineApp(engine, on_crash=lambda: self._crash_now(index))
        server = _Server(
            uvicorn.Config(
                app,
                lifespan="off",
                ws="none",
                log_config=None,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=1,
            )
        )
        engine.start()
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        return _Slot(index, sock.getsockname()[1], engine, server, task)

    def _crash_now(self, index: int) -> None:
        slot = self._slots[index]
        slot.engine.crash()
        slot.server.should_exit = True
        slot.server.force_exit = True
        for listener in getattr(slot.server, "servers", []):
            listener.close()  # refuse new connections now, not at the server's next tick
        # A dead process's sockets are reset by its kernel: abort every connection, idle or
        # mid-answer, rather than close it gracefully (uvicorn keeps them in server_state).
        for connection in list(slot.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    async def _wait_started(self, slots: list[_Slot]) -> None:
        async with asyncio.timeout(_START_TIMEOUT_S):
            while not all(slot.server.started for slot in slots):
                failed = [slot for slot in slots if slot.task.done()]
                if failed:
                    await failed[0].task  # raises the server's startup error
                    raise RuntimeError(f"engine {failed[0].index} did not start")
                await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def run_simulator(config: SimulatorConfig) -> AsyncIterator[Simulator]:
    simulator = Simulator(config)
    try:
        await simulator.start()
        yield simulator
    finally:
        await simulator.stop()
