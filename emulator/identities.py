"""Enrolled identities: what a successful Verified Users flow (or an Identity Manager call) creates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from emulator.clock import rfc3339
from emulator.ids import new_id
from emulator.phone import normalize, region
from emulator.scenarios.model import Persona


MAX_ATTRIBUTES = 20  # attribute types kept per identity


@dataclass(frozen=True)
class Attribute:
    """An identity attribute (`identityAttributes[]` of enrol or verify), served by discover/fetch."""

    attribute_id: str
    attribute_type: str
    attribute_value: str


@dataclass
class EnrolledIdentity:
    identity_id: str
    project_id: str
    phone_number: str
    persona: Persona
    created_at: float
    client_customer_id: str = ""
    device_id: str = ""
    attributes: list[Attribute] = field(default_factory=list)
    active: bool = True
    monitoring_ended: bool = False  # a change event was sent: no more until enrolled again

    def as_json(self) -> dict[str, Any]:
        """The Identity Manager record (reference §4.12). One id, under both of its names: SDKs up to
        0.14.6 read identityId, later ones proveId, and every SDK ignores the key it does not know."""
        out: dict[str, Any] = {
            "identityId": self.identity_id,
            "proveId": self.identity_id,
            "phoneNumber": self.phone_number,
            "active": self.active,
            "carrier": self.persona.identity.carrier,
            "countryCode": self.persona.identity.country_code or region(self.phone_number),
            "lineType": self.persona.identity.line_type,
            "createdAt": int(self.created_at),
            "creationString": rfc3339(self.created_at),
        }
        if self.client_customer_id:
            out["clientCustomerId"] = self.client_customer_id
        if self.device_id:
            out["deviceId"] = self.device_id
        return out

    def add_attributes(self, attributes: Sequence[tuple[str, str]]) -> None:
        """One attribute per type: a new value replaces the old one (which keeps its attributeId), and
        at most MAX_ATTRIBUTES types are kept (the oldest go first), so enrolling again cannot grow it."""
        for attribute_type, attribute_value in attributes:
            kept = [a for a in self.attributes if a.attribute_type != attribute_type]
            same_type = [a for a in self.attributes if a.attribute_type == attribute_type]
            attribute_id = same_type[0].attribute_id if same_type else new_id()
            self.attributes = [*kept, Attribute(attribute_id, attribute_type, attribute_value)][-MAX_ATTRIBUTES:]


EnrolmentListener = Callable[[EnrolledIdentity], None]


class IdentityStore:
    def __init__(self) -> None:
        self._by_id: dict[str, EnrolledIdentity] = {}
        # proveIds handed out (by Unify) for numbers not enrolled yet: (project, digits) -> id. The
        # number's first identity takes it, so a person keeps one proveId across products.
        self._reserved: dict[tuple[str, str], str] = {}
        self.listeners: list[EnrolmentListener] = []

    def prove_id_of(self, project_id: str, phone_number: str) -> str:
        """The number's proveId: its identity's id (an active one first), else one reserved for it."""
        found = self.find_by_phone(project_id, phone_number)
        if found:
            return next((i for i in found if i.active), found[0]).identity_id
        return self._reserved.setdefault((project_id, normalize(phone_number)), new_id())

    def number_of(self, project_id: str, prove_id: str) -> str | None:
        """The phone number a proveId of this project names (an identity's, or a reserved one)."""
        identity = self.get(project_id, prove_id)
        if identity is not None:
            return identity.phone_number
        return next((digits for (project, digits), reserved in self._reserved.items()
                     if project == project_id and reserved == prove_id), None)

    def enrol(
        self,
        project_id: str,
        phone_number: str,
        persona: Persona,
        at: float,
        client_customer_id: str = "",
        device_id: str = "",
        attributes: Sequence[tuple[str, str]] = (),
    ) -> EnrolledIdentity:
        """Enrol a number in a project; an active, still monitored identity for it is reused (and
        gains the attributes it did not have yet)."""
        existing = self.find_by_phone(project_id, phone_number)
        monitored = [identity for identity in existing if identity.active and not identity.monitoring_ended]
        if monitored:
            identity = monitored[0]
            identity.add_attributes(attributes)
            return identity
        reserved = self._reserved.pop((project_id, normalize(phone_number)), None)
        identity = EnrolledIdentity(
            identity_id=reserved if reserved is not None and not existing else new_id(),
            project_id=project_id,
            phone_number=phone_number,
            persona=persona,
            created_at=at,
            client_customer_id=client_customer_id,
            device_id=device_id,
        )
        identity.add_attributes(attributes)
        self._by_id[identity.identity_id] = identity
        for listener in self.listeners:
            listener(identity)
        return identity

    def get(self, project_id: str, identity_id: str) -> EnrolledIdentity | None:
        identity = self._by_id.get(identity_id)
        return identity if identity is not None and identity.project_id == project_id else None

    def find(self, identity_id: str) -> EnrolledIdentity | None:
        """Any project's identity (the control plane acts across projects)."""
        return self._by_id.get(identity_id)

    def find_by_phone(self, project_id: str, phone_number: str) -> list[EnrolledIdentity]:
        digits = normalize(phone_number)
        return [
            identity
            for identity in self._by_id.values()
            if identity.project_id == project_id and normalize(identity.phone_number) == digits
        ]

    def in_project(self, project_id: str) -> list[EnrolledIdentity]:
        return [identity for identity in self._by_id.values() if identity.project_id == project_id]

    def reserved(self, project_id: str) -> list[tuple[str, str]]:
        """The proveIds reserved for the project's numbers not enrolled yet: (digits, proveId)."""
        return [(digits, prove_id) for (project, digits), prove_id in self._reserved.items() if project == project_id]

    def restore(self, identities: list[EnrolledIdentity], reserved: list[tuple[str, str, str]]) -> None:
        """Take back identities and reservations (project, digits, proveId) a snapshot held. No
        listener hears of them: they were enrolled before (their webhook schedules are restored apart)."""
        for identity in identities:
            self._by_id[identity.identity_id] = identity
        for project_id, digits, prove_id in reserved:
            self._reserved[(project_id, digits)] = prove_id

    def remove(self, project_id: str, identity_id: str) -> bool:
        if self.get(project_id, identity_id) is None:
            return False
        del self._by_id[identity_id]
        return True

    def reset(self, project_id: str | None = None) -> None:
        if project_id is None:
            self._by_id.clear()
            self._reserved.clear()
        else:
            self._by_id = {k: v for k, v in self._by_id.items() if v.project_id != project_id}
            self._reserved = {k: v for k, v in self._reserved.items() if k[0] != project_id}
