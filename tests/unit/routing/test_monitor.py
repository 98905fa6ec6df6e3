"""The engine monitor: parsing vLLM's /metrics, scraping with MockTransport, a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from gateway.routing.monitor import EngineMonitor, engine_label, parse_load
from gateway.topology import Engine, Pool
from serving.perfmodel import EnginePerf
from serving.simulator.metrics import EngineMetrics
from serving.simulator.scheduler import EngineCore, Sequence

# A data-parallel vLLM 0.32 engine (two engine cores) as its /metrics reads, abridged: the
# load gauges per engine core, counters, a histogram and an info gauge around them.
VLLM_032 = """\
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 14211.0
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.1483520e+09
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="smollm2"} 12.0
vllm:num_requests_running{engine="1",model_name="smollm2"} 9.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="smollm2"} 3.0
vllm:num_requests_waiting{engine="1",model_name="smollm2"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="smollm2"} 0.61
vllm:kv_cache_usage_perc{engine="1",model_name="smollm2"} 0.47
# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
# TYPE vllm:num_preemptions_total counter
vllm:num_preemptions_total{engine="0",model_name="smollm2"} 4.0
vllm:num_preemptions_total{engine="1",model_name="smollm2"} 1.0
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="smollm2"} 918234.0
vllm:prompt_tokens_total{engine="1",model_name="smollm2"} 877001.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="smollm2"} 2210.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="smollm2"} 87.0
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="smollm2"} 1900.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="smollm2"} 2297.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="smollm2"} 2297.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="smollm2"} 171.3
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",enable_prefix_caching="True",engine="0"} 1.0
"""

# vLLM before the V1 metric rename reported the KV cache as gpu_cache_usage_perc.
VLLM_OLD = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="smollm2"} 2.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="smollm2"} 1.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="smollm2"} 0.25
"""


def vllm_metrics(running: float | str, waiting: float | str, kv: float | str) -> str:
    return (
        "# TYPE vllm:num_requests_running gauge\n"
        f'vllm:num_requests_running{{engine="0",model_name="smollm2"}} {running}\n'
        "# TYPE vllm:num_requests_waiting gauge\n"
        f'vllm:num_requests_waiting{{engine="0",model_name="smollm2"}} {waiting}\n'
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        f'vllm:kv_cache_usage_perc{{engine="0",model_name="smollm2"}} {kv}\n'
    )


# --- parsing -------------------------------------------------------------------------------


def test_parses_the_simulators_own_exposition() -> None:
    perf = EnginePerf(
        key="test/tiny",
        gpus=1,
        max_num_seqs=2,
        kv_capacity_tokens=1024,
        max_num_batched_tokens=256,
        prefill_tokens_per_s=1000.0,
        decode_base_s=0.01,
        decode_per_seq_s=0.001,
        source="tests",
    )
    core = EngineCore(perf)
    for i in range(3):  # two fit max_num_seqs, the third waits
        core.add(Sequence(f"s{i}", 64, tuple(hash((i, b)) for b in range(4)), 4, None, 0.0))
    step = core.schedule(0.0)
    assert step is not None
    core.complete(step, 0.1)
    text = EngineMetrics("smollm2", core).exposition().decode()

    running, waiting, kv = parse_load(text)

    assert (running, waiting) == (2.0, 1.0)
    assert kv == pytest.approx(core.pool.usage())
    assert 0.0 < kv < 1.0


def test_parses_vllm_0_32_summing_engine_cores_and_taking_the_fullest_cache() -> None:
    assert parse_load(VLLM_032) == (21.0, 3.0, 0.61)


def test_falls_back_to_the_old_kv_cache_gauge() -> None:
    assert parse_load(VLLM_OLD) == (2.0, 1.0, 0.25)


