"""Verified Users flows under any interleaving: a hypothesis state machine.

Many flows in two projects are driven as Prove's Web SDK drives them (OTP start, finish, resend and
number change; Instant Link start, resend, number change and the customer's click; /error
reports), read with verify-status from either project, while the emulator clock jumps ahead.

After every step, whatever the model says, every live flow is read back and:
- `success` is "true" exactly when possession (or not_applicable) and the data check succeeded,
  and an identityId comes with it;
- final results (success "true" or "false") never change while the flow lives;
- acting on one flow never changes another flow's results;
- an unknown or expired flow answers 8008, and the other project always gets 8008;
- nothing answers 5xx.
A small reference model (CONTRACT.md "Possession") also predicts each flow's results and each
device-channel reply, so a wrong outcome is caught even when it is self-consistent.

`TestFlowsOnTheService` drives the `Emulator` object directly (fast, many steps);
`TestFlowsOverHttp` runs the same machine through the ASGI app, each reply checked against
/openapi.json.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from emulator.projects import DEFAULT_CLIENT_ID
from tests.flow_drivers import OTHER_PROJECT, T0, HttpDriver, ServiceDriver

PROJECTS = (DEFAULT_CLIENT_ID, OTHER_PROJECT)
FINAL_TARGET_URL = "https://app.example.com/done"
OTP_LIFETIME = 120
INSTANT_LINK_LIFETIME = 180
MAX_OTP_REENTRIES = 3
MAX_RESENDS = 3
MAX_NUMBER_CHANGES = 3
POSSESSION_FAILED = 10001
TOKEN_REFUSED = 10003
# Few flows at a time, so that sessions pile up on each and reach the limits (many flows still
# pass through a run, as older ones expire).
MAX_LIVE_FLOWS = 4
RESULT_KEYS = ("success", "possessionResult", "verifyResult")
PENDING = {"success": "pending", "possessionResult": "pending", "verifyResult": "pending"}


@dataclass(frozen=True)
class Persona:
    possession: str = "client"  # client, client-rejected, auto-success, auto-failed, auto-timeout
    data_ok: bool = True
    undeliverable: bool = False
    hard: bool = False  # possession failures end the SDK's authenticate() (no next "done")
    random_otp: bool = False


# scenarios/emulator-outcomes.yaml
PERSONAS = {
    "2025550100": Persona(),
    "2025550101": Persona(possession="auto-success"),
    "2025550102": Persona(possession="auto-failed"),
    "2025550103": Persona(possession="auto-timeout"),
    "2025550104": Persona(data_ok=False),
    "2025550105": Persona(possession="auto-success", data_ok=False),
    "2025550106": Persona(possession="client-rejected"),
    "2025550107": Persona(undeliverable=True),
    "2025550108": Persona(hard=True),
    "2025550109": Persona(random_otp=True),
}
NUMBERS = tuple(PERSONAS)
# Numbers a customer may type when changing number: the personas, an unknown one and junk.
NEW_NUMBERS = (*NUMBERS, "3035550000", "12345")
# What the customer does in the app. For OTP the SDK sends the same {} to start and to resend.
OTP_ACTIONS = ("start", "resend", "right code", "wrong code", "old code", "new number")
INSTANT_LINK_ACTIONS = ("start", "resend", "click", "click an old link", "new number")
DEVICE_STEPS = ("mobile/otp/start", "mobile/otp/finish", "mobile/instantlink/start")


def verify_numbers() -> st.SearchStrategy[str]:
    # Half the flows are the interactive persona, the one whose sessions go deepest.
    return st.one_of(st.just("2025550100"), st.sampled_from(NUMBERS))


def session_steps(actions: tuple[str, ...]) -> st.SearchStrategy[tuple[str, int]]:
    """An action and how many times in a row (a customer who keeps asking for a new code)."""
    return st.tuples(st.sampled_from(actions), st.integers(min_value=1, max_value=4))


def repeated(steps: list[tuple[str, int]]) -> list[str]:
    return [action for action, times in steps for _ in range(times)]


@dataclass
class FlowModel:
    """What the emulator should hold for one flow."""

    project: str
    correlation_id: str
    auth_token: str | None
    possession_type: str  # desktop (Instant Link), mobile (OTP) or none
    number: str
    allow_otp_retry: bool
    expires_at: int
    state: str  # n/a (possessionType none), waiting, sent, success, failed
    code: str = ""
    link: str = ""
    old_codes: list[str] = field(default_factory=list)
    old_links: list[str] = field(default_factory=list)
    window_ends: int = 0  # when the current code or link expires
    sms_count: int = 0
    resends: int = 0
    number_changes: int = 0
    wrong_entries: int = 0
    wrong_entries_in_all: int = 0
    device_is_mobile: bool = False
    retired: bool = False  # expired and seen to answer 8008

    def __repr__(self) -> str:  # short, for falsifying examples
        return f"<{self.possession_type} flow {self.correlation_id[:8]} of {self.project}, {self.number}, {self.state}>"

    @property
    def persona(self) -> Persona:
        return PERSONAS[self.number]

    @property
    def method(self) -> str:
        return {"mobile": "otp", "desktop": "instantlink"}.get(self.possession_type, "")

    @property
    def concluded(self) -> bool:
        return self.state in ("success", "failed")

    def alive(self, now: int) -> bool:
        return now < self.expires_at

    def results(self) -> dict[str, str]:
        if self.state in ("waiting", "sent"):
            return PENDING
        if self.state == "failed":
            return {"success": "false", "possessionResult": "failed", "verifyResult": "not_applicable"}
        verify_result = "success" if self.persona.data_ok else "failed"
        return {
            "success": "true" if verify_result == "success" else "false",
            "possessionResult": "success" if self.state == "success" else "not_applicable",
            "verifyResult": verify_result,
        }


# -- what device-channel replies must look like (web-sdk-protocol §3.3, §5, §6) --------------------


def assert_refused(body: dict[str, Any]) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == TOKEN_REFUSED, body


def assert_reprompt(body: dict[str, Any]) -> None:
    assert set(body) == {"data"}, body
    assert isinstance(body["data"]["code"], int) and body["data"]["message"], body


def assert_final_reply(body: dict[str, Any], flow: FlowModel) -> None:
    if flow.state == "success":
        assert body == {"next": "done"}, body
        return
    assert flow.state == "failed"
    assert "error" in body, f"expected the possession failure, got {body}"
    assert body["error"]["code"] == POSSESSION_FAILED and body["error"]["message"], body
    # Soft failures let the app's AuthFinishStep run; hard ones make authenticate() reject.
    assert body.get("next") == (None if flow.persona.hard else "done"), body
    assert "data" not in body, body


class FlowMachine(RuleBasedStateMachine):
    driver_class: type[ServiceDriver | HttpDriver] = ServiceDriver
    flows = Bundle("flows")  # every flow ever started, expired ones too

    def __init__(self) -> None:
        super().__init__()
        self.driver = self.driver_class()
        self.now = T0
        self.models: list[FlowModel] = []
        self.last_seen: dict[str, dict[str, str]] = {}
        self.identities: dict[tuple[str, str], str] = {}  # (project, number) -> identityId
        # Flows the last step may have changed; None after a clock move (any flow may change).
        self.touched: set[str] | None = set()

    def few_live_flows(self) -> bool:
        return sum(flow.alive(self.now) for flow in self.models) < MAX_LIVE_FLOWS

    def live_flows(self, method: str) -> list[FlowModel]:
        return [flow for flow in self.models if flow.method == method and flow.alive(self.now)]

    def has_live_otp_flows(self) -> bool:
        return bool(self.live_flows("otp"))

    def has_live_link_flows(self) -> bool:
        return bool(self.live_flows("instantlink"))

    # -- starting flows ----------------------------------------------------------------------------

    @precondition(few_live_flows)
    @rule(target=flows, project=st.sampled_from(PROJECTS), number=verify_numbers(), allow_otp_retry=st.booleans())
    def verify_with_otp(self, project: str, number: str, allow_otp_retry: bool) -> FlowModel:
        return self._verify(project, number, "mobile", allow_otp_retry)

    @precondition(few_live_flows)
    @rule(target=flows, project=st.sampled_from(PROJECTS), number=verify_numbers(), allow_otp_retry=st.booleans())
    def verify_with_instant_link(self, project: str, number: str, allow_otp_retry: bool) -> FlowModel:
        return self._verify(project, number, "desktop", allow_otp_retry)

    @precondition(few_live_flows)
    @rule(target=flows, project=st.sampled_from(PROJECTS), number=st.sampled_from(NUMBERS))
    def verify_without_possession(self, project: str, number: str) -> FlowModel:
        return self._verify(project, number, "none", False)

    def _verify(self, project: str, number: str, possession_type: str, allow_otp_retry: bool) -> FlowModel:
        body: dict[str, Any] = {
            "firstName": "Casey",
            "lastName": "Client",
            "phoneNumber": number,
            "possessionType": possession_type,
            "allowOTPRetry": allow_otp_retry,
        }
        if possession_type == "desktop":
            body["finalTargetUrl"] = FINAL_TARGET_URL
        reply = self.driver.verify(project, body)
        assert reply.status == 200, reply
        flow = FlowModel(
            project=project,
            correlation_id=reply.body["correlationId"],
            auth_token=reply.body.get("authToken"),
            possession_type=possession_type,
            number=number,
            allow_otp_retry=allow_otp_retry,
            expires_at=self.now + 15 * 60,
            state="n/a" if possession_type == "none" else "waiting",
        )
        self.models.append(flow)
        self.touched = {flow.correlation_id}
        results = {key: reply.body[key] for key in RESULT_KEYS}
        if possession_type == "none":
            assert flow.auth_token is None
            assert results == flow.results()
            return flow
        assert flow.auth_token and flow.auth_token.count(".") == 2
        assert results == PENDING  # Prove answers pending while possession is outstanding
        mode = flow.persona.possession
        if mode.startswith("auto-"):  # the emulator plays the phone itself
            assert self._send(flow)
            if mode == "auto-success":
                flow.state = "success"
            elif mode == "auto-failed":
                flow.state = "failed"
        return flow

    # -- the customer at the Web SDK ----------------------------------------------------------------
    #
    # One rule runs a short session on one live flow (what a customer does in one sitting), so runs
    # reach the limits (re-entries, resends, number changes) while rules still interleave flows.
    # Expired flows are covered by the wrong-channel, error-report and status rules.

    @precondition(has_live_otp_flows)
    @rule(data=st.data(), actions=st.lists(session_steps(OTP_ACTIONS), min_size=1, max_size=6),
          new_number=st.sampled_from(NEW_NUMBERS))
    def otp_session(self, data: st.DataObject, actions: list[tuple[str, int]], new_number: str) -> None:
        flow = data.draw(st.sampled_from(self.live_flows("otp")), label="flow")
        for action in repeated(actions):
            if action in ("start", "resend"):
                self._otp_start(flow)
            elif action == "new number":
                self._otp_change_number(flow, new_number)
            else:
                self._otp_finish(flow, action)

    @precondition(has_live_link_flows)
    @rule(data=st.data(), actions=st.lists(session_steps(INSTANT_LINK_ACTIONS), min_size=1, max_size=6),
          new_number=st.sampled_from(NEW_NUMBERS), is_mobile=st.booleans())
    def instant_link_session(
        self, data: st.DataObject, actions: list[tuple[str, int]], new_number: str, is_mobile: bool
    ) -> None:
        flow = data.draw(st.sampled_from(self.live_flows("instantlink")), label="flow")
        for action in repeated(actions):
            request: dict[str, Any] = {"sourceIp": None, "isMobile": is_mobile}
            if action == "resend":
                request["mobileNumber"] = ""
            elif action == "new number":
                request["mobileNumber"] = new_number
            if action.startswith("click"):
                self._click(flow, stale=action == "click an old link")
            else:
                self._instant_link_start(flow, request)

    def _otp_start(self, flow: FlowModel) -> None:
        # The SDK sends {} both for the first start (number known) and for a resend.
        body = self._device(flow, "mobile/otp/start", {})
        if body is None:
            return
        if flow.concluded:
            assert_final_reply(body, flow)
        elif flow.state == "waiting":
            self._expect_sent_or_final(body, flow, self._send(flow), {"next": "mobile/otp"})
        else:
            self._expect_sent_or_final(body, flow, self._resend(flow), {"next": "mobile/otp"})

    def _otp_change_number(self, flow: FlowModel, number: str) -> None:
        body = self._device(flow, "mobile/otp/start", {"mobileNumber": number})
        if body is not None:
            self._expect_number_change(body, flow, number, {"next": "mobile/otp"})

    def _otp_finish(self, flow: FlowModel, entry: str) -> None:
        otp = self._entered_code(flow, entry)
        body = self._device(flow, "mobile/otp/finish", {"otp": otp})
        if body is None:
            return
        if flow.concluded:
            assert_final_reply(body, flow)
            return
        if flow.state == "waiting":
            assert_reprompt(body)  # no code has been sent yet
            return
        if otp == flow.code:
            flow.state = "failed" if flow.persona.possession == "client-rejected" else "success"
            assert_final_reply(body, flow)
            return
        flow.wrong_entries += 1
        flow.wrong_entries_in_all += 1
        if flow.allow_otp_retry and flow.wrong_entries <= MAX_OTP_REENTRIES:
            assert_reprompt(body)
        else:
            flow.state = "failed"
            assert_final_reply(body, flow)

    def _instant_link_start(self, flow: FlowModel, request: dict[str, Any]) -> None:
        """First start (no mobileNumber), resend (mobileNumber "") or number change."""
        body = self._device(flow, "mobile/instantlink/start", request)
        if body is None:
            return
        if flow.concluded:
            assert_final_reply(body, flow)
            return
        flow.device_is_mobile = request["isMobile"]
        number = request.get("mobileNumber")
        if number is None and flow.state == "sent":  # the step ran again: the link stays valid
            assert body == self._link_sent_reply(flow), body
        elif number is None:
            self._expect_sent_or_final(body, flow, self._send(flow), self._link_sent_reply(flow))
        elif number == "":
            self._expect_sent_or_final(body, flow, self._resend(flow), self._link_sent_reply(flow))
        else:
            self._expect_number_change(body, flow, number, self._link_sent_reply(flow))

    def _click(self, flow: FlowModel, stale: bool) -> None:
        self.touched = {flow.correlation_id}
        link = (flow.old_links or [""])[-1] if stale else flow.link
        if not link:
            return
        decided, landing = self.driver.click(link)
        expected = not stale and flow.alive(self.now) and not flow.concluded
        assert decided == expected, (link, flow)
        if not decided:
            return
        flow.state = "failed" if flow.persona.possession == "client-rejected" else "success"
        if flow.device_is_mobile:  # the landing page calls finishInstantLink(location.href)
            # asc=true lets the SDK call AuthFinishStep (success, or a soft failure the backend
            # reads from verify-status); asc=false makes it reject, the hard failure.
            query = parse_qs(urlsplit(landing).query)
            hard_failure = flow.state == "failed" and flow.persona.hard
            assert query["asc"] == ["false" if hard_failure else "true"], landing
            assert query["authId"][0], landing
        else:
            assert landing == FINAL_TARGET_URL

    @rule(flow=flows, step=st.sampled_from(DEVICE_STEPS))
    def call_from_the_wrong_channel(self, flow: FlowModel, step: str) -> None:
        """An OTP call on an Instant Link flow (and so on), or any call for a dead or possession-less flow."""
        if step.split("/")[1] == flow.method and flow.alive(self.now):
            self.touched = set()  # not a wrong channel: sessions cover it
            return
        assert self._device(flow, step, {}) is None

    # -- both --------------------------------------------------------------------------------------

    @rule(flow=flows, method=st.sampled_from(("otp", "instantlink")))
    def report_error(self, flow: FlowModel, method: str) -> None:
        body = self._device(flow, f"mobile/{method}/error", {"code": 1, "message": "the customer cancelled"})
        if body is None:
            return
        if method == flow.method and not flow.concluded:
            flow.state = "failed"
        # Only `next` is read from this reply; without one the SDK fails with "Unknown step".
        assert body == {"next": "" if flow.persona.hard else "done"}, body

    @rule(flow=flows, asker=st.sampled_from(("owner", "other project")))
    def status(self, flow: FlowModel, asker: str) -> None:
        self.touched = set()
        if asker == "other project":  # a flow is invisible outside its project
            other = PROJECTS[1 - PROJECTS.index(flow.project)]
            assert_8008(self.driver.verify_status(other, flow.correlation_id))
            return
        reply = self.driver.verify_status(flow.project, flow.correlation_id)
        if flow.alive(self.now):
            assert reply.status == 200, reply
            assert {key: reply.body[key] for key in RESULT_KEYS} == flow.results(), (reply, flow)
        else:
            assert_8008(reply)

    @rule(project=st.sampled_from(PROJECTS))
    def status_of_an_unknown_flow(self, project: str) -> None:
        self.touched = set()
        assert_8008(self.driver.verify_status(project, str(uuid.uuid4())))

    # Mostly small moves, so that flows live long enough to reach their limits; sometimes big jumps.
    @rule(seconds=st.one_of(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=1000)))
    def advance_clock(self, seconds: int) -> None:
        self.touched = None
        self.driver.advance(seconds)
        self.now += seconds
        for flow in self.models:
            if flow.state == "sent" and flow.window_ends <= self.now:
                flow.state = "failed"  # the code or link expired (moot if the flow expired too)

    @rule(offset=st.sampled_from((-1, 0)))
    def advance_clock_to_the_next_deadline(self, offset: int) -> None:
        """Land on the last second of the next lifetime to end, or on its end: off-by-ones live there."""
        live = [flow for flow in self.models if flow.alive(self.now)]
        deadlines = [flow.expires_at for flow in live]
        deadlines += [flow.window_ends for flow in live if flow.state == "sent"]
        ahead = [deadline + offset - self.now for deadline in deadlines if deadline + offset >= self.now]
        if ahead:
            self.advance_clock(min(min(ahead), 1000))
        else:
            self.touched = set()

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def every_flow_reads_back_consistently(self) -> None:
        for flow in self.models:
            if flow.retired:
                continue
            reply = self.driver.verify_status(flow.project, flow.correlation_id)
            if not flow.alive(self.now):
                assert_8008(reply)
                flow.retired = True
                continue
            assert reply.status == 200, reply
            results = {key: reply.body[key] for key in RESULT_KEYS}
            possession_ok = results["possessionResult"] in ("success", "not_applicable")
            both_ok = possession_ok and results["verifyResult"] == "success"
            assert (results["success"] == "true") == both_ok, results
            assert ("identityId" in reply.body) == (results["success"] == "true"), reply.body
            previous = self.last_seen.get(flow.correlation_id)
            if previous is not None and previous["success"] != "pending":
                assert results == previous, f"final results changed: {previous} -> {results}"
            if previous is not None and self.touched is not None and flow.correlation_id not in self.touched:
                assert results == previous, f"a step on another flow changed this one: {previous} -> {results}"
            assert results == flow.results(), (results, flow)
            if "identityId" in reply.body:
                self._check_identity(flow, reply.body["identityId"])
            self.last_seen[flow.correlation_id] = results
        self.touched = set()

    def teardown(self) -> None:
        # Steer the search towards flows that go deep: the limits are where the policy lives.
        depth = max((f.resends + f.number_changes + f.wrong_entries_in_all for f in self.models), default=0)
        target(float(depth), label="the deepest flow's resends, number changes and wrong codes")

    def _check_identity(self, flow: FlowModel, identity_id: str) -> None:
        """One identity per number and project; projects never share identities."""
        known = self.identities.setdefault((flow.project, flow.number), identity_id)
        assert identity_id == known, (flow.project, flow.number)
        others = {i for (project, _), i in self.identities.items() if project != flow.project}
        assert identity_id not in others

    # -- the model's transitions -------------------------------------------------------------------

    def _device(self, flow: FlowModel, step: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Make a device-channel call; None (after checking the refusal) when the model refuses it."""
        self.touched = {flow.correlation_id}
        reply = self.driver.device(step, flow.auth_token, body)
        assert reply.status == 200, reply  # the SDK only reads bodies of 2xx replies
        method = step.split("/")[1]
        reachable = flow.auth_token is not None and flow.alive(self.now)
        if not reachable or (not step.endswith("/error") and method != flow.method):
            assert_refused(reply.body)
            return None
        return reply.body

    def _send(self, flow: FlowModel) -> bool:
        """The SMS goes out (False: undeliverable, possession failed); learn the code or link."""
        messages = self.driver.sms(flow.correlation_id)
        if flow.persona.undeliverable:
            assert len(messages) == flow.sms_count
            flow.state = "failed"
            return False
        assert len(messages) == flow.sms_count + 1, "one send, one SMS"
        sms = messages[-1]
        flow.sms_count += 1
        flow.state = "sent"
        flow.wrong_entries = 0
        if flow.method == "otp":
            lifetime = OTP_LIFETIME
            if flow.persona.random_otp:  # a fresh code per send: the old ones stop working
                assert sms["otp"] not in flow.old_codes and sms["otp"] != flow.code, "a resend kills the old code"
            else:  # every send, resends too, carries the persona's code (CONTRACT "Possession")
                assert sms["otp"] == "1234", "a resend keeps the sandbox code"
            if flow.code and flow.code != sms["otp"]:
                flow.old_codes.append(flow.code)
            flow.code = sms["otp"]
        else:
            lifetime = INSTANT_LINK_LIFETIME
            assert sms["link"] and sms["link"] != flow.link and sms["link"] in sms["body"]
            if flow.link:
                flow.old_links.append(flow.link)
            flow.link = sms["link"]
        flow.window_ends = self.now + lifetime
        return True

    def _resend(self, flow: FlowModel) -> bool:
        if flow.resends >= MAX_RESENDS:
            flow.state = "failed"
            return False
        flow.resends += 1
        return self._send(flow)

    def _expect_number_change(
        self, body: dict[str, Any], flow: FlowModel, number: str, sent_reply: dict[str, Any]
    ) -> None:
        if flow.concluded:
            assert_final_reply(body, flow)
            return
        if number not in PERSONAS:  # junk, or not a test user of the project: ask again
            assert_reprompt(body)
            return
        changing = flow.state == "sent"
        if changing and flow.number_changes >= MAX_NUMBER_CHANGES:
            flow.state = "failed"
            assert_final_reply(body, flow)
            return
        if changing:
            flow.number_changes += 1
        flow.number = number
        self._expect_sent_or_final(body, flow, self._send(flow), sent_reply)

    @staticmethod
    def _expect_sent_or_final(body: dict[str, Any], flow: FlowModel, sent: bool, sent_reply: dict[str, Any]) -> None:
        if sent:
            assert body == sent_reply, body
        else:
            assert_final_reply(body, flow)

    def _link_sent_reply(self, flow: FlowModel) -> dict[str, Any]:
        if flow.project == OTHER_PROJECT:  # instantLinkStartReply "empty": the SDK offers a resend
            return {}
        return {"next": ""} if flow.device_is_mobile else {"data": {}}

    @staticmethod
    def _entered_code(flow: FlowModel, entry: str) -> str:
        if entry == "right code" and flow.code:
            return flow.code
        if entry == "old code" and flow.old_codes:
            return flow.old_codes[-1]
        return "0000" if flow.code != "0000" else "0001"


def assert_8008(reply: Any) -> None:
    assert reply.status == 400, reply
    assert reply.body["code"] == 8008 and reply.body["message"], reply


FlowMachine.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFlowsOnTheService = FlowMachine.TestCase


class HttpFlowMachine(FlowMachine):
    driver_class = HttpDriver


HttpFlowMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFlowsOverHttp = HttpFlowMachine.TestCase
