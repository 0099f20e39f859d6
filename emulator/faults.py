"""Injected faults: an HTTP status and/or added latency on a named endpoint, for the next N calls.

Faults come from two places: a persona's scenario (they apply to calls about that persona's flows)
and the control plane (they apply to every call of the endpoint, optionally in one project). A
faulted call is answered before the emulator looks at it, so it changes no state.

A persona's faults count per flow: `times: 1` on /v3/verify-status faults the first status call of
every flow. The starting call (verify, start, unify, auth start) comes before its flow exists, and a
faulted one starts none: its calls count until a flow of the persona starts, so a retry goes
through and the next flow's first start is faulted again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from emulator.errors import RATE_LIMITED, ProveError
from emulator.scenarios.model import Fault, Persona

# Endpoints a persona's faults may name: the ones whose calls belong to a flow (and so to a persona).
PERSONA_FAULT_ENDPOINTS = (
    "/v3/verify",
    "/v3/verify-status",
    "/v3/start",
    "/v3/validate",
    "/v3/challenge",
    "/v3/complete",
    "/v3/unify",
    "/v3/unify-status",
    "/v3/unify-bind",
    "/v1/server/auth/start",
    "/v1/server/auth/continue",
    "/v1/server/auth/finish",
    "/v1/client/mobile/otp/start",
    "/v1/client/mobile/otp/finish",
    "/v1/client/mobile/otp/error",
    "/v1/client/mobile/instantlink/start",
    "/v1/client/mobile/instantlink/error",
    # the steps before possession (emulator/http/device_steps.py)
    "/v1/client/device/passive/register",
    "/v1/client/device/passive/verify",
    "/v1/client/device/passive/error",
    "/v1/client/mobile/instant/start",
    "/v1/client/mobile/instant/finish",
    "/v1/client/mobile/instant/error",
)
# The control plane may also fault calls that belong to no flow.
RUNTIME_FAULT_ENDPOINTS = (
    "/token",
    *PERSONA_FAULT_ENDPOINTS,
    "/v3/identity",  # also faults /v3/identity/ (the same endpoint)
    "/v3/identity/batch",
    "/v3/identity/{proveId}",
    "/v3/identity/{proveId}/deactivate",
    "/v3/identity/{proveId}/activate",
    "/v3/identity/{mobileNumber}/lookup",
    "/v3/identity/{identityId}/cross-domain",
    "/v3/discover",
    "/v3/fetch",
    "/v3/domain/id",
    "/v3/domain/link",
    "/v3/domain/confirm-link",
    "/v3/domain/linked",
    "/v3/domain/unlink",
    "/v3/device/revoke",
    "/v3/verify/batch",
)
# Other spellings of those templates: SDKs up to 0.14.6 name the path parameter identityId, later
# ones proveId (the same id), and Prove still spells cross-domain's identityId.
FAULT_ENDPOINT_ALIASES = {
    "/v3/identity/{identityId}": "/v3/identity/{proveId}",
    "/v3/identity/{identityId}/deactivate": "/v3/identity/{proveId}/deactivate",
    "/v3/identity/{identityId}/activate": "/v3/identity/{proveId}/activate",
    "/v3/identity/{proveId}/cross-domain": "/v3/identity/{identityId}/cross-domain",
    "/v3/identity/": "/v3/identity",
}


def canonical_fault_endpoint(endpoint: Any) -> Any:
    """The template faults are filed under, for an alias; anything else as given (the caller checks it)."""
    return FAULT_ENDPOINT_ALIASES.get(endpoint, endpoint) if isinstance(endpoint, str) else endpoint

_CODES = {400: 8001, 401: 8002, 403: 8003, 404: 8011, 429: RATE_LIMITED}


@dataclass
class RuntimeFault:
    fault: Fault
    project_id: str | None = None
    used: int = 0

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"endpoint": self.fault.endpoint, "times": self.fault.times, "used": self.used}
        if self.fault.status is not None:
            out["status"] = self.fault.status
        if self.fault.latency_ms:
            out["latencyMs"] = self.fault.latency_ms
        if self.project_id:
            out["project"] = self.project_id
        return out


@dataclass
class FaultBook:
    runtime: list[RuntimeFault] = field(default_factory=list)
    # Calls of a persona's faulted endpoints: per live flow (project, correlationId) -> endpoint ->
    # calls, dropped with the flow; and starting calls per (project, scenario set, persona, endpoint),
    # dropped when a flow starts.
    _flow_calls: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    _start_calls: dict[tuple[str, str, str, str], int] = field(default_factory=dict)

    def add(self, fault: Fault, project_id: str | None) -> RuntimeFault:
        rule = RuntimeFault(fault=fault, project_id=project_id)
        self.runtime.append(rule)
        return rule

    def take(
        self, endpoint: str, project_id: str | None, persona: Persona | None, flow_id: str | None = None
    ) -> Fault | None:
        """The fault this call gets, if any; counts the call against it. `flow_id` names the live
        flow the call is about (its persona's faults then count in that flow)."""
        for rule in self.runtime:
            if rule.fault.endpoint == endpoint and rule.project_id in (None, project_id):
                rule.used += 1
                if rule.used >= rule.fault.times:
                    self.runtime.remove(rule)
                return rule.fault
        if persona is None or project_id is None:
            return None
        scripted = [f for f in persona.faults if f.endpoint == endpoint]
        if not scripted:
            return None
        if flow_id:
            calls = self._flow_calls.setdefault((project_id, flow_id), {})
            call = calls.get(endpoint, 0)
            calls[endpoint] = call + 1
        else:
            key = (project_id, persona.scenario_set, persona.key, endpoint)
            call = self._start_calls.get(key, 0)
            self._start_calls[key] = call + 1
        for fault in scripted:  # faults for one endpoint apply one after another
            if call < fault.times:
                return fault
            call -= fault.times
        return None

    @property
    def counted_flows(self) -> int:
        """How many flows have persona-fault calls counted (each dropped when its flow expires)."""
        return len(self._flow_calls)

    def flow_started(self, endpoint: str, project_id: str, persona: Persona) -> None:
        """A starting call started a flow: the persona's next flow counts its starting calls afresh."""
        self._start_calls.pop((project_id, persona.scenario_set, persona.key, endpoint), None)

    def forget_flow(self, project_id: str, flow_id: str) -> None:
        """The flow expired: its call counts go, so there are never more than live flows."""
        self._flow_calls.pop((project_id, flow_id), None)

    def flow_calls(self, project_id: str) -> list[tuple[str, str, int]]:
        """The project's counted calls of persona faults in live flows: (correlation id, endpoint, calls)."""
        return [(flow_id, endpoint, calls) for (project, flow_id), by_endpoint in self._flow_calls.items()
                if project == project_id for endpoint, calls in by_endpoint.items()]

    def start_calls(self, project_id: str) -> list[tuple[str, str, str, int]]:
        """(scenario set, persona, endpoint, calls) of the project's starting calls counted so far."""
        return [(scenario_set, persona, endpoint, calls)
                for (project, scenario_set, persona, endpoint), calls in self._start_calls.items() if project == project_id]

    def restore(self, project_id: str | None, rules: Sequence[RuntimeFault],
                flow_calls: Sequence[tuple[str, str, int]] = (), start_calls: Sequence[tuple[str, str, str, int]] = ()) -> None:
        self.runtime.extend(rules)
        if project_id is None:
            return
        for flow_id, endpoint, calls in flow_calls:
            self._flow_calls.setdefault((project_id, flow_id), {})[endpoint] = calls
        for scenario_set, persona, endpoint, calls in start_calls:
            self._start_calls[(project_id, scenario_set, persona, endpoint)] = calls

    def reset(self, project_id: str | None = None) -> None:
        if project_id is None:
            self.runtime.clear()
            self._flow_calls.clear()
            self._start_calls.clear()
            return
        self.runtime = [rule for rule in self.runtime if rule.project_id != project_id]
        self._flow_calls = {k: v for k, v in self._flow_calls.items() if k[0] != project_id}
        self._start_calls = {k: v for k, v in self._start_calls.items() if k[0] != project_id}


def fault_error(fault: Fault) -> ProveError | None:
    if fault.status is None:
        return None
    code = _CODES.get(fault.status, 8000 if fault.status >= 500 else 8001)
    return ProveError(fault.status, code, f"injected fault: HTTP {fault.status} on {fault.endpoint}")
