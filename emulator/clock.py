"""The emulator's one clock.

Every lifetime in the emulator (OAuth tokens, flows, OTPs, Instant Links, webhook schedules) reads
this clock and schedules its deadline on it. Unfrozen, the clock follows real time (plus any offset
the control plane added); frozen, it stands still until advanced or set. Advancing fires every timer
that became due, in deadline order and with the clock reading each timer's own deadline, before the
call returns, so a test that moves time sees the consequences at once.

The clock only shows instants from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z (`EARLIEST`, `LATEST`):
every instant there is a four-digit-year RFC 3339 timestamp and a non-negative JWT NumericDate, and
the millennium above `LATEST` leaves room for every deadline computed from it. Moves outside are refused
(`ClockRangeError`) before anything changes.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

TimerCallback = Callable[[], None]


def _nothing() -> None:
    """What a cancelled timer calls (never): its callback, let go."""


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = (datetime(9000, 1, 1, tzinfo=timezone.utc) - _EPOCH).total_seconds()  # 9000-01-01T00:00:00Z
RANGE_TEXT = "from 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z"


class ClockRangeError(ValueError):
    """A move the clock refuses; `argument` names it ('set' or 'advance'), `rule` completes "field 'x' ..."."""

    def __init__(self, argument: str, rule: str) -> None:
        super().__init__(f"{argument} {rule}")
        self.argument = argument
        self.rule = rule


def in_range(instant: float) -> bool:
    """Whether the clock can show `instant` (False for NaN and the infinities too)."""
    return EARLIEST <= instant <= LATEST


# Cancelled timers wait in the clock's heap until they come up, unless they are most of it: then the heap
# is rebuilt without them. Each verify settled at once cancels its code's two-minute timer, so under load
# they were hundreds of thousands of objects for the collector to walk, made all through the load.
COMPACT_AFTER = 1000


@dataclass(order=True, slots=True)
class Timer:
    due: float
    seq: int
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    waiting_in: "Clock | None" = field(default=None, compare=False, repr=False)  # the heap's clock, until it leaves

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        # It must not keep what its callback holds (a flow, say) alive while it waits in the heap.
        self.callback = _nothing
        if self.waiting_in is not None:
            self.waiting_in._timer_cancelled()


class Clock:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._timers: list[Timer] = []
        self._cancelled = 0  # how many timers in the heap are cancelled
        self._seq = itertools.count()
        self._firing = False
        # Told after every move (freeze, unfreeze, set, advance, reset), not as real time passes: the UI.
        self.listeners: list[Callable[[], None]] = []

    # -- reading -------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the epoch, on the emulator's clock."""
        if self._frozen_at is not None:
            return self._frozen_at
        return self._wall() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def earliest_due(self) -> float | None:
        """When the next timer that has not fired falls due (it may be due already, not yet run)."""
        self._drop_cancelled()
        return self._timers[0].due if self._timers else None

    @property
    def pending_timers(self) -> int:
        return len(self._timers) - self._cancelled

    @property
    def setting(self) -> tuple[float | None, float]:
        """(the instant it is frozen at, or None; its offset from real time): what a snapshot keeps."""
        return self._frozen_at, self._offset

    def restore(self, frozen_at: float | None, offset: float) -> None:
        """Back to a snapshot's setting: unfrozen, it reads real time plus the offset, as if the
        emulator had run on meanwhile. Timers are not fired here: the next request or tick does."""
        self._frozen_at, self._offset = frozen_at, offset
        self._moved()

    # -- moving --------------------------------------------------------------------------------

    def freeze(self) -> None:
        if self._frozen_at is None:
            self._frozen_at = self.now()
            self._moved()

    def unfreeze(self) -> None:
        if self._frozen_at is not None:
            self._offset = self._frozen_at - self._wall()
            self._frozen_at = None
            self._moved()

    def advance(self, seconds: float) -> None:
        """Move forward, firing each timer that falls due on the way at its own deadline."""
        self.move(advance=seconds)

    def set(self, instant: float) -> None:
        """Jump to an instant. Forwards fires what falls due; backwards un-expires nothing."""
        self.move(instant=instant)

    def move(self, *, freeze: bool | None = None, instant: float | None = None, advance: float = 0.0) -> None:
        """Freeze or unfreeze, set, then advance, all or nothing: a move that would leave the clock's
        range raises ClockRangeError (naming 'set' or 'advance') before anything changes."""
        if instant is not None and not in_range(instant):
            raise ClockRangeError("set", f"must be an instant {RANGE_TEXT}")
        if not math.isfinite(advance) or advance < 0:
            raise ClockRangeError("advance", "must be a finite number of seconds, at least 0: "
                                             "the clock only advances forwards")
        start = instant if instant is not None else self.now()
        target = start + advance  # read once: an unfrozen clock moves on while this runs
        if advance and not in_range(target):
            raise ClockRangeError("advance", f"would move the clock past 9000-01-01T00:00:00Z: it shows "
                                             f"instants {RANGE_TEXT}")
        if freeze is True:
            self.freeze()
        elif freeze is False:
            self.unfreeze()
        if instant is not None:
            if instant >= self.now():
                self._move_to(instant)
            else:
                self._place(instant)
        if advance:
            self._move_to(target)
        if instant is not None or advance:
            self._moved()

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
        timer = Timer(due=due, seq=next(self._seq), callback=callback, waiting_in=self)
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
                timer = self._pop()
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
        timers, self._timers, self._cancelled = self._timers, [], 0
        for timer in timers:  # whoever holds one sees it will not fire
            timer.waiting_in = None
            timer.cancel()
        self._moved()

    def _moved(self) -> None:
        for listener in self.listeners:
            listener()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            self._pop()

    def _pop(self) -> Timer:
        timer = heapq.heappop(self._timers)
        timer.waiting_in = None
        if timer.cancelled:
            self._cancelled -= 1
        return timer

    def _timer_cancelled(self) -> None:
        self._cancelled += 1
        if self._cancelled > COMPACT_AFTER and 2 * self._cancelled > len(self._timers):
            for timer in self._timers:
                if timer.cancelled:
                    timer.waiting_in = None
            self._timers = [timer for timer in self._timers if not timer.cancelled]
            heapq.heapify(self._timers)
            self._cancelled = 0


