"""Live flows, indexed by correlationId and authId: each swept when its lifetime ends, and at most so
many per project.

A project holds at most its bound of live flows (its maxLiveFlows, else the emulator's
--max-live-flows). A new flow in a full project evicts one first: a finished one (its state one of
its FINISHED_STATES), the one seen finished first; when none has finished, the oldest. An evicted
flow is released as an expired one is and answered as one (8008): nothing in Prove's API tells them
apart.

The ids of recently gone flows (expired or evicted) are kept, a bounded number, so the control plane
can tell "expired" and "evicted" from "never existed", and the journal can say why a call failed.

Memory stays flat however many flows come and go: the store holds one clock timer (at the earliest
deadline), not one per flow, and after its sweeps removed many flows it hands the memory they held
back to the operating system, at most once per RELEASE_INTERVAL seconds of the emulator's clock.
"""

from __future__ import annotations

import functools
import gc
import heapq
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from emulator.clock import Clock, Timer, rfc3339
from emulator.flows.base import Flow
from emulator.phone import normalize

EXPIRED = "expired"
EVICTED = "evicted"
GONE_IDS_KEPT = 10_000
# Sweeps (and resets) must have removed this many flows before their memory is handed back: the
# hand-back runs a full garbage collection, worth its time only after a big drop.
RELEASE_AFTER = 10_000
RELEASE_INTERVAL = 30.0  # seconds of the emulator's clock, at least, between two hand-backs

# Where the bound of a project's live flows comes from: (project id) -> (bound, the setting that says so).
LimitOf = Callable[[str], tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Gone:
    """A flow that is no longer live: whose, when and why."""

    project_id: str
    at: float
    reason: str  # EXPIRED or EVICTED
    limit: int = 0  # evicted: the bound of the project's live flows then
    setting: str = ""  # evicted: where that bound is set

    def explain(self, correlation_id: str) -> str:
        if self.reason == EXPIRED:
            return f"flow {correlation_id!r} expired at {rfc3339(self.at)} (its 15-minute lifetime ended)"
        return (f"flow {correlation_id!r} was evicted at {rfc3339(self.at)}: project {self.project_id!r} holds "
                f"at most {self.limit} live flows ({self.setting}); the finished flows go first, then the oldest")


ID_LENGTH = 36  # a correlation id's characters (emulator.ids.new_id)


class GoneIds:
    """The ids of the last GONE_IDS_KEPT flows that went, and why, in a few flat arrays.

    Not a dict of small objects: those would be made while a sweep frees flows, so they would land all
    over the memory the flows were made in, and the allocator hands an arena back to the OS only when
    nothing in it is left (10,000 kept ~75 MiB of 200,000 expired flows). A lookup scans the ids (a few
    hundred KiB, in C); it only runs for calls naming a flow that is not live.
    """

    def __init__(self, capacity: int = GONE_IDS_KEPT) -> None:
        self._capacity = capacity
        self.clear()

    def clear(self) -> None:
        self._ids = bytearray(ID_LENGTH * self._capacity)  # a ring: slot i is ids[36 i : 36 i + 36]
        self._at = array("d", bytes(8 * self._capacity))
        self._limits = array("q", bytes(8 * self._capacity))
        self._kind_of = array("I", bytes(4 * self._capacity))  # a number of a kind; 0: an empty slot
        self._kinds: list[tuple[str, str, str]] = []  # (project id, reason, setting); kind n is _kinds[n - 1]
        self._kind_numbers: dict[tuple[str, str, str], int] = {}
        self._next = 0  # the slot the next id takes, over the oldest

    def prepare(self, project_id: str, reason: str, setting: str = "") -> int:
        """The number of this kind of gone flow, made now if new: called as flows are added, so that none is
        made while a sweep frees flows (see above)."""
        kind = (project_id, reason, setting)
        number = self._kind_numbers.get(kind)
        if number is None:
            self._kinds.append(kind)
            number = self._kind_numbers[kind] = len(self._kinds)
        return number

    def add(self, correlation_id: str, gone: Gone) -> None:
        encoded = correlation_id.encode()
        if len(encoded) != ID_LENGTH:  # not one of the emulator's ids: nothing can name it
            return
        slot = self._next
        self._next = (slot + 1) % self._capacity
        self._ids[slot * ID_LENGTH:(slot + 1) * ID_LENGTH] = encoded
        self._at[slot] = gone.at
        self._limits[slot] = gone.limit
        self._kind_of[slot] = self.prepare(gone.project_id, gone.reason, gone.setting)

    def get(self, correlation_id: str) -> Gone | None:
        if len(correlation_id) != ID_LENGTH or not correlation_id.isascii():
            return None
        wanted = correlation_id.encode()
        found = self._ids.find(wanted)
        while found != -1:
            slot, offset = divmod(found, ID_LENGTH)
            if offset == 0 and self._kind_of[slot]:
                project_id, reason, setting = self._kinds[self._kind_of[slot] - 1]
                return Gone(project_id, self._at[slot], reason, self._limits[slot], setting)
            found = self._ids.find(wanted, found + 1)
        return None

    def forget(self, project_id: str) -> None:
        """Drop the project's ids (its reset): they are as unknown as ids never made."""
        for slot, number in enumerate(self._kind_of):
            if number and self._kinds[number - 1][0] == project_id:
                self._kind_of[slot] = 0
                self._ids[slot * ID_LENGTH:(slot + 1) * ID_LENGTH] = bytes(ID_LENGTH)


class _ProjectFlows:
    """One project's live flows in eviction order; each is in one of the two."""

    __slots__ = ("finished", "unfinished")

    def __init__(self) -> None:
        self.finished: OrderedDict[str, Flow] = OrderedDict()  # in the order they were seen finished
        self.unfinished: OrderedDict[str, Flow] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self.finished) + len(self.unfinished)

    def next_to_evict(self) -> Flow:
        return next(iter(self.finished.values() if self.finished else self.unfinished.values()))

    def discard(self, correlation_id: str) -> None:
        if self.finished.pop(correlation_id, None) is None:
            self.unfinished.pop(correlation_id, None)

    def compacted(self) -> "_ProjectFlows":
        copy = _ProjectFlows()
        copy.finished, copy.unfinished = OrderedDict(self.finished), OrderedDict(self.unfinished)
        return copy


