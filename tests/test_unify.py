"""Unify over HTTP: /v3/unify, /v3/unify-status, /v3/unify-bind and Prove Keys.

Reference §4.8-§4.10 (fields, string `success`), §5.1 (Unify transcripts), §7.5 (sandbox users).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.prove_calls import (
    IL_START,
    OTP,
    auth_claims,
    click_instant_link,
    ok,
    pass_otp,
    project_token,
    refused,
)
from tests.soft_device import SoftDevice

LORANT = "2001004014"  # Unified Auth user: Prove possession, or customer-supplied possession
LANEY = "2001004015"  # another Unified Auth user
BARBARAANNE = "2001004018"  # short-term: always passes, no Prove Key
JANOS_INTL = "+2001004029"  # short-term, international
UNIFY_FAIL = "2025550114"  # the emulator's "unify-status answers false" number
TARGET = "https://www.example.com/unified"


def unify(emu, phone: str = LORANT, possession: str = "mobile", token: str | None = None,
          **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"possessionType": possession, "phoneNumber": phone, **fields}
    if possession == "desktop":
        body.setdefault("finalTargetUrl", TARGET)
    reply = ok(emu.post("/v3/unify", body, token=token))
    assert reply["success"] == "pending"
    assert ("authToken" in reply) == (possession != "none")
    return reply


def status(emu, correlation_id: str, token: str | None = None, **fields: Any) -> dict[str, Any]:
    return ok(emu.post("/v3/unify-status", {"correlationId": correlation_id, **fields}, token=token))


def bind(emu, correlation_id: str, phone: str = LORANT, **fields: Any):
    return emu.post("/v3/unify-bind", {"correlationId": correlation_id, "phoneNumber": phone, **fields})


def bound_key(emu, phone: str = LORANT, device: SoftDevice | None = None) -> dict[str, Any]:
    """A mobile unify as a browser without a key runs it: register the device's key, then OTP, which
    binds it to `phone`. The successful unify-status; `device` (if given) holds the key."""
    device = device or SoftDevice()
    started = unify(emu, phone)
    assert device.register(emu, started["authToken"]) == {"data": {"deviceId": device.device_id},
                                                          "next": "mobile/otp"}
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["success"] == "true" and result["deviceId"] == device.device_id, result
    return result


# -- possessionType ---------------------------------------------------------------------------------------


def test_mobile_possession_starts_at_the_prove_key_then_runs_an_otp_that_binds_it(emu):
    started = unify(emu, LORANT, "mobile")
    claims = auth_claims(started["authToken"])
    assert claims["next"] == "device/passive"  # where Prove's mobile tokens start (protocol §2.3)
    assert claims["subs"] == {"mob": {"auths": {"otp": {"mnp": True}}}}  # no uvlvl: the silent Prove Key
    assert len(claims["chlg"]) == 32  # what the device signs
    assert status(emu, started["correlationId"]) == {"success": "pending", "phoneNumber": LORANT}
    device = SoftDevice()
    assert device.register(emu, started["authToken"])["next"] == "mobile/otp"
    assert status(emu, started["correlationId"]) == {"success": "pending", "phoneNumber": LORANT}
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert set(result) == {"success", "phoneNumber", "proveId", "deviceId"}
    assert result["success"] == "true" and result["phoneNumber"] == LORANT
    assert result["deviceId"] == device.device_id and result["proveId"] != result["deviceId"]


def test_an_otp_without_a_registered_device_binds_a_key_no_device_holds(emu):
    """A client that skips the Prove Key step (tests, the customer actions) still gets a deviceId."""
    started = unify(emu, LORANT, "mobile")
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["success"] == "true" and result["deviceId"]


def test_desktop_possession_for_lorant_is_an_instant_link_and_gives_no_device_id(emu):
    started = unify(emu, LORANT, "desktop")
    assert auth_claims(started["authToken"])["next"] == "mobile/instantlink"
    assert status(emu, started["correlationId"])["success"] == "pending"
    clicked = click_instant_link(emu, started["authToken"], LORANT)
    assert clicked.status_code == 302 and clicked.headers["location"] == TARGET
    result = status(emu, started["correlationId"])
    assert set(result) == {"success", "phoneNumber", "proveId"}  # the Prove Key is mobile-only
    assert result["success"] == "true" and result["phoneNumber"] == LORANT


def test_possession_none_asks_for_the_customers_own_possession_then_binds(emu):
    started = unify(emu, LORANT, "none")
    assert status(emu, started["correlationId"]) == {"success": "possession_required", "phoneNumber": LORANT}
    bound = ok(bind(emu, started["correlationId"]))
    assert bound["success"] == "true" and bound["phoneNumber"] == LORANT
    assert bound["proveId"] and bound["deviceId"]
    # unify-status afterwards reports the same binding.
    assert status(emu, started["correlationId"]) == bound


def test_possession_none_sends_no_sms(emu):
    started = unify(emu, LORANT, "none")
    status(emu, started["correlationId"])
    assert emu.sms(correlation_id=started["correlationId"]) == []


def test_a_wrong_otp_makes_unify_status_false(emu):
    started = unify(emu, LORANT)
    assert emu.client(started["authToken"], "mobile/otp/start", {}) == {"next": "mobile/otp"}
    reply = emu.client(started["authToken"], "mobile/otp/finish", {"otp": "0000"})
    assert reply["next"] == "done" and reply["error"]["code"] == 10001
    assert status(emu, started["correlationId"]) == {"success": "false", "phoneNumber": LORANT}


def test_client_request_id_is_echoed_by_unify_status(emu):
    started = unify(emu, BARBARAANNE, clientRequestId="req-42")
    assert status(emu, started["correlationId"], clientRequestId="req-42")["clientRequestId"] == "req-42"
    assert "clientRequestId" not in status(emu, started["correlationId"])


# -- unify-bind order -------------------------------------------------------------------------------------


def test_bind_before_possession_required_was_answered_is_8003(emu):
    started = unify(emu, LORANT, "none")
    message = refused(bind(emu, started["correlationId"]), 403, 8003)
    assert "possession_required" in message
    # The refused bind changed nothing: the normal order still works.
    assert status(emu, started["correlationId"])["success"] == "possession_required"
    assert ok(bind(emu, started["correlationId"]))["success"] == "true"


def test_bind_twice_is_8003(emu):
    started = unify(emu, LORANT, "none")
    status(emu, started["correlationId"])
    first = ok(bind(emu, started["correlationId"]))
    refused(bind(emu, started["correlationId"]), 403, 8003)
    assert status(emu, started["correlationId"]) == first


@pytest.mark.parametrize("possession", ["mobile", "desktop"])
def test_bind_on_a_flow_with_prove_possession_is_8003(emu, possession):
    started = unify(emu, LORANT, possession)
    status(emu, started["correlationId"])
    refused(bind(emu, started["correlationId"]), 403, 8003)


# -- Prove Keys: recognition and rebind ---------------------------------------------------------------


def test_a_second_mobile_unify_from_the_same_device_is_recognised_by_its_key(emu):
    device = SoftDevice()
    first = bound_key(emu, device=device)
    again = unify(emu, LORANT, "mobile")
    assert auth_claims(again["authToken"])["next"] == "device/passive"  # the device proves its key
    assert device.verify(emu, again["authToken"]) == {"next": "done"}
    assert status(emu, again["correlationId"]) == first
    assert emu.sms(correlation_id=again["correlationId"]) == []


def test_another_device_of_the_number_registers_its_own_key(emu):
    first = bound_key(emu)
    second = bound_key(emu)  # a fresh browser: a new key, then OTP
    assert second["deviceId"] != first["deviceId"] and second["proveId"] == first["proveId"]


def test_the_prove_key_is_found_whether_the_number_has_plus_one_or_not(emu):
    device = SoftDevice()
    first = bound_key(emu, "+1" + LORANT, device=device)
    again = unify(emu, LORANT, "mobile")
    assert device.verify(emu, again["authToken"]) == {"next": "done"}
    assert status(emu, again["correlationId"])["deviceId"] == first["deviceId"]


def test_a_key_bound_by_unify_bind_is_recognised_by_customer_possession_later(emu):
    started = unify(emu, LORANT, "none")
    status(emu, started["correlationId"])
    bound = ok(bind(emu, started["correlationId"]))
    # Customer-supplied possession is not asked for again: the server has only the number to go by.
    again = unify(emu, LORANT, "none")
    assert status(emu, again["correlationId"]) == bound
    # No browser holds that key: a mobile unify asks the device for its own.
    mobile = unify(emu, LORANT, "mobile")
    assert auth_claims(mobile["authToken"])["next"] == "device/passive"


def test_desktop_keeps_the_prove_id_of_the_bound_key_but_has_no_device_id(emu):
    first = bound_key(emu)
    started = unify(emu, LORANT, "desktop")
    assert auth_claims(started["authToken"])["next"] == "mobile/instantlink"  # no Prove Key on a desktop
    click_instant_link(emu, started["authToken"], LORANT)
    assert status(emu, started["correlationId"]) == {
        "success": "true", "phoneNumber": LORANT, "proveId": first["proveId"]}


def test_prove_keys_belong_to_one_project(emu):
    device = SoftDevice()
    bound_key(emu, device=device)
    other = project_token(emu, "unify-b", "unify")
    started = unify(emu, LORANT, "mobile", token=other)
    reply = device.verify(emu, started["authToken"])
    assert reply["error"]["code"] == 10006 and reply["next"] == "device/passive"  # unknown there: register


def test_a_key_bound_to_another_number_fails_until_rebind_re_associates_it(emu):
    """Prove: rebind "re-associates the Prove Key with the newly verified number after a previous
    success=false"."""
    device = SoftDevice()
    first = bound_key(emu, LORANT, device=device)
    laney = unify(emu, LANEY, "mobile")
    reply = device.verify(emu, laney["authToken"])
    assert reply["error"]["code"] == 10001 and "rebind" in reply["error"]["message"] and reply["next"] == "done"
    assert status(emu, laney["correlationId"], phoneNumber=LANEY) == {"success": "false", "phoneNumber": LANEY}
    rebinding = unify(emu, LANEY, "mobile", rebind=True)
    assert device.verify(emu, rebinding["authToken"]) == {"next": "mobile/otp"}  # possession again
    pass_otp(emu, rebinding["authToken"])
    rebound = status(emu, rebinding["correlationId"])
    assert rebound["success"] == "true" and rebound["deviceId"] == first["deviceId"]  # the same key, re-associated
    # The key now stands for Laney, not for Lorant any more.
    lorant = unify(emu, LORANT, "mobile")
    assert device.verify(emu, lorant["authToken"])["error"]["code"] == 10001
    assert status(emu, lorant["correlationId"])["success"] == "false"


