"""What every Prove flow has: ids, a lifetime, a persona, an optional possession check, a timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from emulator.clock import rfc3339
from emulator.scenarios.model import Persona

if TYPE_CHECKING:
    from emulator.flows.device_keys import KeyStep
    from emulator.flows.mobile_auth import MobileAuthStep
    from emulator.flows.possession import Possession

FLOW_LIFETIME = 15 * 60


@dataclass
class TimelineEvent:
    at: float
    event: str
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"at": rfc3339(self.at), "event": self.event, **self.details}


@dataclass
class Flow:
    correlation_id: str
    auth_id: str
    project_id: str
    product: str
    phone_number: str
    persona: Persona
    created_at: float
    expires_at: float
    final_target_url: str = ""
    client_customer_id: str = ""
    possession: "Possession | None" = None
    # The steps before possession that the authToken may start at: a Prove Key (device/passive) or
    # Mobile Auth (mobile/instant). None: the flow has no such step, and their endpoints refuse it.
    key_step: "KeyStep | None" = None
    mobile_auth: "MobileAuthStep | None" = None
    auth_token: str = ""
    timeline: list[TimelineEvent] = field(default_factory=list)
    # Set by the product that owns the flow: what follows when possession succeeds or fails.
    on_concluded: Callable[["Flow", float], None] | None = None
    # Set by the flow store: told of every timeline event (the web UI's event stream).
    on_recorded: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def record(self, at: float, event: str, **details: Any) -> None:
        self.timeline.append(TimelineEvent(at, event, {k: v for k, v in details.items() if v not in (None, "")}))
        if self.on_recorded is not None:
            self.on_recorded()

    @property
    def state(self) -> str:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "correlationId": self.correlation_id,
            "authId": self.auth_id,
            "project": self.project_id,
            "product": self.product,
            "phoneNumber": self.phone_number,
            "persona": self.persona.key,
            "state": self.state,
            "createdAt": rfc3339(self.created_at),
            "expiresAt": rfc3339(self.expires_at),
        }
        if self.possession is not None:
            out["possession"] = self.possession.as_json()
        return out

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "timeline": [event.as_json() for event in self.timeline]}