class FlowStore:
    def __init__(self, clock: Clock, limit_of: LimitOf, on_gone: Callable[[Flow], None],
                 changed: Callable[[], None] = lambda: None) -> None:
        self.clock = clock
        self.limit_of = limit_of
        self.on_gone = on_gone  # releases what a flow held (timers, links, channels), expired or evicted
        self._changed = changed  # told when a flow is added, removed or records a timeline event (the UI)
        self._recorded = self._flow_recorded  # one bound method shared by every flow
        self._by_id: dict[str, Flow] = {}
        self._by_auth_id: dict[str, Flow] = {}
        self._projects: dict[str, _ProjectFlows] = {}
        # Flows that may have finished since the last add: a flow's state moves in the calls that touch
        # it, so the ones touched are sorted into finished or not before the next add may evict.
        self._touched: dict[str, Flow] = {}
        # A heap of (deadline, correlation id); an entry whose flow went otherwise (evicted, reset)
        # is stale, skipped when it comes up, and the heap is rebuilt when they are many.
        self._deadlines: list[tuple[float, str]] = []
        self._stale = 0
        self._timer: Timer | None = None  # the clock's one timer for this store, at the earliest deadline
        self._gone = GoneIds()
        self._removed = 0  # flows swept or reset since memory was last handed back
        self._released_at: float | None = None
        self._release_timer: Timer | None = None
        # The ids of flows that may have changed since the state directory last wrote them, in the order
        # first seen (None: no state directory). A call that may change a flow finds it here first, or
        # the flow records an event.
        self.changed_ids: dict[str, None] | None = None
        self.restores = 0  # how many times flows were taken back (a snapshot): the order changed whole

    # -- adding and finding ------------------------------------------------------------------------

    def add(self, flow: Flow) -> None:
        project = self._projects.get(flow.project_id)
        if project is None:
            project = self._projects[flow.project_id] = _ProjectFlows()
            self._gone.prepare(flow.project_id, EXPIRED)
        self._sort_touched()
        limit, setting = self.limit_of(flow.project_id)
        self._gone.prepare(flow.project_id, EVICTED, setting)
        while len(project) >= limit:
            self._evict(project.next_to_evict(), limit, setting)
        correlation_id = flow.correlation_id
        self._by_id[correlation_id] = flow
        self._by_auth_id[flow.auth_id] = flow
        project.unfinished[correlation_id] = flow
        self._touched[correlation_id] = flow
        heapq.heappush(self._deadlines, (flow.expires_at, correlation_id))
        self._arm()
        flow.on_recorded = self._recorded
        self._changed_flow(correlation_id)
        self._changed()

    def restore(self, flows: list[Flow]) -> None:
        """Take back flows a snapshot or the state directory held, as they were: none is evicted (the
        snapshot's project held them within its bound), and one past its deadline expires at the
        next sweep."""
        self.restores += 1
        for flow in flows:
            project = self._projects.get(flow.project_id)
            if project is None:
                project = self._projects[flow.project_id] = _ProjectFlows()
                self._gone.prepare(flow.project_id, EXPIRED)
            self._by_id[flow.correlation_id] = flow
            self._by_auth_id[flow.auth_id] = flow
            (project.finished if flow.finished else project.unfinished)[flow.correlation_id] = flow
            heapq.heappush(self._deadlines, (flow.expires_at, flow.correlation_id))
            flow.on_recorded = self._recorded
            self._changed_flow(flow.correlation_id)
        self._arm()
        self._changed()

    def get(self, project_id: str, correlation_id: str) -> Flow | None:
        """The project's live flow; another project's flow is as unknown as a missing one."""
        flow = self._by_id.get(correlation_id)
        if flow is None or flow.project_id != project_id:
            return None
        self._touched[correlation_id] = flow
        self._changed_flow(correlation_id)
        return flow

    def find(self, correlation_id: str) -> Flow | None:
        """A live flow of any project (the control plane sees them all)."""
        flow = self._by_id.get(correlation_id)
        if flow is not None:
            self._touched[correlation_id] = flow
            self._changed_flow(correlation_id)
        return flow

    def by_auth_id(self, auth_id: str) -> Flow | None:
        flow = self._by_auth_id.get(auth_id)
        if flow is not None:
            self._touched[flow.correlation_id] = flow
            self._changed_flow(flow.correlation_id)
        return flow

    def changing(self, flow: Flow) -> None:
        """A call that found the flow before it awaited (read its body, slept a fault's latency) may
        change it now: tracked again, since a commit in between took it as written."""
        if self._by_id.get(flow.correlation_id) is flow:
            self._touched[flow.correlation_id] = flow
            self._changed_flow(flow.correlation_id)

    def gone(self, correlation_id: str) -> Gone | None:
        """Why a recent flow is no longer live; None if unknown or live."""
        return self._gone.get(correlation_id)

    def journal_note(self, project_id: str, correlation_id: str) -> str:
        """What the journal says of a call of the project naming this flow: why it was evicted, if it was
        (an expired one needs no note: 8008 says it may have expired)."""
        if correlation_id in self._by_id:  # a live flow went nowhere (most calls)
            return ""
        gone = self._gone.get(correlation_id)
        if gone is None or gone.reason != EVICTED or gone.project_id != project_id:
            return ""
        return gone.explain(correlation_id)

    def latest_open(self, phone_number: str, project_id: str | None = None) -> Flow | None:
        """The newest live flow of the number whose possession check waits for its customer. Numbers match
        as the SMS outbox matches them (2025550100 is +12025550100); one of no digits matches none, not
        the flows that have no number yet."""
        wanted = normalize(phone_number)
        for flow in reversed(self._by_id.values()):  # insertion order: newest first
            if (wanted and normalize(flow.phone_number) == wanted and (project_id is None or flow.project_id == project_id)
                    and flow.possession is not None and not flow.possession.final):
                self._touched[flow.correlation_id] = flow
                self._changed_flow(flow.correlation_id)
                return flow
        return None

    def as_it_is(self, correlation_id: str) -> Flow | None:
        """A live flow, for writing it down: not a call that may change it, so not tracked."""
        return self._by_id.get(correlation_id)

    def all(self, project_id: str | None = None) -> list[Flow]:
        """For reading: a caller that changes one finds it by id first (get, find)."""
        return [flow for flow in self._by_id.values() if project_id is None or flow.project_id == project_id]

    def __len__(self) -> int:
        return len(self._by_id)

    # -- removing ------------------------------------------------------------------------------------

    def reset(self, project_id: str | None = None) -> list[Flow]:
        """Drop flows (all, or one project's); returns them so their resources can be released."""
        dropped = self.all(project_id)
        for flow in dropped:
            self._remove(flow)
        if project_id is None:
            self._projects.clear()
            self._deadlines.clear()
            self._stale = 0
            self._gone.clear()
        else:
            self._stale += len(dropped)
            self._gone.forget(project_id)
        self._note_removed(len(dropped))
        return dropped

    def _flow_recorded(self, flow: Flow) -> None:
        self._touched[flow.correlation_id] = flow
        self._changed_flow(flow.correlation_id)
        self._changed()

    def _changed_flow(self, correlation_id: str) -> None:
        if self.changed_ids is not None:
            self.changed_ids[correlation_id] = None

    def _sort_touched(self) -> None:
        for correlation_id, flow in self._touched.items():
            project = self._projects[flow.project_id]
            if correlation_id in project.unfinished and flow.finished:
                del project.unfinished[correlation_id]
                project.finished[correlation_id] = flow
        self._touched.clear()

    def _evict(self, flow: Flow, limit: int, setting: str) -> None:
        self._remove(flow)
        self._stale += 1
        self._gone.add(flow.correlation_id, Gone(flow.project_id, self.clock.now(), EVICTED, limit, setting))
        self.on_gone(flow)
        if self._stale > len(self._by_id) // 2 + 1000:  # rebuilt in O(live) once per as many evictions
            self._deadlines = [(live.expires_at, correlation_id) for correlation_id, live in self._by_id.items()]
            heapq.heapify(self._deadlines)
            self._stale = 0

    def _expire(self, flow: Flow) -> None:
        self._remove(flow)
        self._gone.add(flow.correlation_id, Gone(flow.project_id, self.clock.now(), EXPIRED))
        self.on_gone(flow)

    def _remove(self, flow: Flow) -> None:
        correlation_id = flow.correlation_id
        del self._by_id[correlation_id]
        self._by_auth_id.pop(flow.auth_id, None)
        self._projects[flow.project_id].discard(correlation_id)
        self._touched.pop(correlation_id, None)
        self._changed_flow(correlation_id)
        self._changed()

    # -- sweeping ----------------------------------------------------------------------------------

    def _arm(self) -> None:
        """Keep the clock's one timer at the earliest deadline."""
        if not self._deadlines:
            return
        due = self._deadlines[0][0]
        timer = self._timer
        if timer is not None and not timer.cancelled and timer.due <= due:
            return
        if timer is not None:
            timer.cancel()
        self._timer = self.clock.call_at(due, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        now = self.clock.now()
        swept = 0
        while self._deadlines and self._deadlines[0][0] <= now:
            _, correlation_id = heapq.heappop(self._deadlines)
            flow = self._by_id.get(correlation_id)
            if flow is None:
                self._stale -= 1
                continue
            self._expire(flow)
            swept += 1
        self._arm()
        self._note_removed(swept)

    def _note_removed(self, count: int) -> None:
        """Flows were swept or reset: after many, hand their memory back, now or when the interval allows."""
        self._removed += count
        if self._removed < RELEASE_AFTER:
            return
        now = self.clock.now()
        if self._released_at is None or not 0 <= now - self._released_at < RELEASE_INTERVAL:  # the clock may go back
            self._release()
        elif self._release_timer is None or self._release_timer.cancelled:
            self._release_timer = self.clock.call_at(self._released_at + RELEASE_INTERVAL, self._release)

    def _release(self) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        self._removed = 0
        self._released_at = self.clock.now()
        # A dict keeps its size when emptied; a copy is only as big as what it holds.
        self._by_id = dict(self._by_id)
        self._by_auth_id = dict(self._by_auth_id)
        self._projects = {project_id: flows.compacted() for project_id, flows in self._projects.items() if flows}
        release_memory()


def release_memory() -> None:
    """Give freed memory back to the operating system: collect cycles (a possession's timer and its flow
    hold each other), then ask the C allocator to return its free pages (glibc's malloc_trim)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # here: most runs never hand memory back, and start-up need not pay for the import

    try:
        return ctypes.CDLL(None).malloc_trim  # the process's own C library; only glibc has it
    except (OSError, AttributeError):
        return None
