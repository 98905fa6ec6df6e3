"""No server a test starts outlives the pytest process, however that process ends.

A small script stands in for pytest: it starts, through ``tests.launcher``, a server that
itself starts a worker (as vLLM's api_server starts its engine core), then is ended by a
signal or an uncaught KeyboardInterrupt (the second Ctrl-C, which interrupts the teardown).
Within a few seconds neither the server nor its worker may be left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The "server": a Python process that starts a worker and then waits, as an engine does.
SERVER = (
    "import subprocess, sys, time;"
    "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']);"
    "print(worker.pid, flush=True);"
    "time.sleep(300)"
)

# The "test run": launches the server, prints its pid and its worker's, then waits to be
# ended (it never stops the server itself: its teardown does not get to run).
RUN = f"""
import subprocess, sys, time
from tests.launcher import launch
server = launch([sys.executable, "-c", {SERVER!r}], stdout=subprocess.PIPE)
worker = server.stdout.readline().decode().strip()
print(server.pid, worker, flush=True)
time.sleep(300)
"""


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for a parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize(
    "ending",
    [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL, signal.SIGINT],
    ids=["SIGTERM", "SIGHUP", "SIGKILL", "uncaught-KeyboardInterrupt"],
)
def test_servers_and_their_workers_die_with_the_test_run(ending: signal.Signals) -> None:
    run = subprocess.Popen(
        [sys.executable, "-c", RUN], cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True
    )
    started: list[int] = [run.pid]
    try:
        assert run.stdout is not None
        server, worker = (int(pid) for pid in run.stdout.readline().split())
        started += [server, worker]
        assert not _gone(server)
        assert not _gone(worker)
        os.kill(run.pid, ending)
        run.wait(5)
        deadline = time.monotonic() + 4
        while not (_gone(server) and _gone(worker)) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in (server, worker) if not _gone(pid)]
        assert not left, f"left running after {ending.name}: {left}"
    finally:
        # Never leave this test's own processes behind, whatever the code under test does.
        for pid in started:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        run.wait(5)
