"""The current generation of Verified Users (SDK >= 0.13.2): synchronous `/v3/verify` with a
`verificationType`, and `/v3/verify/batch`.

No possession and no status call: one request answers with the outcome. What a number answers comes
from its persona: the scenario's `verification` outcome when it has one, otherwise its dataCheck
and, for the types that take names, the name check shared with the possession-based generation.
A success enrols the identity in Identity Manager (its id is the reply's proveId), as the
possession-based flow's success does. Each call is a flow with a timeline, like every other.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from emulator.errors import ProveError, malformed, sandbox_user_access_denied
from emulator.flows.base import Flow
from emulator.flows.identity_manager import IDENTITY_ATTRIBUTES, attributes_of
from emulator.flows.kit import FlowKit
from emulator.flows.steps import require_product
from emulator.flows import verified_users
from emulator.flows.verified_users import PRODUCT
from emulator.identities import EnrolledIdentity
from emulator.phone import NORTH_AMERICAN_PRODUCTS, normalize, require_consent, require_north_american
from emulator.projects import Project
from emulator.rules import EMAIL_ADDRESS, IP_ADDRESS, PHONE_NUMBER, Array, Choice, Obj, Text, validate
from emulator.scenarios.model import DEFAULT_PERSONA, VERIFICATION_TYPES, Persona, VerificationOutcome

MAX_BATCH = 1000
MAX_BATCH_BODY_BYTES = 1024 * 1024  # 1000 items cannot fit Prove's 4 KB
ALIASES = {"bot": "humanAssurance"}  # the name SDK 0.14.0-0.14.6 send
TAKES_NAMES = ("verifiedUser", "accountOpening")
# The project products a verification type needs (Prove ties credentials to a product).
PRODUCTS = {
    "verifiedUser": (PRODUCT,),
    "accountOpening": (PRODUCT,),
    "humanAssurance": (PRODUCT,),
    "identityResolution": (PRODUCT,),
    "prefill": NORTH_AMERICAN_PRODUCTS,  # pre-fill, prove-identity
    "prefillForBiz": NORTH_AMERICAN_PRODUCTS,
}
DEFAULT_RETURNS = {
    "verifiedUser": ("name",),
    "accountOpening": ("name",),
    "humanAssurance": (),
    "identityResolution": ("name",),
    "prefill": ("name", "dateOfBirth", "nationalId", "emails", "addresses"),
    "prefillForBiz": ("name", "dateOfBirth", "nationalId"),
}
POOR_IDENTITY = "[AL-1a] (Poor quality identity)"
IDENTITY_NOT_FOUND = {"9003": "identity not found"}
NAME_MISMATCH = {"9014": "name mismatch"}

_NAME = {"max_length": 128}
_SHARED_FIELDS = (
    Text("emailAddress", pattern=EMAIL_ADDRESS),
    Text("ipAddress", pattern=IP_ADDRESS, description="The public IP address of the customer's session."),
    Text("userAgent", max_length=512),
    Text("clientCustomerId", max_length=128),
    Text("clientHumanId", max_length=128),
    Text("proveId", max_length=128, description="An identity of this project the number is known as."),
)
VERIFY_REQUEST = Obj(
    "",
    (
        Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
        Text(
            "verificationType",
            required=True,
            enum=(*VERIFICATION_TYPES, *ALIASES),
            ignore_case=True,  # SDK 0.13.2's docs spell them VerifiedUser, ...
            description="What to verify, in any case; 'bot' (SDK 0.14.0-0.14.6) is humanAssurance.",
        ),
        Text("firstName", required_when=("verificationType", TAKES_NAMES), **_NAME),
        Text("lastName", required_when=("verificationType", TAKES_NAMES), **_NAME),
        Text("clientRequestId", required_when=("verificationType", ("accountOpening",)), max_length=128),
        *_SHARED_FIELDS,
        IDENTITY_ATTRIBUTES,
    ),
)
# /v3/verify serves both generations; the field a body carries picks its shape (CONTRACT.md).
VERIFY_CHOICE = Choice(
    (
        ("verificationType", "current generation", VERIFY_REQUEST),
        ("possessionType", "possession-based generation", verified_users.VERIFY_REQUEST),
    ),
)
BATCH_ITEM = Obj(
    "item",
    (
        Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
        Text("firstName", required=True, **_NAME),
        Text("lastName", required=True, **_NAME),
        Text("verificationType", enum=(*VERIFICATION_TYPES, *ALIASES), ignore_case=True,
             description="In any case; default verifiedUser (SDK 0.13.2-0.14.1 may leave it out)."),
        *_SHARED_FIELDS,
    ),
)
BATCH_REQUEST = Obj(
    "",
    (
        Text("clientRequestId", max_length=128),
        Array("items", BATCH_ITEM, required=True, max_items=MAX_BATCH, per_item=True,
              description=f"At most {MAX_BATCH}. Each item is checked on its own: a bad one gets an error "
                          "in its result, the others are verified."),
    ),
)


class Outcome(NamedTuple):
    """One number's result in a flow (a tuple, not a dict: a batch's flow holds up to a thousand)."""

    phone_number: str
    success: str  # "true" or "false"
    assurance_level: str = ""  # none for an item refused before it was verified

    def as_json(self) -> dict[str, str]:
        out = {"phoneNumber": self.phone_number, "success": self.success}
        if self.assurance_level:
            out["assuranceLevel"] = self.assurance_level
        return out


@dataclass(slots=True)
class VerificationFlow(Flow):
    verification_type: str = ""  # "batch" for /v3/verify/batch
    outcomes: list[Outcome] = field(default_factory=list)  # one per number

    @property
    def state(self) -> str:
        if self.verification_type == "batch":
            return "completed"
        return "succeeded" if self.outcomes and self.outcomes[0].success == "true" else "failed"

    def summary(self) -> dict[str, Any]:
        return {**Flow.summary(self), "verificationType": self.verification_type,
                "results": [outcome.as_json() for outcome in self.outcomes]}


@dataclass
class Answer:
    """One number's verification, before it is shaped as a verify reply or a batch result."""

    success: bool
    identity: dict[str, Any]
    evaluation: dict[str, Any]
    prove_id: str
    prove_phone_alias: str
    enrolled: bool
    additional_identities: list[dict[str, Any]]
    businesses: list[dict[str, Any]]