def test_rebind_without_a_device_replaces_the_numbers_key_after_possession(emu):
    device = SoftDevice()
    first = bound_key(emu, device=device)
    started = unify(emu, LORANT, "mobile", rebind=True)
    pass_otp(emu, started["authToken"])  # no device proved a key: a new one, held by no device
    rebound = status(emu, started["correlationId"])
    assert rebound["success"] == "true" and rebound["deviceId"] != first["deviceId"]
    later = unify(emu, LORANT, "mobile")
    reply = device.verify(emu, later["authToken"])  # its key was replaced: register again
    assert reply["error"]["code"] == 10006 and reply["next"] == "device/passive"


def test_a_failed_rebind_keeps_the_old_prove_key(emu):
    device = SoftDevice()
    first = bound_key(emu, device=device)
    started = unify(emu, LORANT, "mobile", rebind=True)
    assert device.verify(emu, started["authToken"]) == {"next": "mobile/otp"}
    emu.client(started["authToken"], "mobile/otp/start", {})
    emu.client(started["authToken"], "mobile/otp/finish", {"otp": "9999"})
    assert status(emu, started["correlationId"])["success"] == "false"
    later = unify(emu, LORANT, "mobile")
    assert device.verify(emu, later["authToken"]) == {"next": "done"}
    assert status(emu, later["correlationId"]) == first


