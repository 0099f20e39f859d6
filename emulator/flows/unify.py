"""Unify (Unified Authentication): `/v3/unify`, `/v3/unify-status`, `/v3/unify-bind`.

- possessionType desktop: Instant Link; success returns proveId but no deviceId (the Prove Key is
  mobile-only). mobile: OTP, and success binds a Prove Key (proveId + deviceId) to the number.
- A number whose Prove Key is already bound in the project is recognised at once on mobile: the
  authToken's first step is "done" (the Web SDK calls AuthFinishStep without traffic) and
  unify-status answers true. The emulator keys Prove Keys by number, not by browser: a
  simplification, since it cannot see the device.
- possessionType none (customer-supplied possession): unify-status answers possession_required
  until the customer's own check is reported with unify-bind, which binds the Prove Key.
- Persona modes: short-term (always passes, no Prove Key created), prove-key (the default),
  customer-possession (possessionType none always needs unify-bind, even with a bound Prove Key:
  "force bind"), fail (unify-status answers false once possession is done).
- rebind=true replaces the number's existing Prove Key on success.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from emulator.errors import invalid_correlation_id, malformed, step_out_of_order
from emulator.flows.base import Flow
from emulator.flows.kit import FlowKit
from emulator.flows.possession import Method, Status
from emulator.flows.steps import require_product
from emulator.phone import normalize
from emulator.projects import Project
from emulator.rules import EMAIL_ADDRESS, FINAL_TARGET_URL, PHONE_NUMBER, Flag, Obj, Text
from emulator.scenarios.model import UnifyMode


PRODUCT = "unify"

UNIFY_REQUEST = Obj(
    "",
    (
        Text("possessionType", required=True, enum=("desktop", "mobile", "none"),
             description="desktop: Instant Link; mobile: Prove Key, else OTP; none: customer-supplied possession."),
        Text("phoneNumber", required=True, pattern=PHONE_NUMBER,
             description="Required here: the emulator has no carrier network for Mobile Auth."),
        Text("finalTargetUrl", required_when=("possessionType", "desktop"), max_length=128, pattern=FINAL_TARGET_URL),
        Flag("allowOTPRetry"),
        Text("smsMessage", max_length=160),
        Text("clientCustomerId", max_length=128),
        Text("clientRequestId", max_length=128),
        Text("emailAddress", pattern=EMAIL_ADDRESS),
        Flag("rebind", description="Re-associate the Prove Key with this number on success."),
    ),
)
STATUS_REQUEST = Obj(
    "",
    (
        Text("correlationId", required=True, max_length=128),
        Text("clientRequestId", max_length=128),
        Text("phoneNumber", pattern=PHONE_NUMBER),
    ),
)
BIND_REQUEST = Obj(
    "",
    (
        Text("correlationId", required=True, max_length=128),
        Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
        Text("clientRequestId", max_length=128),
    ),
)


@dataclass(frozen=True)
class ProveKey:
    prove_id: str
    device_id: str


@dataclass
class UnifyFlow(Flow):
    possession_type: str = "none"
    rebind: bool = False
    bound: bool = False  # unify-bind was called
    asked_for_possession: bool = False  # unify-status answered possession_required
    key: ProveKey | None = None
    result: str = "pending"  # pending, true, false, possession_required

    @property
    def state(self) -> str:
        return self.result

    def summary(self) -> dict[str, Any]:
        out = {**super().summary(), "possessionType": self.possession_type, "success": self.result}
        if self.key is not None:
            out["proveId"] = self.key.prove_id
        return out


@dataclass
class ProveKeys:
    """Prove Keys bound per project and number (normalized: +1 2001004014 is 2001004014)."""

    _keys: dict[tuple[str, str], ProveKey] = field(default_factory=dict)

    def get(self, project_id: str, phone_number: str) -> ProveKey | None:
        return self._keys.get((project_id, normalize(phone_number)))

    def bind(self, project_id: str, phone_number: str) -> ProveKey:
        key = ProveKey(prove_id=str(uuid.uuid4()), device_id=str(uuid.uuid4()))
        self._keys[(project_id, normalize(phone_number))] = key
        return key

    def reset(self, project_id: str | None = None) -> None:
        self._keys = {k: v for k, v in self._keys.items() if project_id is not None and k[0] != project_id}


class Unify:
    def __init__(self, kit: FlowKit) -> None:
        self.kit = kit
        self.keys = ProveKeys()

    def unify(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT)
        kit = self.kit
        now = kit.clock.now()
        persona = kit.personas.resolve(project.client_id, request["phoneNumber"], PRODUCT)
        flow = UnifyFlow(
            **kit.new_flow_fields(project, PRODUCT, request, persona),
            possession_type=request["possessionType"],
            rebind=request.get("rebind", False),
            on_concluded=self._possession_concluded,
        )
        flow.record(now, "unify", possessionType=flow.possession_type, phoneNumber=flow.phone_number,
                    persona=persona.key)
        kit.flows.add(flow)
        reply: dict[str, Any] = {"correlationId": flow.correlation_id, "success": "pending"}
        if flow.possession_type == "none":
            self._settle_customer_possession(flow)
            return reply
        method = Method.INSTANT_LINK if flow.possession_type == "desktop" else Method.OTP
        existing = self.keys.get(project.client_id, flow.phone_number)
        if flow.possession_type == "mobile" and existing is not None and not flow.rebind:
            flow.key = existing
            flow.result = self._result_after_possession(flow)
            flow.record(now, "prove-key-recognised", proveId=existing.prove_id)
            # The Web SDK calls AuthFinishStep at once for a token whose first step is "done".
            reply["authToken"] = kit.issue_auth_token(flow, "done", phone_known=True)
            return reply
        reply["authToken"] = kit.issue_auth_token(flow, method.first_step, phone_known=True)
        kit.possession.begin(flow, method, request.get("allowOTPRetry", False), request.get("smsMessage", ""))
        return reply

    def status(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request)
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
        flow.bound = True
        flow.key = self.keys.bind(project.client_id, flow.phone_number)
        flow.result = "true"
        flow.record(self.kit.clock.now(), "unify-bind", proveId=flow.key.prove_id)
        return self._reply(flow, request)

    def _flow(self, project: Project, request: dict[str, Any]) -> UnifyFlow:
        require_product(project, PRODUCT)
        flow = self.kit.flows.get(project.client_id, request["correlationId"])
        if not isinstance(flow, UnifyFlow):
            raise invalid_correlation_id(request["correlationId"])
        return flow

    def _settle_customer_possession(self, flow: UnifyFlow) -> None:
        mode = flow.persona.unify_mode
        if mode is UnifyMode.FAIL:
            flow.result = "false"
        elif mode is UnifyMode.SHORT_TERM:
            flow.result = "true"
            flow.key = ProveKey(prove_id=str(uuid.uuid4()), device_id="")
        else:
            existing = self.keys.get(flow.project_id, flow.phone_number)
            if existing is not None and not flow.rebind and mode is not UnifyMode.CUSTOMER_POSSESSION:
                flow.key, flow.result = existing, "true"
            else:
                flow.result = "possession_required"

    def _possession_concluded(self, flow: Flow, at: float) -> None:
        assert isinstance(flow, UnifyFlow) and flow.possession is not None
        if flow.possession.status is not Status.SUCCEEDED:
            flow.result = "false"
            return
        flow.result = self._result_after_possession(flow)
        if flow.result != "true":
            return
        existing = self.keys.get(flow.project_id, flow.phone_number)
        binds = flow.persona.unify_mode is UnifyMode.PROVE_KEY and flow.possession_type == "mobile"
        if binds:
            flow.key = existing if existing is not None and not flow.rebind else self.keys.bind(
                flow.project_id, flow.phone_number)
            flow.record(at, "prove-key-bound", proveId=flow.key.prove_id)
        else:  # desktop or short-term: a proveId, but no Prove Key on a device
            flow.key = ProveKey(prove_id=existing.prove_id if existing else str(uuid.uuid4()), device_id="")

    @staticmethod
    def _result_after_possession(flow: UnifyFlow) -> str:
        return "false" if flow.persona.unify_mode is UnifyMode.FAIL else "true"

    @staticmethod
    def _reply(flow: UnifyFlow, request: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {"success": flow.result, "phoneNumber": flow.phone_number}
        if flow.result == "true" and flow.key is not None:
            reply["proveId"] = flow.key.prove_id
            if flow.key.device_id:  # only a Prove Key (mobile) has a device
                reply["deviceId"] = flow.key.device_id
        if request.get("clientRequestId"):
            reply["clientRequestId"] = request["clientRequestId"]
        return reply
