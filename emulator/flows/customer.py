"""The customer's side of a flow, played from the control plane: what the Web SDK and the phone do.

Each action calls the same possession state machine the device channel calls (`PossessionService`),
with the body the Web SDK would send, so timelines, webhooks and verify-status come out exactly as
if the customer had used the real SDK. An action the SDK could not take is refused: the control
plane adds convenience (the right code, one call for the happy path), never new powers.

Refusals (the usual envelope):
- 404/8008: no such flow, or another project's; 410/8008: the flow's lifetime ended, or it was evicted (its
  project held as many live flows as it may);
- 409/8003: the possession check is already decided, the flow needs none, or the step is not there yet
  (a code entered before any was sent);
- 400/8001: a bad body, or an action of the other method (a code for an Instant Link flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from emulator.clock import Clock
from emulator.errors import ProveError, malformed
from emulator.flows.base import Flow
from emulator.flows.possession import ClientReply, Method, PossessionService, Status
from emulator.flows.store import FlowStore
from emulator.projects import ProjectRegistry
from emulator.rules import Flag, Int, Obj, Text

DEFAULT_ERROR_MESSAGE = "the customer cancelled"


class Action(str, Enum):
    START = "start"  # the SDK's first step: send the SMS
    ENTER_CODE = "enter-code"  # type a code (the right one unless given)
    CLICK = "click"  # tap the Instant Link in the SMS
    EXPIRE = "expire"  # let the code or link lapse
    ERROR = "error"  # the SDK reports a failure (cancel, channel trouble)
    CHANGE_NUMBER = "change-number"  # the customer gives another number
    RESEND = "resend"  # ask for a new SMS
    COMPLETE = "complete"  # the happy path: start if need be, then the code or the click


ACTION_NEEDS_METHOD = {Action.ENTER_CODE: Method.OTP, Action.CLICK: Method.INSTANT_LINK}
ACTIONS_AFTER_SEND = (Action.ENTER_CODE, Action.CLICK, Action.EXPIRE, Action.RESEND)

REQUEST = Obj("customer action", fields=(
    Text("action", required=True, enum=tuple(action.value for action in Action),
         description="What the customer does; `complete` starts if nothing was sent, then enters the right "
                     "code or taps the link."),
    Text("code", max_length=64, description="enter-code: the code typed (left out, null or empty: the right one)."),
    Text("phoneNumber", max_length=64,
         description="change-number: the new number (required); start, and complete before anything was sent: "
                     "the number, when the flow has none."),
    Flag("isMobile", description="start, complete, change-number, resend of an Instant Link: the SDK's isMobile "
                                 "(same-device link). Default: what the last start said, else false (a desktop "
                                 "waiting on its status socket)."),
    Text("message", max_length=1000, description=f"error: the message the SDK reports (default "
                                                 f"{DEFAULT_ERROR_MESSAGE!r})."),
    Int("errorCode", minimum=0, maximum=2**31 - 1, description="error: the code the SDK reports."),
    Text("project", max_length=256, description="The flow must be this project's (else 404, as an unknown one)."),
), closed=True)


@dataclass
class ActionResult:
    action: Action
    flow: Flow
    reply: dict[str, Any]  # what the Web SDK (or, for a click, the phone's browser) would have got

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "correlationId": self.flow.correlation_id, "reply": self.reply,
                "flow": self.flow.detail()}


class Customer:
    def __init__(self, clock: Clock, flows: FlowStore, possession: PossessionService,
                 projects: ProjectRegistry) -> None:
        self.clock = clock
        self.flows = flows
        self.possession = possession
        self.projects = projects

    # -- finding the flow ------------------------------------------------------------------------

    def flow(self, correlation_id: str, project_id: str | None = None) -> Flow:
        flow = self.flows.find(correlation_id)
        if flow is not None and (project_id is None or flow.project_id == project_id):
            return flow
        gone = self.flows.gone(correlation_id)
        if gone is not None and (project_id is None or gone.project_id == project_id):
            raise ProveError(410, 8008, f"{gone.explain(correlation_id)}: start a new one with /v3/verify")
        where = f" in project {project_id!r}" if project_id is not None else ""
        raise ProveError(404, 8008, f"no flow with correlationId {correlation_id!r}{where}")

    def flow_of_number(self, phone_number: str, project_id: str | None = None) -> Flow:
        flow = self.flows.latest_open(phone_number, project_id)
        if flow is None:
            where = f" in project {project_id!r}" if project_id is not None else ""
            raise ProveError(404, 8008, f"no open flow for phone number {phone_number!r}{where}: none is waiting "
                                        "for its customer (start one with /v3/verify, or address an ended one by "
                                        "its correlationId)")
        return flow

    # -- acting ------------------------------------------------------------------------------------

    def act(self, flow: Flow, body: dict[str, Any]) -> ActionResult:
        """`body` as validated by REQUEST."""
        action = Action(body["action"])
        if action is Action.CHANGE_NUMBER and "phoneNumber" not in body:  # the body's fault, whatever the flow's state
            raise malformed("field 'phoneNumber' is required for action change-number")
        possession = flow.possession
        if possession is None:
            raise ProveError(409, 8003, f"flow {flow.correlation_id!r} needs no possession check from its customer "
                                        "(possessionType none, or settled by a Prove Key)")
        if possession.final:
            raise ProveError(409, 8003, f"flow {flow.correlation_id!r} has ended: its possession check "
                                        f"{possession.status.value}" + (f" ({possession.reason})" if possession.reason
                                                                        else ""))
        needed = ACTION_NEEDS_METHOD.get(action)
        if needed is not None and needed is not possession.method:
            raise malformed(f"field 'action': {action.value} needs a flow checked by {needed.value}; flow "
                            f"{flow.correlation_id!r} is checked by {possession.method.value}")
        sent = possession.status is Status.SENT
        if action in ACTIONS_AFTER_SEND and not sent:
            raise ProveError(409, 8003, f"action {action.value!r}: nothing has been sent to the customer yet "
                                        "(the SDK has not started): use 'start' or 'complete'")
        if action is Action.START and sent:
            raise ProveError(409, 8003, "action 'start': the SMS was already sent; use 'resend' for a new one")
        flow.record(self.clock.now(), "customer-action", action=action.value)
        return ActionResult(action, flow, self._perform(flow, action, body))

    def _perform(self, flow: Flow, action: Action, body: dict[str, Any]) -> dict[str, Any]:
        possession = flow.possession
        assert possession is not None
        otp = possession.method is Method.OTP
        given_number = {"mobileNumber": body["phoneNumber"]} if "phoneNumber" in body else {}
        if action is Action.START:
            return self._start(flow, body, given_number)
        if action is Action.RESEND:  # the SDKs' resend bodies: {} for OTP, mobileNumber "" for Instant Link
            return self._start(flow, body, {} if otp else {"mobileNumber": ""})
        if action is Action.CHANGE_NUMBER:
            return self._start(flow, body, given_number)
        if action is Action.ENTER_CODE:
            return self.possession.otp_finish(flow, {"otp": body.get("code", possession.code)}).as_json()
        if action is Action.CLICK:
            return self._click(flow)
        if action is Action.EXPIRE:
            self.possession.expire_now(flow)
            return {}
        if action is Action.ERROR:
            # The SDK's report body; without an errorCode it carries no code (as the SDK's cancel report).
            report = {"message": body.get("message", DEFAULT_ERROR_MESSAGE)}
            if "errorCode" in body:
                report["code"] = body["errorCode"]
            return self.possession.client_error(flow, report, possession.method).as_json()
        # COMPLETE
        if possession.status is Status.WAITING:
            started = self._start(flow, body, given_number)
            if possession.status is not Status.SENT:  # the send itself decided it (e.g. undeliverable)
                return started
        if otp:
            return self.possession.otp_finish(flow, {"otp": possession.code}).as_json()
        return self._click(flow)

    def _start(self, flow: Flow, body: dict[str, Any], sdk_body: dict[str, Any]) -> dict[str, Any]:
        possession = flow.possession
        assert possession is not None
        if possession.method is Method.OTP:
            reply: ClientReply = self.possession.otp_start(flow, sdk_body)
        else:
            start_reply = self.projects.get(flow.project_id).instant_link_start_reply
            # A resend or a number change comes from the device that started: it keeps its isMobile.
            sent = possession.status is Status.SENT
            sdk_body = {**sdk_body, "isMobile": body.get("isMobile", possession.device_is_mobile if sent else False)}
            reply = self.possession.instant_link_start(flow, sdk_body, start_reply)
        return reply.as_json()

    def _click(self, flow: Flow) -> dict[str, Any]:
        possession = flow.possession
        assert possession is not None
        outcome, _, redirect = self.possession.click(possession.link_id)
        return {"outcome": outcome, "redirect": redirect}
