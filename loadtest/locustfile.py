"""Locust users for our three workloads, streaming chat completions through the gateway.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --model smollm2 \\
        --weights contact_centre=2,citizen_chat=2,batch_summary=1 --max-context 2048

(``python -m loadtest.run`` wraps this headless, with CSV and HTML output and a summary.)
The API key comes from ``--api-key``, ``LOCUST_API_KEY`` or ``SOVEREIGN_API_KEY``. The
workloads are in ``loadtest/workloads.py``; what each request reports, in
``loadtest/metrics.py``; how TTFT and ITL are measured, in ``loadtest/sse.py``.
"""

from __future__ import annotations

import csv
import functools
import itertools
import logging
import random
import time
from typing import Any, ClassVar, cast

from locust import HttpUser, events, stats, task
from locust.env import Environment
from locust.runners import WorkerRunner

from loadtest.config import RunConfig, add_arguments, chat_body, chat_headers
from loadtest.metrics import bucket, derived_samples
from loadtest.sse import StreamResult, read_response
from loadtest.workloads import (
    BATCH_SUMMARY,
    CITIZEN_CHAT,
    CONTACT_CENTRE,
    ChatRequest,
    CitizenSession,
    Workload,
    sample_batch_summary,
    sample_contact_centre,
)

log = logging.getLogger("loadtest")
_user_numbers = itertools.count()

# Finer percentiles than Locust's default 2 significant digits (see loadtest/metrics.py).
stats.bucket_response_time = bucket


# EventHook.add_listener is untyped in Locust: strict mypy needs the ignore on its decorators.
@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _declare_options(parser: Any, **_: Any) -> None:
    add_arguments(parser)


@events.init.add_listener  # type: ignore[untyped-decorator]
def _apply_options(environment: Environment, **_: Any) -> None:
    """Validate the options once, before any user starts, and set the user mix."""
    options = environment.parsed_options
    config = RunConfig.from_options(options)
    for user_class in (ContactCentreUser, CitizenChatUser, BatchSummaryUser):
        user_class.weight = config.weights[user_class.workload.name]
    if (
        options is not None
        and options.csv_prefix
        and not isinstance(environment.runner, WorkerRunner)
    ):
        final_csv = functools.partial(_write_final_csv, environment, options.csv_prefix)
        environment.events.quit.add_listener(final_csv)  # type: ignore[no-untyped-call]
    limits = config.limits
    log.info(
        "model %s, max context %d (prompt + output fitted below %d estimated tokens), "
        "weights %s, think x%g, ignore_eos %s",
        config.model,
        limits.max_context,
        limits.usable,
        config.weights,
        config.think_scale,
        config.ignore_eos,
    )


def _write_final_csv(environment: Environment, prefix: str, **_: Any) -> None:
    """Rewrite the stats and failures CSV from the final statistics.

    Locust's CSV writer takes a snapshot every second and none at the end, so its files miss
    up to the last second, including every request that finished during ``--stop-timeout``.
    ``quit`` fires after the users have stopped and just before Locust closes those files (its
    writer flushes each snapshot completely, so closing them writes nothing more).
    """
    writer = stats.StatsCSV(environment, stats.PERCENTILES_TO_REPORT)
    for suffix, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
        with open(f"{prefix}_{suffix}.csv", "w", newline="", encoding="utf-8") as handle:
            write(csv.writer(handle))


class WorkloadUser(HttpUser):
    """Common part: seeded sampling, think time, one streamed request and its report."""

    abstract = True
    workload: ClassVar[Workload]

    def on_start(self) -> None:
        self.config = RunConfig.from_options(self.environment.parsed_options)
        # One stream of random numbers per user: reproducible prompts for a given seed, user
        # mix and spawn order, whatever the timing. The worker index keeps the users of
        # --processes workers apart (identical prompts would flatter the prefix cache).
        worker = getattr(self.environment.runner, "worker_index", 0)
        seed = f"{self.config.seed}:{worker}:{self.workload.name}:{next(_user_numbers)}"
        self.rng = random.Random(seed)

    def wait_time(self) -> float:
        return self.workload.think_s.sample(self.rng) * self.config.think_scale

    def chat(self, request: ChatRequest) -> StreamResult:
        started = time.perf_counter()
        with self.client.post(
            "/v1/chat/completions",
            json=chat_body(request, self.config.model, self.config.ignore_eos),
            headers=chat_headers(self.config.api_key, request),
            name=request.workload,
            stream=True,
            catch_response=True,
            timeout=(10.0, self.config.request_timeout_s),
        ) as response:
            result = read_response(response, started, time.perf_counter)
            # Locust times a streamed request to its headers; report the whole stream instead.
            meta = cast(dict[str, Any], response.request_meta)
            meta["response_time"] = result.total_ms
            meta["response_length"] = result.output_tokens
            if result.ok:
                response.success()
            else:
                response.failure(result.error or "failed")
        for sample in derived_samples(request.workload, result):
            self.environment.events.request.fire(
                request_type=sample.request_type,
                name=sample.name,
                response_time=sample.value,
                response_length=sample.length,
                exception=None,
                context={},
            )
        return result


class ContactCentreUser(WorkloadUser):
    """An agent-assist client: one short request per customer turn."""

    workload = CONTACT_CENTRE

    @task
    def assist(self) -> None:
        self.chat(sample_contact_centre(self.rng, self.config.limits))


class CitizenChatUser(WorkloadUser):
    """A citizen in a chat session: each turn re-sends the whole conversation."""

    workload = CITIZEN_CHAT
    session: CitizenSession | None = None

    @task
    def turn(self) -> None:
        session = self.session
        request = session.next_request() if session is not None else None
        if session is None or request is None:  # no session yet, or it is over: a new citizen
            session = self.session = CitizenSession(self.rng, self.config.limits)
            request = session.next_request()
        if request is None:
            return  # not even a first turn fits the max context
        result = self.chat(request)
        if result.ok:
            session.add_reply(result.text)
        else:
            self.session = None  # a citizen whose chat broke starts over


class BatchSummaryUser(WorkloadUser):
    """A batch job: summarisation requests back to back."""

    workload = BATCH_SUMMARY

    @task
    def summarise(self) -> None:
        self.chat(sample_batch_summary(self.rng, self.config.limits))
