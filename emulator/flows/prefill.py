"""Pre-Fill and Prove Identity: `/v3/start` -> `/v3/validate` -> (`/v3/challenge`) -> `/v3/complete`.

The project's product decides the path: Pre-Fill (with challenge) or Prove Identity (validate goes
straight to complete). Each reply's `next` map lists the only step allowed after it; anything else is
403 with 8003. Possession runs through the same device channel as Verified Users (flowType mobile:
OTP, desktop: Instant Link). Validate succeeds when possession did: short-term test users (Milo Pinson,
Martina Goodram) settle it without a client SDK, the others need the SDK to have run.
Decisions where Prove is silent: a failed validate, challenge or complete ends the flow (next done);
the challenge `individual` gives dob as YYYY-MM-DD so it can be sent back to complete unchanged;
challenge checks only dob/ssn, and a persona's `dataCheck: failed` fails complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulator.errors import invalid_correlation_id, malformed
from emulator.flows.base import Flow
from emulator.flows.kit import FlowKit
from emulator.flows.possession import Method, Status
from emulator.flows.steps import DONE, next_map, require_product, require_step
from emulator.phone import require_north_american
from emulator.projects import Project
from emulator.rules import (
    DOB,
    EMAIL_ADDRESS,
    FINAL_TARGET_URL,
    IP_ADDRESS,
    PHONE_NUMBER,
    POSTAL_CODE,
    SSN,
    Array,
    Check,
    Flag,
    Obj,
    Text,
)
from emulator.scenarios.model import DEFAULT_PERSONA, Identity


PRE_FILL = "pre-fill"
PROVE_IDENTITY = "prove-identity"

START_REQUEST = Obj(
    "",
    (
        Text("flowType", required=True, enum=("desktop", "mobile"),
             description="desktop: Instant Link; mobile: OTP."),
        Text("phoneNumber", pattern=PHONE_NUMBER,
             description="Optional: without it the Web SDK asks the customer for the number."),
        Text("finalTargetUrl", required_when=("flowType", "desktop"), max_length=128, pattern=FINAL_TARGET_URL),
        Text("dob", pattern=DOB),
        Text("ssn", pattern=SSN),
        Text("emailAddress", pattern=EMAIL_ADDRESS),
        Text("ipAddress", pattern=IP_ADDRESS),
        Text("smsMessage", max_length=160),
        Flag("allowOTPRetry"),
        Text("clientRequestId", max_length=128),
        Text("clientCustomerId", max_length=128),
    ),
)
CORRELATION_ONLY = Obj("", (Text("correlationId", required=True, max_length=128),))
CHALLENGE_REQUEST = Obj(
    "",
    (
        Text("correlationId", required=True, max_length=128),
        Text("dob", pattern=DOB, description="Overrides the dob given at start."),
        Text("ssn", pattern=SSN, description="Overrides the ssn given at start."),
    ),
)
ADDRESS = Obj(
    "address",
    (
        Text("address", max_length=200),
        Text("extendedAddress", max_length=200),
        Text("city", max_length=100),
        Text("region", max_length=100),
        Text("postalCode", pattern=POSTAL_CODE),
    ),
)


def _names_or_ssn(individual: dict[str, Any]) -> str | None:
    if (individual.get("firstName") and individual.get("lastName")) or individual.get("ssn"):
        return None
    return "needs firstName and lastName, or ssn"


COMPLETE_REQUEST = Obj(
    "",
    (
        Text("correlationId", required=True, max_length=128),
        Obj(
            "individual",
            (
                Text("firstName", max_length=100),
                Text("lastName", max_length=100),
                Text("dob", pattern=DOB),
                Text("ssn", pattern=SSN),
                Array("addresses", ADDRESS, description="Only the first address is processed."),
                Array("emailAddresses", Text("emailAddress", pattern=EMAIL_ADDRESS),
                      description="Only the first email address is processed."),
            ),
            required=True,
            checks=(Check("At least firstName and lastName, or ssn.", _names_or_ssn),),
        ),
    ),
)


@dataclass(slots=True)
class PrefillFlow(Flow):
    flow_type: str = "mobile"
    dob: str = ""
    ssn: str = ""
    allowed_next: dict[str, str] = field(default_factory=lambda: next_map("validate"))
    outcome: str = "started"  # started, validated, challenged, completed, failed

    @property
    def state(self) -> str:
        return self.outcome

    def summary(self) -> dict[str, Any]:
        return {**Flow.summary(self), "flowType": self.flow_type, "next": self.allowed_next}


def dob_matches(given: str, known: str) -> bool:
    """YYYY-MM-DD, YYYY-MM or MM-DD against a known YYYY-MM-DD (an unknown dob matches anything)."""
    if not known or not given:
        return True
    if len(given) == 10:
        return given == known
    if len(given) == 7:
        return known.startswith(given)
    return known[5:] == given


def ssn_matches(given: str, known: str) -> bool:
    if not known or not given:
        return True
    return given == known if len(given) == 9 else known.endswith(given)


def name_matches(given: str, known: str) -> bool:
    return not known or not given or given.strip().casefold() == known.casefold()


def individual_json(identity: Identity, dob: str, ssn: str) -> dict[str, Any]:
    """The persona as Prove's challenge `individual` (empty values omitted, as Prove does)."""
    out: dict[str, Any] = {}
    if identity.first_name:
        out["firstName"] = identity.first_name
    if identity.last_name:
        out["lastName"] = identity.last_name
    if identity.addresses:
        out["addresses"] = [address.as_json() for address in identity.addresses]
    if identity.email_addresses:
        out["emailAddresses"] = list(identity.email_addresses)
    if identity.dob or dob:
        out["dob"] = identity.dob or dob
    if identity.ssn or ssn:
        out["ssn"] = identity.ssn or ssn
    return out


