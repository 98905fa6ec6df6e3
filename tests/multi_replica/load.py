"""Concurrent clients over the replicas: each request's outcome as the client saw it.

httpx, not the SDK, so that every status, header and in-band stream error is seen as sent.
Requests go round-robin over the gateways; a stream is read to its end (``[DONE]``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.multi_replica.topology import MODEL

TIMEOUT_S = 30.0  # far beyond any answer here: reaching it is a hang


@dataclass(frozen=True)
class Outcome:
    gateway: int
    key: str
    status: int  # 0: no answer (connection failed or timed out)
    request_id: str | None
    error_type: str | None  # the OpenAI error's type (in the body, or in-band in a stream)
    error_code: str | None
    seconds: float
    detail: str = ""

    @property
    def served(self) -> bool:
        return self.status == 200 and self.error_type is None


def chat(
    max_tokens: int,
    *,
    stream: bool = False,
    usage: bool = False,
    prompt: str = "Hallo",
    ignore_eos: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "ignore_eos": ignore_eos,  # exactly max_tokens: a known duration at the engine
        "stream": stream,
    }
    if stream and usage:
        body["stream_options"] = {"include_usage": True}
    return body


def completion(
    max_tokens: int, *, stream: bool = False, prompt: str = "Guten Tag"
) -> dict[str, Any]:
    return {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "stream": stream}


def _error(data: bytes) -> tuple[str | None, str | None]:
    try:
        error = orjson.loads(data).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return "unparsable", None
    if not isinstance(error, dict):
        return None, None
    return str(error.get("type")), error.get("code")


def send(client: httpx.Client, index: int, key: str, body: dict[str, Any]) -> Outcome:
    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
    headers = {"authorization": f"Bearer {key}"}
    started = time.monotonic()
    try:
        with client.stream("POST", path, json=body, headers=headers) as answer:
            request_id = answer.headers.get("x-request-id")
            kind, code, detail = None, None, ""
            if answer.status_code != 200:
                data = answer.read()
                kind, code = _error(data)
                detail = data[:300].decode(errors="replace")
            elif body.get("stream"):
                last = ""
                for line in answer.iter_lines():
                    if line.startswith("data: {") and '"error"' in line[:20]:
                        kind, code = _error(line[6:].encode())
                        detail = line[:300]
                    last = line or last
                if kind is None and last != "data: [DONE]":
                    kind, detail = "truncated", f"the stream ended with {last[:200]!r}"
            else:
                answer.read()
            return Outcome(
                index,
                key,
                answer.status_code,
                request_id,
                kind,
                code,
                time.monotonic() - started,
                detail,
            )
    except httpx.HTTPError as exc:
        return Outcome(index, key, 0, None, None, None, time.monotonic() - started, repr(exc))


class Clients:
    """One connection pool per gateway, shared by the worker threads."""

    def __init__(self, base_urls: Sequence[str], workers: int) -> None:
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        self.clients = [
            httpx.Client(base_url=url, timeout=TIMEOUT_S, limits=limits) for url in base_urls
        ]
        self._next = 0
        self._lock = threading.Lock()

    def pick(self) -> tuple[int, httpx.Client]:
        with self._lock:
            index = self._next % len(self.clients)
            self._next += 1
        return index, self.clients[index]

    def send(self, key: str, body: dict[str, Any]) -> Outcome:
        index, client = self.pick()
        return send(client, index, key, body)

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fire(
    base_urls: Sequence[str], key: str, bodies: Sequence[dict[str, Any]], workers: int
) -> list[Outcome]:
    """Every body once, ``workers`` at a time, round-robin over the gateways."""
    with Clients(base_urls, workers) as clients, ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda body: clients.send(key, body), bodies))


def hammer(
    base_urls: Sequence[str],
    workers: int,
    seconds: float,
    next_call: Callable[[int], tuple[str, dict[str, Any]]],
    pause_after_refusal: float = 0.02,
    during: Callable[[], None] | None = None,
) -> list[Outcome]:
    """``workers`` clients, each sending back to back for ``seconds`` (``next_call(n)``
    gives the key and body of its n-th request); ``during``, if given, runs meanwhile on
    this thread (e.g. killing a Redis primary) and the clients go on for ``seconds`` after
    it returns."""
    stop = threading.Event()
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        sent = 0
        while not stop.is_set():
            key, body = next_call(number * 1_000_000 + sent)
            outcome = clients.send(key, body)
            sent += 1
            with lock:
                outcomes.append(outcome)
            if not outcome.served:
                time.sleep(pause_after_refusal)

    with Clients(base_urls, workers) as clients, ThreadPoolExecutor(workers) as pool:
        running = [pool.submit(worker, n) for n in range(workers)]
        try:
            if during is not None:
                during()
            time.sleep(seconds)
        finally:
            stop.set()
        for future in running:
            future.result()
    return outcomes


def tally(outcomes: Sequence[Outcome]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return dict(sorted(counts.items()))
