"""Process tuning for serving: what the interpreter does on its own must not hold the loop.

Three things held the event loop for milliseconds without any of our code being slow
(measured with ``python -m loadtest.loop_stalls``, BENCHMARKS.md "Event-loop stalls"):

- **Full garbage collections.** Start-up leaves a few hundred thousand container objects
  behind for good: the PII analyzer (spaCy's pipeline, Presidio's recognizers), pydantic
  schemas, the settings and routing tables. Every full collection walked all of them:
  ~100-130 ms of CPU with the analyzer loaded, about once a minute under load.
  ``gc.freeze()`` at the end of start-up moves them to the permanent generation, which no
  collection visits; objects there are still freed by reference counting when they die
  (only a cycle among them would stay, and start-up builds none that dies later). A
  collection first, so that no start-up garbage is frozen with them. A full collection then
  walks only what was made since: 2-10 ms (more with the embedded store, whose in-process
  ledger keeps up to 100,000 usage records per tenant).
- **Young collections.** A request leaves ~75 objects in reference cycles (the request's
  context, its httpx and aiohttp responses, closures), which only the collector frees: with
  CPython's thresholds (700, 10, 10) a collection of the youngest generation took ~0.4 ms
  (up to 1.5) and of the middle one ~0.8 ms (up to 2), each inside some request. (300, 5)
  halves both, for the same CPU in all; the third threshold goes from 10 to 50 so that full
  collections stay at least as many allocations apart as before (300 x 5 x 50, against
  700 x 10 x 10).
- **Threads holding the GIL.** Blocking work runs in threads (the audit writer, the PII
  analysis, file I/O), but pure Python there holds the GIL, and a loop that wakes to a
  request waits until the thread lets go: up to the interpreter's switch interval, 5 ms by
  default, each time. 0.5 ms shortens that wait (``loadtest.gil_wait``: waits of 2 ms or
  more a third fewer, p99.9 6 -> 3.7 ms); a CPU-bound thread is then asked to hand over
  more often, a small cost next to a request's milliseconds.

Done once per process: a second app started in the same process (tests) finds it settled.
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass

GC_THRESHOLDS = (300, 5, 50)
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True, slots=True)
class Settled:
    frozen: int  # objects in the permanent generation
    thresholds: tuple[int, int, int]
    switch_interval_s: float
    first: bool  # False: the process had been settled already (a second app, in tests)


def settle_process() -> Settled:
    """At the end of start-up, before the first request: freeze what start-up built (once
    per process), keep young collections short, and bound how long a thread can keep the
    GIL from the event loop."""
    first = gc.get_freeze_count() == 0
    if first:
        gc.collect()
        gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return Settled(gc.get_freeze_count(), gc.get_threshold(), sys.getswitchinterval(), first)
