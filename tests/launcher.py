"""Every server a test starts is launched here, so that none outlives the pytest process.

However the run ends, the servers it started end with it: a fixture's teardown does not run
when pytest is killed by a signal (a CI timeout's SIGTERM, a closed terminal's SIGHUP, a
second Ctrl-C that interrupts the teardown itself, SIGKILL), and a vLLM engine left behind
keeps a core busy for hours. So ``launch`` is ``subprocess.Popen`` plus three guards:

- each server leads a process group of its own (``start_new_session``): the group holds its
  workers too (vLLM's engine core, uvicorn's workers), and ``stop`` ends the whole group,
  SIGTERM first, SIGKILL after a grace period;
- the groups still running when pytest exits are ended by an ``atexit`` hook (a normal end,
  an uncaught KeyboardInterrupt) or by a SIGTERM/SIGHUP handler, which then lets the signal
  end pytest as it would have (the conventional exit status);
- SIGKILL runs no code, so one watcher process per run (this file run as a script, in a
  session of its own, deaf to the terminal's signals) holds the read end of a pipe from
  pytest and learns every group; when the pipe closes, however pytest ended, it ends the
  groups still running. A parent-death signal (``PR_SET_PDEATHSIG``) was the alternative:
  it reaches the direct child only (not the engine core), fires when the *thread* that
  started the child ends, and needs a ``preexec_fn``, which is unsafe with threads.

Stdlib only: the watcher runs with no virtual environment's packages.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

# How long the groups get between SIGTERM and SIGKILL when pytest is ending abnormally: short,
# since a CI runner that sent SIGTERM sends SIGKILL soon after (the watcher then finishes).
ENDING_GRACE = 5.0

_groups: set[int] = set()
# Re-entrant: the signal handler may run while the main thread is inside ``launch``.
_lock = threading.RLock()
_watcher: subprocess.Popen[bytes] | None = None
_installed = False


def launch(args: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **options)``, the child leading a process group of its own
    that is ended when pytest ends if ``stop`` has not ended it before."""
    _install()
    with _lock:
        process = subprocess.Popen(args, **{**options, "start_new_session": True})
        _groups.add(process.pid)
        _tell_watcher(f"+{process.pid}")
    return process


def stop(process: subprocess.Popen[Any], grace: float = 15.0) -> None:
    """End ``process``'s whole group: SIGTERM, up to ``grace`` seconds for the group to end
    (the leader is reaped), then SIGKILL for what is left."""
    _end_groups([process.pid], grace, reap=process)
    with _lock:
        _groups.discard(process.pid)
        _tell_watcher(f"-{process.pid}")


def _install() -> None:
    """Once per process: the exit hook, the signal handlers and the watcher."""
    global _installed, _watcher
    with _lock:
        if _installed:
            return
        _installed = True
        atexit.register(_end_all)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, _ending_by_signal(signal.getsignal(signum)))
        _watcher = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), "--watch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def _ending_by_signal(previous: Any) -> Any:
    def handle(signum: int, frame: FrameType | None) -> None:
        _end_all()
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)  # end as the signal would have ended us
        os.kill(os.getpid(), signum)

    return handle


def _end_all() -> None:
    with _lock:
        groups = list(_groups)
        _groups.clear()
    _end_groups(groups, ENDING_GRACE)
    if _watcher is not None and _watcher.stdin is not None:
        with contextlib.suppress(OSError):
            _watcher.stdin.close()  # nothing left for it to do: it exits


def _tell_watcher(line: str) -> None:
    stdin: IO[bytes] | None = _watcher.stdin if _watcher is not None else None
    if stdin is not None:
        with contextlib.suppress(OSError):  # the watcher is gone: the in-process guards remain
            stdin.write(line.encode() + b"\n")
            stdin.flush()


def _end_groups(
    groups: Iterable[int], grace: float, reap: subprocess.Popen[Any] | None = None
) -> None:
    running = [group for group in groups if _alive(group)]
    _signal_groups(running, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        if reap is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                reap.wait(0.05)
        else:
            time.sleep(0.05)
        running = [group for group in running if _alive(group)]
    _signal_groups(running, signal.SIGKILL)
    if reap is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            reap.wait(5)


def _signal_groups(groups: Iterable[int], signum: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def _alive(group: int) -> bool:
    """Whether any process of the group is running (a zombie is not: it is dead, unreaped)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == group and state not in ("Z", "X"):
            return True
    return False


def _watch() -> None:
    """The watcher: ``+pgid`` and ``-pgid`` lines on stdin; at its end, what is left ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        text = line.decode().strip()
        if text.startswith("+"):
            groups.add(int(text[1:]))
        elif text.startswith("-"):
            groups.discard(int(text[1:]))
    _end_groups(groups, ENDING_GRACE)


if __name__ == "__main__" and sys.argv[1:] == ["--watch"]:
    _watch()
