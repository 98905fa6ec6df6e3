"""Shared pieces for the simulator tests: a small engine profile, sequences, live servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from serving.perfmodel import EnginePerf
from serving.simulator import SimulatorConfig, SimulatorThread
from serving.simulator.scheduler import Sequence

MODEL = "sim-model"


def small_perf(**overrides: float) -> EnginePerf:
    """A toy engine whose limits a test can reach with a handful of sequences."""
    values: dict[str, float] = {
        "max_num_seqs": 4,
        "kv_capacity_tokens": 16 * 64,
        "max_num_batched_tokens": 256,
        "prefill_tokens_per_s": 1000.0,
        "decode_base_s": 0.01,
        "decode_per_seq_s": 0.001,
    }
    values.update(overrides)
    return EnginePerf(
        key="test/small",
        gpus=1,
        max_num_seqs=int(values["max_num_seqs"]),
        kv_capacity_tokens=int(values["kv_capacity_tokens"]),
        max_num_batched_tokens=int(values["max_num_batched_tokens"]),
        prefill_tokens_per_s=values["prefill_tokens_per_s"],
        decode_base_s=values["decode_base_s"],
        decode_per_seq_s=values["decode_per_seq_s"],
        source="tests",
    )


def seq(
    name: str,
    prompt_len: int,
    max_tokens: int = 4,
    *,
    hashes: tuple[int, ...] | None = None,
    eos_at: int | None = None,
    arrival: float = 0.0,
) -> Sequence:
    """A sequence whose prompt blocks are unique unless ``hashes`` says otherwise."""
    if hashes is None:
        hashes = tuple(hash((name, i)) for i in range(prompt_len // 16))
    return Sequence(name, prompt_len, hashes, max_tokens, eos_at, arrival)


def metric(base_url: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples on an engine's /metrics."""
    total = 0.0
    for line in httpx.get(base_url + "/metrics", timeout=5).text.splitlines():
        series, _, value = line.rpartition(" ")
        metric_name, _, label_text = series.partition("{")
        if line.startswith("#") or metric_name != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    """Two fast engines (b200/llama-3.3-70b at 10x speed) on free ports, for the module."""
    config = SimulatorConfig("b200/llama-3.3-70b", MODEL, engines=2, speed=0.1)
    with SimulatorThread(config) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http
