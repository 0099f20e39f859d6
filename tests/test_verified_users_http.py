"""/v3/verify and /v3/verify-status over HTTP: outcomes, lifetimes and every 8001 rule."""

from __future__ import annotations

import pytest

from tests.conftest import DESKTOP, MOBILE

VALID = {
    "firstName": "Casey",
    "lastName": "Client",
    "phoneNumber": "2025550100",
    "possessionType": "desktop",
    "finalTargetUrl": "https://app.example.com/done",
}


def test_possession_none_answers_at_once_for_the_short_term_user(emu):
    reply = emu.verify("2001004011", "none", firstName="Sheilakathryn", lastName="Butrimovich")
    assert reply["success"] == "true"
    assert reply["possessionResult"] == "not_applicable"
    assert reply["verifyResult"] == "success"
    assert "authToken" not in reply
    status = emu.status(reply["correlationId"])
    assert status["success"] == "true" and status["possessionResult"] == "not_applicable"
    assert status["identityId"]


@pytest.mark.parametrize("possession", [MOBILE, DESKTOP])
def test_with_possession_verify_is_pending_and_hands_out_an_auth_token(emu, possession):
    reply = emu.verify("2025550100", possession)
    assert (reply["success"], reply["possessionResult"], reply["verifyResult"]) == ("pending",) * 3
    assert reply["authToken"].count(".") == 2
    assert emu.status(reply["correlationId"]) == {
        "success": "pending", "possessionResult": "pending", "verifyResult": "pending"}


def test_backend_only_persona_settles_possession_by_itself(emu):
    reply = emu.verify("2001004011", MOBILE, firstName="Sheilakathryn", lastName="Butrimovich")
    assert reply["success"] == "pending"  # as Prove answers verify
    status = emu.status(reply["correlationId"])
    assert status["success"] == "true"
    assert status["possessionResult"] == "success"
    assert status["verifyResult"] == "success"
    assert status["identityId"]
    assert emu.latest_otp("2001004011") == "1234"  # the SMS the emulator's phone "received"


def test_a_name_that_does_not_match_the_test_user_fails_the_data_check(emu):
    reply = emu.verify("2001004011", "none", firstName="Someone", lastName="Else")
    assert (reply["success"], reply["verifyResult"]) == ("false", "failed")
    assert "identityId" not in emu.status(reply["correlationId"])


def test_failing_users_fail_verification(emu):
    reply = emu.verify("2001004012", "none", firstName="Kurt", lastName="Mathen")
    assert (reply["success"], reply["possessionResult"], reply["verifyResult"]) == ("false", "not_applicable", "failed")


def test_auto_failed_possession_reports_not_applicable_verify_result(emu):
    reply = emu.verify("2025550102", MOBILE)
    assert emu.status(reply["correlationId"]) == {
        "success": "false", "possessionResult": "failed", "verifyResult": "not_applicable"}


def test_auto_timeout_fails_when_the_otp_expires_on_the_emulator_clock(emu):
    emu.freeze()
    reply = emu.verify("2025550103", MOBILE)
    emu.advance(119)
    assert emu.status(reply["correlationId"])["possessionResult"] == "pending"
    emu.advance(1)
    assert emu.status(reply["correlationId"])["possessionResult"] == "failed"


def test_instant_link_auto_timeout_takes_three_minutes(emu):
    emu.freeze()
    reply = emu.verify("2025550103", DESKTOP)
    emu.advance(179)
    assert emu.status(reply["correlationId"])["possessionResult"] == "pending"
    emu.advance(1)
    assert emu.status(reply["correlationId"])["possessionResult"] == "failed"


def test_possession_success_with_failed_data_check(emu):
    reply = emu.verify("2025550105", MOBILE)
    assert emu.status(reply["correlationId"]) == {
        "success": "false", "possessionResult": "success", "verifyResult": "failed"}