class PreFill:
    def __init__(self, kit: FlowKit) -> None:
        self.kit = kit

    def start(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRE_FILL, PROVE_IDENTITY)
        kit = self.kit
        product = PRE_FILL if project.has(PRE_FILL) else PROVE_IDENTITY
        phone = request.get("phoneNumber", "")
        # Without a number the persona is decided when the Web SDK sends the one the customer typed.
        persona = kit.personas.resolve(project.client_id, phone) if phone else DEFAULT_PERSONA
        if phone:  # after the test-user checks (8007, 8009), as for every region rule
            require_north_american(phone)  # Pre-Fill and Prove Identity serve US and Canadian numbers only
        flow = PrefillFlow(
            **kit.new_flow_fields(project, product, request, persona),
            flow_type=request["flowType"],
            dob=request.get("dob", ""),
            ssn=request.get("ssn", ""),
        )
        flow.record(kit.clock.now(), "start", flowType=flow.flow_type, phoneNumber=phone, persona=persona.key)
        kit.flows.add(flow)
        method = Method.INSTANT_LINK if flow.flow_type == "desktop" else Method.OTP
        auth_token = kit.issue_auth_token(flow, method.first_step, phone_known=bool(phone))
        kit.possession.begin(flow, method, request.get("allowOTPRetry", False), request.get("smsMessage", ""))
        return {"authToken": auth_token, "correlationId": flow.correlation_id, "next": flow.allowed_next}

    def validate(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request, "validate")
        possession = flow.possession
        success = possession is not None and possession.status is Status.SUCCEEDED
        challenge_missing = success and flow.product == PRE_FILL and not (flow.dob or flow.ssn)
        if success:
            flow.allowed_next = next_map("challenge") if flow.product == PRE_FILL else next_map("complete")
            flow.outcome = "validated"
        else:
            flow.allowed_next = DONE
            flow.outcome = "failed"
        flow.record(self.kit.clock.now(), "validate", success=success,
                    reason="" if success else f"possession {possession.status.value if possession else 'missing'}")
        reply: dict[str, Any] = {"success": success, "challengeMissing": challenge_missing, "next": flow.allowed_next}
        if flow.phone_number:
            reply["phoneNumber"] = flow.phone_number
        return reply

    def challenge(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request, "challenge")
        dob = request.get("dob") or flow.dob
        ssn = request.get("ssn") or flow.ssn
        if not dob and not ssn:
            raise malformed("field 'dob' or 'ssn' is required: neither was given at /v3/start")
        flow.dob, flow.ssn = dob, ssn
        identity = flow.persona.identity
        # Only dob/ssn decide here: the persona's dataCheck is the identity check of /v3/complete
        # (scenario "failed identity check at complete"), so its data can still be pre-filled.
        success = dob_matches(dob, identity.dob) and ssn_matches(ssn, identity.ssn)
        flow.allowed_next = next_map("complete") if success else DONE
        flow.outcome = "challenged" if success else "failed"
        flow.record(self.kit.clock.now(), "challenge", success=success)
        reply: dict[str, Any] = {"success": success, "next": flow.allowed_next}
        if success:
            reply["individual"] = individual_json(identity, dob, ssn)
        return reply

    def complete(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request, "complete")
        given = request["individual"]
        identity = flow.persona.identity
        checks = _identity_checks(given, identity, flow.persona.check_name)
        success = flow.persona.data_check == "success" and all(
            checks[key] for key in ("firstName", "lastName", "dob", "ssn")
        )
        flow.allowed_next = DONE
        flow.outcome = "completed" if success else "failed"
        flow.record(self.kit.clock.now(), "complete", success=success)
        reply: dict[str, Any] = {"success": success, "next": DONE}
        if flow.product == PROVE_IDENTITY:
            reply["idv"] = _idv(checks, success)
            reply["kyc"] = {"totalHits": 0}
        return reply

    def _flow(self, project: Project, request: dict[str, Any], step: str) -> PrefillFlow:
        require_product(project, PRE_FILL, PROVE_IDENTITY)
        flow = self.kit.flows.get(project.client_id, request["correlationId"])
        if not isinstance(flow, PrefillFlow):
            raise invalid_correlation_id(request["correlationId"])
        require_step(flow.allowed_next, step)
        return flow


