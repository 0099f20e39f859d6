"""Prove Keys and proveIds, per project and phone number: shared by Unify and Prove Auth.

A Prove Key is what a possession check on a mobile device binds to a number; its deviceId names it.
Binding again (rebind, or after a revoke) makes a new key with a new deviceId. The emulator cannot
see the browser, so the number's current key stands for "this device holds a key".

A proveId names the person behind a number in a project and outlives its keys: the identity store
keeps it (`IdentityStore.prove_id_of`), so Unify, verify and Identity Manager agree on it.

The service composes one store and hands it to both products, so a key bound by one is seen by the
other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from emulator.phone import normalize


@dataclass
class ProveKey:
    device_id: str
    project_id: str
    phone_number: str
    created_at: float
    revoked: bool = False


@dataclass
class ProveKeys:
    # Numbers are normalized: +1 2001004014 is 2001004014.
    _current: dict[tuple[str, str], ProveKey] = field(default_factory=dict)
    _by_device: dict[tuple[str, str], ProveKey] = field(default_factory=dict)  # revoked ones too

    def current(self, project_id: str, phone_number: str) -> ProveKey | None:
        """The number's key, unless it was revoked."""
        key = self._current.get((project_id, normalize(phone_number)))
        return key if key is not None and not key.revoked else None

    def by_device(self, project_id: str, device_id: str) -> ProveKey | None:
        return self._by_device.get((project_id, device_id))

    def bind(self, project_id: str, phone_number: str, at: float) -> ProveKey:
        """A new key for the number; it replaces the number's earlier one, which is forgotten (so the
        store holds one key per number however often keys are bound)."""
        key = ProveKey(device_id=str(uuid.uuid4()), project_id=project_id, phone_number=phone_number, created_at=at)
        replaced = self._current.get((project_id, normalize(phone_number)))
        if replaced is not None:
            del self._by_device[(project_id, replaced.device_id)]
        self._current[(project_id, normalize(phone_number))] = key
        self._by_device[(project_id, key.device_id)] = key
        return key

    def all(self, project_id: str | None = None) -> list[ProveKey]:
        """Every number's key (revoked ones too), oldest first."""
        return [key for key in self._by_device.values() if project_id is None or key.project_id == project_id]

    def revoke(self, project_id: str, device_id: str) -> ProveKey | None:
        """Mark a key inactive (None when the project has no such key). Revoking twice is harmless."""
        key = self.by_device(project_id, device_id)
        if key is not None:
            key.revoked = True
        return key

    def reset(self, project_id: str | None = None) -> None:
        def kept(key: tuple[str, str]) -> bool:
            return project_id is not None and key[0] != project_id

        self._current = {k: v for k, v in self._current.items() if kept(k)}
        self._by_device = {k: v for k, v in self._by_device.items() if kept(k)}
