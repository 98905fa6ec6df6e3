"""A simulator on a background thread with its own event loop, for synchronous callers.

    with SimulatorThread(SimulatorConfig("cpu/smollm2", "smollm2", engines=3)) as sim:
        httpx.get(sim.base_urls[0] + "/health")
        sim.crash(1)

Its methods block until the loop has done the work, so a test can assert right after them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from serving.simulator.faults import FaultSpec
from serving.simulator.host import Simulator, SimulatorConfig

T = TypeVar("T")
_CALL_TIMEOUT_S = 60.0


class SimulatorThread:
    def __init__(self, config: SimulatorConfig) -> None:
        self.simulator = Simulator(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="engine-simulator", daemon=True
        )

    @property
    def base_urls(self) -> list[str]:
        return self.simulator.base_urls

    def start(self) -> SimulatorThread:
        self._thread.start()
        try:
            self._call(self.simulator.start())
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._call(self.simulator.stop())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=_CALL_TIMEOUT_S)
        if not self._loop.is_running():
            self._loop.close()

    def crash(self, index: int) -> None:
        self._call(self.simulator.crash(index))

    def restart(self, index: int, faults: FaultSpec | None = None) -> None:
        self._call(self.simulator.restart(index, faults))

    def set_fault(self, index: int, spec: FaultSpec | str) -> None:
        self._call(self._set_fault(index, spec))

    async def _set_fault(self, index: int, spec: FaultSpec | str) -> None:
        self.simulator.set_fault(index, spec)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CALL_TIMEOUT_S)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
