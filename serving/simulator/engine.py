"""One simulated engine: the scheduler core played out in real time on the asyncio loop.

The loop sleeps each step's duration (scaled by ``speed``) against absolute deadlines, so
small oversleeps do not accumulate; the clock and the sleep are injectable for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from serving import perfmodel
from serving.perfmodel import EnginePerf
from serving.profiles import PROFILES
from serving.simulator.faults import ErrorDice, FaultSpec
from serving.simulator.metrics import EngineMetrics
from serving.simulator.scheduler import FINISH_ABORT, EngineCore, Sequence

_log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_MAX_MODEL_LEN = 2048  # profiles without a LaunchProfile (cpu/smollm2), as the CPU engine
_MAX_LAG_S = 0.25  # behind schedule by more than this (an overloaded host): forgive the debt


@dataclass(frozen=True)
class EngineConfig:
    perf: EnginePerf
    model: str
    max_model_len: int
    speed: float = 1.0
    index: int = 0
    faults: FaultSpec = field(default_factory=FaultSpec)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.max_model_len > self.perf.kv_capacity_tokens:
            # vLLM refuses to start when one full-length sequence cannot fit its KV cache.
            raise ValueError(
                f"max_model_len {self.max_model_len} exceeds the KV cache of "
                f"{self.perf.key} ({self.perf.kv_capacity_tokens} tokens)"
            )


def engine_config(
    profile: str,
    model: str,
    *,
    max_model_len: int | None = None,
    speed: float = 1.0,
    index: int = 0,
    faults: FaultSpec | None = None,
) -> EngineConfig:
    launch = PROFILES.get(profile)
    default_len = launch.max_model_len if launch else DEFAULT_MAX_MODEL_LEN
    return EngineConfig(
        perf=perfmodel.get(profile),
        model=model,
        max_model_len=max_model_len or default_len,
        speed=speed,
        index=index,
        faults=faults or FaultSpec(),
    )


class Engine:
    def __init__(
        self, config: EngineConfig, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.config = config
        self.core = EngineCore(config.perf)
        self.metrics = EngineMetrics(config.model, self.core)
        self.faults = config.faults  # replaced at run time by the host's set_fault
        self.dice = ErrorDice(config.index)
        self.created = int(time.time())
        self.crashed = False
        self.requests_seen = 0
        self.clock = clock
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._on_loop_exit)

    def _on_loop_exit(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # A bug in the loop must not leave requests hanging forever: fail like a dead engine.
        _log.error("engine %d loop failed", self.config.index, exc_info=task.exception())
        self.crash()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def delay(self, seconds: float) -> None:
        """Sleep simulated seconds (scaled by speed)."""
        if seconds > 0:
            await self._sleep(seconds * self.config.speed)

    def submit(self, seq: Sequence) -> None:
        self.core.add(seq)
        self._wake.set()

    def abort(self, seq: Sequence) -> None:
        """The client went away: free its slot and KV now, count it as vLLM does."""
        if self.core.abort(seq, FINISH_ABORT):
            self.metrics.record_finished(seq, self.clock())
            self._wake.set()  # its blocks may let a waiting request in
            seq.notify()

    def crash(self) -> None:
        """Stop dead: every request in flight ends without an answer."""
        self.crashed = True
        if self._task is not None:
            self._task.cancel()
        for seq in list(self.core.sequences()):
            self.core.abort(seq, FINISH_ABORT)
            seq.notify()

    async def _run(self) -> None:
        speed = self.config.speed
        deadline = self.clock()
        while True:
            now = self.clock()
            step = self.core.schedule(now)
            if step is None:
                self._wake.clear()
                await self._wake.wait()
                deadline = self.clock()
                continue
            deadline = max(deadline, now - _MAX_LAG_S) + step.duration * speed
            await self._sleep(max(0.0, deadline - self.clock()))
            now = self.clock()
            outcome = self.core.complete(step, now)
            self.metrics.record_step(step, outcome, now)
            for seq in outcome.emitted:
                seq.notify()
