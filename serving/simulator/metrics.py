"""vLLM's Prometheus metrics for one simulated engine, in a registry of its own.

Names, help texts, labels and histogram buckets are those of vLLM 0.32.0's /metrics (read
from a running engine). Times are wall-clock seconds as observed, so with ``speed`` below 1
they shrink with everything else.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from serving.simulator.scheduler import EngineCore, Outcome, Sequence, Step

FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")

_TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
_ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0,
)  # fmt: skip
_REQUEST_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
    240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


class EngineMetrics:
    def __init__(self, model_name: str, core: EngineCore) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"model_name": model_name, "engine": "0"}
        names = list(labels)
        reg = self.registry

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, names, registry=reg)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, names, registry=reg)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, names, buckets=buckets, registry=reg)

        # Gauges read the core at scrape time: nothing to update on the hot path.
        gauge("vllm:num_requests_running", "Number of requests in model execution batches.").labels(
            **labels
        ).set_function(lambda: len(core.running))
        gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.").labels(
            **labels
        ).set_function(lambda: len(core.waiting))
        gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.").labels(
            **labels
        ).set_function(core.pool.usage)

        self.prompt_tokens = counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed."
        ).labels(**labels)
        self.generation_tokens = counter(
            "vllm:generation_tokens", "Number of generation tokens processed."
        ).labels(**labels)
        self.cache_queries = counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
        ).labels(**labels)
        self.cache_hits = counter(
            "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens."
        ).labels(**labels)
        self.preemptions = counter(
            "vllm:num_preemptions", "Cumulative number of preemption from the engine."
        ).labels(**labels)
        success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            [*names, "finished_reason"],
            registry=reg,
        )
        self.success = {r: success.labels(**labels, finished_reason=r) for r in FINISHED_REASONS}
        self.ttft = histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            _TTFT_BUCKETS,
        ).labels(**labels)
        self.itl = histogram(
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            _ITL_BUCKETS,
        ).labels(**labels)
        self.e2e = histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            _REQUEST_BUCKETS,
        ).labels(**labels)
        self.queue_time = histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            _REQUEST_BUCKETS,
        ).labels(**labels)
        self._http = Counter(
            "http_requests",
            "Total number of requests by method, status and handler.",
            ["method", "status", "handler"],
            registry=reg,
        )

    def record_step(self, step: Step, outcome: Outcome, now: float) -> None:
        if step.preempted:
            self.preemptions.inc(step.preempted)
        if step.cache_queries:
            self.cache_queries.inc(step.cache_queries)
            self.cache_hits.inc(step.cache_hits)
        if outcome.emitted:
            self.generation_tokens.inc(len(outcome.emitted))
        for seq in outcome.emitted:
            if seq.last_token_at is None:
                self.ttft.observe(now - seq.arrival)
                self.prompt_tokens.inc(seq.prompt_len)
            else:
                self.itl.observe(now - seq.last_token_at)
            seq.last_token_at = now
        for seq in outcome.finished:
            self.record_finished(seq, now)

    def record_finished(self, seq: Sequence, now: float) -> None:
        reason = seq.finish_reason or "error"
        self.success[reason].inc()
        if seq.scheduled_at is not None:
            self.queue_time.observe(seq.scheduled_at - seq.arrival)
        if reason != "abort":
            self.e2e.observe(now - seq.arrival)

    def record_http(self, handler: str, method: str, status: int) -> None:
        self._http.labels(method=method, status=f"{status // 100}xx", handler=handler).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