# What rfc3339() can write: years 0001 to 9999. Deadlines far beyond the clock's range (a huge delay
# added to it) read as the last of them rather than failing a reply.
_FIRST_WRITABLE = (datetime.min.replace(tzinfo=timezone.utc) - _EPOCH).total_seconds()
_LAST_WRITABLE = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc) - _EPOCH).total_seconds()
# RFC 3339 §5.6 date-time: seconds and an offset are required ('T' and 'Z' in either case).
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def rfc3339(instant: float) -> str:
    """UTC RFC 3339 with millisecond precision and a four-digit year, e.g. 2026-11-26T03:15:00.000Z."""
    if math.isnan(instant):
        raise ValueError("NaN is not an instant")
    if instant < _FIRST_WRITABLE:
        moment = datetime.min
    elif instant > _LAST_WRITABLE:
        moment = datetime.max
    else:
        moment = _EPOCH + timedelta(seconds=instant)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 date-time (seconds and an offset required; 'Z' accepted) into epoch seconds."""
    if _RFC3339.fullmatch(text) is None:
        raise ValueError("expected YYYY-MM-DDTHH:MM:SS[.fraction] and 'Z' or an offset such as '+01:00'")
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        return (moment - _EPOCH).total_seconds()
    except (ValueError, OverflowError) as error:  # e.g. month 13, or an offset past year 1 or 9999
        raise ValueError(f"not a date and time of the calendar ({error})") from None
