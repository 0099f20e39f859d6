"""The emulated service: composes the stores and the products, with no HTTP in sight (moto's backend).

Route handlers parse requests and call into the products this object holds; tests can drive it
directly. The rules live in the products (`emulator.flows.*`); this module only wires them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from emulator.changes import ChangeFeed
from emulator.channels import StatusChannels
from emulator.clock import Clock
from emulator.faults import FaultBook
from emulator.flows.base import Flow
from emulator.flows.customer import Customer
from emulator.flows.device_keys import DeviceKeys
from emulator.flows.domains import DomainLinks
from emulator.flows.identity_manager import IdentityManager
from emulator.flows.kit import FlowKit
from emulator.flows.mobile_auth import MobileAuth
from emulator.flows.possession import PossessionService
from emulator.flows.prefill import PreFill
from emulator.flows.prove_auth import ProveAuth, ProveAuthFlow
from emulator.flows.prove_keys import ProveKeys
from emulator.flows.store import FlowStore
from emulator.flows.unify import Unify, UnifyFlow
from emulator.flows.verification import Verification
from emulator.flows.verified_users import VerifiedUsers, VerifyFlow
from emulator.identities import IdentityStore
from emulator.journal import Journal
from emulator.outbox import Outbox
from emulator.personas import Personas
from emulator.projects import DEFAULT_MAX_LIVE_FLOWS, Project, ProjectRegistry
from emulator.ratelimit import RateLimiter
from emulator.scenarios.loader import default_pack_dir, load_catalogue
from emulator.scenarios.model import Catalogue
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
        max_live_flows: int = DEFAULT_MAX_LIVE_FLOWS,
    ) -> None:
        self.clock = clock or Clock()
        # What changed, for the web UI's event stream: the stores below notify it.
        self.changes = ChangeFeed()
        self.clock.listeners.append(self.changes.notifier("clock"))
        # The embedded default pack comes first; later directories override its numbers.
        self.scenario_dirs = [default_pack_dir(), *scenario_dirs]
        # max_live_flows: the bound of live flows of a project without maxLiveFlows (--max-live-flows).
        self.projects = ProjectRegistry(declared=list(projects), default_max_live_flows=max_live_flows)
        self.personas = Personas(self.projects, catalogue if catalogue is not None else load_catalogue(self.scenario_dirs))
        self.public_origin = public_origin
        self.tokens = TokenIssuer(self.clock)
        self.outbox = Outbox(changed=self.changes.notifier("sms"))
        self.faults = FaultBook()
        self.rate_limits = RateLimiter(self.clock)
        self.channels = StatusChannels()
        self.identities = IdentityStore()
        self.flows = FlowStore(self.clock, self.projects.live_flow_limit, self._flow_gone,
                               self.changes.notifier("flows"))
        self.journal = Journal(flow_note=self.flows.journal_note)  # says why a call's flow was evicted
        self.possession = PossessionService(
            clock=self.clock,
            outbox=self.outbox,
            channels=self.channels,
            resolve_persona=self.personas.resolve,
            count_flow=self.personas.count_flow,
            public_origin=lambda: self.public_origin,
        )
        kit = FlowKit(
            clock=self.clock,
            personas=self.personas,
            flows=self.flows,
            possession=self.possession,
            identities=self.identities,
            tokens=self.tokens,
            public_origin=lambda: self.public_origin,
        )
        self.verified_users = VerifiedUsers(kit)
        self.verification = Verification(kit)
        self.prefill = PreFill(kit)
        # One Prove Key store: a key bound by Unify is recognised by Prove Auth, and the other way round.
        self.prove_keys = ProveKeys()
        self.unify = Unify(kit, self.prove_keys)
        self.prove_auth = ProveAuth(kit, self.prove_keys)
        # The device channel's steps before possession: the Prove Key (device/passive) and Mobile Auth.
        self.device_keys = DeviceKeys(self.clock, self.prove_keys, self.possession)
        self.mobile_auth = MobileAuth(self.clock, self.possession, lambda: self.public_origin)
        self.domains = DomainLinks(self.clock, self.projects)
        self.identity_manager = IdentityManager(kit, self.domains)
        # The customer's phone and browser, played from the control plane through the same possession rules.
        self.customer = Customer(self.clock, self.flows, self.possession, self.projects)
        self.webhooks = WebhookDispatcher(self.clock, self.projects, self.identities,
                                          changed=self.changes.notifier("webhooks"))

    @property
    def catalogue(self) -> Catalogue:
        return self.personas.catalogue

    def _flow_gone(self, flow: Flow) -> None:
        """A flow expired, was evicted or reset: release what it held. Nothing is sent (no webhook)."""
        self.possession.forget(flow)
        self.device_keys.forget(flow)
        self.mobile_auth.forget(flow)
        self.faults.forget_flow(flow.project_id, flow.correlation_id)
        self.channels.close(flow.auth_id)
        self.tokens.forget(flow.auth_token)

    def adopt_flows(self, flows: list[Flow]) -> None:
        """Flows restored from a snapshot: each product, step and timer takes its flow back."""
        concluded = {VerifyFlow: self.verified_users.concluded, UnifyFlow: self.unify.concluded,
                     ProveAuthFlow: self.prove_auth.concluded}
        for flow in flows:
            flow.on_concluded = concluded.get(type(flow))
            # A flow's Prove Keys are the store's records, not copies: binding or revoking one changes
            # the store's, and a written flow holds it as it was then.
            if flow.key_step is not None and flow.key_step.key is not None:
                flow.key_step.key = self.prove_keys.find_device(flow.key_step.key.device_id) or flow.key_step.key
            if isinstance(flow, (UnifyFlow, ProveAuthFlow)) and flow.key is not None:
                flow.key = self.prove_keys.find_device(flow.key.device_id) or flow.key
            self.possession.adopt(flow)
            self.mobile_auth.adopt(flow)
        self.flows.restore(flows)

    # -- control plane -----------------------------------------------------------------------------

    def reload_scenarios(self) -> Catalogue:
        """Re-read the scenario directories; on any problem the loaded catalogue stays (raises)."""
        self.personas.catalogue = load_catalogue(self.scenario_dirs)
        return self.personas.catalogue

    def shut_down(self) -> None:
        """The process is stopping: long-poll waiters (SMS, webhook deliveries) answer 503 at once, and
        event streams end."""
        self.outbox.close()
        self.webhooks.close()
        self.changes.close()

    def reset(self, project_id: str | None = None) -> None:
        """Forget state: everything (clock and runtime project changes too), or one project's."""
        for flow in self.flows.reset(project_id):
            self._flow_gone(flow)
        self.identities.reset(project_id)
        self.domains.reset(project_id)
        self.prove_keys.reset(project_id)
        self.webhooks.reset(project_id)
        self.outbox.clear(project_id)
        self.journal.clear(project_id)
        self.faults.reset(project_id)
        self.personas.reset(project_id)
        self.rate_limits.reset(project_id)
        if project_id is None:
            self.clock.reset()
            self.projects.restore()