class Verification:
    def __init__(self, kit: FlowKit) -> None:
        self.kit = kit

    def verify(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        kind, persona, known = self._checked(project, request, request["verificationType"])
        flow = self._flow(project, request, persona, kind)
        flow.record(flow.created_at, "verify", verificationType=kind, phoneNumber=flow.phone_number, persona=persona.key)
        answer = self._answer(project, request, persona, kind, known, flow)
        reply: dict[str, Any] = {
            "success": _text(answer.success),
            "correlationId": flow.correlation_id,
            "phoneNumber": request["phoneNumber"],
            **_echoes(request, "clientRequestId", "clientCustomerId", "clientHumanId"),
            **_ids(answer),
            "isEnrolled": answer.enrolled,
            "identity": answer.identity,
        }
        if answer.additional_identities:
            reply["additionalIdentities"] = answer.additional_identities
        if answer.businesses:
            reply["businesses"] = answer.businesses
        reply["evaluation"] = answer.evaluation
        return reply

    def batch(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request, DEFAULT_PERSONA, "batch")
        flow.record(flow.created_at, "verify-batch", items=len(request["items"]))
        results = [self._batch_item(project, flow, index, item) for index, item in enumerate(request["items"])]
        reply: dict[str, Any] = {"correlationId": flow.correlation_id, **_echoes(request, "clientRequestId")}
        reply["results"] = results
        return reply

    # -- one number --------------------------------------------------------------------------------

    def _batch_item(self, project: Project, flow: VerificationFlow, index: int, raw: Any) -> dict[str, Any]:
        try:
            item = validate(BATCH_ITEM, raw, f"items[{index}]")
            kind, persona, known = self._checked(project, item, item.get("verificationType", "verifiedUser"))
            answer = self._answer(project, item, persona, kind, known, flow)
        except ProveError as error:
            given = raw if isinstance(raw, dict) else {}
            flow.record(self.kit.clock.now(), "item-refused", index=index, code=error.code, reason=error.message)
            flow.outcomes.append(Outcome(_given_text(given, "phoneNumber"), "false"))
            customer = _given_text(given, "clientCustomerId")
            return {
                "success": "false",
                "phoneNumber": _given_text(given, "phoneNumber"),
                "assuranceLevel": "AL-1",
                "clientCustomerId": customer,
                # SDK 0.13.2 requires an identity in every result.
                "identity": _identity_shell(_given_text(given, "firstName"), _given_text(given, "lastName"),
                                            customer, "AL-1", [POOR_IDENTITY]),
                "error": error.message,  # a string, as in Prove's SDK (its example: "Invalid Phone Number")
            }
        result: dict[str, Any] = {
            "success": _text(answer.success),
            "phoneNumber": item["phoneNumber"],
            "assuranceLevel": answer.identity["assuranceLevel"],
            "clientCustomerId": item.get("clientCustomerId", ""),
            **_echoes(item, "clientHumanId"),
            **_ids(answer),
            "identity": answer.identity,
        }
        if answer.additional_identities:
            result["additionalIdentities"] = answer.additional_identities
        result["evaluation"] = answer.evaluation
        return result

    def _checked(
        self, project: Project, request: dict[str, Any], verification_type: str
    ) -> tuple[str, Persona, EnrolledIdentity | None]:
        """Everything that may refuse a request, before anything is recorded: the type's product, the
        number's persona (a test user of other types is refused like Prove's), the named proveId."""
        kind = ALIASES.get(verification_type, verification_type)
        require_product(project, *PRODUCTS[kind])
        phone_number = request["phoneNumber"]
        persona = self.kit.personas.resolve(project.client_id, phone_number)
        if persona.verification_types and kind not in persona.verification_types:
            if project.unknown_numbers == "reject":
                raise sandbox_user_access_denied(phone_number, f"{kind} verification")
            persona = DEFAULT_PERSONA
        # The region rules, after the test-user checks (8007, 8009), as in every product.
        if PRODUCTS[kind] == NORTH_AMERICAN_PRODUCTS:
            require_north_american(phone_number)  # Pre-Fill serves US and Canadian numbers only
        else:
            require_consent(phone_number, project.consent_countries, project.client_id)  # Canada
        return kind, persona, self._named_identity(project, request)

    def _answer(
        self,
        project: Project,
        request: dict[str, Any],
        persona: Persona,
        kind: str,
        known: EnrolledIdentity | None,
        flow: VerificationFlow,
    ) -> Answer:
        kit = self.kit
        now = kit.clock.now()
        phone = request["phoneNumber"]
        outcome = persona.verification.get(kind, VerificationOutcome())
        names_failed = kind in TAKES_NAMES and not persona.name_matches(request["firstName"], request["lastName"])
        data_passed = outcome.success if outcome.success is not None else persona.data_check == "success"
        success = data_passed and not names_failed
        level = outcome.assurance_level or ("AL2" if success else "AL-1")
        if names_failed:
            level = "AL-1"
        reasons = list(outcome.reasons) if outcome.reasons and not names_failed else [_reason(level)]
        identity = self._identity(persona, request, kind, outcome, now) if success else {}
        # SDK 0.13.2 requires names and clientCustomerId in every identity (later SDKs drop them):
        # a failure or a type that returns no names echoes what the request sent.
        identity = {**_identity_shell(request.get("firstName", ""), request.get("lastName", ""),
                                      request.get("clientCustomerId", ""), level, reasons), **identity}
        failure = NAME_MISMATCH if names_failed else IDENTITY_NOT_FOUND
        evaluation = outcome.evaluation or _evaluation(kind, success, failure)
        enrolled = success and outcome.enrolled
        if enrolled:
            known = kit.identities.enrol(
                project.client_id,
                phone,
                persona,
                now,
                client_customer_id=request.get("clientCustomerId", ""),
                attributes=attributes_of(request),
            )
        elif known is None:
            found = kit.identities.find_by_phone(project.client_id, phone)
            known = found[0] if found else None
        flow.record(now, "verification", verificationType=kind, phoneNumber=phone, success=_text(success),
                    assuranceLevel=level, reason="name does not match" if names_failed else "")
        if enrolled:
            flow.record(now, "identity-enrolled", identityId=known.identity_id)
        flow.outcomes.append(Outcome(phone, _text(success), level))
        return Answer(
            success=success,
            identity=identity,
            evaluation=evaluation,
            prove_id=known.identity_id if known is not None else "",
            prove_phone_alias=_phone_alias(project.client_id, phone),
            enrolled=enrolled,
            additional_identities=[dict(i) for i in outcome.additional_identities] if success else [],
            businesses=[dict(b) for b in outcome.businesses] if success and kind == "prefillForBiz" else [],
        )

    def _named_identity(self, project: Project, request: dict[str, Any]) -> EnrolledIdentity | None:
        """The identity a request's proveId names; it must be the same number's."""
        if "proveId" not in request:
            return None
        identities = self.kit.identities
        number = identities.number_of(project.client_id, request["proveId"])
        if number is None:
            raise malformed(f"field 'proveId' must name an identity of this project (got {request['proveId']!r})")
        if normalize(number) != normalize(request["phoneNumber"]):
            raise malformed(f"field 'proveId' names the identity of another phone number than {request['phoneNumber']}")
        return identities.get(project.client_id, request["proveId"])  # None: handed out by Unify, not enrolled

    @staticmethod
    def _identity(
        persona: Persona, request: dict[str, Any], kind: str, outcome: VerificationOutcome, now: float
    ) -> dict[str, Any]:
        """The identity data a success returns: what the type (or the scenario) asks for, as known."""
        known = persona.identity
        returns = outcome.returns if outcome.returns is not None else DEFAULT_RETURNS[kind]
        out: dict[str, Any] = {}
        if "name" in returns:
            first, last = known.first_name or request.get("firstName", ""), known.last_name or request.get("lastName", "")
            out.update({key: value for key, value in (("firstName", first), ("lastName", last)) if value})
        if "dateOfBirth" in returns and known.dob:
            out["dateOfBirth"] = known.dob
        if "nationalId" in returns and known.ssn:
            out["nationalId"] = f"{known.ssn[:3]}-{known.ssn[3:5]}-{known.ssn[5:]}"
        if "emails" in returns and known.email_addresses:
            out["emails"] = list(known.email_addresses)
        if "addresses" in returns and known.addresses:
            out["addresses"] = [
                {key: value for key, value in (("address", a.address), ("extendedAddress", a.extended_address),
                                               ("city", a.city), ("region", a.region), ("zipCode", a.postal_code))
                 if value}
                for a in known.addresses
            ]
        if "age" in returns or outcome.min_age is not None:
            age = _age(known.dob, now)
            low = outcome.min_age if outcome.min_age is not None else age
            high = outcome.max_age if outcome.max_age is not None else age
            out.update({key: value for key, value in (("minAge", low), ("maxAge", high)) if value is not None})
        return out

    def _flow(self, project: Project, request: dict[str, Any], persona: Persona, kind: str) -> VerificationFlow:
        flow = VerificationFlow(**self.kit.new_flow_fields(project, PRODUCT, request, persona), verification_type=kind)
        self.kit.flows.add(flow)
        return flow


def _identity_shell(first_name: str, last_name: str, client_customer_id: str, level: str,
                    reasons: list[str]) -> dict[str, Any]:
    return {"firstName": first_name, "lastName": last_name, "clientCustomerId": client_customer_id,
            "assuranceLevel": level, "reasons": reasons}


def _text(success: bool) -> str:
    return "true" if success else "false"


def _reason(level: str) -> str:
    return POOR_IDENTITY if level == "AL-1" else f"[{level}a]"


def _echoes(request: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: request[name] for name in names if name in request}


def _ids(answer: Answer) -> dict[str, Any]:
    out = {"proveId": answer.prove_id} if answer.prove_id else {}
    out["provePhoneAlias"] = answer.prove_phone_alias
    return out


def _given_text(given: dict[str, Any], name: str) -> str:
    value = given.get(name)
    return value if isinstance(value, str) else ""


def _evaluation(kind: str, success: bool, failure: dict[str, str]) -> dict[str, Any]:
    """Global Fraud Policy results: identification carries a failure's reason (reference §3.6)."""
    passed = {"result": "pass"}
    out: dict[str, Any] = {"authentication": passed, "risk": passed}
    if not success:
        out["identification"] = {"result": "fail", "failureReasons": dict(failure)}
    elif kind in ("prefill", "prefillForBiz", "accountOpening"):
        out["identification"] = passed
    return out


def _phone_alias(project_id: str, phone_number: str) -> str:
    """A stable subscriber alias per project and number (Prove's provePhoneAlias is persistent)."""
    digest = hashlib.sha256(f"{project_id}\x00{normalize(phone_number)}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest().upper()[:40]


def _age(dob: str, now: float) -> int | None:
    if not dob:
        return None
    born = datetime.date.fromisoformat(dob)
    today = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
