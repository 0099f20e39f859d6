"""The customer's side of a flow over HTTP: POST /__emulator/flows/{correlationId}/customer and
POST /__emulator/phones/{phoneNumber}/customer (emulator/flows/customer.py, emulator/http/customer.py).

Every action (start, enter-code, click, expire, error, change-number, resend, complete) on OTP and
Instant Link flows of every product with a possession check (Verified Users' possession-based
/v3/verify, Pre-Fill's /v3/start, Unify's /v3/unify), addressed by flow and by phone number; then on
flows it must refuse: ended (possession decided), expired (15-minute lifetime), another project's,
unknown, and flows that need no possession. Each accepted action is checked by its reply frame, the
flow's detail and timeline, the product's own verdict (verify-status, validate, unify-status), the
SMS outbox and, for Instant Links, the desktop status WebSocket. A refused action answers the
{"code","message"} envelope and leaves the flow exactly as it was.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from emulator.service import Emulator
from tests.customer_world import (
    ACTIONS,
    HAPPY,
    HARD,
    KINDS,
    OTHER_PROJECT,
    RANDOM_OTP,
    REJECTED,
    SECOND,
    SHORT_TERM,
    TARGET,
    UNDELIVERABLE,
    World,
    method_of,
    names,
    refused,
)

OTP_KINDS = [kind for kind in KINDS if kind.endswith("otp")]
LINK_KINDS = [kind for kind in KINDS if kind.endswith("link")]
FIRST_EVENT = {"verify": "verify", "prefill": "start", "unify": "unify"}
SOFT_FAILURE_KEYS = {"error", "next"}


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    yield world
    world.close()


def in_order(events: list[str], *wanted: str) -> bool:
    """`wanted` occurs in `events` in this order (other events may come between)."""
    remaining = iter(events)
    return all(any(event == name for event in remaining) for name in wanted)


def customer_actions(detail: dict[str, Any]) -> list[str]:
    return [event["action"] for event in detail["timeline"] if event["event"] == "customer-action"]


def soft_failure(reply: dict[str, Any]) -> str:
    assert set(reply) == SOFT_FAILURE_KEYS and reply["next"] == "done" and reply["error"]["code"] == 10001, reply
    return reply["error"]["message"]


def reprompt(reply: dict[str, Any]) -> str:
    assert set(reply) == {"data"} and reply["data"]["code"] == 10001, reply
    return reply["data"]["message"]


def started_and_sent(world: World, kind: str, phone: str = HAPPY, **fields: Any) -> dict[str, Any]:
    flow = world.begin(kind, phone, **fields)
    world.acted(flow["correlationId"], "start")
    return flow


# -- the happy path, in one call and step by step ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_complete_runs_the_happy_path_of_every_product(world, kind):
    flow = world.begin(kind)
    correlation_id = flow["correlationId"]
    acted = world.acted(correlation_id, "complete")
    if method_of(kind) == "otp":
        assert acted["reply"] == {"next": "done"}
    else:
        assert acted["reply"] == {"outcome": "succeeded", "redirect": TARGET}
    detail = acted["flow"]
    assert detail["possession"]["method"] == method_of(kind)
    assert detail["possession"]["status"] == "succeeded"
    step = "otp-entered" if method_of(kind) == "otp" else "link-clicked"
    events = names(detail)
    assert events[0] == FIRST_EVENT[kind.split("-")[0]]
    assert in_order(events, "sms-sent", step, "possession-succeeded"), events
    assert customer_actions(detail) == ["complete"]
    assert names(detail, actions=True)[1] == "customer-action"  # recorded before what it caused
    [sms] = world.sms(correlation_id)
    assert sms["kind"] == method_of(kind) and sms["phoneNumber"] == HAPPY
    assert world.result(kind, correlation_id) == "true"


@pytest.mark.parametrize("kind", KINDS)
def test_complete_by_phone_number(world, kind):
    flow = world.begin(kind)
    response = world.act_on_phone(HAPPY, "complete")
    assert response.status_code == 200, response.text
    acted = response.json()
    assert acted["correlationId"] == flow["correlationId"] and acted["action"] == "complete"
    assert acted["flow"] == world.flow(flow["correlationId"])
    assert world.result(kind, flow["correlationId"]) == "true"
    # Decided: the number has no open flow left.
    refused(world.act_on_phone(HAPPY, "complete"), 404, 8008)


@pytest.mark.parametrize("kind", OTP_KINDS)
def test_otp_step_by_step_start_then_the_right_code(world, kind):
    flow = world.begin(kind)
    correlation_id = flow["correlationId"]
    assert world.sms(correlation_id) == []  # nothing is sent before the customer starts
    started = world.acted(correlation_id, "start")
    assert started["reply"] == {"next": "mobile/otp"}
    assert started["flow"]["possession"]["status"] == "sent"
    [sms] = world.sms(correlation_id)
    assert sms["otp"] == "1234" and "1234" in sms["body"]
    if not kind.startswith("prefill"):  # validate would end a Pre-Fill flow
        assert world.result(kind, correlation_id) == "pending"
    entered = world.acted(correlation_id, "enter-code", code="1234")
    assert entered["reply"] == {"next": "done"}
    assert [event for event in entered["flow"]["timeline"] if event["event"] == "otp-entered"][0]["correct"] is True
    assert world.result(kind, correlation_id) == "true"


@pytest.mark.parametrize("code", [None, ""])
def test_enter_code_without_a_code_enters_the_right_one(world, code):
    flow = started_and_sent(world, "verify-otp")
    assert world.acted(flow["correlationId"], "enter-code", code=code)["reply"] == {"next": "done"}
    assert world.status(flow["correlationId"])["success"] == "true"


def test_the_right_code_of_a_random_code_persona_is_its_latest_sms(world):
    flow = world.begin("verify-otp", RANDOM_OTP)
    world.acted(flow["correlationId"], "start")
    world.acted(flow["correlationId"], "resend")
    codes = [sms["otp"] for sms in world.sms(flow["correlationId"])]
    assert len(set(codes)) == 2
    # The first code died with the resend; the default is the live one.
    assert "incorrect" in soft_failure(world.acted(flow["correlationId"], "enter-code", code=codes[0])["reply"])
    other = world.begin("verify-otp", RANDOM_OTP)
    assert world.acted(other["correlationId"], "complete")["reply"] == {"next": "done"}
    assert world.status(other["correlationId"])["success"] == "true"


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_instant_link_step_by_step_start_then_click(world, kind):
    flow = world.begin(kind)
    correlation_id = flow["correlationId"]
    started = world.acted(correlation_id, "start")
    assert started["reply"] == {"data": {}}  # desktop: wait for the status socket
    [sms] = world.sms(correlation_id)
    assert sms["kind"] == "instant-link" and sms["link"] in sms["body"]
    clicked = world.acted(correlation_id, "click")
    assert clicked["reply"] == {"outcome": "succeeded", "redirect": TARGET}
    assert world.click(sms["link"]).status_code == 410  # the link was the one the customer used
    assert world.result(kind, correlation_id) == "true"


# -- wrong codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OTP_KINDS)
def test_a_wrong_code_without_allow_otp_retry_ends_possession(world, kind):
    flow = started_and_sent(world, kind)
    correlation_id = flow["correlationId"]
    entered = world.acted(correlation_id, "enter-code", code="0000")
    assert "incorrect" in soft_failure(entered["reply"])
    detail = entered["flow"]
    assert detail["possession"]["status"] == "failed" and detail["possession"]["reason"] == "the code is incorrect"
    assert [e["correct"] for e in detail["timeline"] if e["event"] == "otp-entered"] == [False]
    assert world.result(kind, correlation_id) == "false"
    refused(world.act(correlation_id, "enter-code"), 409, 8003)  # ended: not even the right code


@pytest.mark.parametrize("kind", OTP_KINDS)
def test_wrong_codes_with_allow_otp_retry_reprompt_three_times_then_end(world, kind):
    flow = started_and_sent(world, kind, allowOTPRetry=True)
    correlation_id = flow["correlationId"]
    messages = [reprompt(world.acted(correlation_id, "enter-code", code="0000")["reply"]) for _ in range(3)]
    assert [message.split("; ")[1] for message in messages] == ["3 attempts left", "2 attempts left", "1 attempt left"]
    assert world.flow(correlation_id)["possession"]["wrongEntries"] == 3
    if not kind.startswith("prefill"):
        assert world.result(kind, correlation_id) == "pending"
    assert "too many incorrect codes" in soft_failure(world.acted(correlation_id, "enter-code", code="0000")["reply"])
    assert world.result(kind, correlation_id) == "false"


def test_the_right_code_after_three_wrong_ones_succeeds_with_allow_otp_retry(world):
    flow = started_and_sent(world, "verify-otp", allowOTPRetry=True)
    for _ in range(3):
        reprompt(world.acted(flow["correlationId"], "enter-code", code="9999")["reply"])
    assert world.acted(flow["correlationId"], "enter-code")["reply"] == {"next": "done"}
    assert world.status(flow["correlationId"])["success"] == "true"


def test_the_hard_persona_s_wrong_code_ends_without_next(world):
    flow = started_and_sent(world, "verify-otp", HARD)
    reply = world.acted(flow["correlationId"], "enter-code", code="0000")["reply"]
    assert set(reply) == {"error"} and reply["error"]["code"] == 10001
    assert world.status(flow["correlationId"])["success"] == "false"


def test_the_client_rejected_persona_fails_even_with_the_right_code(world):
    flow = world.begin("verify-otp", REJECTED)
    assert "client-rejected" in soft_failure(world.acted(flow["correlationId"], "complete")["reply"])
    assert world.status(flow["correlationId"]) == {"success": "false", "possessionResult": "failed",
                                                   "verifyResult": "not_applicable"}


# -- the click and the status socket ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", LINK_KINDS)
@pytest.mark.parametrize("how", [("start", "click"), ("complete",)])
def test_the_customer_s_click_pushes_done_to_the_desktop_socket(world, kind, how):
    flow = world.begin(kind)
    with world.socket(flow["authToken"]) as socket:
        for action in how:
            world.acted(flow["correlationId"], action)
        assert World.receive_json(socket) == {"next": "done"}
        socket.send_text("ping")  # the socket stays open until the SDK closes it
        assert World.receive(socket)["text"] == "pong"
    assert world.result(kind, flow["correlationId"]) == "true"


def test_a_rejected_click_pushes_the_soft_failure_to_the_socket(world):
    flow = world.begin("verify-link", REJECTED)
    with world.socket(flow["authToken"]) as socket:
        assert world.acted(flow["correlationId"], "complete")["reply"]["outcome"] == "failed"
        assert "client-rejected" in soft_failure(World.receive_json(socket))
    assert world.status(flow["correlationId"])["success"] == "false"


@pytest.mark.parametrize(("phone", "outcome", "result"), [(HAPPY, "succeeded", "true"), (REJECTED, "failed", "false")])
def test_a_same_device_link_lands_with_auth_id_and_asc(world, phone, outcome, result):
    flow = world.verify(phone, "desktop", finalTargetUrl=TARGET + "?step=2")
    auth_id = world.flow(flow["correlationId"])["authId"]
    clicked = world.acted(flow["correlationId"], "complete", isMobile=True)
    assert clicked["reply"] == {"outcome": outcome, "redirect": f"{TARGET}?step=2&authId={auth_id}&asc=true"}
    assert world.status(flow["correlationId"])["success"] == result


def test_a_same_device_start_ends_the_tab_quietly_and_a_resend_stays_same_device(world):
    flow = world.verify(HAPPY, "desktop")
    auth_id = world.flow(flow["correlationId"])["authId"]
    assert world.acted(flow["correlationId"], "start", isMobile=True)["reply"] == {"next": ""}
    assert world.acted(flow["correlationId"], "resend")["reply"] == {"next": ""}  # the same device resends
    clicked = world.acted(flow["correlationId"], "click")
    assert clicked["reply"]["redirect"] == f"{TARGET}?authId={auth_id}&asc=true"


def test_a_desktop_resend_may_say_is_mobile_explicitly(world):
    flow = world.verify(HAPPY, "desktop")
    world.acted(flow["correlationId"], "start", isMobile=True)
    assert world.acted(flow["correlationId"], "resend", isMobile=False)["reply"] == {"data": {}}
    assert world.acted(flow["correlationId"], "click")["reply"]["redirect"] == TARGET


def test_a_project_with_a_retry_step_gets_the_empty_start_reply(world):
    world.other_project(instantLinkStartReply="empty")
    flow = world.begin("verify-link", project=OTHER_PROJECT)
    assert world.acted(flow["correlationId"], "start", project=OTHER_PROJECT)["reply"] == {}
    assert world.acted(flow["correlationId"], "resend")["reply"] == {}


# -- expiry -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_expire_ends_possession_as_the_timer_would(world, kind):
    flow = started_and_sent(world, kind)
    correlation_id = flow["correlationId"]
    [sms] = world.sms(correlation_id)
    expired = world.acted(correlation_id, "expire")
    assert expired["reply"] == {}
    what = "code" if method_of(kind) == "otp" else "Instant Link"
    assert expired["flow"]["possession"]["status"] == "failed"
    assert expired["flow"]["possession"]["reason"] == f"the {what} expired"
    assert names(expired["flow"])[-1] == "possession-failed"
    if method_of(kind) == "otp":
        assert "expired" in soft_failure(world.device(flow["authToken"], "mobile/otp/finish", {"otp": "1234"}))
    else:
        assert world.click(sms["link"]).status_code == 410
    assert world.result(kind, correlation_id) == "false"


def test_expiring_an_instant_link_sends_the_failure_and_closes_the_socket(world):
    flow = started_and_sent(world, "verify-link")
    with world.socket(flow["authToken"]) as socket:
        world.acted(flow["correlationId"], "expire")
        assert "expired" in soft_failure(World.receive_json(socket))
        assert World.receive(socket)["type"] == "websocket.close"


# -- the SDK's error report ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_report_ends_possession_softly(world, kind):
    flow = started_and_sent(world, kind)
    reported = world.acted(flow["correlationId"], "error")
    assert reported["reply"] == {"next": "done"}
    [event] = [e for e in reported["flow"]["timeline"] if e["event"] == "client-error-reported"]
    assert event["message"] == "the customer cancelled" and "code" not in event
    assert reported["flow"]["possession"]["reason"] == "the client reported: the customer cancelled"
    assert world.result(kind, flow["correlationId"]) == "false"


def test_an_error_report_carries_its_message_and_code(world):
    flow = world.begin("verify-otp")  # before anything was sent: the SDK may report at any step
    reported = world.acted(flow["correlationId"], "error", message="user cancelled otp", errorCode=10001)
    [event] = [e for e in reported["flow"]["timeline"] if e["event"] == "client-error-reported"]
    assert (event["code"], event["message"]) == (10001, "user cancelled otp")
    assert world.status(flow["correlationId"])["success"] == "false"


def test_the_hard_persona_s_error_report_ends_quietly(world):
    flow = started_and_sent(world, "verify-link", HARD)
    assert world.acted(flow["correlationId"], "error")["reply"] == {"next": ""}


# -- number changes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_change_number_moves_the_flow_to_the_new_number(world, kind):
    flow = started_and_sent(world, kind)
    correlation_id = flow["correlationId"]
    changed = world.acted(correlation_id, "change-number", phoneNumber=SECOND)
    assert changed["reply"] == ({"next": "mobile/otp"} if method_of(kind) == "otp" else {"data": {}})
    assert changed["flow"]["phoneNumber"] == SECOND
    assert changed["flow"]["possession"]["numberChanges"] == 1
    [event] = [e for e in changed["flow"]["timeline"] if e["event"] == "phone-number-changed"]
    assert event["phoneNumber"] == SECOND
    assert [sms["phoneNumber"] for sms in world.sms(correlation_id)] == [HAPPY, SECOND]
    refused(world.act_on_phone(HAPPY, "complete"), 404, 8008)  # the old number has no open flow now
    response = world.act_on_phone(SECOND, "complete")
    assert response.status_code == 200 and response.json()["correlationId"] == correlation_id
    assert world.result(kind, correlation_id) == "true"


def test_change_number_before_the_start_gives_the_number_and_sends_to_it(world):
    flow = world.begin("verify-otp")
    changed = world.acted(flow["correlationId"], "change-number", phoneNumber=SECOND)
    assert "phone-number-given" in names(changed["flow"]) and changed["flow"]["possession"]["numberChanges"] == 0
    assert [sms["phoneNumber"] for sms in world.sms(flow["correlationId"])] == [SECOND]


@pytest.mark.parametrize(("number", "result"), [(REJECTED, "false"), (RANDOM_OTP, "true")])
def test_a_changed_number_follows_its_persona(world, number, result):
    flow = started_and_sent(world, "verify-otp")
    before = world.flow(flow["correlationId"])["persona"]
    assert world.acted(flow["correlationId"], "change-number", phoneNumber=number)["flow"]["persona"] != before
    world.acted(flow["correlationId"], "complete")  # the right code: the new number's own
    assert world.status(flow["correlationId"])["success"] == result


@pytest.mark.parametrize(("number", "message"), [("12345", "must be a phone number"),
                                                 ("3035550000", "sandbox user not found")])
def test_a_bad_new_number_reprompts_and_keeps_the_flow_on_its_number(world, number, message):
    flow = started_and_sent(world, "verify-otp")
    changed = world.acted(flow["correlationId"], "change-number", phoneNumber=number)
    assert message in reprompt(changed["reply"])
    assert changed["flow"]["phoneNumber"] == HAPPY and len(world.sms(flow["correlationId"])) == 1
    assert world.acted(flow["correlationId"], "enter-code")["reply"] == {"next": "done"}


def test_change_number_needs_a_phone_number_whatever_the_flow(world):
    flow = started_and_sent(world, "verify-otp")
    before = world.flow(flow["correlationId"])
    response = world.send("POST", f"/__emulator/flows/{flow['correlationId']}/customer",
                          json={"action": "change-number"})
    assert "phoneNumber" in refused(response, 400, 8001)
    assert world.flow(flow["correlationId"]) == before
    world.acted(flow["correlationId"], "complete")
    response = world.send("POST", f"/__emulator/flows/{flow['correlationId']}/customer",
                          json={"action": "change-number"})
    assert "phoneNumber" in refused(response, 400, 8001)  # the body's fault comes first


def test_the_fourth_number_change_ends_possession(world):
    flow = started_and_sent(world, "verify-otp")
    for number in ("5550000001", "5550000002", "5550000003"):
        assert world.acted(flow["correlationId"], "change-number", phoneNumber=number)["reply"] == {"next": "mobile/otp"}
    ended = world.acted(flow["correlationId"], "change-number", phoneNumber="5550000004")
    assert "number change limit" in soft_failure(ended["reply"])
    assert world.status(flow["correlationId"])["success"] == "false"


def test_a_pre_fill_flow_without_a_number_gets_it_from_the_customer(world):
    flow = world.begin("prefill-otp", phone=None)
    correlation_id = flow["correlationId"]
    refused(world.act_on_phone(SECOND, "complete"), 404, 8008)  # the flow has no number yet
    assert "phone number is needed" in reprompt(world.acted(correlation_id, "start")["reply"])
    assert "phone number is needed" in reprompt(world.acted(correlation_id, "complete")["reply"])
    assert world.sms(correlation_id) == []
    completed = world.acted(correlation_id, "complete", phoneNumber=SECOND)
    assert completed["reply"] == {"next": "done"} and completed["flow"]["phoneNumber"] == SECOND
    assert in_order(names(completed["flow"]), "phone-number-given", "sms-sent", "otp-entered", "possession-succeeded")
    assert world.result("prefill-otp", correlation_id) == "true"


def test_a_pre_fill_flow_without_a_number_can_start_with_one(world):
    flow = world.begin("prefill-link", phone=None)
    assert world.acted(flow["correlationId"], "start", phoneNumber=SECOND)["reply"] == {"data": {}}
    assert world.act_on_phone(SECOND, "click").json()["reply"]["outcome"] == "succeeded"


# -- resends -------------------------------------------------------------------------------------------


def test_an_otp_resend_sends_the_same_code_and_the_fourth_ends_possession(world):
    flow = started_and_sent(world, "verify-otp")
    correlation_id = flow["correlationId"]
    world.advance(100)
    for count in range(1, 4):
        resent = world.acted(correlation_id, "resend")
        assert resent["reply"] == {"next": "mobile/otp"} and resent["flow"]["possession"]["resends"] == count
    messages = world.sms(correlation_id)
    assert [sms["otp"] for sms in messages] == ["1234"] * 4 and len({sms["id"] for sms in messages}) == 4
    world.advance(110)  # past the first code's 2 minutes, within the last one's
    assert world.flow(correlation_id)["possession"]["status"] == "sent"
    assert "resend limit" in soft_failure(world.acted(correlation_id, "resend")["reply"])
    assert len(world.sms(correlation_id)) == 4  # the refused resend sent nothing
    assert world.status(correlation_id)["success"] == "false"


def test_an_instant_link_resend_replaces_the_link(world):
    flow = started_and_sent(world, "verify-link")
    correlation_id = flow["correlationId"]
    assert world.acted(correlation_id, "resend")["reply"] == {"data": {}}
    old, new = (sms["link"] for sms in world.sms(correlation_id))
    assert old != new
    assert world.click(old).status_code == 410  # replaced
    for _ in range(2):
        world.acted(correlation_id, "resend")
    assert "resend limit" in soft_failure(world.acted(correlation_id, "resend")["reply"])
    assert world.status(correlation_id)["success"] == "false"


def test_the_customer_s_click_follows_the_latest_link(world):
    flow = started_and_sent(world, "verify-link")
    world.acted(flow["correlationId"], "resend")
    with world.socket(flow["authToken"]) as socket:
        assert world.acted(flow["correlationId"], "click")["reply"]["outcome"] == "succeeded"
        assert World.receive_json(socket) == {"next": "done"}


def test_an_undeliverable_sms_ends_possession_at_the_start(world):
    flow = world.begin("verify-otp", UNDELIVERABLE)
    completed = world.acted(flow["correlationId"], "complete")
    assert "could not be delivered" in soft_failure(completed["reply"])
    assert "otp-entered" not in names(completed["flow"]) and world.sms(flow["correlationId"]) == []
    assert world.status(flow["correlationId"])["success"] == "false"


# -- Verified Users: the identity ------------------------------------------------------------------------


def test_a_completed_verified_users_flow_enrols_its_identity(world):
    flow = world.begin("verify-otp")
    detail = world.acted(flow["correlationId"], "complete")["flow"]
    assert in_order(names(detail), "possession-succeeded", "data-check", "identity-enrolled")
    status = world.status(flow["correlationId"])
    assert status == {"success": "true", "possessionResult": "success", "verifyResult": "success",
                      "identityId": status["identityId"]}
    [enrolled] = [e for e in world.flow(flow["correlationId"])["timeline"] if e["event"] == "identity-enrolled"]
    assert enrolled["identityId"] == status["identityId"]
    identity = world.send("GET", f"/v3/identity/{status['identityId']}",
                          headers={"Authorization": f"Bearer {world.token()}"})
    assert identity.status_code == 200, identity.text
    assert identity.json()["phoneNumber"] == HAPPY


WEBHOOK_PERSONA = """
description: a client-driven number whose identity gets a change event
personas:
  - id: customer-webhook
    phoneNumber: "2025550190"
    description: "client-driven; DISCONNECT 60 s after enrolment"
    checkName: false
    identity: {firstName: Casey, lastName: Client}
    events:
      - {eventType: DISCONNECT, afterSeconds: 60}
