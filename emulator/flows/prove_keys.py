"""Prove Keys and their challenges, per project: shared by Unify and Prove Auth.

A Prove Key is a device key. The Web SDK registers one (`/v1/client/device/passive/register`: its
ES256 public key and keyId, answered with a deviceId); a possession check of the same flow then
binds it to the verified number, and later visits from the same browser prove it by signing
(`/device/passive/verify`). Keys made where no device is involved (unify-bind after the customer's
own possession check, a flow whose client registered none, Prove Auth's continue) have a deviceId
but no public key: no browser can prove them, and they stand for the number on the server side.

A number has one current key: binding another (a new device, rebind, after a revoke) replaces it,
and the replaced key is forgotten. A revoked key stays known (so revoking it again succeeds) but
no longer proves anything. Keys are bounded per project (the least recently used goes first);
registered keys that no possession check ever bound count too.

Challenges (`/v1/client/challenge`) let a registered device sign requests (PA-Signature, protocol
§3.2). Each is single-use, names one device, lives `CHALLENGE_TTL` seconds on the emulator clock,
and at most `MAX_CHALLENGES_PER_PROJECT` are outstanding per project (the oldest go first).

A proveId names the person behind a number in a project and outlives its keys: the identity store
keeps it (`IdentityStore.prove_id_of`), so Unify, verify and Identity Manager agree on it.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from emulator.ids import new_id
from emulator.phone import normalize

MAX_KEYS_PER_PROJECT = 10_000
MAX_CHALLENGES_PER_PROJECT = 1_000
# The SDK keeps a challenge until `ttl - 60` seconds have passed (request-signer-v3): with 60 it
# keeps none, so it asks for a fresh challenge for every signed request, as single use requires.
CHALLENGE_TTL = 60


@dataclass
class ProveKey:
    device_id: str
    project_id: str
    phone_number: str  # the number it is bound to; "" while no possession check has bound it
    created_at: float
    revoked: bool = False
    key_id: str = ""  # the device's own id for its key (PA-KID); "" when no device holds it
    public_key: str = ""  # the device's ES256 public key (SPKI PEM); "" when no device holds it
    device_name: str = ""  # as the SDK describes the browser, e.g. "Chrome 156.0 on Linux"

    @property
    def on_device(self) -> bool:
        """A browser holds it and can prove it by signing."""
        return bool(self.public_key)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"deviceId": self.device_id, "phoneNumber": self.phone_number,
                                  "onDevice": self.on_device, "revoked": self.revoked}
        if self.device_name:
            out["deviceName"] = self.device_name
        return out


@dataclass(frozen=True)
class Challenge:
    value: str
    project_id: str
    device_id: str
    expires_at: float


class ProveKeys:
    def __init__(self, max_keys_per_project: int = MAX_KEYS_PER_PROJECT,
                 max_challenges_per_project: int = MAX_CHALLENGES_PER_PROJECT) -> None:
        self.max_keys_per_project = max_keys_per_project
        self.max_challenges_per_project = max_challenges_per_project
        self._keys: dict[str, OrderedDict[str, ProveKey]] = {}  # project -> device id -> key, least recent first
        self._devices: dict[str, ProveKey] = {}  # device id -> key, every project's (ids are random UUIDs)
        self._current: dict[tuple[str, str], str] = {}  # (project, normalized number) -> device id
        self._challenges: dict[str, OrderedDict[str, Challenge]] = {}  # project -> value -> challenge
        self._challenge_projects: dict[str, str] = {}  # value -> project

    # -- keys ----------------------------------------------------------------------------------------

    def current(self, project_id: str, phone_number: str) -> ProveKey | None:
        """The number's key, unless it was revoked. Numbers are normalized (+1 2001004014 is 2001004014)."""
        device_id = self._current.get((project_id, normalize(phone_number)))
        key = self.by_device(project_id, device_id) if device_id else None
        return key if key is not None and not key.revoked else None

    def by_device(self, project_id: str, device_id: str) -> ProveKey | None:
        """The project's key with this deviceId (revoked ones too); another project's is None."""
        return self._keys.get(project_id, {}).get(device_id)

    def find_device(self, device_id: str) -> ProveKey | None:
        """A key of any project: a browser signs with its key whichever project's flow it is in."""
        return self._devices.get(device_id)

    def register(self, project_id: str, *, key_id: str, public_key: str, device_name: str, at: float) -> ProveKey:
        """A device's new key, bound to no number yet."""
        key = ProveKey(device_id=new_id(), project_id=project_id, phone_number="", created_at=at,
                       key_id=key_id, public_key=public_key, device_name=device_name)
        self._add(key)
        return key

    def bind(self, project_id: str, phone_number: str, at: float, key: ProveKey | None = None) -> ProveKey:
        """Bind `key` (a device's, registered in this project) to the number, or a new key no device
        holds. It becomes the number's current key; the number's earlier key is forgotten, and a key
        bound to another number leaves that number (rebind: re-associated)."""
        if key is None:
            key = ProveKey(device_id=new_id(), project_id=project_id, phone_number="", created_at=at)
            self._add(key)
        number = (project_id, normalize(phone_number))
        replaced = self._current.get(number)
        if replaced is not None and replaced != key.device_id:
            self._forget(project_id, replaced)
        if key.phone_number and self._current.get((project_id, normalize(key.phone_number))) == key.device_id:
            del self._current[(project_id, normalize(key.phone_number))]
        key.phone_number = phone_number
        self._current[number] = key.device_id
        self._keys[project_id].move_to_end(key.device_id)
        return key

    def revoke(self, project_id: str, device_id: str) -> ProveKey | None:
        """Mark a key inactive (None when the project has no such key). Revoking twice is harmless."""
        key = self.by_device(project_id, device_id)
        if key is not None:
            key.revoked = True
        return key

    def remove(self, key: ProveKey) -> None:
        """The device unregistered its key: forget it (the number, if bound, has no key any more)."""
        self._forget(key.project_id, key.device_id)

    def all(self, project_id: str | None = None) -> list[ProveKey]:
        """Every key (revoked and unbound ones too), least recently used first per project."""
        return [key for owner, keys in self._keys.items() if project_id is None or owner == project_id
                for key in keys.values()]

    def current_keys(self, project_id: str) -> list[tuple[str, str]]:
        """(number's digits, device id) of the project's numbers that have a current key."""
        return [(digits, device_id) for (owner, digits), device_id in self._current.items() if owner == project_id]

    def challenges(self, project_id: str) -> list[Challenge]:
        return list(self._challenges.get(project_id, {}).values())

    def restore(self, keys: list[ProveKey], current: list[tuple[str, str, str]], challenges: list[Challenge]) -> None:
        """Take back keys (least recently used first), current keys (project, digits, device id) and
        outstanding challenges a snapshot held."""
        for key in keys:
            self._keys.setdefault(key.project_id, OrderedDict())[key.device_id] = key
            self._devices[key.device_id] = key
        for project_id, digits, device_id in current:
            if device_id in self._keys.get(project_id, {}):
                self._current[(project_id, digits)] = device_id
        for challenge in challenges:
            self._challenges.setdefault(challenge.project_id, OrderedDict())[challenge.value] = challenge
            self._challenge_projects[challenge.value] = challenge.project_id

    def reset(self, project_id: str | None = None) -> None:
        owners = list(self._keys) if project_id is None else [project_id]
        for owner in owners:
            for device_id in list(self._keys.get(owner, {})):
                self._forget(owner, device_id)
            self._keys.pop(owner, None)
        for owner in list(self._challenges) if project_id is None else [project_id]:
            for value in self._challenges.pop(owner, {}):
                self._challenge_projects.pop(value, None)

    def _add(self, key: ProveKey) -> None:
        keys = self._keys.setdefault(key.project_id, OrderedDict())
        keys[key.device_id] = key
        self._devices[key.device_id] = key
        while len(keys) > self.max_keys_per_project:
            self._forget(key.project_id, next(iter(keys)))

    def _forget(self, project_id: str, device_id: str) -> None:
        key = self._keys.get(project_id, {}).pop(device_id, None)
        if key is None:
            return
        self._devices.pop(device_id, None)
        number = (project_id, normalize(key.phone_number))
        if key.phone_number and self._current.get(number) == device_id:
            del self._current[number]

    # -- challenges ----------------------------------------------------------------------------------

    def issue_challenge(self, key: ProveKey, now: float) -> Challenge:
        outstanding = self._challenges.setdefault(key.project_id, OrderedDict())
        for value in [value for value, challenge in outstanding.items() if challenge.expires_at <= now]:
            self._drop_challenge(key.project_id, value)
        while len(outstanding) >= self.max_challenges_per_project:
            self._drop_challenge(key.project_id, next(iter(outstanding)))
        challenge = Challenge(secrets.token_urlsafe(24), key.project_id, key.device_id, now + CHALLENGE_TTL)
        outstanding[challenge.value] = challenge
        self._challenge_projects[challenge.value] = key.project_id
        return challenge

    def take_challenge(self, value: str, now: float) -> Challenge | None:
        """The challenge, used up by this call; None when unknown, already used or expired."""
        project_id = self._challenge_projects.get(value)
        if project_id is None:
            return None
        challenge = self._challenges[project_id][value]
        self._drop_challenge(project_id, value)
        return challenge if challenge.expires_at > now else None

    def outstanding_challenges(self, project_id: str) -> int:
        return len(self._challenges.get(project_id, {}))

    def _drop_challenge(self, project_id: str, value: str) -> None:
        self._challenges[project_id].pop(value, None)
        self._challenge_projects.pop(value, None)
