"""Prove's rate limit: requests per second per project, then HTTP 429 with Retry-After.

Prove answers 429 over 25 requests per second (platform-api §6). Here a project's `rateLimit` turns
it on: a token bucket per project holds `rate` calls and refills at `rate` per second, so a burst of
`rate` calls passes at once and a steady `rate` per second passes forever.

The bucket runs on the emulator clock, like every other lifetime: a test bursts, gets 429, and moves
the clock by the Retry-After instead of sleeping. A frozen clock therefore refills only when moved;
the 429's message says so. A refused call takes no token, so a client that keeps retrying recovers
as soon as time moves.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from emulator.clock import Clock
from emulator.errors import RateLimited

MAX_BUCKETS = 10_000  # one per rate-limited project; beyond it the oldest is forgotten (it starts full)
# Clock readings near 1.7e9 s are precise to about 0.2 µs, so a refill of exactly one call may read
# 0.99999…: a microsecond of slack.
_SLACK_SECONDS = 1e-6


@dataclass
class _Bucket:
    rate: float
    tokens: float
    at: float  # the clock reading of the last refill


class RateLimiter:
    def __init__(self, clock: Clock, max_buckets: int = MAX_BUCKETS) -> None:
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def admit(self, project_id: str, rate: float | None) -> None:
        """Count one call of the project; RateLimited when it has no call left this instant."""
        if rate is None:
            self._buckets.pop(project_id, None)
            return
        bucket = self._refilled(project_id, rate)
        if bucket.tokens >= 1 - _SLACK_SECONDS * rate:
            bucket.tokens = max(0.0, bucket.tokens - 1)
            return
        retry_after = max(1, math.ceil((1 - bucket.tokens) / rate - _SLACK_SECONDS))
        frozen = " (the emulator clock is frozen: advance it to let calls through)" if self._clock.frozen else ""
        raise RateLimited(
            f"rate limit exceeded: project {project_id!r} has rateLimit {rate:g} (requests per second); "
            f"retry after {retry_after} s{frozen}",
            retry_after,
        )

    def _refilled(self, project_id: str, rate: float) -> _Bucket:
        now = self._clock.now()
        bucket = self._buckets.get(project_id)
        if bucket is None or bucket.rate != rate:  # new, or the project's limit changed: start full
            bucket = _Bucket(rate=rate, tokens=float(rate), at=now)
            self._buckets[project_id] = bucket
            self._buckets.move_to_end(project_id)
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
            return bucket
        # A clock set backwards refills nothing; counting restarts from its new reading.
        bucket.tokens = min(rate, bucket.tokens + max(0.0, now - bucket.at) * rate)
        bucket.at = now
        return bucket

    def reset(self, project_id: str | None = None) -> None:
        if project_id is None:
            self._buckets.clear()
        else:
            self._buckets.pop(project_id, None)

    def __len__(self) -> int:
        return len(self._buckets)
