"""The emulator's one clock.

Every lifetime in the emulator (OAuth tokens, flows, OTPs, Instant Links, webhook schedules) reads
this clock and schedules its deadline on it. Unfrozen, the clock follows real time (plus any offset
the control plane added); frozen, it stands still until advanced or set. Advancing fires every timer
that became due, in deadline order and with the clock reading each timer's own deadline, before the
call returns, so a test that moves time sees the consequences at once.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

TimerCallback = Callable[[], None]


@dataclass(order=True)
class Timer:
    due: float
    seq: int
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._firing = False

    # -- reading -------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the epoch, on the emulator's clock."""
        if self._frozen_at is not None:
            return self._frozen_at
        return self._wall() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    @property
    def pending_timers(self) -> int:
        return sum(1 for timer in self._timers if not timer.cancelled)

    # -- moving --------------------------------------------------------------------------------

    def freeze(self) -> None:
        if self._frozen_at is None:
            self._frozen_at = self.now()

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - self._wall()
            self._frozen_at = None

    def advance(self, seconds: float) -> None:
        """Move forward, firing each timer that falls due on the way at its own deadline."""
        if seconds < 0:
            raise ValueError("the clock only advances forwards")
        self._move_to(self.now() + seconds)

    def set(self, instant: float) -> None:
        """Jump to an instant. Forwards fires what falls due; backwards un-expires nothing."""
        if instant >= self.now():
            self._move_to(instant)
        else:
            self._place(instant)

    def _move_to(self, target: float) -> None:
        while True:
            self._drop_cancelled()
            if not self._timers or self._timers[0].due > target:
                break
            due = self._timers[0].due
            if due > self.now():
                self._place(due)
            self.fire_due()
        self._place(target)

    def _place(self, instant: float) -> None:
        if self._frozen_at is not None:
            self._frozen_at = instant
        else:
            self._offset = instant - self._wall()

    # -- timers --------------------------------------------------------------------------------

    def call_at(self, due: float, callback: TimerCallback) -> Timer:
        timer = Timer(due=due, seq=next(self._seq), callback=callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: TimerCallback) -> Timer:
        return self.call_at(self.now() + delay, callback)

    def fire_due(self) -> int:
        """Run every timer whose deadline has passed; returns how many ran."""
        if self._firing:  # a callback that reads state must not re-enter the loop
            return 0
        self._firing = True
        fired = 0
        try:
            while self._timers and self._timers[0].due <= self.now():
                timer = heapq.heappop(self._timers)
                if timer.cancelled:
                    continue
                timer.callback()
                fired += 1
        finally:
            self._firing = False
        return fired

    def reset(self) -> None:
        """Back to real time, unfrozen, with no timers."""
        self._offset = 0.0
        self._frozen_at = None
        self._timers.clear()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)


def rfc3339(instant: float) -> str:
    """UTC RFC 3339 with millisecond precision, e.g. 2026-11-26T03:15:00.000Z."""
    moment = datetime.fromtimestamp(instant, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp (offset required; 'Z' accepted) into epoch seconds."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("an RFC 3339 timestamp needs a UTC offset, e.g. 'Z' or '+00:00'")
    return moment.timestamp()
