"""What one streamed request reports to Locust, besides the request itself.

Locust's statistics know one number per entry, its "response time". Each quantity below gets
its own entry type, named by workload, so the stats CSV and the HTML report show, per workload:

| Type | Name | "response time" column | "Average Content Size" column |
| --- | --- | --- | --- |
| ``POST`` | workload | whole request, first byte sent to stream end (ms) | output tokens |
| ``TTFT`` | workload | time to first token (ms) | prompt tokens (from usage) |
| ``ITL`` | workload | mean inter-token latency of the request (ms) | output tokens |
| ``TOK/S`` | workload | output tokens per second of the request | output tokens |

Failures are counted once, on the ``POST`` entry; the derived entries come only from successful
requests. Locust keeps percentiles in a histogram of rounded values (by default 2 significant
digits above 100, so a p95 TTFT of 512 ms would show as 510); the locustfile installs
``bucket`` instead: whole units below 1,000, 3 significant digits above. The CSV prints
percentiles as whole numbers either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtest.sse import StreamResult

REQUEST = "POST"
TTFT = "TTFT"
ITL = "ITL"
TOKENS_PER_S = "TOK/S"


@dataclass(frozen=True)
class Sample:
    request_type: str
    name: str
    value: float
    length: int


def derived_samples(workload: str, result: StreamResult) -> list[Sample]:
    """The TTFT / ITL / tokens/s entries for one request (none for a failed one)."""
    if not result.ok:
        return []
    samples = []
    if result.ttft_ms is not None:
        samples.append(Sample(TTFT, workload, result.ttft_ms, result.prompt_tokens or 0))
    if result.itl_ms is not None:
        samples.append(Sample(ITL, workload, result.itl_ms, result.output_tokens))
    if result.tokens_per_s is not None:
        samples.append(Sample(TOKENS_PER_S, workload, result.tokens_per_s, result.output_tokens))
    return samples


def bucket(response_time: float) -> int:
    """Locust's percentile key for a value: whole units below 1,000, else 3 significant digits."""
    if response_time < 1000:
        return round(response_time)
    return int(round(response_time, 2 - math.floor(math.log10(response_time))))
