"""Live flows, indexed by correlationId and authId, each swept when its lifetime ends.

The ids of recently expired flows are kept (a bounded number) so the control plane can tell
"expired" from "never existed"; Prove's API answers both alike (8008).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

from emulator.clock import Clock, Timer
from emulator.flows.base import Flow
from emulator.phone import normalize

EXPIRED_IDS_KEPT = 10_000


class FlowStore:
    def __init__(self, clock: Clock, on_expired: Callable[[Flow], None],
                 changed: Callable[[], None] = lambda: None) -> None:
        self.clock = clock
        self.on_expired = on_expired
        self._changed = changed  # told when a flow is added, removed or records a timeline event (the UI)
        self._by_id: dict[str, Flow] = {}
        self._by_auth_id: dict[str, Flow] = {}
        self._timers: dict[str, Timer] = {}
        self._expired: OrderedDict[str, tuple[str, float]] = OrderedDict()  # id -> (project id, when)

    def add(self, flow: Flow) -> None:
        self._by_id[flow.correlation_id] = flow
        self._by_auth_id[flow.auth_id] = flow
        self._timers[flow.correlation_id] = self.clock.call_at(flow.expires_at, lambda: self._expire(flow))
        flow.on_recorded = self._changed
        self._changed()

    def get(self, project_id: str, correlation_id: str) -> Flow | None:
        """The project's live flow; another project's flow is as unknown as a missing one."""
        flow = self._by_id.get(correlation_id)
        return flow if flow is not None and flow.project_id == project_id else None

    def find(self, correlation_id: str) -> Flow | None:
        """A live flow of any project (the control plane sees them all)."""
        return self._by_id.get(correlation_id)

    def by_auth_id(self, auth_id: str) -> Flow | None:
        return self._by_auth_id.get(auth_id)

    def expired(self, correlation_id: str) -> tuple[str, float] | None:
        """(project id, expiry instant) of a flow that expired recently; None if unknown or live."""
        return self._expired.get(correlation_id)

    def latest_open(self, phone_number: str, project_id: str | None = None) -> Flow | None:
        """The newest live flow of the number whose possession check waits for its customer. Numbers match
        as the SMS outbox matches them (2025550100 is +12025550100); one of no digits matches none, not
        the flows that have no number yet."""
        wanted = normalize(phone_number)
        for flow in reversed(self._by_id.values()):  # insertion order: newest first
            if (wanted and normalize(flow.phone_number) == wanted and (project_id is None or flow.project_id == project_id)
                    and flow.possession is not None and not flow.possession.final):
                return flow
        return None

    def all(self, project_id: str | None = None) -> list[Flow]:
        return [flow for flow in self._by_id.values() if project_id is None or flow.project_id == project_id]

    def __len__(self) -> int:
        return len(self._by_id)

    def _expire(self, flow: Flow) -> None:
        self._remove(flow)
        self._expired[flow.correlation_id] = (flow.project_id, self.clock.now())
        if len(self._expired) > EXPIRED_IDS_KEPT:
            self._expired.popitem(last=False)
        self.on_expired(flow)

    def _remove(self, flow: Flow) -> None:
        self._by_id.pop(flow.correlation_id, None)
        self._by_auth_id.pop(flow.auth_id, None)
        timer = self._timers.pop(flow.correlation_id, None)
        if timer is not None:
            timer.cancel()
        self._changed()

    def reset(self, project_id: str | None = None) -> list[Flow]:
        """Drop flows (all, or one project's); returns them so their resources can be released."""
        dropped = self.all(project_id)
        for flow in dropped:
            self._remove(flow)
        for correlation_id, (owner, _) in list(self._expired.items()):
            if project_id is None or owner == project_id:
                del self._expired[correlation_id]
        return dropped
