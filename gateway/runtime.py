"""Process tuning for serving: what the interpreter does on its own must not hold the loop.

Two things stall one event loop without any of our code being slow, both measured with
``python -m loadtest.loop_stalls`` (BENCHMARKS.md, "Event-loop stalls"):

- **Full garbage collections.** Start-up leaves a few hundred thousand container objects
  behind for good: the PII analyzer (spaCy's pipeline, Presidio's recognizers), pydantic
  schemas, the settings and routing tables. Every full collection walks all of them: about
  130 ms with the analyzer loaded, once every minute or so under load, whatever it finds.
  ``gc.freeze()`` at the end of start-up moves them to the permanent generation, which no
  collection visits; objects there are still freed by reference counting when they die
  (only cycles among them would stay, and start-up builds none that die later). A
  collection first, so no start-up garbage is frozen with them. Full collections then only
  walk what was made since: a few milliseconds at most.
- **Threads holding the GIL.** Blocking work runs in threads (the audit writer, the PII
  analysis, file I/O), but pure Python there holds the GIL, and a loop that wakes to a
  request waits until the thread lets go: up to the interpreter's switch interval, 5 ms by
  default, each time. 0.5 ms bounds that wait; a CPU-bound thread is then asked to hand
  over more often, a small cost next to a request's milliseconds.

The young generations keep CPython's thresholds: with a request allocating a few hundred
containers, a collection of the youngest generation takes ~0.3 ms and of the middle one
~0.7 ms on the benchmark machine, small against a request and not worth more frequent runs.

Done once per process: a second app started in the same process (tests) finds it settled.
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass

SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True, slots=True)
class Settled:
    frozen: int  # objects in the permanent generation
    switch_interval_s: float
    first: bool  # False: the process had been settled already (a second app, in tests)


def settle_process() -> Settled:
    """At the end of start-up, before the first request: freeze what start-up built (once
    per process), and bound how long a thread can keep the GIL from the event loop."""
    first = gc.get_freeze_count() == 0
    if first:
        gc.collect()
        gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return Settled(gc.get_freeze_count(), sys.getswitchinterval(), first)
