"""The emulator clock: frozen/unfrozen, advance fires due timers in order at their own deadlines."""

from __future__ import annotations

import pytest

from emulator.clock import COMPACT_AFTER, Clock, parse_rfc3339, rfc3339


class FakeWall:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_unfrozen_clock_follows_real_time_plus_offset():
    wall = FakeWall()
    clock = Clock(wall)
    assert clock.now() == wall.now
    wall.now += 5
    assert clock.now() == wall.now
    clock.advance(10)
    wall.now += 1
    assert clock.now() == wall.now + 10


def test_frozen_clock_stands_still_until_moved():
    wall = FakeWall()
    clock = Clock(wall)
    clock.freeze()
    frozen_at = clock.now()
    wall.now += 100
    assert clock.now() == frozen_at
    clock.advance(30)
    assert clock.now() == frozen_at + 30
    clock.unfreeze()
    wall.now += 2
    assert clock.now() == frozen_at + 32


def test_advance_fires_timers_in_order_each_at_its_deadline():
    clock = Clock(FakeWall())
    clock.freeze()
    start = clock.now()
    seen: list[tuple[str, float]] = []
    clock.call_at(start + 20, lambda: seen.append(("b", clock.now())))
    clock.call_at(start + 10, lambda: seen.append(("a", clock.now())))
    clock.call_at(start + 99, lambda: seen.append(("late", clock.now())))
    clock.advance(50)
    assert seen == [("a", start + 10), ("b", start + 20)]
    assert clock.now() == start + 50
    assert clock.pending_timers == 1


def test_a_timer_scheduled_by_a_timer_fires_within_the_same_advance():
    clock = Clock(FakeWall())
    clock.freeze()
    start = clock.now()
    seen: list[float] = []
    clock.call_at(start + 5, lambda: clock.call_later(5, lambda: seen.append(clock.now())))
    clock.advance(60)
    assert seen == [start + 10]


def test_cancelled_timers_do_not_fire():
    clock = Clock(FakeWall())
    clock.freeze()
    fired: list[int] = []
    timer = clock.call_later(1, lambda: fired.append(1))
    timer.cancel()
    clock.advance(2)
    assert fired == [] and clock.pending_timers == 0


def test_cancelled_timers_do_not_pile_up_in_the_heap():
    """A verify settled at once cancels its code's timer: under load the heap must not keep them all
    until their deadlines, and what is still pending fires in order all the same."""
    clock = Clock(FakeWall())
    clock.freeze()
    fired: list[int] = []
    kept = [clock.call_later(1000 + n, lambda n=n: fired.append(n)) for n in range(3)]
    for n in range(50_000):
        clock.call_later(120 + n % 7, lambda: fired.append(-1)).cancel()
    assert clock.pending_timers == 3
    assert len(clock._timers) <= 2 * COMPACT_AFTER + 3  # not 50,003
    kept[1].cancel()
    kept[1].cancel()  # twice counts once
    assert clock.pending_timers == 2
    clock.advance(2000)
    assert fired == [0, 2] and clock.pending_timers == 0 and clock._timers == []


def test_a_timer_cancelled_after_it_fired_counts_nothing():
    clock = Clock(FakeWall())
    clock.freeze()
    fired: list[str] = []
    first = clock.call_later(1, lambda: fired.append("first"))
    clock.call_later(5, lambda: fired.append("second"))
    clock.advance(1)
    first.cancel()  # already fired: the heap holds one pending timer, not a cancelled one
    assert clock.pending_timers == 1
    clock.advance(10)
    assert fired == ["first", "second"] and clock.pending_timers == 0


def test_set_forwards_fires_and_backwards_does_not():
    clock = Clock(FakeWall())
    clock.freeze()
    start = clock.now()
    fired: list[int] = []
    clock.call_at(start + 100, lambda: fired.append(1))
    clock.set(start - 1000)
    assert fired == [] and clock.now() == start - 1000
    clock.set(start + 100)
    assert fired == [1]


def test_advance_refuses_negative_seconds():
    with pytest.raises(ValueError):
        Clock(FakeWall()).advance(-1)


def test_fire_due_in_real_time():
    wall = FakeWall()
    clock = Clock(wall)
    fired: list[int] = []
    clock.call_later(3, lambda: fired.append(1))
    assert clock.fire_due() == 0
    wall.now += 3
    assert clock.fire_due() == 1 and fired == [1]


def test_reset_returns_to_real_time_without_timers():
    wall = FakeWall()
    clock = Clock(wall)
    clock.freeze()
    clock.advance(500)
    clock.call_later(10, lambda: None)
    clock.reset()
    assert not clock.frozen and clock.now() == wall.now and clock.pending_timers == 0


def test_rfc3339_round_trip():
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert parse_rfc3339("2026-01-02T03:04:05Z") == parse_rfc3339("2026-01-02T04:04:05+01:00")
    assert parse_rfc3339(rfc3339(1_800_000_000.25)) == 1_800_000_000.25
    with pytest.raises(ValueError):
        parse_rfc3339("2026-01-02T03:04:05")  # no offset