def test_rebind_with_customer_possession_asks_for_possession_again(emu):
    first = bound_key(emu)
    started = unify(emu, LORANT, "none", rebind=True)
    assert status(emu, started["correlationId"])["success"] == "possession_required"
    rebound = ok(bind(emu, started["correlationId"]))
    assert rebound["deviceId"] != first["deviceId"]


# -- sandbox users (reference §7.5) -------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [BARBARAANNE, JANOS_INTL])
@pytest.mark.parametrize("possession", ["mobile", "desktop", "none"])
def test_short_term_users_always_pass_without_a_prove_key(emu, phone, possession):
    started = unify(emu, phone, possession)
    result = status(emu, started["correlationId"])
    assert set(result) == {"success", "phoneNumber", "proveId"}  # no Prove Key: no deviceId
    assert result["success"] == "true" and result["phoneNumber"] == phone


@pytest.mark.parametrize("phone", [BARBARAANNE, JANOS_INTL])
def test_short_term_users_are_never_recognised_by_a_prove_key(emu, phone):
    status(emu, unify(emu, phone)["correlationId"])
    again = unify(emu, phone)
    assert auth_claims(again["authToken"])["next"] == "mobile/otp"


def test_lorant_on_desktop_is_pending_until_the_instant_link_click(emu):
    emu.freeze()
    started = unify(emu, LORANT, "desktop")
    assert set(started) == {"correlationId", "authToken", "success"}
    assert emu.client(started["authToken"], "mobile/instantlink/start", IL_START) == {
        "data": {}}
    emu.advance(60)
    assert status(emu, started["correlationId"]) == {"success": "pending", "phoneNumber": LORANT}
    assert emu.click(emu.latest_link(LORANT)).status_code == 302
    result = status(emu, started["correlationId"])
    assert result["success"] == "true" and result["proveId"] and result["phoneNumber"] == LORANT
    assert "deviceId" not in result


