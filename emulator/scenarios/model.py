"""Personas and the catalogue that finds one for a phone number."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from emulator.phone import normalize


class Possession(str, Enum):
    CLIENT = "client"
    CLIENT_REJECTED = "client-rejected"
    AUTO_SUCCESS = "auto-success"
    AUTO_FAILED = "auto-failed"
    AUTO_TIMEOUT = "auto-timeout"

    @property
    def automatic(self) -> bool:
        return self.value.startswith("auto-")


class TerminalReply(str, Enum):
    SOFT = "soft"  # error + next "done": AuthFinishStep runs, the backend reads the failure
    HARD = "hard"  # error without next: authenticate() rejects


class UnifyMode(str, Enum):
    SHORT_TERM = "short-term"
    PROVE_KEY = "prove-key"
    CUSTOMER_POSSESSION = "customer-possession"
    FAIL = "fail"


class ProveKeyMode(str, Enum):
    """What becomes of the device's Prove Key in a mobile Unify flow."""

    DEVICE = "device"  # the browser's own key decides: register, then possession; later visits verify it
    REGISTERED = "registered"  # backend-only: the device is taken to hold a valid key (no SDK needed)
    UNREGISTERED = "unregistered"  # the device cannot keep a key: registration fails, possession by OTP
    REJECTED = "rejected"  # every key the device proves is refused: it registers a new one, then OTP


class MobileAuthMode(str, Enum):
    """Mobile Auth (the SDK's mobile/instant step) for a persona whose tokens start there."""

    SUCCESS = "success"  # the carrier recognises the device: possession without an SMS
    OTP_FALLBACK = "otp-fallback"  # not recognised: the SDK falls back to OTP (no error reported)
    FAILED = "failed"  # not recognised, and no fallback: possession fails (the persona's terminal reply)


@dataclass(frozen=True)
class Address:
    address: str
    city: str
    region: str
    postal_code: str
    extended_address: str = ""

    def as_json(self) -> dict[str, str]:
        out = {"address": self.address}
        if self.extended_address:
            out["extendedAddress"] = self.extended_address
        out.update(city=self.city, region=self.region, postalCode=self.postal_code)
        return out


@dataclass(frozen=True)
class Identity:
    first_name: str = ""
    last_name: str = ""
    dob: str = ""  # YYYY-MM-DD
    ssn: str = ""
    email_addresses: tuple[str, ...] = ()
    addresses: tuple[Address, ...] = ()
    carrier: str = "Emulated Wireless"
    line_type: str = "mobile"
    country_code: str = ""  # ISO 3166-1 alpha-2; empty: the phone number's region


@dataclass(frozen=True)
class Fault:
    endpoint: str
    status: int | None = None
    latency_ms: int = 0
    times: int = 1


@dataclass(frozen=True)
class ScheduledEvent:
    event_type: str
    after_seconds: float


VERIFICATION_TYPES = ("verifiedUser", "accountOpening", "humanAssurance", "prefill", "prefillForBiz",
                      "identityResolution")


@dataclass(frozen=True)
class VerificationOutcome:
    """What the current generation's /v3/verify answers for a persona and verification type.

    Unset fields are derived by `emulator.flows.verification` (from dataCheck, the name check and
    the verification type). The JSON-shaped fields are as Prove sends them (scenario schema).
    """

    success: bool | None = None
    assurance_level: str = ""
    reasons: tuple[str, ...] = ()
    returns: tuple[str, ...] | None = None  # which identity data the reply carries
    enrolled: bool = True
    min_age: int | None = None
    max_age: int | None = None
    evaluation: dict[str, Any] | None = field(default=None, hash=False)
    additional_identities: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    businesses: tuple[dict[str, Any], ...] = field(default=(), hash=False)


@dataclass(frozen=True)
class Persona:
    key: str
    phone_number: str = ""  # normalized; empty for pattern personas
    pattern: str = ""
    description: str = ""
    source: str = "emulator"
    products: frozenset[str] = frozenset()  # empty: every product
    identity: Identity = field(default_factory=Identity)
    check_name: bool = False
    data_check: str = "success"
    possession: Possession = Possession.CLIENT
    otp: str = "1234"
    sms_undeliverable: bool = False
    terminal_reply: TerminalReply = TerminalReply.SOFT
    faults: tuple[Fault, ...] = ()
    unify_mode: UnifyMode = UnifyMode.PROVE_KEY
    prove_key: ProveKeyMode = ProveKeyMode.DEVICE
    mobile_auth: MobileAuthMode | None = None  # None: no Mobile Auth step
    user_verification: str = ""  # the authToken's uvlvl: "" (absent: no WebAuthn), "pref" or "req"
    events: tuple[ScheduledEvent, ...] = ()
    # The current /v3/verify: the types this number is a test user of (empty: every type), and
    # the outcome of each type (missing: derived).
    verification_types: frozenset[str] = frozenset()
    verification: dict[str, VerificationOutcome] = field(default_factory=dict, compare=False, hash=False)
    scenario_set: str = "default"
    file: str = ""
    # Outcomes over successive flows of the number: step i covers the next `flows` flows; past the
    # last step, the persona as written. The steps' personas have no sequence of their own.
    sequence: tuple[SequenceStep, ...] = field(default=(), compare=False, hash=False)

    @property
    def sequence_length(self) -> int:
        """How many flows the sequence covers (0: none)."""
        return sum(step.flows for step in self.sequence)

    def for_flow(self, number: int) -> Persona:
        """The persona as the number's `number`-th flow (1-based) sees it."""
        for step in self.sequence:
            if number <= step.flows:
                return step.persona
            number -= step.flows
        return self

    def name_matches(self, first_name: str, last_name: str) -> bool:
        if not self.check_name:
            return True
        return (
            first_name.strip().casefold() == self.identity.first_name.casefold()
            and last_name.strip().casefold() == self.identity.last_name.casefold()
        )


@dataclass(frozen=True)
class SequenceStep:
    flows: int  # how many successive flows this step covers
    persona: Persona  # the persona with the step's keys laid over it


# Used for numbers no scenario knows, in projects whose policy is "default-persona".
DEFAULT_PERSONA = Persona(key="default", description="Any number no scenario knows")


@dataclass
class ScenarioSet:
    name: str
    exact: dict[str, Persona] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], Persona]] = field(default_factory=list)

    def personas(self) -> list[Persona]:
        return list(self.exact.values()) + [persona for _, persona in self.patterns]


@dataclass
class Catalogue:
    sets: dict[str, ScenarioSet] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def find(self, phone_number: str, set_names: tuple[str, ...]) -> Persona | None:
        """Exact numbers first (sets in the project's order), then patterns in file order."""
        digits = normalize(phone_number)
        chosen = [self.sets[name] for name in set_names if name in self.sets]
        for scenario_set in chosen:
            if digits in scenario_set.exact:
                return scenario_set.exact[digits]
        for scenario_set in chosen:
            for regex, persona in scenario_set.patterns:
                if regex.fullmatch(digits):
                    return persona
        return None

    def personas(self) -> list[Persona]:
        return [persona for scenario_set in self.sets.values() for persona in scenario_set.personas()]
