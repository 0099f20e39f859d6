"""Prove Auth over HTTP: `/v1/server/auth/start`, `/continue`, `/finish` (current-generation §8).

Prove documents the models only; the behaviour tested here is the emulator's documented decision
(emulator/flows/prove_auth.py). Possession runs through the same device channel as Unify.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.prove_calls import IL_START, auth_claims, ok, pass_otp, project_token, refused

CLIENT = "2025550100"  # the client drives possession: OTP 1234 or a click on the link
AUTO_SUCCESS = "2025550101"  # possession succeeds by itself
AUTO_FAILED = "2025550102"  # possession fails by itself
UNIFY_FAIL = "2025550114"  # possession passes, the persona's Unify result is a failure
LORANT = "2001004014"  # a Unify test user
LANEY = "2001004015"  # another
BARBARAANNE = "2001004018"  # Unify short-term user: passes, never gets a Prove Key
OTP = {"otp": {"messageText": "#### is your code"}}
TARGET = "https://app.example.com/auth/done"


def subjects(number: str | None = CLIENT, authenticators: dict[str, Any] | None = None) -> dict[str, Any]:
    mobile: dict[str, Any] = {"authenticators": authenticators if authenticators is not None else OTP}
    if number:
        mobile["claim"] = {"mobileNumber": number}
    return {"mobile": mobile}


def start(emu, number: str | None = CLIENT, authenticators: dict[str, Any] | None = None,
          token: str | None = None, **body: Any) -> dict[str, Any]:
    request = {"requestId": "req-1", "subjects": subjects(number, authenticators), **body}
    return ok(emu.post("/v1/server/auth/start", request, token=token))


def proceed(emu, auth_id: str, number: str = CLIENT) -> dict[str, Any]:
    body = {"authId": auth_id, "requestId": "req-2", "subjects": {"mobile": {"claim": {"mobileNumber": number}}}}
    return ok(emu.post("/v1/server/auth/continue", body))


def finish(emu, auth_id: str, token: str | None = None) -> dict[str, Any]:
    return ok(emu.post("/v1/server/auth/finish", {"authId": auth_id}, token=token))


# -- the OTP happy path --------------------------------------------------------------------------------


def test_start_otp_through_the_device_channel_continue_and_finish(emu):
    emu.freeze()
    started = start(emu)
    assert set(started) == {"authId", "authToken"}
    claims = auth_claims(started["authToken"])
    assert claims["next"] == "mobile/otp" and claims["id"] == started["authId"]
    assert claims["subs"] == {"mob": {"auths": {"otp": {"mnp": True}}}}  # the number is known
    pass_otp(emu, started["authToken"])
    assert emu.latest_sms(CLIENT)["body"] == "1234 is your code"  # messageText, with the code for ####
    assert proceed(emu, started["authId"]) == {"subjects": {"mobile": {"success": True}}}
    result = finish(emu, started["authId"])
    assert result["authId"] == started["authId"] and result["appNamespace"] == claims["ans"]
    mobile = result["subjects"]["mobile"]["success"]
    assert mobile["authenticatorType"] == "provided"
    assert mobile["claim"] == {"mobileNumber": CLIENT}
    assert isinstance(mobile["createdAt"], int) and mobile["extras"]["phoneMatch"] == "success"
    device = result["subjects"]["device"]["success"]
    assert device["claim"]["deviceId"] and device["createdAt"] == mobile["createdAt"]
    assert set(result["subjects"]) == {"mobile", "device"}


def test_finish_before_the_code_is_entered_says_not_finished(emu):
    started = start(emu)
    error = finish(emu, started["authId"])["subjects"]["mobile"]["error"]
    assert error["code"] == 10002 and "otp authenticator is still waiting" in error["message"]
    continued = proceed(emu, started["authId"])["subjects"]["mobile"]
    assert continued["success"] is False and continued["error"]["code"] == 10002
    pass_otp(emu, started["authToken"])  # still possible afterwards
    assert finish(emu, started["authId"])["subjects"]["mobile"]["success"]["authenticatorType"] == "provided"


def test_finish_without_continue_binds_no_prove_key(emu):
    started = start(emu)
    pass_otp(emu, started["authToken"])
    result = finish(emu, started["authId"])
    assert set(result["subjects"]) == {"mobile"} and "success" in result["subjects"]["mobile"]
    again = start(emu, authenticators={"passive": {}, **OTP})
    assert auth_claims(again["authToken"])["next"] == "mobile/otp"  # nothing to recognise


def test_finish_may_be_called_again(emu):
    started = start(emu, AUTO_SUCCESS)
    assert finish(emu, started["authId"]) == finish(emu, started["authId"])


def test_without_a_number_the_web_sdk_asks_for_it(emu):
    started = start(emu, number=None)
    assert auth_claims(started["authToken"])["subs"] == {}  # the SDK prompts for the number
    pass_otp(emu, started["authToken"], mobile_number=CLIENT)
    assert finish(emu, started["authId"])["subjects"]["mobile"]["success"]["claim"] == {"mobileNumber": CLIENT}


def test_instant_link_is_provided_with_the_link_clicked(emu):
    started = start(emu, authenticators={"instantlink": {"finalTargetUrl": TARGET, "messageText": "Open ####"}})
    assert auth_claims(started["authToken"])["next"] == "mobile/instantlink"
    assert emu.client(started["authToken"], "mobile/instantlink/start", IL_START) == {"data": {}}
    link = emu.latest_link(CLIENT)
    assert emu.latest_sms(CLIENT)["body"] == f"Open {link}"
    assert emu.click(link).headers["location"] == TARGET
    mobile = finish(emu, started["authId"])["subjects"]["mobile"]["success"]
    assert mobile["authenticatorType"] == "provided" and mobile["extras"]["linkClicked"] is True


# -- personas --------------------------------------------------------------------------------------------


def test_auto_success_needs_no_client(emu):
    started = start(emu, AUTO_SUCCESS)
    assert proceed(emu, started["authId"], AUTO_SUCCESS) == {"subjects": {"mobile": {"success": True}}}
    result = finish(emu, started["authId"])["subjects"]
    assert result["mobile"]["success"]["claim"] == {"mobileNumber": AUTO_SUCCESS}
    assert result["device"]["success"]["claim"]["deviceId"]


def test_auto_failed_reports_the_failure_in_the_body(emu):
    started = start(emu, AUTO_FAILED)
    continued = proceed(emu, started["authId"], AUTO_FAILED)
    assert continued == {"subjects": {"mobile": {"success": False, "error": {
        "code": 10001, "message": "possession failed (scenario: auto-failed)"}}}}
    result = finish(emu, started["authId"])
    assert result["subjects"] == {"mobile": {"error": {"code": 10001,
                                                       "message": "possession failed (scenario: auto-failed)"}}}


def test_a_wrong_code_fails_the_mobile_subject(emu):
    started = start(emu)
    emu.client(started["authToken"], "mobile/otp/start", {})
    reply = emu.client(started["authToken"], "mobile/otp/finish", {"otp": "0000"})
    assert reply["error"]["code"] == 10001
    error = finish(emu, started["authId"])["subjects"]["mobile"]["error"]
    assert error == {"code": 10001, "message": "the code is incorrect"}


def test_the_unify_fail_persona_fails_even_after_possession(emu):
    started = start(emu, UNIFY_FAIL)
    error = finish(emu, started["authId"])["subjects"]["mobile"]["error"]
    assert error == {"code": 10001, "message": "authentication failed (scenario: unify mode fail)"}


def test_a_short_term_user_passes_without_a_prove_key(emu):
    started = start(emu, BARBARAANNE)
    assert proceed(emu, started["authId"], BARBARAANNE)["subjects"]["mobile"]["success"] is True
    result = finish(emu, started["authId"])
    assert set(result["subjects"]) == {"mobile"} and "success" in result["subjects"]["mobile"]


# -- passive: Prove Keys shared with Unify ------------------------------------------------------------------


def unify_bound_device(emu, phone: str = LORANT) -> str:
    started = ok(emu.post("/v3/unify", {"possessionType": "mobile", "phoneNumber": phone}))
    pass_otp(emu, started["authToken"])
    return ok(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}))["deviceId"]


def test_passive_recognises_a_prove_key_bound_by_unify(emu):
    device_id = unify_bound_device(emu)
    sent = len(emu.sms(LORANT))
    started = start(emu, LORANT, authenticators={"passive": {}, **OTP})
    assert auth_claims(started["authToken"])["next"] == "done"  # no possession traffic
    result = finish(emu, started["authId"])["subjects"]
    assert result["mobile"]["success"]["authenticatorType"] == "passive"
    assert result["device"]["success"]["claim"] == {"deviceId": device_id}
    assert len(emu.sms(LORANT)) == sent
    assert proceed(emu, started["authId"], LORANT)["subjects"]["mobile"]["success"] is True  # the same key


def test_passive_with_another_devices_claim_falls_back_to_otp(emu):
    unify_bound_device(emu)
    body = {"requestId": "r", "subjects": {**subjects(LORANT, {"passive": {}, **OTP}),
                                           "device": {"claim": {"deviceId": "another-device"}}}}
    started = ok(emu.post("/v1/server/auth/start", body))
    assert auth_claims(started["authToken"])["next"] == "mobile/otp"


@pytest.mark.parametrize("max_age, recognised", [(0, True), (3600, True), (60, False), (-1, False)])
def test_passive_max_age_limits_how_old_a_recognised_key_may_be(emu, max_age, recognised):
    unify_bound_device(emu)
    emu.freeze()
    emu.advance(120)  # the key is two minutes old
    started = start(emu, LORANT, authenticators={"passive": {"maxAge": max_age}, **OTP})
    assert auth_claims(started["authToken"])["next"] == ("done" if recognised else "mobile/otp")


def test_passive_max_age_is_a_whole_number_from_minus_one(emu):
    for bad, rule in ((-2, "must be from -1 to"), ("60", "must be a whole number"), (1.5, "must be a whole number")):
        body = {"requestId": "r", "subjects": subjects(LORANT, {"passive": {"maxAge": bad}})}
        message = refused(emu.post("/v1/server/auth/start", body), 400, 8001)
        assert message.startswith("field 'subjects.mobile.authenticators.passive.maxAge' " + rule), message


def test_a_revoked_key_is_not_recognised(emu):
    device_id = unify_bound_device(emu)
    ok(emu.post("/v3/device/revoke", {"clientRequestId": "r", "deviceId": device_id}))
    started = start(emu, LORANT, authenticators={"passive": {}})
    assert auth_claims(started["authToken"])["next"] == "done"
    assert finish(emu, started["authId"])["subjects"]["mobile"]["error"] == {
        "code": 10004, "message": "device authentication missing: no Prove Key of this device is bound to the number"}


def test_a_key_bound_by_continue_is_recognised_by_unify_and_by_passive(emu):
    started = start(emu, LORANT)
    pass_otp(emu, started["authToken"])
    proceed(emu, started["authId"], "+1" + LORANT)  # the same number, written with +1
    device_id = finish(emu, started["authId"])["subjects"]["device"]["success"]["claim"]["deviceId"]
    # No browser holds a key bound by continue: Unify recognises it where the server decides alone
    # (customer-supplied possession); a mobile unify asks the device for its own key (device/passive).
    unified = ok(emu.post("/v3/unify", {"possessionType": "none", "phoneNumber": LORANT}))
    assert ok(emu.post("/v3/unify-status", {"correlationId": unified["correlationId"]}))["deviceId"] == device_id
    passive = start(emu, LORANT, authenticators={"passive": {}})
    assert finish(emu, passive["authId"])["subjects"]["device"]["success"]["claim"]["deviceId"] == device_id


def test_a_device_subject_alone_is_recognised_by_its_key(emu):
    device_id = unify_bound_device(emu)
    body = {"requestId": "r", "subjects": {"device": {"claim": {"deviceId": device_id},
                                                      "authenticators": {"passive": {}}}}}
    started = ok(emu.post("/v1/server/auth/start", body))
    result = finish(emu, started["authId"])["subjects"]
    assert set(result) == {"device"} and result["device"]["success"]["claim"] == {"deviceId": device_id}
    unknown = ok(emu.post("/v1/server/auth/start", {**body, "subjects": {"device": {
        "claim": {"deviceId": "another-device"}, "authenticators": {"passive": {}}}}}))
    assert finish(emu, unknown["authId"])["subjects"] == {"device": {"error": {
        "code": 10004, "message": "device authentication missing: no Prove Key is bound"}}}


def test_continue_must_name_the_verified_number(emu):
    started = start(emu)
    pass_otp(emu, started["authToken"])
    continued = proceed(emu, started["authId"], "2025550104")["subjects"]["mobile"]
    assert continued == {"success": False, "error": {
        "code": 10004, "message": f"device authentication missing: the authenticator verified {CLIENT}, not 2025550104"}}
    assert "device" not in finish(emu, started["authId"])["subjects"]


# -- instant (Mobile Auth), universal, other subjects ----------------------------------------------------------


def test_instant_recognises_a_persona_whose_possession_settles_by_itself(emu):
    started = start(emu, AUTO_SUCCESS, authenticators={"instant": {"consent": {"status": "optedIn"}}})
    assert auth_claims(started["authToken"])["next"] == "done"
    assert finish(emu, started["authId"])["subjects"]["mobile"]["success"]["authenticatorType"] == "instant"


def test_instant_is_not_recognised_for_a_client_persona_and_falls_back(emu):
    alone = start(emu, CLIENT, authenticators={"instant": {}})
    error = finish(emu, alone["authId"])["subjects"]["mobile"]["error"]
    assert error["code"] == 10001 and error["message"].startswith("Mobile Auth did not recognise the number")
    fallback = start(emu, CLIENT, authenticators={"instant": {}, **OTP})
    assert auth_claims(fallback["authToken"])["next"] == "mobile/otp"


def test_instant_without_consent_is_not_tried(emu):
    started = start(emu, AUTO_SUCCESS, authenticators={"instant": {"consent": {"status": "optedOut"}}})
    assert finish(emu, started["authId"])["subjects"]["mobile"]["error"]["code"] == 10001


def test_universal_gets_a_redirect_but_is_not_emulated(emu):
    started = start(emu, authenticators={"universal": {"finalTargetUrl": TARGET + "?step=2"}})
    assert started["universalRedirectUrl"] == f"{TARGET}?step=2&authId={started['authId']}"
    error = finish(emu, started["authId"])["subjects"]["mobile"]["error"]
    assert error["code"] == 10005 and "not emulated" in error["message"]


def test_user_and_card_subjects_are_reported_as_not_emulated(emu):
    body = {"requestId": "r", "subjects": {"user": {"claim": {"userId": "user:1"}},
                                           "card": {"authenticators": {"airKey": {}}}}}
    started = ok(emu.post("/v1/server/auth/start", body))
    result = finish(emu, started["authId"])["subjects"]
    assert result == {"user": {"error": {"code": 10005, "message": "the user subject is not emulated"}},
                      "card": {"error": {"code": 10005, "message": "the card subject is not emulated"}}}


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/server/auth/continue", "/v1/server/auth/finish"])
def test_an_unknown_auth_id_is_8008(emu, path):
    body = {"authId": "no-such-auth", "requestId": "r", "subjects": {"mobile": {"claim": {"mobileNumber": CLIENT}}}}
    message = refused(emu.post(path, body), 400, 8008)
    assert message == "invalid authId: 'no-such-auth' is unknown or its flow expired"


def test_an_auth_of_another_project_is_unknown(emu):
    started = start(emu, AUTO_SUCCESS)
    other = project_token(emu, "unify-b", "unify")
    refused(emu.post("/v1/server/auth/finish", {"authId": started["authId"]}, token=other), 400, 8008)


def test_a_unify_correlation_id_is_not_an_auth_id(emu):
    started = ok(emu.post("/v3/unify", {"possessionType": "none", "phoneNumber": LORANT}))
    refused(emu.post("/v1/server/auth/finish", {"authId": started["correlationId"]}), 400, 8008)


def test_the_auth_expires_after_fifteen_minutes(emu):
    emu.freeze()
    started = start(emu, AUTO_SUCCESS)
    emu.advance(15 * 60 - 1)
    assert "success" in finish(emu, started["authId"])["subjects"]["mobile"]
    emu.advance(1)
    refused(emu.post("/v1/server/auth/finish", {"authId": started["authId"]}), 400, 8008)


VALID = {"requestId": "req-1", "subjects": subjects()}


@pytest.mark.parametrize(("body", "message"), [
    ({"subjects": subjects()}, "field 'requestId' is required"),
    ({**VALID, "requestId": "a b"}, "field 'requestId' may only contain letters, digits and the symbols -._+=/"),
    ({"requestId": "r"}, "field 'subjects' is required"),
    ({"requestId": "r", "subjects": {}},
     "field 'subjects': must name at least one subject: mobile, device, user, card"),
    ({"requestId": "r", "subjects": {"other": {}}}, "field 'subjects': must name at least one subject"),
    ({"requestId": "r", "subjects": subjects(authenticators={"otp": {}})},
     "field 'subjects.mobile.authenticators.otp.messageText' is required"),
    ({"requestId": "r", "subjects": subjects(authenticators={})},
     "field 'subjects.mobile.authenticators': must name at least one authenticator"),
    ({"requestId": "r", "subjects": subjects("12-34")}, "field 'subjects.mobile.claim.mobileNumber' must be a phone"),
    ({"requestId": "r", "subjects": subjects(authenticators={"instantlink": {"messageText": "####"}})},
     "field 'subjects.mobile.authenticators.instantlink.finalTargetUrl' is required"),
    ({"requestId": "r", "subjects": subjects(authenticators={"instant": {"consent": {"status": "yes"}}})},
     "field 'subjects.mobile.authenticators.instant.consent.status' must be one of: optedIn, optedOut"),
    ({"requestId": "r", "subjects": subjects(authenticators={"otp": {"messageText": "#", "allowOtpRetry": "y"}})},
     "field 'subjects.mobile.authenticators.otp.allowOtpRetry' must be a boolean"),
    ({"requestId": "r", "subjects": {"card": {}}}, "field 'subjects.card.authenticators' is required"),
    ({"requestId": "r", "subjects": {"user": {"claim": {}}}}, "field 'subjects.user.claim.userId' is required"),
    ({**VALID, "delivery": {"push": {"notification": {"title": "t"}}}},
     "field 'delivery.push.notification.body' is required"),
])
def test_bad_start_bodies_are_8001_naming_the_field(emu, body, message):
    assert message in refused(emu.post("/v1/server/auth/start", body), 400, 8001)
    assert ok(emu.http.get("/__emulator/flows"))["flows"] == []  # nothing was started


def test_unknown_keys_are_ignored(emu):
    body = {**VALID, "unknown": 1, "subjects": {"mobile": {**subjects()["mobile"], "extra": {"x": 1}}}}
    assert ok(emu.post("/v1/server/auth/start", body))["authId"]


@pytest.mark.parametrize(("body", "message"), [
    ({"requestId": "r", "subjects": {"mobile": {"claim": {"mobileNumber": CLIENT}}}}, "field 'authId' is required"),
    ({"authId": "a", "subjects": {"mobile": {"claim": {"mobileNumber": CLIENT}}}}, "field 'requestId' is required"),
    ({"authId": "a", "requestId": "r!", "subjects": {}}, "field 'requestId' may only contain"),
    ({"authId": "a", "requestId": "r", "subjects": {"mobile": {"claim": {"mobileNumber": "12"}}}},
     "field 'subjects.mobile.claim.mobileNumber' must be a phone number"),
])
def test_bad_continue_bodies_are_8001_naming_the_field(emu, body, message):
    assert message in refused(emu.post("/v1/server/auth/continue", body), 400, 8001)


@pytest.mark.parametrize("subjects", [{}, {"mobile": {}}, {"mobile": {"claim": {}}}])
def test_continue_without_a_number_answers_the_mobile_error_in_its_body(emu, subjects):
    """The SDK makes the number optional: the subject's error travels in the 200 body, as Prove's do."""
    started = start(emu)
    pass_otp(emu, started["authToken"])
    reply = ok(emu.post("/v1/server/auth/continue", {"authId": started["authId"], "requestId": "r",
                                                      "subjects": subjects}))
    assert reply["subjects"]["mobile"]["success"] is False
    assert reply["subjects"]["mobile"]["error"]["code"] == 10004
    assert "device" not in finish(emu, started["authId"])["subjects"]  # nothing was bound


def test_a_device_claim_of_another_numbers_key_is_not_reported_for_this_number(emu):
    other_device = unify_bound_device(emu, LANEY)
    body = {"requestId": "r", "subjects": {"mobile": {"authenticators": OTP},
                                           "device": {"claim": {"deviceId": other_device},
                                                      "authenticators": {"passive": {}}}}}
    started = ok(emu.post("/v1/server/auth/start", body))
    pass_otp(emu, started["authToken"], LORANT)  # the customer types Lorant's number
    proceed(emu, started["authId"], LORANT)
    device = finish(emu, started["authId"])["subjects"]["device"]["success"]["claim"]["deviceId"]
    assert device != other_device


def test_finish_needs_an_auth_id(emu):
    assert "field 'authId' is required" in refused(emu.post("/v1/server/auth/finish", {}), 400, 8001)


def test_an_unknown_test_number_is_8007(emu):
    refused(emu.post("/v1/server/auth/start", {**VALID, "subjects": subjects("3035550199")}), 400, 8007)


def test_prove_auth_needs_the_unify_product(emu):
    token = project_token(emu, "vu-only", "verified-users")
    refused(emu.post("/v1/server/auth/start", VALID, token=token), 401, 8002)


def test_an_injected_fault_answers_before_anything_starts(emu):
    assert emu.http.post("/__emulator/faults", json={"endpoint": "/v1/server/auth/start", "status": 500}).status_code == 200
    refused(emu.post("/v1/server/auth/start", VALID), 500, 8000)
    assert ok(emu.http.get("/__emulator/flows"))["flows"] == []
    assert start(emu)["authId"]  # the fault was for one call


def test_the_sdks_own_consent_example_and_free_verification_levels_are_accepted(emu):
    consent = {"status": "optedIn", "collectedTimestamp": "2025-01-01T00:00:00Z",
               "description": "Customer Application Name", "transactionId": "tx-1"}
    body = {"requestId": "r", "subjects": {
        "mobile": {"claim": {"mobileNumber": CLIENT}, "authenticators": {"instant": {"consent": consent}, **OTP}},
        "device": {"authenticators": {"passive": {"userVerificationLevel": "Preferred"}}}}}
    assert ok(emu.post("/v1/server/auth/start", body))["authId"]