def test_an_instant_link_not_clicked_within_three_minutes_fails(emu):
    emu.freeze()
    started = unify(emu, LORANT, "desktop")
    emu.client(started["authToken"], "mobile/instantlink/start", IL_START)
    emu.advance(180)
    assert status(emu, started["correlationId"]) == {"success": "false", "phoneNumber": LORANT}


@pytest.mark.parametrize("possession", ["mobile", "desktop", "none"])
def test_the_unify_fail_number_answers_false(emu, possession):
    started = unify(emu, UNIFY_FAIL, possession)
    assert status(emu, started["correlationId"]) == {"success": "false", "phoneNumber": UNIFY_FAIL}


def test_the_unify_fail_number_binds_no_key(emu):
    status(emu, unify(emu, UNIFY_FAIL)["correlationId"])
    assert auth_claims(unify(emu, UNIFY_FAIL)["authToken"])["next"] == "mobile/otp"


# -- errors -----------------------------------------------------------------------------------------------


VALID = {"possessionType": "desktop", "phoneNumber": LORANT, "finalTargetUrl": TARGET}


@pytest.mark.parametrize(("body", "message"), [
    ({k: v for k, v in VALID.items() if k != "possessionType"}, "field 'possessionType' is required"),
    ({**VALID, "possessionType": "sms"}, "field 'possessionType' must be one of: desktop, mobile, none"),
    ({k: v for k, v in VALID.items() if k != "phoneNumber"}, "field 'phoneNumber' is required"),
    ({**VALID, "phoneNumber": "2001-004014"}, "field 'phoneNumber' must be a phone number"),
    ({k: v for k, v in VALID.items() if k != "finalTargetUrl"},
     "field 'finalTargetUrl' is required when possessionType is desktop"),
    ({**VALID, "finalTargetUrl": "https://example.com/" + "a" * 109}, "field 'finalTargetUrl' must be at most 128"),
    ({**VALID, "smsMessage": "x" * 161}, "field 'smsMessage' must be at most 160 characters"),
    ({**VALID, "rebind": "yes"}, "field 'rebind' must be a boolean"),
    ({**VALID, "allowOTPRetry": 1}, "field 'allowOTPRetry' must be a boolean"),
])
def test_bad_unify_bodies_get_8001(emu, body, message):
    assert message in refused(emu.post("/v3/unify", body), 400, 8001)