def _identity_checks(given: dict[str, Any], identity: Identity, check_names: bool) -> dict[str, bool]:
    """Field-by-field comparison with the persona; only the first address and email count.

    A persona with `checkName: false` (the emulator's outcome numbers) accepts any name.
    """
    address = (given.get("addresses") or [{}])[0]
    known_address = identity.addresses[0] if identity.addresses else None
    email = (given.get("emailAddresses") or [""])[0]

    def address_field(name: str, known: str) -> bool:
        return known_address is not None and name_matches(address.get(name, ""), known) and bool(address.get(name))

    return {
        "firstName": not check_names or name_matches(given.get("firstName", ""), identity.first_name),
        "lastName": not check_names or name_matches(given.get("lastName", ""), identity.last_name),
        "dob": dob_matches(given.get("dob", ""), identity.dob),
        "ssn": ssn_matches(given.get("ssn", ""), identity.ssn),
        "street": address_field("address", known_address.address if known_address else ""),
        "city": address_field("city", known_address.city if known_address else ""),
        "region": address_field("region", known_address.region if known_address else ""),
        "postalCode": address_field("postalCode", known_address.postal_code if known_address else ""),
        "email": bool(email) and any(email.casefold() == e.casefold() for e in identity.email_addresses),
    }


def _idv(checks: dict[str, bool], success: bool) -> dict[str, Any]:
    """Prove Identity's IDV block, scored from the field checks (100 = match, 0 = mismatch)."""
    address_hits = sum(checks[key] for key in ("street", "city", "region", "postalCode"))
    source = {
        "cipConfidence": "high" if success else "low",
        "name": {
            "firstName": 100 if checks["firstName"] else 0,
            "lastName": 100 if checks["lastName"] else 0,
            "nameScore": 100 if checks["firstName"] and checks["lastName"] else 0,
        },
        "address": {
            "addressScore": address_hits * 25,
            "street": checks["street"],
            "city": checks["city"],
            "region": checks["region"],
            "postalCode": checks["postalCode"],
            "distance": 0.0 if address_hits == 4 else 100.0,
        },
        "email": {"emailAddress": checks["email"]},
        "identifiers": {"dob": checks["dob"], "ssn": checks["ssn"], "last4": checks["ssn"]},
    }
    return {"multiCIPConfidence": "high" if success else "low", "dataSource1": source}