def test_flow_expires_after_fifteen_minutes(emu):
    emu.freeze()
    reply = emu.verify("2025550101", MOBILE)
    emu.advance(15 * 60 - 1)
    assert emu.status(reply["correlationId"])["success"] == "true"
    emu.advance(1)
    expired = emu.post("/v3/verify-status", {"correlationId": reply["correlationId"]})
    assert expired.status_code == 400
    assert expired.json()["code"] == 8008


def test_unknown_correlation_id_is_8008(emu):
    reply = emu.post("/v3/verify-status", {"correlationId": "00000000-0000-0000-0000-000000000000"})
    assert reply.status_code == 400 and reply.json()["code"] == 8008


def test_flows_are_isolated_between_projects(emu):
    emu.put_project("team-b", clientSecret="secret-b", product="verified-users")
    reply = emu.verify("2025550101", MOBILE)
    other = emu.access_token("team-b", "secret-b")
    seen_by_b = emu.post("/v3/verify-status", {"correlationId": reply["correlationId"]}, token=other)
    assert seen_by_b.status_code == 400 and seen_by_b.json()["code"] == 8008
    assert emu.status(reply["correlationId"])["success"] == "true"


def test_unknown_numbers_are_rejected_with_8007_like_prove_sandbox(emu):
    reply = emu.post("/v3/verify", {**VALID, "phoneNumber": "3035550000"})
    assert reply.status_code == 400
    assert reply.json()["code"] == 8007
    assert "3035550000" in reply.json()["message"]


def test_a_project_may_use_the_default_persona_for_unknown_numbers(emu):
    emu.put_project("lenient", clientSecret="s", unknownNumbers="default-persona")
    token = emu.access_token("lenient", "s")
    reply = emu.post("/v3/verify", {**VALID, "phoneNumber": "3035550000", "possessionType": "none"}, token=token)
    assert reply.status_code == 200 and reply.json()["success"] == "true"


def test_a_test_user_of_another_product_is_refused_with_8009(emu):
    emu.put_project("vu-only", clientSecret="s", product="verified-users")
    token = emu.access_token("vu-only", "s")
    reply = emu.post("/v3/verify", {**VALID, "phoneNumber": "2001001695"}, token=token)
    assert reply.status_code == 403 and reply.json()["code"] == 8009


def test_plus_one_and_bare_numbers_are_the_same_person(emu):
    reply = emu.verify("+12001004011", "none", firstName="Sheilakathryn", lastName="Butrimovich")
    assert reply["verifyResult"] == "success"


def test_enrolment_reuses_the_identity_of_a_number(emu):
    first = emu.status(emu.verify("2025550101", MOBILE)["correlationId"])["identityId"]
    second = emu.status(emu.verify("2025550101", DESKTOP)["correlationId"])["identityId"]
    assert first == second


# -- 8001: every rule names the field -----------------------------------------------------------------

