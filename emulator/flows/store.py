"""Live flows, indexed by correlationId and authId, each swept when its lifetime ends."""

from __future__ import annotations

from typing import Callable

from emulator.clock import Clock, Timer
from emulator.flows.base import Flow


class FlowStore:
    def __init__(self, clock: Clock, on_expired: Callable[[Flow], None]) -> None:
        self.clock = clock
        self.on_expired = on_expired
        self._by_id: dict[str, Flow] = {}
        self._by_auth_id: dict[str, Flow] = {}
        self._timers: dict[str, Timer] = {}

    def add(self, flow: Flow) -> None:
        self._by_id[flow.correlation_id] = flow
        self._by_auth_id[flow.auth_id] = flow
        self._timers[flow.correlation_id] = self.clock.call_at(flow.expires_at, lambda: self._expire(flow))

    def get(self, project_id: str, correlation_id: str) -> Flow | None:
        """The project's live flow; another project's flow is as unknown as a missing one."""
        flow = self._by_id.get(correlation_id)
        return flow if flow is not None and flow.project_id == project_id else None

    def by_auth_id(self, auth_id: str) -> Flow | None:
        return self._by_auth_id.get(auth_id)

    def all(self, project_id: str | None = None) -> list[Flow]:
        return [flow for flow in self._by_id.values() if project_id is None or flow.project_id == project_id]

    def __len__(self) -> int:
        return len(self._by_id)

    def _expire(self, flow: Flow) -> None:
        self._remove(flow)
        self.on_expired(flow)

    def _remove(self, flow: Flow) -> None:
        self._by_id.pop(flow.correlation_id, None)
        self._by_auth_id.pop(flow.auth_id, None)
        timer = self._timers.pop(flow.correlation_id, None)
        if timer is not None:
            timer.cancel()

    def reset(self, project_id: str | None = None) -> list[Flow]:
        """Drop flows (all, or one project's); returns them so their resources can be released."""
        dropped = self.all(project_id)
        for flow in dropped:
            self._remove(flow)
        return dropped
