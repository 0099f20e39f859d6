"""Unify's newer request and reply fields (server SDK 0.13.2 to 0.14.9) and device revoke.

Reference: current-generation.md §6 (unify, unify-status, unify-bind: newest vs 0.9.6) and §7.1
(`/v3/device/revoke`). The 0.9.6 shapes stay as they were (tests/test_unify.py covers them).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.prove_calls import auth_claims, click_instant_link, ok, pass_mobile_auth, pass_otp, project_token, refused
from tests.soft_device import SoftDevice

LORANT = "2001004014"  # Unified Auth user
LANEY = "2001004015"
UNIFY_FAIL = "2025550114"  # possession passes by itself, unify-status answers false
NEWER = {"clientRequestId": "req-1"}


def unify(emu, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    reply = ok(emu.post("/v3/unify", body, token=token))
    assert reply["success"] == "pending"
    return reply


def status(emu, correlation_id: str, **fields: Any) -> dict[str, Any]:
    return ok(emu.post("/v3/unify-status", {"correlationId": correlation_id, **fields}))


def bound(emu, phone: str = LORANT, device: SoftDevice | None = None, **fields: Any) -> dict[str, Any]:
    """A mobile unify as a browser without a key runs it (register the key, then OTP): the successful
    unify-status (the device's Prove Key is bound)."""
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": phone, **fields})
    assert auth_claims(started["authToken"])["next"] == "device/passive"
    assert (device or SoftDevice()).register(emu, started["authToken"])["next"] == "mobile/otp"
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["success"] == "true" and result["deviceId"], result
    return result


def revoke(emu, device_id: str, token: str | None = None):
    return emu.post("/v3/device/revoke", {"clientRequestId": "req-revoke", "deviceId": device_id}, token=token)


def enrol(emu, phone: str) -> str:
    reply = ok(emu.post("/v3/identity", {"phoneNumber": phone}))
    return reply.get("proveId", reply.get("identityId"))


# -- new fields in the replies ------------------------------------------------------------------------------


def test_client_human_id_is_echoed_and_each_call_echoes_its_own_client_request_id(emu):
    started = unify(emu, {"possessionType": "none", "phoneNumber": LORANT, "clientRequestId": "req-unify",
                          "clientHumanId": "human-7", "ipAddress": "198.51.100.10"})
    asked = status(emu, started["correlationId"], clientRequestId="req-status")
    assert asked == {"success": "possession_required", "phoneNumber": LORANT, "clientHumanId": "human-7",
                     "clientRequestId": "req-status"}
    done = ok(emu.post("/v3/unify-bind", {"correlationId": started["correlationId"], "phoneNumber": LORANT,
                                          "clientRequestId": "req-bind"}))
    assert done["clientHumanId"] == "human-7" and done["clientRequestId"] == "req-bind"
    assert done["success"] == "true" and done["phoneNumber"] == LORANT and done["proveId"] and done["deviceId"]


def test_check_reputation_adds_a_passing_evaluation_once_the_flow_succeeded(emu):
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT, "checkReputation": True, **NEWER})
    assert "evaluation" not in status(emu, started["correlationId"])  # pending: nothing evaluated yet
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["success"] == "true"
    assert result["evaluation"] == {"authentication": {"result": "pass"}, "risk": {"result": "pass"}}


@pytest.mark.parametrize("possession", ["mobile", "none"])
def test_check_reputation_of_a_failed_flow_fails(emu, possession):
    started = unify(emu, {"possessionType": possession, "phoneNumber": UNIFY_FAIL, "checkReputation": True, **NEWER})
    result = status(emu, started["correlationId"])
    assert result == {"success": "false", "phoneNumber": UNIFY_FAIL,
                      "evaluation": {"authentication": {"result": "fail"}, "risk": {"result": "fail"}}}


def test_without_check_reputation_there_is_no_evaluation(emu):
    result = bound(emu, checkReputation=False, **NEWER)
    assert "evaluation" not in result


# -- proveId instead of phoneNumber ------------------------------------------------------------------------


def test_a_prove_id_from_an_earlier_unify_stands_for_the_number(emu):
    device = SoftDevice()
    first = bound(emu, device=device)
    again = unify(emu, {"possessionType": "mobile", "proveId": first["proveId"], **NEWER})
    assert device.verify(emu, again["authToken"]) == {"next": "done"}  # the number's Prove Key is recognised
    assert status(emu, again["correlationId"]) == first


def test_the_prove_id_of_an_enrolled_identity_stands_for_its_number(emu):
    identity_id = enrol(emu, LANEY)
    started = unify(emu, {"possessionType": "mobile", "proveId": identity_id, **NEWER})
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["phoneNumber"] == LANEY and result["proveId"] == identity_id


