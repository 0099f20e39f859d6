"""Unify (Unified Authentication): `/v3/unify`, `/v3/unify-status`, `/v3/unify-bind`, `/v3/device/revoke`.

- possessionType desktop: Instant Link; success returns proveId but no deviceId (the Prove Key is
  mobile-only). mobile: OTP, and success binds a Prove Key (deviceId) to the number.
- A number whose Prove Key is bound (and not revoked) in the project is recognised at once on mobile:
  the authToken's first step is "done" (the Web SDK calls AuthFinishStep without traffic) and
  unify-status answers true. The emulator keys Prove Keys by number, not by browser: a
  simplification, since it cannot see the device. A request's `deviceId` that names another key
  (revoked, replaced or unknown) means the device holds no valid key: possession again, and success
  binds a new key.
- possessionType none (customer-supplied possession): unify-status answers possession_required
  until the customer's own check is reported with unify-bind, which binds the Prove Key.
- Persona modes: short-term (always passes, no Prove Key created), prove-key (the default),
  customer-possession (possessionType none always needs unify-bind, even with a bound Prove Key:
  "force bind"), fail (unify-status answers false once possession is done).
- rebind=true replaces the number's existing Prove Key on success.
- proveId: the id of the number's enrolled identity in the project when there is one (an identity's
  id is its proveId), else the number's remembered proveId, made on first success.
- Two request shapes are served: server SDK 0.9.6 (clientRequestId optional) and 0.13.2+ (it is
  required, and newer fields exist). A request is taken as the newer shape exactly when it carries a
  field only that shape has; only then is clientRequestId required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.errors import ProveError, invalid_correlation_id, malformed, step_out_of_order
from emulator.flows.base import Flow
from emulator.flows.kit import FlowKit
from emulator.flows.possession import Method, Status
from emulator.flows.prove_keys import ProveKey, ProveKeys
from emulator.flows.steps import require_product
from emulator.phone import normalize
from emulator.projects import Project
from emulator.rules import EMAIL_ADDRESS, FINAL_TARGET_URL, IP_ADDRESS, PHONE_NUMBER, Check, Flag, Obj, Text
from emulator.scenarios.model import UnifyMode


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
                         "unknown) needs possession again, and success binds a new key."),
        Text("clientHumanId", max_length=128, description="Echoed by unify-status and unify-bind."),
        Flag("checkReputation", description="Adds evaluation (authentication, risk) to the final replies."),
        Text("ipAddress", pattern=IP_ADDRESS),
        Flag("mobileAuthEnabled",
             description="Accepted; Mobile Auth is not emulated (no carrier network), so mobile runs OTP."),
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


@dataclass
class UnifyFlow(Flow):
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
        out = {**super().summary(), "possessionType": self.possession_type, "success": self.result}
        if self.prove_id:
            out["proveId"] = self.prove_id
        return out


class Unify:
    def __init__(self, kit: FlowKit, keys: ProveKeys) -> None:
        self.kit = kit
        self.keys = keys

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
            on_concluded=self._possession_concluded,
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
        if flow.possession_type == "mobile" and existing is not None and not flow.needs_new_key:
            flow.key = existing
            self._succeed_or_fail(flow)
            flow.record(now, "prove-key-recognised", deviceId=existing.device_id)
            # The Web SDK calls AuthFinishStep at once for a token whose first step is "done".
            reply["authToken"] = kit.issue_auth_token(flow, "done", phone_known=True)
            return reply
        reply["authToken"] = kit.issue_auth_token(flow, method.first_step, phone_known=True)
        kit.possession.begin(flow, method, request.get("allowOTPRetry", False), request.get("smsMessage", ""))
        return reply

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
        return flows[-1] if flows else None  # the store keeps start order; equal times (a frozen clock) tie

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
            existing = self.keys.current(flow.project_id, flow.phone_number)
            flow.key = existing if existing is not None and not flow.needs_new_key else self.keys.bind(
                flow.project_id, flow.phone_number, at)
            flow.record(at, "prove-key-bound", proveId=flow.prove_id, deviceId=flow.key.device_id)
        # desktop or short-term: a proveId, but no Prove Key on a device

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
