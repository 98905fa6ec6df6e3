"""Request heads and idle connections at the server (issue 12): too many or too large
headers get a 431 before anything buffers them, a head that stalls and an idle keep-alive
connection are closed. Against the gateway as ``sovereign-gateway serve`` runs it (a
subprocess), over raw sockets: only there do the server's own limits show.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.auth import hash_key
from tests.processes import GatewayProcess, gateway_process

HEADER_TIMEOUT = 1.0
KEEP_ALIVE = 0.5
# Generous: a loaded CI machine may be slow to run a timer, never early.
SLACK = 3.0


def _config(folder: Path, **server: Any) -> dict[str, Any]:
    return {
        "server": {"header_read_timeout": HEADER_TIMEOUT, "keep_alive_timeout": KEEP_ALIVE}
        | server,
        "telemetry": {"audit_dir": str(folder / "audit")},
        "metering": {"spool_dir": str(folder / "spool")},
        "pools": [
            {
                "name": "de",
                "jurisdiction": "DE",
                "site": "de-1",
                "engines": ["http://127.0.0.1:9"],  # never reached: refused before routing
                "models": ["m"],
            }
        ],
        "tenants": [{"id": "t", "api_keys": [{"id": "k", "hash": hash_key("sk-limits-1")}]}],
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("limits")
    with gateway_process(_config(folder), folder, "limits") as running:
        yield running


def _connect(gateway: GatewayProcess) -> socket.socket:
    host, port = gateway.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length (all of ours have one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _closed_within(
    sock: socket.socket, seconds: float, sent: bytearray | None = None
) -> float | None:
    """Seconds until the server closed the connection (what it sent before goes in
    ``sent``); None if it was still open after ``seconds``."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while chunk := sock.recv(65536):
            if sent is not None:
                sent += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def _head(*headers: bytes, path: bytes = b"/v1/chat/completions") -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: gateway\r\n" + b"".join(headers) + b"\r\n"


def _assert_431(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = orjson.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "header_fields_too_large"


def test_too_many_headers_are_refused_with_431_before_authentication(
    gateway: GatewayProcess,
) -> None:
    many = [f"X-Header-{i}: v\r\n".encode() for i in range(101)]
    with _connect(gateway) as sock:
        sock.sendall(_head(*many))  # no Authorization header: 431 comes first
        _assert_431(*_read_response(sock))
        assert _closed_within(sock, SLACK) is not None


def test_headers_larger_than_the_byte_limit_are_refused_with_431(
    gateway: GatewayProcess,
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(_head(b"X-Big: " + b"a" * 40_000 + b"\r\n"))
        _assert_431(*_read_response(sock))


def test_a_long_url_counts_towards_the_byte_limit(gateway: GatewayProcess) -> None:
    with _connect(gateway) as sock:
        sock.sendall(_head(path=b"/v1/models?" + b"q" * 40_000))
        _assert_431(*_read_response(sock))


def test_a_head_within_the_limits_is_served_and_the_connection_kept(
    gateway: GatewayProcess,
) -> None:
    ninety = [f"X-Header-{i}: {'v' * 100}\r\n".encode() for i in range(90)]
    with _connect(gateway) as sock:
        for _ in range(2):  # the counts start again for each request on a connection
            sock.sendall(_head(*ninety, path=b"/healthz").replace(b"POST", b"GET"))
            status, _, _ = _read_response(sock)
            assert status == 200


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_100_mb_header_value_is_refused_early_with_bounded_memory(
    gateway: GatewayProcess,
) -> None:
    before = _rss_bytes(gateway.process.pid)
    piece = b"a" * 65536
    sent = 0
    answer = b""
    with _connect(gateway) as sock:
        sock.sendall(_head().removesuffix(b"\r\n") + b"X-Huge: ")
        try:
            while sent < 100 * 1024 * 1024:
                sock.sendall(piece)
                sent += len(piece)
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered: it stopped reading
        except (BrokenPipeError, ConnectionResetError):
            pass  # it closed while we were still sending
        try:
            sock.settimeout(5)
            answer = sock.recv(65536)
        except ConnectionResetError:
            pass
    assert sent < 16 * 1024 * 1024, "the server kept reading the header"
    if answer:  # the refusal reached us before the reset (the usual case)
        assert answer.startswith(b"HTTP/1.1 431 ")
    assert _rss_bytes(gateway.process.pid) - before < 50 * 1024 * 1024


def test_a_request_head_that_stalls_is_closed_after_the_header_timeout(
    gateway: GatewayProcess,
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Partial: and then noth")
        answer = bytearray()
        closed_after = _closed_within(sock, HEADER_TIMEOUT + SLACK, answer)
    assert closed_after is not None, "a half-sent request head held the connection open"
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"request_timeout"' in answer


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    gateway: GatewayProcess,
) -> None:
    with _connect(gateway) as sock:
        answer = bytearray()
        assert _closed_within(sock, HEADER_TIMEOUT + SLACK, answer) is not None
    assert answer == b""  # nothing was asked: nothing to answer


def test_a_head_sent_slowly_but_within_the_timeout_is_served(gateway: GatewayProcess) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with _connect(gateway) as sock:
        for part in (head[:10], head[10:25], head[25:]):
            sock.sendall(part)
            time.sleep(HEADER_TIMEOUT / 5)
        status, _, _ = _read_response(sock)
    assert status == 200


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
    gateway: GatewayProcess,
) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        status, headers, _ = _read_response(sock)
        assert status == 200
        assert headers.get("connection") != "close"
        closed_after = _closed_within(sock, KEEP_ALIVE + SLACK)
    assert closed_after is not None, "the idle keep-alive connection stayed open"
    assert closed_after < HEADER_TIMEOUT + SLACK


def test_several_workers_enforce_the_same_limits(tmp_path: Path) -> None:
    """The multi-worker path builds its server configuration apart from the single one."""
    config = _config(tmp_path, workers=2)
    with gateway_process(config, tmp_path, "workers") as running, _connect(running) as sock:
        sock.sendall(_head(*(f"X-Header-{i}: v\r\n".encode() for i in range(101))))
        _assert_431(*_read_response(sock))
