"""Unify (Unified Authentication): `/v3/unify`, `/v3/unify-status`, `/v3/unify-bind`, `/v3/device/revoke`.

- possessionType desktop: Instant Link; success returns proveId but no deviceId (the Prove Key is
  mobile-only).
- possessionType mobile: the authToken starts where Prove's do (web-sdk-protocol §2.3). For most
  personas that is the Prove Key (`device/passive`, emulator.flows.device_keys): a browser without
  a key registers one and possession runs by OTP, whose success binds that device key to the
  number; a later visit from the same browser proves its key by signature and succeeds without an
  SMS. For Mobile Auth personas it is `mobile/instant` (emulator.flows.mobile_auth): success, or a
  failure with or without the OTP fallback, per persona; the key bound then is one no device holds.
  Personas whose possession settles by itself keep starting at `mobile/otp`. A flow whose client
  registered no key (a test driving OTP directly) binds a key no device holds, as unify-bind does.
  The scenario option `proveKey: registered` restores recognition by number for backend-only tests
  (the authToken's first step is then "done").
- A request's `deviceId` that names another key than the number's current one (revoked, replaced,
  unknown), or rebind=true: possession again even for a good key, and success binds the device's key
  (rebind re-associates a key bound to another number; without rebind, such a key fails).
- possessionType none (customer-supplied possession): unify-status answers possession_required
  until the customer's own check is reported with unify-bind, which binds a key no device holds. A
  number with a current key is recognised at once (the server has nothing else to go by).
- Persona modes: short-term (always passes, no Prove Key created), prove-key (the default),
  customer-possession (possessionType none always needs unify-bind, even with a bound Prove Key:
  "force bind"), fail (unify-status answers false once possession is done).
- proveId: the id of the number's enrolled identity in the project when there is one (an identity's
  id is its proveId), else the number's remembered proveId, made on first success.
- Two request shapes are served: server SDK 0.9.6 (clientRequestId optional) and 0.13.2+ (it is
  required, and newer fields exist). A request is taken as the newer shape exactly when it carries a
  field only that shape has; only then is clientRequestId required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from emulator.errors import ProveError, invalid_correlation_id, malformed, step_out_of_order
from emulator.flows import device_keys, mobile_auth
from emulator.flows.base import Flow
from emulator.flows.device_keys import KeyStep
from emulator.flows.kit import FlowKit
from emulator.flows.mobile_auth import MobileAuthStep
from emulator.flows.possession import Method, Status
from emulator.flows.prove_keys import ProveKey, ProveKeys
from emulator.flows.steps import require_product
from emulator.phone import normalize
from emulator.projects import Project
from emulator.rules import EMAIL_ADDRESS, FINAL_TARGET_URL, IP_ADDRESS, PHONE_NUMBER, Check, Flag, Obj, Text
from emulator.scenarios.model import MobileAuthMode, Persona, ProveKeyMode, UnifyMode


PRODUCT = "unify"
# Fields only the newer request shape (server SDK 0.13.2 and later) has; that SDK always sends clientRequestId.
NEWER_SHAPE_FIELDS = ("proveId", "deviceId", "clientHumanId", "checkReputation", "ipAddress", "mobileAuthEnabled")


def _number_or_prove_id(body: dict[str, Any]) -> str | None:
    if "phoneNumber" in body or "proveId" in body:
        return None
    return ("field 'phoneNumber' is required unless proveId names a Prove Key or an enrolled identity of "
            "this project (the emulator has no carrier network for Mobile Auth)")


def _client_request_id_of_newer_shape(body: dict[str, Any]) -> str | None:
    used = [name for name in NEWER_SHAPE_FIELDS if name in body]
    if not used or "clientRequestId" in body:
        return None
    return (f"field 'clientRequestId' is required when the request uses {', '.join(used)}: fields of the "
            "newer request shape (server SDK 0.13.2 and later), which requires clientRequestId")


UNIFY_REQUEST = Obj(
    "",
    (
        Text("possessionType", required=True, enum=("desktop", "mobile", "none"),
             description="desktop: Instant Link; mobile: Prove Key, else OTP; none: customer-supplied possession."),
        Text("phoneNumber", pattern=PHONE_NUMBER,
             description="Required unless proveId is given: the emulator has no carrier network for Mobile Auth."),
        Text("finalTargetUrl", required_when=("possessionType", "desktop"), max_length=128, pattern=FINAL_TARGET_URL),
        Flag("allowOTPRetry"),
        Text("smsMessage", max_length=160),
        Text("clientCustomerId", max_length=128),
        Text("clientRequestId", max_length=128,
             description="Optional in the 0.9.6 shape; required with any field of the newer shape."),
        Text("emailAddress", pattern=EMAIL_ADDRESS),
        Flag("rebind", description="Re-associate the Prove Key with this number on success."),
        Text("proveId", max_length=128,
             description="A proveId Unify gave this project, or an enrolled identity's id; the number is taken from it."),
        Text("deviceId", max_length=128,
             description="The device's Prove Key. Another key than the number's current one (revoked, replaced, "
                         "unknown) needs possession again even if the device proves a good key, and success "
                         "binds the device's key."),
        Text("clientHumanId", max_length=128, description="Echoed by unify-status and unify-bind."),
        Flag("checkReputation", description="Adds evaluation (authentication, risk) to the final replies."),
        Text("ipAddress", pattern=IP_ADDRESS),
        Flag("mobileAuthEnabled",
             description="false: no Mobile Auth step. true: mobile tokens start at mobile/instant; a number that is "
                         "no Mobile Auth test user then falls back to OTP. Absent: the persona decides."),
    ),
    checks=(
        Check("phoneNumber is required unless proveId is given.", _number_or_prove_id),
        Check("clientRequestId is required when any of " + ", ".join(NEWER_SHAPE_FIELDS) + " is sent.",
              _client_request_id_of_newer_shape),
    ),
)
def _names_the_flow(body: dict[str, Any]) -> str | None:
    if "correlationId" in body or "phoneNumber" in body:
        return None
    return "field 'correlationId' is required (SDKs before 0.14.4 may name the flow by phoneNumber instead)"


# SDKs before 0.14.4 may leave correlationId out; the number's latest unify flow is then meant.
_FLOW_NAMED = Check("correlationId is required, or phoneNumber: the number's latest Unify flow.", _names_the_flow)
STATUS_REQUEST = Obj(
    "",
    (
        Text("correlationId", max_length=128),
        Text("clientRequestId", max_length=128),
        Text("phoneNumber", pattern=PHONE_NUMBER),
    ),
    checks=(_FLOW_NAMED,),
)
# correlationId is required from SDK 0.14.4 (before, the number names its latest flow); phoneNumber,
# the number the customer's own check verified, always (as the current API requires it).
BIND_REQUEST = Obj(
    "",
    (
        Text("correlationId", max_length=128),
        Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
        Text("clientRequestId", max_length=128),
    ),
)
REVOKE_REQUEST = Obj(
    "",
    (
        Text("clientRequestId", required=True, max_length=128),
        Text("deviceId", required=True, max_length=128, description="The Prove Key to revoke."),
    ),
)


def device_not_found(device_id: str) -> ProveError:
    return ProveError(404, 8011, f"device not found: deviceId {device_id!r} names no Prove Key of this project")


@dataclass(slots=True)
class UnifyFlow(Flow):
    FINISHED_STATES: ClassVar[frozenset[str]] = frozenset({"true", "false"})

    possession_type: str = "none"
    rebind: bool = False
    needs_new_key: bool = False  # rebind, or the device's key is not the number's current one
    bound: bool = False  # unify-bind was called
    asked_for_possession: bool = False  # unify-status answered possession_required
    key: ProveKey | None = None  # the Prove Key (mobile); none for desktop and short-term users
    prove_id: str = ""  # set on success
    client_human_id: str = ""
    check_reputation: bool = False
    result: str = "pending"  # pending, true, false, possession_required

    @property
    def state(self) -> str:
        return self.result

    def summary(self) -> dict[str, Any]:
        out = {**Flow.summary(self), "possessionType": self.possession_type, "success": self.result}
        if self.prove_id:
            out["proveId"] = self.prove_id
        if self.key_step is not None:  # the device's Prove Key in this flow (the SDK's device/passive step)
            out["proveKey"] = {"state": self.key_step.state, **(
                {"deviceId": self.key_step.key.device_id} if self.key_step.key is not None else {})}
        if self.mobile_auth is not None:
            out["mobileAuth"] = {"state": self.mobile_auth.state, "scenario": self.mobile_auth.mode.value}
        return out


class Unify:
    def __init__(self, kit: FlowKit, keys: ProveKeys) -> None:
        self.kit = kit
        self.keys = keys
        self.concluded = self._possession_concluded  # one bound method for all its flows, not one each

    def unify(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT)
        kit = self.kit
        now = kit.clock.now()
        number = self.phone_number_of(project, request)
        persona = kit.personas.resolve(project.client_id, number)
        existing = self.keys.current(project.client_id, number)
        device_id = request.get("deviceId", "")
        flow = UnifyFlow(
            **kit.new_flow_fields(project, PRODUCT, {**request, "phoneNumber": number}, persona),
            possession_type=request["possessionType"],
            rebind=request.get("rebind", False),
            client_human_id=request.get("clientHumanId", ""),
            check_reputation=request.get("checkReputation", False),
            on_concluded=self.concluded,
        )
        flow.needs_new_key = flow.rebind or (bool(device_id) and (existing is None or existing.device_id != device_id))
        flow.record(now, "unify", possessionType=flow.possession_type, phoneNumber=flow.phone_number,
                    persona=persona.key, proveId=request.get("proveId"), deviceId=device_id,
                    mobileAuthEnabled=request.get("mobileAuthEnabled"))
        kit.flows.add(flow)
        reply: dict[str, Any] = {"correlationId": flow.correlation_id, "success": "pending"}
        if flow.possession_type == "none":
            self._settle_customer_possession(flow, existing)
            return reply
        method = Method.INSTANT_LINK if flow.possession_type == "desktop" else Method.OTP
        first_step = method.first_step
        if flow.possession_type == "mobile" and not persona.possession.automatic:
            if persona.prove_key is ProveKeyMode.REGISTERED and not flow.needs_new_key:
                # Backend-only: the device is taken to hold a valid key. The Web SDK calls
                # AuthFinishStep at once for a token whose first step is "done".
                if self._succeed_or_fail(flow):
                    flow.key = existing if existing is not None else self.keys.bind(project.client_id, number, now)
                    flow.record(now, "prove-key-recognised", deviceId=flow.key.device_id, scenario="registered")
                reply["authToken"] = kit.issue_auth_token(flow, "done", phone_known=True)
                return reply
            mode = self._mobile_auth_mode(persona, request)
            if mode is not None:
                flow.mobile_auth = MobileAuthStep(mode)
                first_step = mobile_auth.FIRST_STEP
            else:
                flow.key_step = KeyStep.new(persona.user_verification, rebind=flow.needs_new_key)
                first_step = device_keys.FIRST_STEP
        reply["authToken"] = kit.issue_auth_token(flow, first_step, phone_known=True)
        kit.possession.begin(flow, method, request.get("allowOTPRetry", False), request.get("smsMessage", ""))
        return reply

    @staticmethod
    def _mobile_auth_mode(persona: Persona, request: dict[str, Any]) -> MobileAuthMode | None:
        """Whether the token starts at Mobile Auth, and what the carrier then answers."""
        enabled = request.get("mobileAuthEnabled")
        if enabled is False:
            return None
        if persona.mobile_auth is not None:
            return persona.mobile_auth
        # Switched on for a number that is no Mobile Auth test user: the carrier does not recognise it.
        return MobileAuthMode.OTP_FALLBACK if enabled is True else None

    def status(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request)
        if "phoneNumber" in request and normalize(request["phoneNumber"]) != normalize(flow.phone_number):
            raise malformed(f"field 'phoneNumber' must be the flow's number ({flow.phone_number}) when both "
                            "correlationId and phoneNumber are given")
        if flow.result == "possession_required":
            flow.asked_for_possession = True
        flow.record(self.kit.clock.now(), "unify-status", success=flow.result)
        return self._reply(flow, request)

    def bind(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request)
        if not flow.asked_for_possession or flow.bound:
            raise step_out_of_order(
                "step not allowed: /v3/unify-bind is only allowed once, after /v3/unify-status "
                "answered possession_required"
            )
        if normalize(request["phoneNumber"]) != normalize(flow.phone_number):
            raise malformed(
                f"field 'phoneNumber' must be the flow's number ({flow.phone_number}): the one the customer's "
                "own possession check verified"
            )
        now = self.kit.clock.now()
        flow.bound = True
        flow.key = self.keys.bind(project.client_id, flow.phone_number, now)
        flow.prove_id = self._prove_id_for(flow)
        flow.result = "true"
        flow.record(now, "unify-bind", proveId=flow.prove_id, deviceId=flow.key.device_id)
        return self._reply(flow, request)

    def revoke(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        """Mark a Prove Key inactive: the number's next mobile unify needs possession again."""
        require_product(project, PRODUCT)
        if self.keys.revoke(project.client_id, request["deviceId"]) is None:
            raise device_not_found(request["deviceId"])
        return {"success": True}

    def phone_number_of(self, project: Project, request: dict[str, Any]) -> str:
        """The request's number: phoneNumber, or the one its proveId names (8001 naming proveId if none)."""
        number = request.get("phoneNumber", "")
        prove_id = request.get("proveId", "")
        if not prove_id:
            return number
        named = self.kit.identities.number_of(project.client_id, prove_id)
        if named is None:
            raise malformed(
                f"field 'proveId' must name a Prove Key or an enrolled identity of this project (got {prove_id!r})")
        if number and normalize(number) != normalize(named):
            raise malformed(f"field 'proveId' names another number than phoneNumber ({number})")
        return number or named


    def _prove_id_for(self, flow: UnifyFlow) -> str:
        """Reuse an existing value, else generate (current-generation §6.3): one proveId per person."""
        return self.kit.identities.prove_id_of(flow.project_id, flow.phone_number)

    def _flow(self, project: Project, request: dict[str, Any]) -> UnifyFlow:
        require_product(project, PRODUCT)
        flow = self.flow_named(project.client_id, request)
        if flow is None:
            if "correlationId" in request:
                raise invalid_correlation_id(request["correlationId"])
            raise ProveError(400, 8008, f"invalid correlation ID: none was given, and phoneNumber "
                                        f"{request['phoneNumber']} has no live Unify flow in this project")
        return flow

    def flow_named(self, project_id: str, request: dict[str, Any]) -> UnifyFlow | None:
        """The flow a status or bind call names: by correlationId, else the number's latest one."""
        if "correlationId" in request:
            flow = self.kit.flows.get(project_id, request["correlationId"])
            return flow if isinstance(flow, UnifyFlow) else None
        digits = normalize(request["phoneNumber"])
        flows = [flow for flow in self.kit.flows.all(project_id)
                 if isinstance(flow, UnifyFlow) and normalize(flow.phone_number) == digits]
        # The store keeps start order; equal times (a frozen clock) tie. Found again by id: the call
        # may change it, and the store tracks the flows calls find (eviction order, the state directory).
        return self.kit.flows.get(project_id, flows[-1].correlation_id) if flows else None  # type: ignore[return-value]

    def _settle_customer_possession(self, flow: UnifyFlow, existing: ProveKey | None) -> None:
        mode = flow.persona.unify_mode
        if mode is UnifyMode.FAIL:
            flow.result = "false"
        elif mode is UnifyMode.SHORT_TERM:
            self._succeed_or_fail(flow)
        elif existing is not None and not flow.needs_new_key and mode is not UnifyMode.CUSTOMER_POSSESSION:
            flow.key = existing
            self._succeed_or_fail(flow)
        else:
            flow.result = "possession_required"

    def _possession_concluded(self, flow: Flow, at: float) -> None:
        assert isinstance(flow, UnifyFlow) and flow.possession is not None
        if flow.possession.status is not Status.SUCCEEDED:
            flow.result = "false"
            return
        if not self._succeed_or_fail(flow):
            return
        if flow.persona.unify_mode is UnifyMode.PROVE_KEY and flow.possession_type == "mobile":
            flow.key = self._key_to_bind(flow, at)
            if flow.key is not None:
                flow.record(at, "prove-key-bound", proveId=flow.prove_id, deviceId=flow.key.device_id,
                            onDevice=flow.key.on_device)
        # desktop or short-term: a proveId, but no Prove Key on a device

    def _key_to_bind(self, flow: UnifyFlow, at: float) -> ProveKey | None:
        """Possession succeeded on mobile: the key the device registered or proved in this flow, else
        the number's current key, else a new one no device holds (none for proveKey unregistered)."""
        step = flow.key_step
        if step is not None and step.key is not None:
            return self.keys.bind(flow.project_id, flow.phone_number, at, step.key)
        if flow.persona.prove_key is ProveKeyMode.UNREGISTERED:
            return None
        existing = self.keys.current(flow.project_id, flow.phone_number)
        if existing is not None and not flow.needs_new_key:
            return existing
        return self.keys.bind(flow.project_id, flow.phone_number, at)

    def _succeed_or_fail(self, flow: UnifyFlow) -> bool:
        """Possession is settled: the persona decides the result. True when it is a success."""
        if flow.persona.unify_mode is UnifyMode.FAIL:
            flow.result = "false"
            return False
        flow.result = "true"
        flow.prove_id = self._prove_id_for(flow)
        return True

    @staticmethod
    def _reply(flow: UnifyFlow, request: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {"success": flow.result, "phoneNumber": flow.phone_number}
        if flow.result == "true":
            reply["proveId"] = flow.prove_id
            if flow.key is not None:  # only a Prove Key (mobile) has a device
                reply["deviceId"] = flow.key.device_id
        if flow.client_human_id:
            reply["clientHumanId"] = flow.client_human_id
        if request.get("clientRequestId"):  # each call's own id (0.9.6 behaviour, kept)
            reply["clientRequestId"] = request["clientRequestId"]
        if flow.check_reputation and flow.result in ("true", "false"):
            outcome = "pass" if flow.result == "true" else "fail"
            reply["evaluation"] = {"authentication": {"result": outcome}, "risk": {"result": outcome}}
        return reply