"""


@pytest.mark.parametrize("ending", ["complete", "error"])
def test_the_enrolled_identity_s_scripted_webhook_follows_a_customer_completed_flow(tmp_path, ending):
    (tmp_path / "webhook.yaml").write_text(WEBHOOK_PERSONA)
    world = World(Emulator(scenario_dirs=[tmp_path]))
    try:
        flow = world.begin("verify-otp", "2025550190")
        world.acted(flow["correlationId"], ending)
        world.advance(60)
        deliveries = world.ok("GET", "/__emulator/webhooks/deliveries")["deliveries"]
        if ending == "error":  # nobody enrolled: no event
            assert deliveries == []
            return
        identity_id = world.status(flow["correlationId"])["identityId"]
        [delivery] = deliveries
        assert delivery["identityId"] == identity_id and delivery["eventTypes"] == ["DISCONNECT"]
        assert delivery["payload"][0]["phoneNumber"] == "2025550190"
    finally:
        world.close()


@pytest.mark.parametrize("ending", [("expire",), ("error",), ("enter-code", "0000")])
def test_a_failed_flow_enrols_nobody(world, ending):
    flow = started_and_sent(world, "verify-otp")
    action, *code = ending
    world.acted(flow["correlationId"], action, **({"code": code[0]} if code else {}))
    assert world.status(flow["correlationId"]) == {"success": "false", "possessionResult": "failed",
                                                   "verifyResult": "not_applicable"}
    assert "identity-enrolled" not in names(world.flow(flow["correlationId"]))
    listed = world.send("GET", "/v3/identity", headers={"Authorization": f"Bearer {world.token()}"})
    assert listed.status_code == 200 and HAPPY not in listed.text


# -- by phone number: which flow ------------------------------------------------------------------------


def test_the_newest_open_flow_of_a_number_wins(world):
    older = world.begin("verify-otp")
    newer = world.begin("verify-link")
    assert world.act_on_phone(HAPPY, "complete").json()["correlationId"] == newer["correlationId"]
    assert world.act_on_phone(HAPPY, "start").json()["correlationId"] == older["correlationId"]
    assert world.act_on_phone(HAPPY, "enter-code").json()["reply"] == {"next": "done"}
    refused(world.act_on_phone(HAPPY, "start"), 404, 8008)
    assert world.status(older["correlationId"])["success"] == world.status(newer["correlationId"])["success"] == "true"


def test_a_number_s_flows_without_possession_are_not_open(world):
    waiting = world.begin("verify-otp")
    world.verify(HAPPY, "none")
    assert world.act_on_phone(HAPPY, "start").json()["correlationId"] == waiting["correlationId"]


@pytest.mark.parametrize("spelled", ["+12025550100", "12025550100"])
def test_a_number_is_found_however_it_was_spelled(world, spelled):
    flow = world.begin("verify-otp", spelled)
    response = world.act_on_phone(HAPPY, "complete")
    assert response.status_code == 200 and response.json()["correlationId"] == flow["correlationId"]


@pytest.mark.parametrize("path", ["%20", "+", "abc"])
def test_a_number_without_digits_finds_no_flow_not_even_a_numberless_one(world, path):
    world.begin("prefill-otp", phone=None)
    refused(world.send("POST", f"/__emulator/phones/{path}/customer", json={"action": "start"}), 404, 8008)


def test_project_picks_the_number_s_flow_of_that_project(world):
    world.other_project()
    theirs = world.begin("verify-otp", project=OTHER_PROJECT)
    ours = world.begin("verify-otp")
    response = world.act_on_phone(HAPPY, "complete", project=OTHER_PROJECT)
    assert response.json()["correlationId"] == theirs["correlationId"]
    assert world.status(theirs["correlationId"], OTHER_PROJECT)["success"] == "true"
    assert world.status(ours["correlationId"])["success"] == "pending"
    refused(world.act_on_phone(HAPPY, "complete", project=OTHER_PROJECT), 404, 8008)
    refused(world.act_on_phone(HAPPY, "complete", project="no-such-project"), 404, 8008)


# -- flows an action may not touch --------------------------------------------------------------------


def ended_flow(world: World, kind: str, how: str) -> str:
    flow = world.begin(kind)
    if how == "succeeded":
        world.acted(flow["correlationId"], "complete")
    else:
        world.acted(flow["correlationId"], "error")
    assert world.flow(flow["correlationId"])["possession"]["status"] == how
    return flow["correlationId"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("how", ["succeeded", "failed"])
@pytest.mark.parametrize("kind", ["verify-otp", "verify-link"])
def test_every_action_on_an_ended_flow_is_409_and_changes_nothing(world, kind, how, action):
    correlation_id = ended_flow(world, kind, how)
    before = world.flow(correlation_id)
    sms = world.sms()
    assert "has ended" in refused(world.act(correlation_id, action), 409, 8003)
    assert world.flow(correlation_id) == before and world.sms() == sms
    refused(world.act_on_phone(HAPPY, action), 404, 8008)  # not open


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_action_on_an_expired_flow_is_410(world, kind, action):
    flow = world.begin(kind)
    world.advance(15 * 60)
    message = refused(world.act(flow["correlationId"], action), 410, 8008)
    assert "expired" in message and "15-minute" in message
    refused(world.act_on_phone(HAPPY, action), 404, 8008)
    assert world.sms() == []


def test_a_flow_expires_at_fifteen_minutes_not_before(world):
    flow = world.begin("verify-otp")
    world.advance(15 * 60 - 1)
    assert world.act(flow["correlationId"], "start").status_code == 200
    world.advance(1)
    refused(world.act(flow["correlationId"], "enter-code"), 410, 8008)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_on_another_project_s_flow_is_404_and_changes_nothing(world, action):
    world.other_project()
    ours = world.begin("verify-otp")
    theirs = world.begin("verify-link", project=OTHER_PROJECT)
    for flow, project in ((ours, OTHER_PROJECT), (theirs, "sandbox-client-id"), (ours, "no-such-project")):
        before = world.flow(flow["correlationId"])
        message = refused(world.act(flow["correlationId"], action, project=project), 404, 8008)
        assert f"in project {project!r}" in message
        assert world.flow(flow["correlationId"]) == before
    assert world.sms() == []


def test_another_project_s_expired_flow_is_404_not_410(world):
    world.other_project()
    flow = world.begin("verify-otp")
    world.advance(15 * 60)
    refused(world.act(flow["correlationId"], "start", project=OTHER_PROJECT), 404, 8008)
    refused(world.act(flow["correlationId"], "start", project="sandbox-client-id"), 410, 8008)


def test_its_own_project_may_be_named(world):
    world.other_project()
    flow = world.begin("unify-otp", project=OTHER_PROJECT)
    assert world.act(flow["correlationId"], "complete", project=OTHER_PROJECT).status_code == 200
    assert world.result("unify-otp", flow["correlationId"], OTHER_PROJECT) == "true"


@pytest.mark.parametrize("correlation_id", ["no-such-flow", "00000000-0000-0000-0000-000000000000", "%C3%A9" * 30])
def test_an_unknown_flow_is_404(world, correlation_id):
    refused(world.send("POST", f"/__emulator/flows/{correlation_id}/customer", json={"action": "complete"}),
            404, 8008)


@pytest.mark.parametrize("action", ACTIONS)
def test_a_flow_without_possession_is_409(world, action):
    flow = world.verify(HAPPY, "none")
    before = world.flow(flow["correlationId"])
    assert "needs no possession" in refused(world.act(flow["correlationId"], action), 409, 8003)
    assert world.flow(flow["correlationId"]) == before
    refused(world.act_on_phone(HAPPY, action), 404, 8008)


def test_a_current_generation_verify_has_no_possession(world):
    response = world.prove("/v3/verify", {"phoneNumber": "2001004049", "verificationType": "accountOpening",
                                          "firstName": "Bettina", "lastName": "Halbert", "clientRequestId": "r-1"})
    assert response.status_code == 200, response.text
    refused(world.act(response.json()["correlationId"], "complete"), 409, 8003)


def test_a_unify_flow_with_customer_supplied_possession_is_409(world):
    response = world.prove("/v3/unify", {"possessionType": "none", "phoneNumber": HAPPY})
    assert response.status_code == 200, response.text
    assert "needs no possession" in refused(world.act(response.json()["correlationId"], "complete"), 409, 8003)


@pytest.mark.parametrize("possession", ["mobile", "desktop"])
def test_a_flow_whose_possession_settled_by_itself_has_ended(world, possession):
    flow = world.verify(SHORT_TERM, possession, firstName="Sheilakathryn", lastName="Butrimovich")
    refused(world.act(flow["correlationId"], "complete"), 409, 8003)


@pytest.mark.parametrize(("kind", "action", "status", "code", "says"), [
    ("verify-otp", "enter-code", 409, 8003, "nothing has been sent"),
    ("verify-link", "click", 409, 8003, "nothing has been sent"),
    ("verify-otp", "resend", 409, 8003, "nothing has been sent"),
    ("verify-link", "expire", 409, 8003, "nothing has been sent"),
    ("verify-link", "enter-code", 400, 8001, "needs a flow checked by otp"),
    ("verify-otp", "click", 400, 8001, "needs a flow checked by instant-link"),
])
def test_an_action_that_does_not_fit_the_step_is_refused(world, kind, action, status, code, says):
    flow = world.begin(kind)
    before = world.flow(flow["correlationId"])
    assert says in refused(world.act(flow["correlationId"], action), status, code)
    assert world.flow(flow["correlationId"]) == before and world.sms() == []


def test_start_after_the_sms_was_sent_is_409(world):
    flow = started_and_sent(world, "verify-otp")
    before = world.flow(flow["correlationId"])
    assert "resend" in refused(world.act(flow["correlationId"], "start"), 409, 8003)
    assert world.flow(flow["correlationId"]) == before and len(world.sms()) == 1


# -- bad bodies (the generated ones are in test_customer_properties.py) ------------------------------------


@pytest.mark.parametrize(("body", "names_it"), [
    ({"action": "dance"}, "field 'action'"),
    ({}, "field 'action'"),
    ({"action": "complete", "cod": "1234"}, "unknown field"),
    ({"action": "enter-code", "code": 1234}, "field 'code'"),
    ({"action": "start", "isMobile": "true"}, "field 'isMobile'"),
    ({"action": "error", "errorCode": -1}, "field 'errorCode'"),
    ({"action": "error", "errorCode": "1"}, "field 'errorCode'"),
    ({"action": "error", "message": "x" * 1001}, "field 'message'"),
    ({"action": "change-number", "phoneNumber": "1" * 65}, "field 'phoneNumber'"),
    ({"action": "complete", "project": ["sandbox-client-id"]}, "field 'project'"),
    (["complete"], "JSON object"),
])
@pytest.mark.parametrize("by", ["flow", "phone"])
def test_a_bad_body_is_400_and_changes_nothing(world, body, names_it, by):
    flow = started_and_sent(world, "verify-otp")
    before = world.flow(flow["correlationId"])
    path = f"/flows/{flow['correlationId']}" if by == "flow" else f"/phones/{HAPPY}"
    assert names_it in refused(world.send("POST", f"/__emulator{path}/customer", json=body), 400, 8001)
    assert world.flow(flow["correlationId"]) == before


@pytest.mark.parametrize("content", [b"", b"{", b"\xff", b"null"])
def test_a_body_that_is_not_json_is_400(world, content):
    flow = world.begin("verify-otp")
    response = world.send("POST", f"/__emulator/flows/{flow['correlationId']}/customer", content=content)
    refused(response, 400, 8001)


def test_a_body_is_validated_before_the_flow_is_looked_up(world):
    refused(world.send("POST", "/__emulator/flows/no-such-flow/customer", json={"action": "x"}), 400, 8001)


def test_a_body_over_4_kb_is_refused(world):
    flow = world.begin("verify-otp")
    response = world.send("POST", f"/__emulator/flows/{flow['correlationId']}/customer",
                          json={"action": "error", "message": "x" * 5000})
    assert "request body" in refused(response, 400, 8001)


# -- the published description ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/__emulator/flows/{correlationId}/customer", "/__emulator/phones/{phoneNumber}/customer"])
def test_openapi_documents_the_customer_routes(world, path):
    operation = world.ok("GET", "/openapi.json")["paths"][path]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["action"]
    assert set(schema["properties"]) == {"action", "code", "phoneNumber", "isMobile", "message", "errorCode", "project"}
    assert {"400", "404", "409", "410"} <= set(operation["responses"])
