"""The emulated service: all state and rules, with no HTTP in sight (moto's backend, for Prove).

Route handlers parse requests and call into this object; tests can drive it directly.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterable

from emulator.channels import StatusChannels
from emulator.clock import Clock
from emulator.errors import sandbox_user_access_denied, sandbox_user_not_found
from emulator.faults import FaultBook
from emulator.flows.base import FLOW_LIFETIME, Flow
from emulator.flows.possession import PossessionService
from emulator.flows.store import FlowStore
from emulator.flows.prefill import PreFill
from emulator.flows.unify import Unify
from emulator.flows.verified_users import VerifiedUsers
from emulator.identities import IdentityStore
from emulator.identity_manager import IdentityManager
from emulator.journal import Journal
from emulator.outbox import Outbox
from emulator.projects import Project, ProjectRegistry
from emulator.scenarios.loader import default_pack_dir, load_catalogue
from emulator.scenarios.model import DEFAULT_PERSONA, Catalogue, Persona
from emulator.tokens import TokenIssuer
from emulator.webhooks import WebhookDispatcher

DEFAULT_PUBLIC_ORIGIN = "http://127.0.0.1:7768"


class Emulator:
    def __init__(
        self,
        *,
        scenario_dirs: Iterable[Path] = (),
        projects: Iterable[Project] = (),
        public_origin: str = DEFAULT_PUBLIC_ORIGIN,
        clock: Clock | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.clock = clock or Clock()
        # The embedded default pack comes first; later directories override its numbers.
        self.scenario_dirs = [default_pack_dir(), *scenario_dirs]
        self.catalogue = catalogue if catalogue is not None else load_catalogue(self.scenario_dirs)
        self.projects = ProjectRegistry(declared=list(projects))
        self.public_origin = public_origin
        self.tokens = TokenIssuer(self.clock)
        self.outbox = Outbox()
        self.journal = Journal()
        self.faults = FaultBook()
        self.channels = StatusChannels()
        self.identities = IdentityStore()
        self.flows = FlowStore(self.clock, self._flow_expired)
        self.possession = PossessionService(
            clock=self.clock,
            outbox=self.outbox,
            channels=self.channels,
            resolve_persona=self.resolve_persona,
            public_origin=lambda: self.public_origin,
        )
        self.verified_users = VerifiedUsers(self)
        self.prefill = PreFill(self)
        self.unify = Unify(self)
        self.identity_manager = IdentityManager(self)
        self.webhooks = WebhookDispatcher(self.clock, self.projects, self.identities)

    # -- shared by every product -----------------------------------------------------------------

    def resolve_persona(self, project_id: str, phone_number: str, product: str) -> Persona:
        """The persona behind a number, as the project sees it (8007/8009 when it rejects unknowns)."""
        project = self.projects.get(project_id)
        assert project is not None
        persona = self.catalogue.find(phone_number, project.scenario_sets)
        rejects = project.unknown_numbers == "reject"
        if persona is None:
            if rejects:
                raise sandbox_user_not_found(phone_number)
            return DEFAULT_PERSONA
        if persona.products and not (persona.products & project.products):
            if rejects:
                raise sandbox_user_access_denied(phone_number, project.product_label)
            return DEFAULT_PERSONA
        return persona

    def new_flow_fields(
        self, project: Project, product: str, request: dict[str, Any], persona: Persona
    ) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "correlation_id": str(uuid.uuid4()),
            "auth_id": str(uuid.uuid4()),
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
        """The flow's authToken; `first_step` is where the Web SDK starts (e.g. "mobile/otp")."""
        flow.auth_token = self.tokens.issue_auth_token(
            flow_id=flow.correlation_id,
            auth_id=flow.auth_id,
            endpoint=self.public_origin,
            first_step=first_step,
            phone_known=phone_known,
            expires_at=flow.expires_at,
        )
        return flow.auth_token

    def _flow_expired(self, flow: Flow) -> None:
        self.possession.forget(flow)
        self.channels.close(flow.auth_id)

    # -- control plane -----------------------------------------------------------------------------

    def reload_scenarios(self) -> Catalogue:
        """Re-read the scenario directories; on any problem the loaded catalogue stays (raises)."""
        self.catalogue = load_catalogue(self.scenario_dirs)
        return self.catalogue

    def reset(self, project_id: str | None = None) -> None:
        """Forget state: everything (clock and runtime project changes too), or one project's."""
        for flow in self.flows.reset(project_id):
            self._flow_expired(flow)
        self.identities.reset(project_id)
        self.unify.keys.reset(project_id)
        self.webhooks.reset(project_id)
        self.outbox.clear(project_id)
        self.journal.clear(project_id)
        self.faults.reset(project_id)
        if project_id is None:
            self.clock.reset()
            self.projects.restore()
