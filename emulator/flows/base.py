"""What every Prove flow has: ids, a lifetime, a persona, an optional possession check, a timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from emulator.clock import rfc3339
from emulator.scenarios.model import Persona

if TYPE_CHECKING:
    from emulator.flows.device_keys import KeyStep
    from emulator.flows.mobile_auth import MobileAuthStep
    from emulator.flows.possession import Possession

FLOW_LIFETIME = 15 * 60


# One thing that happened to a flow, as one flat tuple (at, event, key, value, key, value, ...): a flow
# records a few per call, and an object with a dict for each was most of a live flow's memory. A plain
# tuple, not a subclass: once its items are all atoms the cyclic collector stops walking it, and under
# load its walks over every live flow's events were the longest pauses.
TimelineEvent = tuple[Any, ...]


def event_details(event: TimelineEvent) -> dict[str, Any]:
    return dict(zip(event[2::2], event[3::2]))


def event_json(event: TimelineEvent) -> dict[str, Any]:
    return {"at": rfc3339(event[0]), "event": event[1], **event_details(event)}


# Slotted (no __dict__ per flow), as every part a live flow holds: thousands of flows may be live. A
# slotted dataclass cannot use the zero-argument super(), so subclasses name Flow.summary(self).
@dataclass(slots=True)
class Flow:
    # The states (`state`) after which the flow waits for nothing: a full project evicts these first.
    FINISHED_STATES: ClassVar[frozenset[str]] = frozenset({"succeeded", "failed", "completed"})

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
    # Set by the product that owns the flow: what follows when possession succeeds or fails. One
    # function shared by the product's flows (a bound method made per flow would cost each its own).
    on_concluded: Callable[["Flow", float], None] | None = None
    # Set by the flow store: told of every timeline event (the web UI's event stream, and the store's
    # check for flows that finished).
    on_recorded: Callable[["Flow"], None] | None = field(default=None, repr=False, compare=False)

    def record(self, at: float, event: str, **details: Any) -> None:
        items: list[Any] = [at, event]
        for key, value in details.items():
            if value is not None and value != "":
                items += (key, value)
        self.timeline.append(tuple(items))
        if self.on_recorded is not None:
            self.on_recorded(self)

    @property
    def state(self) -> str:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED_STATES

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
        return {**self.summary(), "timeline": [event_json(event) for event in self.timeline]}
