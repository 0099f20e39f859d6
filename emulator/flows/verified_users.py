"""Verified Users: `/v3/verify` and `/v3/verify-status` (possession-based shape, CONTRACT.md).

verify starts a flow: with possessionType none it answers at once; with desktop (Instant Link) or
mobile (OTP) it hands out an authToken and stays pending until possession ends. verify-status then
reports possessionResult, verifyResult (the persona's data check, or not_applicable when possession
failed) and success, which is "true" exactly when both succeeded. A successful flow enrols an
identity and reports its identityId.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.errors import invalid_correlation_id
from emulator.flows.base import Flow
from emulator.flows.kit import FlowKit
from emulator.flows.possession import Method
from emulator.flows.steps import require_product
from emulator.phone import require_consent
from emulator.projects import Project
from emulator.rules import EMAIL_ADDRESS, FINAL_TARGET_URL, PHONE_NUMBER, Flag, Obj, Text


PRODUCT = "verified-users"

VERIFY_REQUEST = Obj(
    "",
    (
        Text("firstName", required=True, description="The first name of the individual."),
        Text("lastName", required=True, description="The last name of the individual."),
        Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
        Text(
            "possessionType",
            required=True,
            enum=("desktop", "mobile", "none"),
            description="desktop: Instant Link; mobile: OTP; none: no possession check.",
        ),
        Text(
            "finalTargetUrl",
            required_when=("possessionType", "desktop"),
            max_length=128,
            pattern=FINAL_TARGET_URL,
            description="Where the Instant Link redirects. Required when possessionType is desktop.",
        ),
        Text("emailAddress", pattern=EMAIL_ADDRESS),
        Text("smsMessage", max_length=160, description="#### / ##### / ###### become a 4-, 5- or 6-digit code (or the link)."),
        Flag("allowOTPRetry", description="Let the customer re-enter a wrong OTP up to three times."),
        Text("clientCustomerId", max_length=128),
        Text("clientRequestId", max_length=128),
    ),
)

VERIFY_STATUS_REQUEST = Obj(
    "",
    (
        Text("correlationId", required=True, max_length=128),
        Text("clientRequestId", max_length=128),
    ),
)


@dataclass(slots=True)
class VerifyFlow(Flow):
    first_name: str = ""
    last_name: str = ""
    possession_type: str = "none"
    data_result: str = "pending"  # the data check: pending, success or failed
    identity_id: str = ""

    def results(self) -> dict[str, str]:
        """success, possessionResult and verifyResult, as Prove's strings."""
        possession = self.possession
        if possession is None:
            possession_result = "not_applicable"
        elif not possession.final:
            return {"success": "pending", "possessionResult": "pending", "verifyResult": "pending"}
        else:
            possession_result = possession.result
        if possession_result == "failed":
            return {"success": "false", "possessionResult": "failed", "verifyResult": "not_applicable"}
        verify_result = self.data_result
        success = "true" if verify_result == "success" else "false"
        return {"success": success, "possessionResult": possession_result, "verifyResult": verify_result}

    @property
    def state(self) -> str:
        success = self.results()["success"]
        return {"pending": "pending", "true": "succeeded", "false": "failed"}[success]

    def summary(self) -> dict[str, Any]:
        out = Flow.summary(self)
        out["possessionType"] = self.possession_type
        out["results"] = self.results()
        if self.identity_id:
            out["identityId"] = self.identity_id
        return out


class VerifiedUsers:
    def __init__(self, kit: FlowKit) -> None:
        self.kit = kit
        self.concluded = self._possession_concluded  # one bound method for all its flows, not one each

    def verify(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT)
        kit = self.kit
        now = kit.clock.now()
        persona = kit.personas.resolve(project.client_id, request["phoneNumber"])
        require_consent(request["phoneNumber"], project.consent_countries, project.client_id)  # Canada
        flow = VerifyFlow(
            **kit.new_flow_fields(project, PRODUCT, request, persona),
            first_name=request["firstName"],
            last_name=request["lastName"],
            possession_type=request["possessionType"],
            on_concluded=self.concluded,
        )
        flow.record(now, "verify", possessionType=flow.possession_type, phoneNumber=flow.phone_number,
                    persona=persona.key)
        kit.flows.add(flow)
        reply: dict[str, Any] = {"correlationId": flow.correlation_id}
        if flow.possession_type == "none":
            self._check_data(flow, now)
            reply.update(flow.results())
            return reply
        method = Method.INSTANT_LINK if flow.possession_type == "desktop" else Method.OTP
        reply["authToken"] = kit.issue_auth_token(flow, method.first_step, phone_known=True)
        kit.possession.begin(
            flow,
            method,
            allow_otp_retry=request.get("allowOTPRetry", False),
            sms_template=request.get("smsMessage", ""),
        )
        # Prove answers pending while possession is outstanding, even when a backend-only
        # persona has already settled it; verify-status tells the result.
        reply.update({"success": "pending", "possessionResult": "pending", "verifyResult": "pending"})
        return reply

    def verify_status(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT)
        flow = self.kit.flows.get(project.client_id, request["correlationId"])
        if not isinstance(flow, VerifyFlow):
            raise invalid_correlation_id(request["correlationId"])
        flow.record(self.kit.clock.now(), "verify-status", **flow.results())
        reply: dict[str, Any] = dict(flow.results())
        if flow.identity_id:
            reply["identityId"] = flow.identity_id
        return reply

    def _possession_concluded(self, flow: Flow, at: float) -> None:
        assert isinstance(flow, VerifyFlow)
        if flow.possession is not None and flow.possession.result == "success":
            self._check_data(flow, at)

    def _check_data(self, flow: VerifyFlow, at: float) -> None:
        persona = flow.persona
        passed = persona.data_check == "success" and persona.name_matches(flow.first_name, flow.last_name)
        flow.data_result = "success" if passed else "failed"
        reason = ""
        if not passed:
            reason = "name does not match" if persona.data_check == "success" else "scenario: dataCheck failed"
        flow.record(at, "data-check", result=flow.data_result, reason=reason)
        if passed:
            identity = self.kit.identities.enrol(
                flow.project_id,
                flow.phone_number,
                persona,
                at,
                client_customer_id=flow.client_customer_id,
            )
            flow.identity_id = identity.identity_id
            flow.record(at, "identity-enrolled", identityId=identity.identity_id)
