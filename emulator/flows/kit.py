"""What every product's flow machine needs, composed once by the service and handed to each product.

It sits below the products: they import it, it imports none of them, and no product reaches up
into the service that composes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from emulator.clock import Clock
from emulator.flows.base import FLOW_LIFETIME, Flow
from emulator.flows.possession import PossessionService
from emulator.flows.store import FlowStore
from emulator.identities import IdentityStore
from emulator.ids import new_id
from emulator.personas import Personas
from emulator.projects import Project
from emulator.scenarios.model import Persona
from emulator.tokens import TokenIssuer


@dataclass
class FlowKit:
    clock: Clock
    personas: Personas
    flows: FlowStore
    possession: PossessionService
    identities: IdentityStore
    tokens: TokenIssuer
    public_origin: Callable[[], str]

    def new_flow_fields(self, project: Project, product: str, request: dict[str, Any], persona: Persona) -> dict[str, Any]:
        """The fields every Flow starts with: fresh ids, the 15-minute lifetime, the request's echoes.
        A flow of the number starts here, so its persona's outcome sequence moves on."""
        now = self.clock.now()
        self.personas.count_flow(project.client_id, request.get("phoneNumber", ""), persona)
        return {
            "correlation_id": new_id(),
            "auth_id": new_id(),
            "project_id": project.client_id,
            "product": product,
            "phone_number": request.get("phoneNumber", ""),
            "persona": persona,
            "created_at": now,
            "expires_at": now + FLOW_LIFETIME,
            "final_target_url": request.get("finalTargetUrl", ""),
            "client_customer_id": request.get("clientCustomerId", ""),
        }

    def issue_auth_token(self, flow: Flow, first_step: str, phone_known: bool) -> str:
        """The flow's authToken; `first_step` is where the Web SDK starts (e.g. "mobile/otp"). A flow
        with a Prove Key step passes its challenge (and any uvlvl) to the SDK in the token."""
        step = flow.key_step
        flow.auth_token = self.tokens.issue_auth_token(
            flow_id=flow.correlation_id,
            auth_id=flow.auth_id,
            endpoint=self.public_origin(),
            first_step=first_step,
            phone_known=phone_known,
            expires_at=flow.expires_at,
            challenge=step.challenge if step is not None else "",
            user_verification=step.user_verification if step is not None else "",
        )
        return flow.auth_token