def test_an_enrolled_numbers_prove_id_is_its_identity_id(emu):
    identity_id = enrol(emu, LORANT)
    assert bound(emu)["proveId"] == identity_id


def test_the_prove_id_of_a_number_is_kept_across_flows(emu):
    first = bound(emu)
    desktop = unify(emu, {"possessionType": "desktop", "phoneNumber": LORANT,
                          "finalTargetUrl": "https://www.example.com/unified"})
    click_instant_link(emu, desktop["authToken"], LORANT)
    result = status(emu, desktop["correlationId"])
    assert result == {"success": "true", "phoneNumber": LORANT, "proveId": first["proveId"]}


@pytest.mark.parametrize(("body", "named", "rule"), [
    ({"possessionType": "mobile", **NEWER}, "phoneNumber", "is required unless proveId"),
    ({"possessionType": "mobile", "proveId": "00000000-0000-0000-0000-000000000000", **NEWER}, "proveId",
     "must name a Prove Key or an enrolled identity of this project (got '00000000-0000-0000-0000-000000000000')"),
])
def test_without_a_number_or_a_known_prove_id_unify_is_8001(emu, body, named, rule):
    message = refused(emu.post("/v3/unify", body), 400, 8001)
    assert message.startswith(f"field '{named}'") and rule in message
    assert ok(emu.http.get("/__emulator/flows"))["flows"] == []  # a refused unify starts nothing


def test_a_prove_id_of_another_number_than_phone_number_is_8001(emu):
    first = bound(emu)
    message = refused(emu.post("/v3/unify", {"possessionType": "mobile", "phoneNumber": LANEY,
                                             "proveId": first["proveId"], **NEWER}), 400, 8001)
    assert message == f"field 'proveId' names another number than phoneNumber ({LANEY})"


def test_prove_ids_belong_to_one_project(emu):
    first = bound(emu)
    other = project_token(emu, "unify-b", "unify")
    message = refused(emu.post("/v3/unify", {"possessionType": "mobile", "proveId": first["proveId"], **NEWER},
                               token=other), 400, 8001)
    assert message.startswith("field 'proveId' must name")


# -- clientRequestId: required exactly with the newer shape -----------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("deviceId", "8a1d2c6e-1111-4b08-83ba-75d08780aebd"),
    ("clientHumanId", "human-1"),
    ("checkReputation", True),
    ("ipAddress", "198.51.100.10"),
    ("mobileAuthEnabled", False),
    ("proveId", "8a1d2c6e-1111-4b08-83ba-75d08780aebd"),
])
def test_a_field_of_the_newer_shape_requires_client_request_id(emu, field, value):
    body = {"possessionType": "mobile", "phoneNumber": LORANT, field: value}
    message = refused(emu.post("/v3/unify", body), 400, 8001)
    assert message.startswith(f"field 'clientRequestId' is required when the request uses {field}:"), message
    assert "0.13.2" in message
    if field != "proveId":  # (an unknown proveId is refused for its own reason)
        assert ok(emu.post("/v3/unify", {**body, "clientRequestId": "req-1"}))["success"] == "pending"


def test_a_0_9_6_request_needs_no_client_request_id_and_gets_the_0_9_6_reply(emu):
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT, "allowOTPRetry": True,
                          "emailAddress": "lorant@example.com", "clientCustomerId": "c-1"})
    assert set(started) == {"correlationId", "authToken", "success"}
    pass_otp(emu, started["authToken"])
    assert set(status(emu, started["correlationId"])) == {"success", "phoneNumber", "proveId", "deviceId"}


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("ipAddress", "not an ip", "field 'ipAddress' must be an IPv4 or IPv6 address"),
    ("checkReputation", "yes", "field 'checkReputation' must be a boolean"),
    ("mobileAuthEnabled", 1, "field 'mobileAuthEnabled' must be a boolean"),
    ("clientHumanId", "h" * 129, "field 'clientHumanId' must be at most 128 characters"),
    ("deviceId", 42, "field 'deviceId' must be a string"),
])
def test_bad_newer_fields_are_8001(emu, field, value, rule):
    body = {"possessionType": "mobile", "phoneNumber": LORANT, "clientRequestId": "req-1", field: value}
    assert rule in refused(emu.post("/v3/unify", body), 400, 8001)


def test_mobile_auth_enabled_false_skips_mobile_auth_for_a_mobile_auth_user(emu):
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": "2001004016", "mobileAuthEnabled": False,
                          **NEWER})
    assert auth_claims(started["authToken"])["next"] == "device/passive"