BAD_BODIES = [
    ({k: v for k, v in VALID.items() if k != "firstName"}, "field 'firstName' is required"),
    ({k: v for k, v in VALID.items() if k != "lastName"}, "field 'lastName' is required"),
    ({k: v for k, v in VALID.items() if k != "phoneNumber"}, "field 'phoneNumber' is required"),
    ({k: v for k, v in VALID.items() if k != "possessionType"}, "field 'possessionType' is required"),
    ({**VALID, "firstName": ""}, "field 'firstName' must not be empty"),
    ({**VALID, "possessionType": "tablet"}, "field 'possessionType' must be one of: desktop, mobile, none"),
    ({**VALID, "possessionType": 1}, "field 'possessionType' must be a string"),
    ({k: v for k, v in VALID.items() if k != "finalTargetUrl"},
     "field 'finalTargetUrl' is required when possessionType is desktop"),
    ({**VALID, "finalTargetUrl": "https://example.com/" + "a" * 109}, "field 'finalTargetUrl' must be at most 128 characters"),
    ({**VALID, "finalTargetUrl": "https://example.com/a b"}, "field 'finalTargetUrl' may only contain"),
    ({**VALID, "finalTargetUrl": "https://example.com/?a=1&b=2"}, "field 'finalTargetUrl' may only contain"),
    ({**VALID, "smsMessage": "x" * 161}, "field 'smsMessage' must be at most 160 characters"),
    ({**VALID, "phoneNumber": "12345"}, "field 'phoneNumber' must be a phone number"),
    ({**VALID, "phoneNumber": "200-100-4011"}, "field 'phoneNumber' must be a phone number"),
    ({**VALID, "phoneNumber": 2001004011}, "field 'phoneNumber' must be a string"),
    ({**VALID, "allowOTPRetry": "yes"}, "field 'allowOTPRetry' must be a boolean"),
    ({**VALID, "emailAddress": "not an email"}, "field 'emailAddress' must be an email address"),
    ([VALID], "the request body must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_verify_bodies_get_8001_naming_the_field_and_rule(emu, body, message):
    reply = emu.post("/v3/verify", body)
    assert reply.status_code == 400
    assert reply.json()["code"] == 8001
    assert message in reply.json()["message"]


def test_a_128_character_final_target_url_is_accepted(emu):
    url = "https://example.com/" + "a" * 108
    assert len(url) == 128
    assert emu.post("/v3/verify", {**VALID, "finalTargetUrl": url}).status_code == 200


def test_a_160_character_sms_message_is_accepted(emu):
    assert emu.post("/v3/verify", {**VALID, "smsMessage": "#" * 4 + "x" * 156}).status_code == 200


def test_body_over_4_kb_is_refused(emu):
    reply = emu.post("/v3/verify", {**VALID, "clientRequestId": "x" * 100, "pad": "y" * 4100})
    assert reply.status_code == 400
    assert reply.json()["code"] == 8001
    assert "4 KB" in reply.json()["message"]


def test_invalid_json_is_refused(emu):
    reply = emu.http.post("/v3/verify", content=b"{not json", headers={
        "Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["code"] == 8001
    assert "not valid JSON" in reply.json()["message"]


def test_wrong_content_type_is_refused(emu):
    reply = emu.http.post("/v3/verify", content=b"firstName=x", headers={
        "Authorization": f"Bearer {emu.token}", "Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and reply.json()["code"] == 8001
    assert "Content-Type must be application/json" in reply.json()["message"]


def test_empty_body_is_refused(emu):
    reply = emu.http.post("/v3/verify", content=b"", headers={
        "Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"})
    assert reply.status_code == 400 and "empty" in reply.json()["message"]


def test_verify_status_requires_a_correlation_id(emu):
    reply = emu.post("/v3/verify-status", {})
    assert reply.status_code == 400
    assert reply.json() == {"code": 8001, "message": "field 'correlationId' is required"}


def test_a_bad_request_does_not_disturb_an_earlier_flow(emu):
    reply = emu.verify("2025550101", MOBILE)
    before = emu.status(reply["correlationId"])
    assert emu.post("/v3/verify-status", {"correlationId": 42}).status_code == 400
    assert emu.post("/v3/verify", {"correlationId": reply["correlationId"]}).status_code == 400
    assert emu.status(reply["correlationId"]) == before


def test_requests_are_journaled_without_secrets(emu):
    emu.verify("2025550101", MOBILE)
    entries = emu.requests()
    paths = [entry["path"] for entry in entries]
    assert paths[-2:] == ["/token", "/v3/verify"] or "/v3/verify" in paths
    token_entry = next(entry for entry in entries if entry["path"] == "/token")
    assert "sandbox-client-secret" not in token_entry["requestBody"]
    assert "access_token\":\"***" in token_entry["responseBody"]
    verify_entry = next(entry for entry in entries if entry["path"] == "/v3/verify")
    assert verify_entry["status"] == 200 and verify_entry["correlationId"]


def test_persona_faults_apply_to_the_next_calls_only(emu):
    reply = emu.verify("2025550110", MOBILE)
    first = emu.post("/v3/verify-status", {"correlationId": reply["correlationId"]})
    assert first.status_code == 500 and first.json()["code"] == 8000
    assert emu.status(reply["correlationId"])["success"] == "true"