def test_bind_requires_a_phone_number(emu):
    message = refused(emu.post("/v3/unify-bind", {"correlationId": "x"}), 400, 8001)
    assert "field 'phoneNumber' is required" in message


def test_unknown_correlation_ids_are_8008(emu):
    refused(emu.post("/v3/unify-status", {"correlationId": "nope"}), 400, 8008)
    refused(bind(emu, "nope"), 400, 8008)


def test_a_pre_fill_flow_is_not_a_unify_flow(emu):
    started = ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": "2001001695"}))
    refused(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}), 400, 8008)


def test_the_flow_expires_after_fifteen_minutes(emu):
    emu.freeze()
    started = unify(emu, BARBARAANNE)
    emu.advance(15 * 60 - 1)
    assert status(emu, started["correlationId"])["success"] == "true"
    emu.advance(1)
    refused(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}), 400, 8008)


def test_another_project_cannot_see_the_flow(emu):
    other = project_token(emu, "unify-b", "unify")
    started = unify(emu, BARBARAANNE)
    refused(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}, token=other), 400, 8008)


def test_a_project_without_unify_may_not_call_it(emu):
    token = project_token(emu, "vu-only", "verified-users")
    refused(emu.post("/v3/unify", {"possessionType": "mobile", "phoneNumber": LORANT}, token=token), 401, 8002)


def test_a_test_user_of_another_product_is_refused_with_8009(emu):
    token = project_token(emu, "unify-only", "unify")
    refused(emu.post("/v3/unify", {"possessionType": "mobile", "phoneNumber": "2001001695"}, token=token), 403, 8009)


def test_the_sandbox_otp_is_1234(emu):
    started = unify(emu, LORANT)
    emu.client(started["authToken"], "mobile/otp/start", {})
    assert emu.latest_otp(LORANT) == OTP


def test_customer_possession_persona_always_needs_a_bind(emu):
    """2025550115 ("force bind"): a bound Prove Key does not spare the customer-supplied check."""
    for _ in range(2):
        flow = emu.post("/v3/unify", {"possessionType": "none", "phoneNumber": "2025550115"}).json()
        status = emu.post("/v3/unify-status", {"correlationId": flow["correlationId"]}).json()
        assert status["success"] == "possession_required"
        bound = emu.post("/v3/unify-bind", {"correlationId": flow["correlationId"], "phoneNumber": "2025550115"})
        assert bound.status_code == 200 and bound.json()["success"] == "true"


def test_bind_must_name_the_flows_number(emu):
    flow = emu.post("/v3/unify", {"possessionType": "none", "phoneNumber": "2001004014"}).json()
    emu.post("/v3/unify-status", {"correlationId": flow["correlationId"]})
    other = emu.post("/v3/unify-bind", {"correlationId": flow["correlationId"], "phoneNumber": "2001004015"})
    assert other.status_code == 400 and other.json()["code"] == 8001
    assert "field 'phoneNumber' must be the flow's number" in other.json()["message"]
    same = emu.post("/v3/unify-bind", {"correlationId": flow["correlationId"], "phoneNumber": "+12001004014"})
    assert same.status_code == 200 and same.json()["success"] == "true"
