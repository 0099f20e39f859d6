"""emulator.flows.customer without HTTP: `Emulator().customer`, its flow lookups, `act` and its
refusals, and the REQUEST rules the routes validate bodies with.

Flows are started through the products' service objects as the route handlers do; every action goes
through `validate(REQUEST, body)` first, as the route does, then `Customer.act`.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.errors import ProveError
from emulator.flows.base import Flow, event_details
from emulator.flows.customer import REQUEST, Action, ActionResult
from emulator.flows.possession import Method, Status
from emulator.flows.prefill import START_REQUEST
from emulator.flows.verified_users import VERIFY_REQUEST, VERIFY_STATUS_REQUEST
from emulator.projects import DEFAULT_CLIENT_ID, project_from_json
from emulator.rules import validate
from emulator.service import Emulator
from tests.customer_world import ACTIONS, HAPPY, RANDOM_OTP, REJECTED, SECOND, TARGET, UNDELIVERABLE, body_for
from tests.flow_drivers import T0

OTHER = "team-b"


@pytest.fixture
def emulator() -> Emulator:
    emulator = Emulator()
    emulator.clock.freeze()
    emulator.clock.set(T0)
    emulator.projects.put(project_from_json({"clientId": OTHER, "clientSecret": "s"}, "test"))
    return emulator


def verify(emulator: Emulator, phone: str = HAPPY, possession: str = "mobile", project: str = DEFAULT_CLIENT_ID,
           **fields: Any) -> Flow:
    body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone, "possessionType": possession, **fields}
    if possession == "desktop":
        body.setdefault("finalTargetUrl", TARGET)
    reply = emulator.verified_users.verify(emulator.projects.get(project), validate(VERIFY_REQUEST, body))
    return emulator.customer.flow(reply["correlationId"])


def act(emulator: Emulator, flow: Flow, action: str, **fields: Any) -> ActionResult:
    return emulator.customer.act(flow, validate(REQUEST, body_for(action, **fields)))


def refusal(emulator: Emulator, flow: Flow, action: str, **fields: Any) -> ProveError:
    """The action must be refused and leave the flow and the outbox exactly as they were."""
    before = flow.detail(), [sms.as_json() for sms in emulator.outbox.messages()]
    with pytest.raises(ProveError) as refused:
        act(emulator, flow, action, **fields)
    assert (flow.detail(), [sms.as_json() for sms in emulator.outbox.messages()]) == before
    return refused.value


def success(emulator: Emulator, flow: Flow, project: str = DEFAULT_CLIENT_ID) -> str:
    body = validate(VERIFY_STATUS_REQUEST, {"correlationId": flow.correlation_id})
    return emulator.verified_users.verify_status(emulator.projects.get(project), body)["success"]


def told_on_connect(emulator: Emulator, flow: Flow) -> list[tuple[str, bool]]:
    """What the desktop status socket would be sent on connecting now: (text, close afterwards)."""
    told: list[tuple[str, bool]] = []
    emulator.channels.subscribe(flow.auth_id, lambda text, close: told.append((text, close)))
    return told


def events(flow: Flow) -> list[str]:
    return [event[1] for event in flow.timeline if event[1] != "customer-action"]


def test_the_actions_are_the_documented_ones():
    assert [action.value for action in Action] == ACTIONS
    rule = next(item for item in REQUEST.fields if item.name == "action")
    assert rule.enum == tuple(ACTIONS) and rule.required and REQUEST.closed


# -- acting --------------------------------------------------------------------------------------------


def test_complete_on_an_otp_flow_sends_the_code_and_enters_it(emulator):
    flow = verify(emulator)
    result = act(emulator, flow, "complete")
    assert result.reply == {"next": "done"}
    assert result.as_json() == {"action": "complete", "correlationId": flow.correlation_id,
                                "reply": {"next": "done"}, "flow": flow.detail()}
    assert flow.possession.status is Status.SUCCEEDED
    assert events(flow) == ["verify", "sms-sent", "otp-entered", "possession-succeeded", "data-check",
                            "identity-enrolled"]
    assert [event_details(event) for event in flow.timeline if event[1] == "customer-action"] == [{"action": "complete"}]
    [sms] = emulator.outbox.messages(correlation_id=flow.correlation_id)
    assert sms.code == "1234" and sms.phone_number == HAPPY
    assert success(emulator, flow) == "true"
    assert emulator.identities.in_project(DEFAULT_CLIENT_ID)[0].identity_id == flow.identity_id


def test_complete_on_an_instant_link_taps_the_link_and_tells_the_desktop(emulator):
    flow = verify(emulator, possession="desktop")
    result = act(emulator, flow, "complete")
    assert result.reply == {"outcome": "succeeded", "redirect": TARGET}
    assert events(flow)[:4] == ["verify", "sms-sent", "link-clicked", "possession-succeeded"]
    assert told_on_connect(emulator, flow) == [('{"next":"done"}', False)]  # what the desktop socket gets
    assert success(emulator, flow) == "true"


def test_complete_with_a_random_code_enters_the_code_that_was_sent(emulator):
    flow = verify(emulator, RANDOM_OTP)
    act(emulator, flow, "start")
    act(emulator, flow, "resend")
    sent = [sms.code for sms in emulator.outbox.messages(correlation_id=flow.correlation_id)]
    assert flow.possession.code == sent[-1] != sent[0]
    assert act(emulator, flow, "complete").reply == {"next": "done"}


def test_enter_code_enters_the_given_code_or_the_right_one(emulator):
    wrong = verify(emulator, allowOTPRetry=True)
    act(emulator, wrong, "start")
    assert act(emulator, wrong, "enter-code", code="4321").reply["data"]["code"] == 10001
    assert [event_details(event)["correct"] for event in wrong.timeline if event[1] == "otp-entered"] == [False]
    assert act(emulator, wrong, "enter-code").reply == {"next": "done"}
    assert wrong.possession.wrong_entries == 1


def test_expire_concludes_as_the_timer_does_and_the_timer_then_does_nothing(emulator):
    flow = verify(emulator, possession="desktop")
    act(emulator, flow, "start")
    assert act(emulator, flow, "expire").reply == {}
    assert (flow.possession.status, flow.possession.reason, flow.possession.expired) == (
        Status.FAILED, "the Instant Link expired", True)
    emulator.clock.advance(600)  # the cancelled timer must not conclude it again
    assert events(flow).count("possession-failed") == 1
    assert told_on_connect(emulator, flow)[0][1] is True  # the socket is closed after it


def test_error_reports_what_the_sdk_would(emulator):
    plain = verify(emulator)
    assert act(emulator, plain, "error").reply == {"next": "done"}
    assert [event_details(event) for event in plain.timeline if event[1] == "client-error-reported"] == [
        {"message": "the customer cancelled"}]
    coded = verify(emulator)
    act(emulator, coded, "error", message="cancelled", errorCode=0)
    assert [event_details(event) for event in coded.timeline if event[1] == "client-error-reported"] == [
        {"code": 0, "message": "cancelled"}]
    assert success(emulator, plain) == success(emulator, coded) == "false"


def test_change_number_moves_the_flow_and_follows_the_new_persona(emulator):
    flow = verify(emulator)
    act(emulator, flow, "start")
    assert act(emulator, flow, "change-number", phoneNumber=REJECTED).reply == {"next": "mobile/otp"}
    assert flow.phone_number == REJECTED and flow.persona.key != "client-happy-path"
    assert flow.possession.number_changes == 1
    assert emulator.customer.flow_of_number(REJECTED) is flow
    with pytest.raises(ProveError):
        emulator.customer.flow_of_number(HAPPY)
    assert "client-rejected" in act(emulator, flow, "complete").reply["error"]["message"]


def test_resend_counts_and_the_fourth_ends_possession(emulator):
    flow = verify(emulator)
    act(emulator, flow, "start")
    for count in (1, 2, 3):
        act(emulator, flow, "resend")
        assert flow.possession.resends == count and flow.possession.status is Status.SENT
    assert "resend limit" in act(emulator, flow, "resend").reply["error"]["message"]
    assert len(emulator.outbox.messages(correlation_id=flow.correlation_id)) == 4


def test_a_resend_keeps_the_same_device_start(emulator):
    flow = verify(emulator, possession="desktop")
    assert act(emulator, flow, "start", isMobile=True).reply == {"next": ""}
    act(emulator, flow, "resend")
    assert flow.possession.device_is_mobile is True
    act(emulator, flow, "change-number", phoneNumber=SECOND)
    assert flow.possession.device_is_mobile is True
    act(emulator, flow, "resend", isMobile=False)
    assert flow.possession.device_is_mobile is False


def test_an_undeliverable_sms_ends_complete_at_the_start(emulator):
    flow = verify(emulator, UNDELIVERABLE)
    result = act(emulator, flow, "complete")
    assert "could not be delivered" in result.reply["error"]["message"]
    assert "otp-entered" not in events(flow)


def test_a_numberless_pre_fill_flow_takes_the_number_of_start_or_complete(emulator):
    project = emulator.projects.get(DEFAULT_CLIENT_ID)
    reply = emulator.prefill.start(project, validate(START_REQUEST, {"flowType": "mobile"}))
    flow = emulator.customer.flow(reply["correlationId"])
    assert "phone number is needed" in act(emulator, flow, "complete").reply["data"]["message"]
    assert act(emulator, flow, "complete", phoneNumber=SECOND).reply == {"next": "done"}
    assert flow.phone_number == SECOND and "phone-number-given" in events(flow)


# -- refusals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("ending", ["complete", "error"])
def test_an_ended_flow_refuses_every_action_with_409(emulator, action, ending):
    flow = verify(emulator)
    act(emulator, flow, ending)
    error = refusal(emulator, flow, action)
    assert (error.status, error.code) == (409, 8003) and "has ended" in error.message


@pytest.mark.parametrize("action", ACTIONS)
def test_a_flow_without_possession_refuses_every_action_with_409(emulator, action):
    flow = verify(emulator, possession="none")
    error = refusal(emulator, flow, action)
    assert (error.status, error.code) == (409, 8003) and "needs no possession" in error.message


@pytest.mark.parametrize(("possession", "action", "status", "code"), [
    ("mobile", "enter-code", 409, 8003),
    ("mobile", "resend", 409, 8003),
    ("desktop", "expire", 409, 8003),
    ("desktop", "click", 409, 8003),
    ("desktop", "enter-code", 400, 8001),
    ("mobile", "click", 400, 8001),
])
def test_an_action_before_its_step_or_of_the_other_method_is_refused(emulator, possession, action, status, code):
    error = refusal(emulator, verify(emulator, possession=possession), action)
    assert (error.status, error.code) == (status, code)


def test_start_twice_is_409(emulator):
    flow = verify(emulator)
    act(emulator, flow, "start")
    assert refusal(emulator, flow, "start").status == 409


def test_change_number_without_a_number_is_400_even_on_an_ended_flow(emulator):
    flow = verify(emulator)
    with pytest.raises(ProveError) as refused:
        emulator.customer.act(flow, validate(REQUEST, {"action": "change-number"}))
    assert (refused.value.status, refused.value.code) == (400, 8001)
    act(emulator, flow, "complete")
    with pytest.raises(ProveError) as refused:
        emulator.customer.act(flow, validate(REQUEST, {"action": "change-number", "phoneNumber": ""}))
    assert refused.value.status == 400 and "phoneNumber" in refused.value.message


# -- finding the flow ----------------------------------------------------------------------------------


def test_a_flow_is_found_in_any_project_unless_one_is_named(emulator):
    flow = verify(emulator, project=OTHER)
    assert emulator.customer.flow(flow.correlation_id) is flow
    assert emulator.customer.flow(flow.correlation_id, OTHER) is flow
    with pytest.raises(ProveError) as refused:
        emulator.customer.flow(flow.correlation_id, DEFAULT_CLIENT_ID)
    assert (refused.value.status, refused.value.code) == (404, 8008)
    assert f"in project {DEFAULT_CLIENT_ID!r}" in refused.value.message


def test_an_unknown_flow_is_404(emulator):
    with pytest.raises(ProveError) as refused:
        emulator.customer.flow("nothing")
    assert (refused.value.status, refused.value.code) == (404, 8008)


def test_an_expired_flow_is_410_to_its_project_and_404_to_others(emulator):
    flow = verify(emulator)
    emulator.clock.advance(15 * 60)
    for project in (None, DEFAULT_CLIENT_ID):
        with pytest.raises(ProveError) as refused:
            emulator.customer.flow(flow.correlation_id, project)
        assert (refused.value.status, refused.value.code) == (410, 8008)
        assert "2030-03-17T18:01:40.000Z" in refused.value.message  # T0 + 15 minutes
    with pytest.raises(ProveError) as refused:
        emulator.customer.flow(flow.correlation_id, OTHER)
    assert refused.value.status == 404
    emulator.reset()  # a reset forgets expired flows too
    with pytest.raises(ProveError) as refused:
        emulator.customer.flow(flow.correlation_id)
    assert refused.value.status == 404


def test_a_number_s_newest_open_flow_is_found(emulator):
    older = verify(emulator)
    newer = verify(emulator, possession="desktop")
    verify(emulator, possession="none")  # no possession: never open
    other = verify(emulator, project=OTHER)
    assert emulator.customer.flow_of_number(HAPPY) is other
    assert emulator.customer.flow_of_number(HAPPY, DEFAULT_CLIENT_ID) is newer
    act(emulator, newer, "error")
    assert emulator.customer.flow_of_number(HAPPY, DEFAULT_CLIENT_ID) is older
    assert emulator.customer.flow_of_number("+1" + HAPPY, DEFAULT_CLIENT_ID) is older  # spelled either way
    with pytest.raises(ProveError) as refused:
        emulator.customer.flow_of_number(SECOND)
    assert (refused.value.status, refused.value.code) == (404, 8008)


def test_a_blank_number_does_not_find_a_numberless_flow(emulator):
    project = emulator.projects.get(DEFAULT_CLIENT_ID)
    emulator.prefill.start(project, validate(START_REQUEST, {"flowType": "mobile"}))
    for number in ("", " ", "+"):
        with pytest.raises(ProveError):
            emulator.customer.flow_of_number(number)


# -- the request rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "says"), [
    ({}, "field 'action' is required"),
    ({"action": "tap"}, "field 'action' must be one of"),
    ({"action": "complete", "extra": 1}, "unknown field(s): 'extra'"),
    ({"action": "enter-code", "code": 1234}, "field 'code' must be a string"),
    ({"action": "complete", "isMobile": 1}, "field 'isMobile' must be a boolean"),
    ({"action": "error", "errorCode": True}, "field 'errorCode' must be a whole number"),
    ({"action": "error", "errorCode": 2**31}, "field 'errorCode' must be from 0"),
    ({"action": "enter-code", "code": "1" * 65}, "field 'code' must be at most 64"),
    ({"action": "complete", "project": "p" * 257}, "field 'project' must be at most 256"),
    ("complete", "must be a JSON object"),
])
def test_request_rules_refuse_bad_bodies(body, says):
    with pytest.raises(ProveError) as refused:
        validate(REQUEST, body)
    assert (refused.value.status, refused.value.code) == (400, 8001) and says in refused.value.message


def test_request_rules_drop_empty_optional_fields():
    assert validate(REQUEST, {"action": "enter-code", "code": "", "project": None}) == {"action": "enter-code"}


def test_methods_of_the_flow_are_what_the_product_chose(emulator):
    assert verify(emulator).possession.method is Method.OTP
    assert verify(emulator, possession="desktop").possession.method is Method.INSTANT_LINK