def test_sums_label_sets_of_several_models() -> None:
    text = vllm_metrics(1, 2, 0.1) + (
        'vllm:num_requests_running{engine="0",model_name="llama-70b"} 4.0\n'
        'vllm:num_requests_waiting{engine="0",model_name="llama-70b"} 5.0\n'
        'vllm:kv_cache_usage_perc{engine="0",model_name="llama-70b"} 0.9\n'
    )
    assert parse_load(text) == (5.0, 7.0, 0.9)


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        ("vllm:num_requests_running", "vllm:num_requests_running"),
        ("vllm:num_requests_waiting", "vllm:num_requests_waiting"),
        ("vllm:kv_cache_usage_perc", "vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc"),
    ],
)
def test_a_missing_gauge_is_an_error_not_an_idle_engine(drop: str, missing: str) -> None:
    text = "\n".join(line for line in vllm_metrics(0, 0, 0).splitlines() if drop not in line)
    with pytest.raises(ValueError, match=f"lacks {missing}"):
        parse_load(text)


def test_a_counter_whose_name_ends_in_total_is_not_taken_for_the_gauge() -> None:
    # The parser files counter `vllm:num_requests_waiting_total` under a family named
    # `vllm:num_requests_waiting`: the gauge's name. Only the gauge's own samples count.
    counter = (
        "# TYPE vllm:num_requests_waiting_total counter\n"
        'vllm:num_requests_waiting_total{engine="0"} 999.0\n'
    )
    without_gauge = "\n".join(
        line for line in vllm_metrics(1, 2, 0.3).splitlines() if "waiting" not in line
    )
    with pytest.raises(ValueError, match="lacks vllm:num_requests_waiting"):
        parse_load(without_gauge + "\n" + counter)
    assert parse_load(vllm_metrics(1, 2, 0.3) + counter) == (1.0, 2.0, 0.3)


@pytest.mark.parametrize("text", ["<html>502 Bad Gateway</html>", "vllm:x{{{ 1\n", ""])
def test_garbage_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"unparsable|lacks"):
        parse_load(text)


def test_reads_the_exposition_format_not_just_the_common_case() -> None:
    # Label values with braces, spaces and escaped quotes; timestamps; CRLF line ends; the
    # gauge names inside other lines (a HELP text, a label value) count for nothing.
    text = (
        "# HELP vllm:num_requests_running Requests running (cf. vllm:num_requests_waiting)\r\n"
        'vllm:num_requests_running{model_name="a} b",note="say \\"hi\\""} 4 1700000000000\r\n'
        'vllm:num_requests_running{model_name="c"} 1e1\r\n'
        'other_metric{of="vllm:num_requests_waiting 99"} 1\r\n'
        "vllm:num_requests_waiting 2.5\r\n"
        "vllm:kv_cache_usage_perc\t0.5"
    )
    assert parse_load(text) == (14.0, 2.5, 0.5)


@pytest.mark.parametrize(
    "sample",
    [
        "vllm:num_requests_waiting{x=1} 2",
        "vllm:num_requests_waiting 1_0",
        "vllm:num_requests_waiting two",
    ],
)
def test_an_unreadable_sample_of_a_load_gauge_is_an_error(sample: str) -> None:
    text = "\n".join(line for line in vllm_metrics(1, 2, 0.3).splitlines() if "waiting" not in line)
    with pytest.raises(ValueError, match="unparsable /metrics"):
        parse_load(text + "\n" + sample + "\n")


def test_a_non_finite_gauge_is_an_error() -> None:
    with pytest.raises(ValueError, match="non-finite vllm:num_requests_waiting"):
        parse_load(vllm_metrics(1, "NaN", 0.3))


# --- scraping --------------------------------------------------------------------------------

KEYED = Pool("de-muc-b200", "DE", "de-muc-1", "b200", frozenset({"smollm2"}), "engine-secret")
OPEN = Pool("at-vie-rtx", "AT", "at-vie-1", "rtx-pro-6000", frozenset({"smollm2"}))


def engine(host: str, pool: Pool = KEYED) -> Engine:
    return Engine(f"http://{host}:8000", pool)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


