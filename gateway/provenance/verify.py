"""Free verification (``POST /v1/provenance/verify``): a token checked against exactly the
text given, the watermark detector on the text alone, and the bucket that keeps the endpoint
free but not a free-for-all.

The rate limit is a token bucket per client address, in process (per replica): the address
is the connection's as the server sees it; behind a reverse proxy uvicorn takes it from
``X-Forwarded-For`` only when the proxy's address is in ``forwarded_allow_ips`` (its
``FORWARDED_ALLOW_IPS`` environment variable), else every caller shares the proxy's bucket.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import RateLimited
from gateway.provenance.token import verify

# The watermark detector of the deployment's scheme (``watermark.py``: ``detect(text,
# scheme)`` bound to the scheme), its result a dataclass; None: no watermark configured.
Detector = Callable[[str], Any]
NO_WATERMARK = "no text watermark is configured on this gateway: the text was not scored"


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    token: str | None = Field(None, max_length=16_384)


class Buckets:
    """A token bucket per key (a client address): ``rate`` per second, ``burst`` at most;
    the least recently seen keys are forgotten beyond ``size``."""

    def __init__(
        self,
        rate: float,
        burst: int,
        size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate, self._burst, self._size, self._clock = rate, float(burst), size, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 if one was taken, else the seconds until one is there."""
        now = self._clock()
        level, at = self._buckets.pop(key, (self._burst, now))
        level = min(self._burst, level + (now - at) * self._rate)
        wait = 0.0 if level >= 1 else (1 - level) / self._rate
        self._buckets[key] = (level - 1 if wait == 0 else level, now)
        if len(self._buckets) > self._size:
            self._buckets.popitem(last=False)
        return wait


class Verifier:
    def __init__(
        self,
        jwks: Callable[[], dict[str, Any]],
        buckets: Buckets,
        detector: Detector | None = None,
    ) -> None:
        self._jwks = jwks
        self._buckets = buckets
        self.detector = detector

    def admit(self, client: str | None) -> None:
        wait = self._buckets.take(client or "unknown")
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            raise RateLimited(
                "Too many verification requests from your address; please retry later.",
                headers={"retry-after": retry},
            )

    def check(self, body: VerifyRequest) -> dict[str, Any]:
        token = None
        if body.token is not None:
            token = verify(body.token, body.text, self._jwks()).as_json()
        answer: dict[str, Any] = {"token": token, "watermark": None}
        if self.detector is None:
            answer["watermark_note"] = NO_WATERMARK
        else:
            detection = self.detector(body.text)
            answer["watermark"] = (
                dataclasses.asdict(detection)
                if dataclasses.is_dataclass(detection) and not isinstance(detection, type)
                else detection
            )
        return answer