def test_mobile_auth_enabled_true_for_another_number_falls_back_to_otp(emu):
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT, "mobileAuthEnabled": True, **NEWER})
    assert auth_claims(started["authToken"])["next"] == "mobile/instant"
    reply = pass_mobile_auth(emu, started["authToken"])
    assert reply["next"] == "mobile/otp" and reply["error"]["code"] == 10001  # not recognised: OTP instead
    pass_otp(emu, started["authToken"])
    assert status(emu, started["correlationId"])["success"] == "true"


# -- deviceId and revoke -----------------------------------------------------------------------------------------


def test_the_devices_current_prove_key_is_recognised(emu):
    device = SoftDevice()
    first = bound(emu, device=device)
    again = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT, "deviceId": first["deviceId"], **NEWER})
    assert auth_claims(again["authToken"])["next"] == "device/passive"
    assert device.verify(emu, again["authToken"]) == {"next": "done"}
    assert status(emu, again["correlationId"]) == first


def test_an_unknown_device_id_needs_possession_and_binds_the_devices_key(emu):
    device = SoftDevice()
    first = bound(emu, device=device)
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT,
                          "deviceId": "8a1d2c6e-1111-4b08-83ba-75d08780aebd", **NEWER})
    # The backend expects another key than the device's: possession again, even for a good key.
    assert device.verify(emu, started["authToken"]) == {"next": "mobile/otp"}
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["deviceId"] == first["deviceId"] != "8a1d2c6e-1111-4b08-83ba-75d08780aebd"
    assert result["proveId"] == first["proveId"]


def test_an_unknown_device_id_without_a_device_binds_a_new_key(emu):
    first = bound(emu)
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT,
                          "deviceId": "8a1d2c6e-1111-4b08-83ba-75d08780aebd", **NEWER})
    pass_otp(emu, started["authToken"])
    result = status(emu, started["correlationId"])
    assert result["deviceId"] not in (first["deviceId"], "8a1d2c6e-1111-4b08-83ba-75d08780aebd")
    assert result["proveId"] == first["proveId"]  # the same person, a new key


def test_revoke_makes_the_next_mobile_unify_need_possession_and_bind_a_new_key(emu):
    device = SoftDevice()
    first = bound(emu, device=device)
    assert ok(revoke(emu, first["deviceId"])) == {"success": True}
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT})  # 0.9.6 style: by number
    # The revoked key is not recognised: the SDK deletes it (10006), registers a new one, then OTP.
    reply = device.verify(emu, started["authToken"])
    assert reply["error"]["code"] == 10006 and "revoked" in reply["error"]["message"]
    assert reply["next"] == "device/passive"
    fresh = SoftDevice()  # the browser's new key
    assert fresh.register(emu, started["authToken"])["next"] == "mobile/otp"
    pass_otp(emu, started["authToken"])
    rebound = status(emu, started["correlationId"])
    assert rebound["success"] == "true" and rebound["deviceId"] == fresh.device_id != first["deviceId"]
    assert rebound["proveId"] == first["proveId"]
    # The new key is recognised; the revoked one proves nothing.
    later = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT, "deviceId": rebound["deviceId"], **NEWER})
    assert fresh.verify(emu, later["authToken"]) == {"next": "done"}
    stale = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT, "deviceId": first["deviceId"], **NEWER})
    assert device.verify(emu, stale["authToken"])["error"]["code"] == 10006


def test_after_revoke_customer_supplied_possession_is_asked_for_again(emu):
    first = bound(emu)
    ok(revoke(emu, first["deviceId"]))
    started = unify(emu, {"possessionType": "none", "phoneNumber": LORANT})
    assert status(emu, started["correlationId"])["success"] == "possession_required"


def test_revoking_twice_is_harmless(emu):
    first = bound(emu)
    assert ok(revoke(emu, first["deviceId"])) == {"success": True}
    assert ok(revoke(emu, first["deviceId"])) == {"success": True}


def test_revoking_an_unknown_device_is_404_naming_it(emu):
    message = refused(revoke(emu, "no-such-device"), 404, 8011)
    assert message == "device not found: deviceId 'no-such-device' names no Prove Key of this project"


def test_another_projects_key_cannot_be_revoked(emu):
    device = SoftDevice()
    first = bound(emu, device=device)
    other = project_token(emu, "unify-b", "unify")
    refused(revoke(emu, first["deviceId"], token=other), 404, 8011)
    again = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT})
    assert device.verify(emu, again["authToken"]) == {"next": "done"}  # still valid in its own project