@dataclass
class Engines:
    """Fake engines by host: each answers /health and /metrics per its current behaviour."""

    behaviour: dict[str, str]
    load: tuple[float, float, float] = (3.0, 1.0, 0.5)
    context: int = 8192  # max_model_len on the engines' model cards

    def __post_init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        how = self.behaviour[request.url.host]
        if how == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if how == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if how == "bug":
            raise RuntimeError("unexpected")
        if how == "sick" and request.url.path == "/health":
            return httpx.Response(503)
        if how == "garbage" and request.url.path == "/metrics":
            return httpx.Response(200, text="<html>hello</html>")
        if request.url.path == "/health":
            return httpx.Response(200)
        if request.url.path == "/v1/models":
            card = {"id": "llama-70b", "object": "model", "max_model_len": self.context}
            return httpx.Response(200, json={"object": "list", "data": [card]})
        return httpx.Response(200, text=vllm_metrics(*self.load))


def monitor_for(
    handler: Handler, engines: list[Engine], clock: FakeClock | None = None, **kw: Any
) -> EngineMonitor:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return EngineMonitor(client, engines, clock=clock or FakeClock(), **kw)


def sample(name: str, e: Engine, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(
        name, {"pool": e.pool.name, "engine": engine_label(e), **labels}
    )


async def test_a_refresh_records_health_and_load_and_sends_the_pools_key() -> None:
    keyed, keyless = engine("ok-1.engine"), engine("ok-2.engine", OPEN)
    fake = Engines({"ok-1.engine": "ok", "ok-2.engine": "ok"})
    clock = FakeClock()
    monitor = monitor_for(fake, [keyed, keyless], clock)

    await monitor.refresh()
    clock.now += 0.2

    view = monitor.view(keyed)
    assert (view.healthy, view.running, view.waiting, view.kv_usage) == (True, 3.0, 1.0, 0.5)
    assert (view.stale, view.inflight) == (False, 0)
    assert view.age_s == pytest.approx(0.2)
    assert [v.engine for v in monitor.views([keyless, keyed])] == [keyless, keyed]
    auth = {r.url.host: r.headers.get("authorization") for r in fake.requests}
    assert auth == {"ok-1.engine": "Bearer engine-secret", "ok-2.engine": None}
    assert sorted((r.url.host, r.url.path) for r in fake.requests) == [
        ("ok-1.engine", "/health"),
        ("ok-1.engine", "/metrics"),
        ("ok-1.engine", "/v1/models"),  # the first good scrape reads the model cards too
        ("ok-2.engine", "/health"),
        ("ok-2.engine", "/metrics"),
        ("ok-2.engine", "/v1/models"),
    ]
    assert sample("sovereign_engine_up", keyed) == 1.0
    assert sample("sovereign_engine_load", keyed, kind="running") == 3.0
    assert sample("sovereign_engine_load", keyed, kind="kv") == 0.5


@pytest.mark.parametrize("how", ["refuse", "timeout", "sick", "garbage", "bug"])
async def test_a_failing_engine_is_unhealthy_and_the_others_are_not(how: str) -> None:
    bad, good = engine(f"{how}.engine"), engine("fine.engine")
    monitor = monitor_for(Engines({f"{how}.engine": how, "fine.engine": "ok"}), [bad, good])
    failures = sample("sovereign_engine_scrape_failures_total", bad) or 0.0

    with capture_logs() as logs:
        await monitor.refresh()

    assert monitor.view(bad).healthy is False
    assert monitor.view(bad).stale is True  # never read: its zero load means nothing
    assert monitor.view(good).healthy is True
    assert sample("sovereign_engine_up", bad) == 0.0
    assert sample("sovereign_engine_scrape_failures_total", bad) == failures + 1
    assert [entry["event"] for entry in logs] == ["engine_down"]


async def test_a_hung_engine_is_cut_off_at_the_timeout() -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        return httpx.Response(200)

    hung = engine("hung.engine")
    monitor = monitor_for(hang, [hung], timeout=0.01)

    await monitor.refresh()  # returns: the scrape's own deadline ends it

    assert monitor.view(hung).healthy is False


async def test_one_refresh_scrapes_all_engines_at_once() -> None:
    # Each answer waits until every engine has been asked: a refresh that scraped one engine
    # after another would stall on the first and time it out.
    hosts = [f"par-{i}.engine" for i in range(5)]
    arrived: list[httpx.Request] = []
    everyone = asyncio.Event()

    async def barrier(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(404)  # read after the scrape; not what this test is about
        arrived.append(request)
        if len(arrived) == 2 * len(hosts):
            everyone.set()
        await everyone.wait()
        if request.url.path == "/health":
            return httpx.Response(200)
        return httpx.Response(200, text=vllm_metrics(0, 0, 0))

    engines = [engine(h) for h in hosts]
    monitor = monitor_for(barrier, engines, timeout=2.0)

    await monitor.refresh()

    assert all(v.healthy and not v.stale for v in monitor.views(engines))
    assert len(arrived) == 10


async def test_a_reading_goes_stale_without_a_good_scrape() -> None:
    target = engine("aging.engine")
    fake = Engines({"aging.engine": "ok"}, load=(0.0, 0.0, 0.0))
    clock = FakeClock()
    monitor = monitor_for(fake, [target], clock, stale_after=1.5)
    assert monitor.view(target).stale is True
    assert monitor.view(target).age_s is None

    await monitor.refresh()
    clock.now += 1.0
    fake.behaviour["aging.engine"] = "refuse"
    await monitor.refresh()

    view = monitor.view(target)
    assert (view.healthy, view.stale) == (False, False)
    assert view.age_s == pytest.approx(1.0)
    clock.now += 0.6
    view = monitor.view(target)
    # Its last reading said idle; that reading is now too old to be believed.
    assert (view.running, view.waiting, view.stale) == (0.0, 0.0, True)
    assert view.age_s == pytest.approx(1.6)

    fake.behaviour["aging.engine"] = "ok"
    with capture_logs() as logs:
        await monitor.refresh()
    assert (monitor.view(target).healthy, monitor.view(target).stale) == (True, False)
    assert [entry["event"] for entry in logs] == ["engine_up"]


# --- in-flight accounting --------------------------------------------------------------------


async def test_inflight_counts_open_requests_started_since_the_last_good_scrape() -> None:
    target = engine("busy.engine")
    fake = Engines({"busy.engine": "ok"})
    monitor = monitor_for(fake, [target])

    before = [monitor.started(target) for _ in range(3)]
    assert monitor.view(target).inflight == 3  # never scraped: all of them are ours to add

    await monitor.refresh()
    assert monitor.view(target).inflight == 0  # the engine's gauges include those three

    after = [monitor.started(target) for _ in range(2)]
    assert monitor.view(target).inflight == 2
    monitor.finished(before[0])
    # The scrape counted it (running 3 + waiting 1): gone now, so the estimate drops.
    assert monitor.view(target).inflight == 1
    monitor.finished(after[0])
    monitor.finished(after[0])  # finishing twice (a retry path's finally) counts once
    assert monitor.view(target).inflight == 0

    fake.behaviour["busy.engine"] = "refuse"
    await monitor.refresh()
    assert monitor.view(target).inflight == 0  # a failed scrape saw nothing: no reset

    fake.behaviour["busy.engine"] = "ok"
    await monitor.refresh()
    assert monitor.view(target).inflight == 0
    monitor.finished(after[1])  # the new scrape counted it: one less than the gauges say
    view = monitor.view(target)
    assert view.running + view.waiting + view.inflight == 3


async def test_the_estimate_never_falls_below_this_replicas_own_open_requests() -> None:
    target = engine("quiet.engine")
    fake = Engines({"quiet.engine": "ok"}, load=(0.0, 0.0, 0.0))
    monitor = monitor_for(fake, [target])
    await monitor.refresh()  # the engine says 0 running, 0 waiting
    ours = [monitor.started(target) for _ in range(3)]
    await monitor.refresh()  # ... and still 0: our requests had not reached its scheduler
    view = monitor.view(target)
    assert view.running + view.waiting == 0
    assert view.inflight == 3  # the floor: what we ourselves have open
    monitor.finished(ours[0])
    assert monitor.view(target).inflight == 2


async def test_a_request_sent_while_the_scrape_is_on_the_wire_counts_as_inflight() -> None:
    target = engine("race.engine")
    tickets = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/health", "/v1/models"):
            return httpx.Response(200)
        tickets.append(monitor.started(target))  # after the scrape left, before its answer
        return httpx.Response(200, text=vllm_metrics(1, 0, 0.1))

    monitor = monitor_for(handler, [target])
    await monitor.refresh()

    assert monitor.view(target).inflight == 1
    monitor.finished(tickets[0])
    assert monitor.view(target).inflight == 0


async def test_model_cards_give_the_context_length_and_are_reread_only_now_and_then() -> None:
    small, large = engine("small.engine"), engine("large.engine")
    fake = Engines({"small.engine": "ok", "large.engine": "ok"}, context=4096)
    clock = FakeClock()
    monitor = monitor_for(fake, [small, large], clock, models_every=60.0)
    assert monitor.context_length("llama-70b", [small, large]) is None  # nothing read yet

    await monitor.refresh()
    assert monitor.context_length("llama-70b", [small, large]) == 4096
    assert monitor.context_length("other-model", [small, large]) is None

    fake.context = 32768
    clock.now += 10
    await monitor.refresh()  # within models_every: the cards are not read again
    assert monitor.context_length("llama-70b", [small]) == 4096
    clock.now += 60
    fake.behaviour["large.engine"] = "garbage"  # its scrape fails: its cards stay as they were
    await monitor.refresh()
    assert monitor.context_length("llama-70b", [small]) == 32768
    assert monitor.context_length("llama-70b", [large]) == 4096
    cards = [r.url.host for r in fake.requests if r.url.path == "/v1/models"]
    assert sorted(cards) == ["large.engine", "small.engine", "small.engine"]


def test_track_counts_a_request_until_it_ends_even_by_an_error() -> None:
    target = engine("tracked.engine")
    monitor = monitor_for(Engines({}), [target])

    with monitor.track(target):
        assert monitor.view(target).inflight == 1
    with pytest.raises(httpx.ReadError), monitor.track(target):
        raise httpx.ReadError("stream broke")

    assert monitor.view(target).inflight == 0


def test_the_engine_label_carries_no_credentials() -> None:
    assert engine_label(Engine("http://user:pw@de-9.engine:8000", KEYED)) == (
        "http://de-9.engine:8000"
    )
    assert engine_label(Engine("https://de-9.engine", KEYED)) == "https://de-9.engine"


# --- the loop --------------------------------------------------------------------------------


async def test_run_keeps_scraping_through_failing_scrapes() -> None:
    target = engine("flaky.engine")
    fake = Engines({"flaky.engine": "bug"})
    enough = asyncio.Event()

    async def counting(request: httpx.Request) -> httpx.Response:
        if len(fake.requests) >= 6:
            enough.set()
        return await fake(request)

    monitor = monitor_for(counting, [target], interval=0.0)
    task = asyncio.create_task(monitor.run())
    await asyncio.wait_for(enough.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(fake.requests) >= 6  # at least three refreshes, every one failing
    assert monitor.view(target).healthy is False


async def test_run_survives_a_refresh_that_raises() -> None:
    class Flaky(EngineMonitor):
        calls = 0
        enough = asyncio.Event()  # a fresh class, and so a fresh event, per test run

        async def refresh(self) -> None:
            self.calls += 1
            if self.calls >= 4:
                self.enough.set()
            raise RuntimeError("monitor bug")

    monitor = Flaky(httpx.AsyncClient(), [], interval=0.0)
    with capture_logs() as logs:
        task = asyncio.create_task(monitor.run())
        await asyncio.wait_for(monitor.enough.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert monitor.calls >= 4
    failed = [e for e in logs if e["event"] == "engine_monitor_refresh_failed"]
    assert len(failed) >= 3
    assert all(e["log_level"] == "error" for e in failed)


async def test_the_router_is_told_when_an_engine_refuses_and_each_time_it_answers() -> None:
    target = engine("flaky.engine")
    fake = Engines({"flaky.engine": "refuse"})
    events: list[str] = []
    monitor = monitor_for(
        fake,
        [target],
        on_unreachable=lambda e: events.append("down"),
        on_answered=lambda e: events.append("up"),
    )
    await monitor.refresh()
    fake.behaviour["flaky.engine"] = "ok"
    await monitor.refresh()
    await monitor.refresh()  # told on every answer: a request may have seen it refuse since
    assert events == ["down", "up", "up"]
