"""What each server refuses: the list ``gateway/server.py`` says another server must offer.

Each server runs the same relay with the gateway's head limits (100 headers, 32 KiB) and
short timeouts (head 1 s; keep-alive 0.5 s where the server has its own setting), and raw
sockets probe it: the largest head and header count accepted and what a larger one gets,
a stalled half-head, a silent connection, a head trickled one byte at a time, an idle
kept-alive connection.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from loadtest.hotpath.fleet import wait_ready
from loadtest.local import free_port

HEAD_TIMEOUT = 1.0
KEEP_ALIVE = 0.5
SERVERS = ("uvicorn", "granian-asgi", "granian-rsgi")


def _head(extra: bytes = b"") -> bytes:
    return b"GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n"


def _connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    return sock


def answer_to(port: int, data: bytes) -> str:
    """The status line the server answers ``data`` with, or how the connection ended."""
    with _connect(port) as sock:
        try:
            sock.sendall(data)
            reply = sock.recv(256)
        except (BrokenPipeError, ConnectionResetError):
            return "reset"
        except TimeoutError:
            return "no answer"
    return reply.split(b"\r\n", 1)[0].decode("latin-1") if reply else "closed"


def largest_head(port: int, low: int = 1024, high: int = 256 * 1024) -> int:
    """Bytes of the largest head answered normally (not 431), by bisection."""
    while high - low > 64:
        middle = (low + high) // 2
        accepted = " 431 " not in answer_to(port, _head(b"x-big: " + b"a" * middle + b"\r\n"))
        low, high = (middle, high) if accepted else (low, middle)
    return len(_head(b"x-big: " + b"a" * low + b"\r\n"))


def _headers(count: int) -> bytes:
    return b"".join(b"x-h%d: v\r\n" % i for i in range(count - 1))  # + Host


def time_to_close(port: int, send: bytes, trickle: float = 0.0, limit: float = 8.0) -> str:
    """Seconds until the server closes after ``send`` (byte by byte every ``trickle`` s),
    and whether it answered first."""
    started = time.monotonic()
    with _connect(port, timeout=limit) as sock:
        reply = b""
        try:
            if trickle:
                for byte in send:
                    sock.sendall(bytes([byte]))
                    time.sleep(trickle)
            else:
                sock.sendall(send)
            while chunk := sock.recv(4096):
                reply += chunk
        except (BrokenPipeError, ConnectionResetError):
            with contextlib.suppress(OSError):  # what it answered before closing
                reply += sock.recv(4096)
        except TimeoutError:
            return f"still open after {limit:.0f} s"
    took = time.monotonic() - started
    status = reply.split(b"\r\n", 1)[0].decode("latin-1")
    return f"closed after {took:.1f} s" + (f", answered `{status}`" if status else ", no answer")


def idle_keep_alive(port: int) -> str:
    with _connect(port, timeout=8.0) as sock:
        sock.sendall(_head())
        sock.recv(4096)
        started = time.monotonic()
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            return "still open after 8 s"
        except ConnectionResetError:
            pass
        return f"closed after {time.monotonic() - started:.1f} s"


def probe(port: int) -> dict[str, str]:
    return {
        "largest head accepted (limit 32 KiB)": f"{largest_head(port):,} bytes",
        "32 KiB + 8 KiB head": answer_to(port, _head(b"x-big: " + b"a" * 40_000 + b"\r\n")),
        "100 headers": answer_to(port, _head(_headers(100))),
        "101 headers": answer_to(port, _head(_headers(101))),
        "half a head, then silence (head 1 s)": time_to_close(port, b"GET /probe HTTP/1.1\r\nHo"),
        "connect, send nothing": time_to_close(port, b""),
        "head trickled 1 byte / 0.1 s": time_to_close(port, _head(_headers(10)), trickle=0.1),
        "idle kept-alive connection (keep-alive 0.5 s)": idle_keep_alive(port),
    }


@contextlib.contextmanager
def relay(server: str, engine_port: int) -> Iterator[int]:
    port = free_port()
    variant = f"{server}/bare/msgspec/aiohttp"
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest.hotpath.serve", variant, "--port", str(port),
         "--engine", f"http://127.0.0.1:{engine_port}", "--header-timeout", str(HEAD_TIMEOUT),
         "--keep-alive", str(KEEP_ALIVE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(15)


def protections_table(engine_port: int) -> list[str]:
    found: dict[str, dict[str, str]] = {}
    for server in SERVERS:
        with relay(server, engine_port) as port:
            found[server] = probe(port)
    probes = list(found[SERVERS[0]])
    lines = ["| probe | " + " | ".join(SERVERS) + " |", "| --- |" + " --- |" * len(SERVERS)]
    for name in probes:
        lines.append(f"| {name} | " + " | ".join(found[s][name] for s in SERVERS) + " |")
    return lines