@pytest.mark.parametrize(("body", "message"), [
    ({"deviceId": "d-1"}, "field 'clientRequestId' is required"),
    ({"clientRequestId": "r-1"}, "field 'deviceId' is required"),
    ({"clientRequestId": "r-1", "deviceId": ["d-1"]}, "field 'deviceId' must be a string"),
])
def test_bad_revoke_bodies_are_8001(emu, body, message):
    assert message in refused(emu.post("/v3/device/revoke", body), 400, 8001)


def test_revoke_needs_the_unify_product(emu):
    token = project_token(emu, "vu-only", "verified-users")
    refused(revoke(emu, "d-1", token=token), 401, 8002)


# -- SDKs before 0.14.4 may name the flow by its number ------------------------------------------------


def test_status_and_bind_without_correlation_id_use_the_numbers_latest_flow(emu):
    unify(emu, {"possessionType": "none", "phoneNumber": LANEY})
    latest = unify(emu, {"possessionType": "none", "phoneNumber": LANEY})
    assert ok(emu.post("/v3/unify-status", {"phoneNumber": "+1" + LANEY}))["success"] == "possession_required"
    bound_reply = ok(emu.post("/v3/unify-bind", {"phoneNumber": LANEY}))
    assert bound_reply["success"] == "true" and bound_reply["deviceId"]
    assert emu.flow(latest["correlationId"])["success"] == "true"  # the latest flow was bound, not the first


def test_status_without_correlation_id_needs_the_number_of_a_live_flow(emu):
    message = refused(emu.post("/v3/unify-status", {"phoneNumber": LORANT}), 400, 8008)
    assert LORANT in message and "no live Unify flow" in message
    assert "field 'correlationId' is required" in refused(emu.post("/v3/unify-status", {"clientRequestId": "r"}),
                                                          400, 8001)


def test_binding_again_and_again_keeps_one_key_per_number(emu, prove_emulator_server):
    keys = prove_emulator_server.emulator.prove_keys
    for _ in range(5):
        bound(emu, rebind=True)
    assert [key.phone_number for key in keys.all(emu.client_id)] == [LORANT]


def test_a_project_reset_forgets_its_prove_keys(emu):
    device = SoftDevice()
    device_id = bound(emu, device=device)["deviceId"]
    emu.reset(emu.client_id)
    refused(emu.post("/v3/device/revoke", {"clientRequestId": "r", "deviceId": device_id}), 404, 8011)
    started = unify(emu, {"possessionType": "mobile", "phoneNumber": LORANT})
    assert device.verify(emu, started["authToken"])["error"]["code"] == 10006  # unknown now: register again


def test_the_latest_flow_is_found_by_number_even_on_a_frozen_clock(emu):
    emu.freeze()
    unify(emu, {"possessionType": "none", "phoneNumber": LANEY})
    latest = unify(emu, {"possessionType": "desktop", "phoneNumber": LANEY, "finalTargetUrl": "https://a.example/x"})
    assert ok(emu.post("/v3/unify-status", {"phoneNumber": LANEY}))["success"] == "pending"  # the desktop flow's
    refused(emu.post("/v3/unify-bind", {"phoneNumber": LANEY}), 403, 8003)
    assert emu.flow(latest["correlationId"])["success"] == "pending"


def test_status_with_another_number_than_the_flows_is_refused(emu):
    started = unify(emu, {"possessionType": "none", "phoneNumber": LANEY})
    message = refused(emu.post("/v3/unify-status", {"correlationId": started["correlationId"],
                                                    "phoneNumber": LORANT}), 400, 8001)
    assert message.startswith("field 'phoneNumber' must be the flow's number")


def test_one_prove_id_per_person_across_unify_identity_manager_and_verify(emu):
    """Reuse an existing value, else generate: Unify's proveId is the identity's once it is enrolled."""
    first = bound(emu)["proveId"]
    enrolled = ok(emu.post("/v3/identity", {"phoneNumber": LORANT}))
    assert enrolled["proveId"] == first
    assert bound(emu, rebind=True)["proveId"] == first
    verified = ok(emu.post("/v3/verify", {"phoneNumber": LORANT, "verificationType": "humanAssurance",
                                          "proveId": first}))
    assert verified["proveId"] == first


def test_verify_accepts_a_prove_id_unify_handed_out_before_enrolment(emu):
    prove_id = bound(emu)["proveId"]
    verified = ok(emu.post("/v3/verify", {"phoneNumber": LORANT, "verificationType": "humanAssurance",
                                          "proveId": prove_id}))
    assert verified["proveId"] == prove_id and verified["isEnrolled"] is True
