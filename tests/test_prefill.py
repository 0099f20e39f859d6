"""Pre-Fill and Prove Identity over HTTP: start -> validate -> (challenge) -> complete.

The default project runs Pre-Fill (with challenge); a project narrowed to prove-identity goes from
validate straight to complete. Reference §4.1-§4.4 (fields), §5 (step order), §7.1-§7.2 (users).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.prove_calls import (
    IL_START,
    auth_claims,
    click_instant_link,
    ok,
    pass_otp,
    project_token,
    refused,
)

MILO = "2001001695"  # short-term: possession needs no client SDK
MARCIA = "2001001693"  # needs the client SDK's possession step
NEVIN = "2001001688"
TARGET = "https://www.prove.com/done"

VALIDATE = {"v3-validate": "/v3/validate"}
CHALLENGE = {"v3-challenge": "/v3/challenge"}
COMPLETE = {"v3-complete": "/v3/complete"}
DONE = {"done": "done"}

MILO_ADDRESS = {"address": "6377 Birchwood Hill", "city": "Littleton", "region": "CO", "postalCode": "80161-2001"}
MILO_INDIVIDUAL = {
    "firstName": "Milo",
    "lastName": "Pinson",
    "addresses": [MILO_ADDRESS],
    "emailAddresses": ["mpinsonm@dyndns.org"],
    "dob": "1981-01-17",
    "ssn": "847350596",
}
MARCIA_INDIVIDUAL = {"firstName": "Marcia", "lastName": "Longo", "dob": "1982-07-19", "ssn": "470806227"}
OTHER_ADDRESS = {"address": "1 Elsewhere Road", "city": "Nowhere", "region": "NV", "postalCode": "89001"}


def start(emu, phone: str | None = MILO, token: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"flowType": "mobile", **fields}
    if phone is not None:
        body["phoneNumber"] = phone
    reply = ok(emu.post("/v3/start", body, token=token))
    assert reply["next"] == VALIDATE
    return reply


def step(emu, name: str, correlation_id: str, token: str | None = None, **fields: Any):
    return emu.post(f"/v3/{name}", {"correlationId": correlation_id, **fields}, token=token)


def at_challenge(emu, phone: str = MILO, **start_fields: Any) -> str:
    """A Pre-Fill flow validated and waiting for /v3/challenge; returns its correlationId."""
    correlation_id = start(emu, phone, **start_fields)["correlationId"]
    assert ok(step(emu, "validate", correlation_id))["next"] == CHALLENGE
    return correlation_id


def at_complete(emu) -> str:
    correlation_id = at_challenge(emu, dob="1981-01-17")
    assert ok(step(emu, "challenge", correlation_id))["next"] == COMPLETE
    return correlation_id


@pytest.fixture
def identity_token(emu) -> str:
    return project_token(emu, "prove-identity-only", "prove-identity")


# -- the happy paths ------------------------------------------------------------------------------------


def test_pre_fill_for_milo_runs_start_validate_challenge_complete(emu):
    started = start(emu, MILO, finalTargetUrl=TARGET)
    assert set(started) == {"authToken", "correlationId", "next"}
    correlation_id = started["correlationId"]
    assert ok(step(emu, "validate", correlation_id)) == {
        "success": True, "challengeMissing": True, "phoneNumber": MILO, "next": CHALLENGE}
    challenged = ok(step(emu, "challenge", correlation_id, dob="1981-01-17"))
    assert challenged == {"success": True, "next": COMPLETE, "individual": MILO_INDIVIDUAL}
    # What challenge returned can be sent back to complete unchanged.
    completed = ok(step(emu, "complete", correlation_id, individual=challenged["individual"]))
    assert completed == {"success": True, "next": DONE}  # Pre-Fill: no idv / kyc


def test_prove_identity_goes_from_validate_to_complete_and_returns_idv_and_kyc(emu, identity_token):
    correlation_id = start(emu, MILO, token=identity_token)["correlationId"]
    assert ok(step(emu, "validate", correlation_id, token=identity_token)) == {
        "success": True, "challengeMissing": False, "phoneNumber": MILO, "next": COMPLETE}
    completed = ok(step(emu, "complete", correlation_id, token=identity_token, individual=MILO_INDIVIDUAL))
    assert completed["success"] is True and completed["next"] == DONE
    assert completed["kyc"] == {"totalHits": 0}
    idv = completed["idv"]
    assert idv["multiCIPConfidence"] == "high"
    source = idv["dataSource1"]
    assert source["name"] == {"firstName": 100, "lastName": 100, "nameScore": 100}
    assert source["address"]["addressScore"] == 100
    assert source["identifiers"] == {"dob": True, "ssn": True, "last4": True}
    assert source["email"] == {"emailAddress": True}


def test_prove_identity_complete_with_wrong_data_fails_with_low_confidence(emu, identity_token):
    correlation_id = start(emu, MILO, token=identity_token)["correlationId"]
    ok(step(emu, "validate", correlation_id, token=identity_token))
    completed = ok(step(emu, "complete", correlation_id, token=identity_token,
                        individual={**MILO_INDIVIDUAL, "lastName": "Someone"}))
    assert completed["success"] is False and completed["next"] == DONE
    assert completed["idv"]["multiCIPConfidence"] == "low"
    assert completed["idv"]["dataSource1"]["name"]["lastName"] == 0


def test_complete_with_a_wrong_ssn_fails_pre_fill(emu):
    correlation_id = at_complete(emu)
    completed = ok(step(emu, "complete", correlation_id, individual={**MILO_INDIVIDUAL, "ssn": "000000000"}))
    assert completed == {"success": False, "next": DONE}


def test_complete_accepts_an_ssn_without_names(emu):
    correlation_id = at_complete(emu)
    assert ok(step(emu, "complete", correlation_id, individual={"ssn": "847350596"}))["success"] is True


# -- challengeMissing and the challenge -----------------------------------------------------------------


@pytest.mark.parametrize(("start_fields", "missing"), [
    ({}, True),
    ({"dob": "1981-01-17"}, False),
    ({"ssn": "847350596"}, False),
    ({"ssn": "0596"}, False),
    ({"dob": "1981-01-17", "ssn": "847350596"}, False),
])
def test_challenge_missing_tells_whether_start_had_a_dob_or_ssn(emu, start_fields, missing):
    correlation_id = start(emu, MILO, **start_fields)["correlationId"]
    assert ok(step(emu, "validate", correlation_id))["challengeMissing"] is missing


def test_challenge_missing_is_false_for_prove_identity(emu, identity_token):
    correlation_id = start(emu, MILO, token=identity_token)["correlationId"]
    assert ok(step(emu, "validate", correlation_id, token=identity_token))["challengeMissing"] is False


def test_challenge_uses_the_dob_given_at_start(emu):
    correlation_id = at_challenge(emu, dob="1981-01-17")
    assert ok(step(emu, "challenge", correlation_id))["success"] is True


@pytest.mark.parametrize("fields", [
    {"dob": "1981-01-17"}, {"dob": "1981-01"}, {"dob": "01-17"}, {"ssn": "847350596"}, {"ssn": "0596"},
    {"dob": "1981-01-17", "ssn": "0596"},
])
def test_challenge_accepts_every_documented_dob_and_ssn_form(emu, fields):
    correlation_id = at_challenge(emu)
    assert ok(step(emu, "challenge", correlation_id, **fields))["success"] is True


def test_challenge_values_override_a_wrong_dob_from_start(emu):
    correlation_id = at_challenge(emu, dob="1990-01-01")
    assert ok(step(emu, "challenge", correlation_id, dob="1981-01-17"))["success"] is True


def test_challenge_values_override_a_right_dob_from_start(emu):
    correlation_id = at_challenge(emu, dob="1981-01-17")
    assert ok(step(emu, "challenge", correlation_id, dob="1990-01-01"))["success"] is False


def test_a_wrong_dob_fails_the_challenge_and_ends_the_flow(emu):
    correlation_id = at_challenge(emu)
    assert ok(step(emu, "challenge", correlation_id, dob="1981-01-18")) == {"success": False, "next": DONE}
    message = refused(step(emu, "complete", correlation_id, individual=MILO_INDIVIDUAL), 403, 8003)
    assert "after the flow finished" in message


def test_a_wrong_ssn_fails_the_challenge(emu):
    correlation_id = at_challenge(emu)
    assert ok(step(emu, "challenge", correlation_id, ssn="1111"))["success"] is False


def test_challenge_without_any_dob_or_ssn_is_8001_and_leaves_the_flow_waiting(emu):
    correlation_id = at_challenge(emu)
    message = refused(step(emu, "challenge", correlation_id), 400, 8001)
    assert "'dob' or 'ssn'" in message
    assert ok(step(emu, "challenge", correlation_id, ssn="847350596"))["success"] is True


# -- step order ---------------------------------------------------------------------------------------------


def _done_flow(emu) -> str:
    correlation_id = at_complete(emu)
    ok(step(emu, "complete", correlation_id, individual=MILO_INDIVIDUAL))
    return correlation_id


def _started(emu) -> str:
    return start(emu)["correlationId"]


@pytest.mark.parametrize(("setup", "call", "expected_in_message"), [
    pytest.param(_started, "challenge", "the next step is /v3/validate", id="challenge-before-validate"),
    pytest.param(_started, "complete", "the next step is /v3/validate", id="complete-before-validate"),
    pytest.param(at_challenge, "validate", "the next step is /v3/challenge", id="validate-twice"),
    pytest.param(at_challenge, "complete", "the next step is /v3/challenge", id="complete-before-challenge"),
    pytest.param(at_complete, "challenge", "the next step is /v3/complete", id="challenge-twice"),
    pytest.param(at_complete, "validate", "the next step is /v3/complete", id="validate-after-challenge"),
    pytest.param(_done_flow, "complete", "after the flow finished", id="complete-after-done"),
    pytest.param(_done_flow, "validate", "after the flow finished", id="validate-after-done"),
])
def test_a_step_not_in_the_last_next_map_is_403_8003(emu, setup, call, expected_in_message):
    correlation_id = setup(emu)
    body = {"dob": "1981-01-17"} if call == "challenge" else {"individual": MILO_INDIVIDUAL} if call == "complete" else {}
    message = refused(step(emu, call, correlation_id, **body), 403, 8003)
    assert f"/v3/{call}" in message and expected_in_message in message


def test_a_refused_step_does_not_move_the_flow(emu):
    correlation_id = start(emu)["correlationId"]
    refused(step(emu, "challenge", correlation_id, dob="1981-01-17"), 403, 8003)
    assert ok(step(emu, "validate", correlation_id))["success"] is True


def test_prove_identity_has_no_challenge_step(emu, identity_token):
    correlation_id = start(emu, MILO, token=identity_token)["correlationId"]
    ok(step(emu, "validate", correlation_id, token=identity_token))
    message = refused(step(emu, "challenge", correlation_id, token=identity_token, dob="1981-01-17"), 403, 8003)
    assert "the next step is /v3/complete" in message


# -- possession: users that need the client SDK -----------------------------------------------------


def test_without_the_client_sdk_validate_fails_for_other_users_and_ends_the_flow(emu):
    correlation_id = start(emu, MARCIA)["correlationId"]
    assert ok(step(emu, "validate", correlation_id)) == {
        "success": False, "challengeMissing": False, "phoneNumber": MARCIA, "next": DONE}
    refused(step(emu, "challenge", correlation_id, dob="1982-07-19"), 403, 8003)
    assert emu.sms(MARCIA) == []  # nobody played the phone: no SMS was sent


def test_possession_through_the_device_channel_lets_marcia_through(emu):
    started = start(emu, MARCIA)
    pass_otp(emu, started["authToken"])
    correlation_id = started["correlationId"]
    assert ok(step(emu, "validate", correlation_id)) == {
        "success": True, "challengeMissing": True, "phoneNumber": MARCIA, "next": CHALLENGE}
    challenged = ok(step(emu, "challenge", correlation_id, ssn="6227"))
    assert challenged["success"] is True
    # Marcia has two addresses on file; both are returned.
    assert [a["city"] for a in challenged["individual"]["addresses"]] == ["New Orleans", "Memphis"]
    assert ok(step(emu, "complete", correlation_id, individual=MARCIA_INDIVIDUAL)) == {"success": True, "next": DONE}


def test_a_wrong_otp_makes_validate_fail(emu):
    started = start(emu, MARCIA)
    auth_token = started["authToken"]
    assert emu.client(auth_token, "mobile/otp/start", {}) == {"next": "mobile/otp"}
    reply = emu.client(auth_token, "mobile/otp/finish", {"otp": "9999"})
    assert reply["next"] == "done" and reply["error"]["code"] == 10001
    assert ok(step(emu, "validate", started["correlationId"]))["success"] is False


def test_the_otp_sms_uses_the_sms_message_of_start(emu):
    started = start(emu, MARCIA, smsMessage="Code: ###### (Pre-Fill)")
    emu.client(started["authToken"], "mobile/otp/start", {})
    sms = emu.latest_sms(MARCIA)
    assert sms["body"] == f"Code: {sms['otp']} (Pre-Fill)" and len(sms["otp"]) == 6


def test_desktop_flow_passes_possession_with_an_instant_link_click(emu):
    started = start(emu, NEVIN, flowType="desktop", finalTargetUrl=TARGET)
    assert auth_claims(started["authToken"])["next"] == "mobile/instantlink"
    clicked = click_instant_link(emu, started["authToken"], NEVIN)
    assert clicked.status_code == 302 and clicked.headers["location"] == TARGET
    correlation_id = started["correlationId"]
    assert ok(step(emu, "validate", correlation_id))["success"] is True
    assert ok(step(emu, "challenge", correlation_id, dob="1980-03-20"))["success"] is True


def test_desktop_flow_without_a_click_fails_validate(emu):
    started = start(emu, NEVIN, flowType="desktop", finalTargetUrl=TARGET)
    assert emu.client(started["authToken"], "mobile/instantlink/start", IL_START) == {"data": {}}
    assert ok(step(emu, "validate", started["correlationId"]))["success"] is False


def test_without_a_phone_number_the_sdk_supplies_it_through_otp_start(emu):
    started = start(emu, phone=None)
    claims = auth_claims(started["authToken"])
    assert claims["next"] == "mobile/otp" and claims["subs"] == {}  # the number is not known yet
    pass_otp(emu, started["authToken"], mobile_number=MARCIA)
    assert emu.latest_otp(MARCIA) == "1234"
    validated = ok(step(emu, "validate", started["correlationId"]))
    assert validated["success"] is True and validated["phoneNumber"] == MARCIA
    # The persona is the number the customer typed: Marcia's dob passes the challenge.
    assert ok(step(emu, "challenge", started["correlationId"], dob="1982-07-19"))["success"] is True


def test_without_a_phone_number_otp_start_needs_one(emu):
    started = start(emu, phone=None)
    reply = emu.client(started["authToken"], "mobile/otp/start", {})
    assert set(reply) == {"data"} and "phone number is needed" in reply["data"]["message"]
    validated = ok(step(emu, "validate", started["correlationId"]))
    assert validated["success"] is False and "phoneNumber" not in validated


def test_an_unknown_number_from_the_sdk_is_refused_with_a_reprompt(emu):
    started = start(emu, phone=None)
    reply = emu.client(started["authToken"], "mobile/otp/start", {"mobileNumber": "3035550000"})
    assert set(reply) == {"data"} and "sandbox user not found" in reply["data"]["message"]


# -- only the first address and email ----------------------------------------------------------------


def _idv(emu, token: str, individual: dict[str, Any]) -> dict[str, Any]:
    correlation_id = start(emu, MILO, token=token)["correlationId"]
    ok(step(emu, "validate", correlation_id, token=token))
    completed = ok(step(emu, "complete", correlation_id, token=token, individual=individual))
    return completed["idv"]["dataSource1"]


def test_only_the_first_address_and_email_are_processed(emu, identity_token):
    first_right = _idv(emu, identity_token, {**MILO_INDIVIDUAL, "addresses": [MILO_ADDRESS, OTHER_ADDRESS],
                                             "emailAddresses": ["mpinsonm@dyndns.org", "other@example.com"]})
    assert first_right["address"]["addressScore"] == 100 and first_right["email"]["emailAddress"] is True
    second_right = _idv(emu, identity_token, {**MILO_INDIVIDUAL, "addresses": [OTHER_ADDRESS, MILO_ADDRESS],
                                              "emailAddresses": ["other@example.com", "mpinsonm@dyndns.org"]})
    assert second_right["address"]["addressScore"] == 0 and second_right["email"]["emailAddress"] is False


# -- lifetimes and isolation -------------------------------------------------------------------------------


def test_the_flow_expires_fifteen_minutes_after_start_on_the_emulator_clock(emu):
    emu.freeze()
    correlation_id = start(emu)["correlationId"]
    emu.advance(15 * 60 - 1)
    assert ok(step(emu, "validate", correlation_id))["success"] is True
    emu.advance(1)
    message = refused(step(emu, "challenge", correlation_id, dob="1981-01-17"), 400, 8008)
    assert correlation_id in message


def test_an_unknown_correlation_id_is_8008(emu):
    refused(step(emu, "validate", "00000000-0000-0000-0000-000000000000"), 400, 8008)


def test_another_project_cannot_see_the_flow(emu):
    other = project_token(emu, "team-b", "pre-fill")
    correlation_id = start(emu)["correlationId"]
    refused(step(emu, "validate", correlation_id, token=other), 400, 8008)
    assert ok(step(emu, "validate", correlation_id))["success"] is True


def test_a_verified_users_only_project_may_not_call_start(emu):
    token = project_token(emu, "vu-only", "verified-users")
    message = refused(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": MILO}, token=token), 401, 8002)
    assert "pre-fill or prove-identity" in message
    correlation_id = start(emu)["correlationId"]
    refused(step(emu, "validate", correlation_id, token=token), 401, 8002)


def test_a_test_user_of_another_product_is_refused_with_8009(emu):
    token = project_token(emu, "pre-fill-only", "pre-fill")
    refused(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": "2001004011"}, token=token), 403, 8009)


def test_an_unknown_number_is_refused_with_8007(emu):
    refused(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": "3035550000"}), 400, 8007)


# -- 8001: every field rule of §4.1-§4.4 names the field and the rule ---------------------------------------

START = {"flowType": "desktop", "phoneNumber": MILO, "finalTargetUrl": TARGET}


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


BAD_STARTS = [
    (_without(START, "flowType"), "field 'flowType' is required"),
    ({**START, "flowType": ""}, "field 'flowType' must not be empty"),
    ({**START, "flowType": "tablet"}, "field 'flowType' must be one of: desktop, mobile"),
    ({**START, "flowType": "none"}, "field 'flowType' must be one of: desktop, mobile"),
    ({**START, "flowType": 1}, "field 'flowType' must be a string"),
    (_without(START, "finalTargetUrl"), "field 'finalTargetUrl' is required when flowType is desktop"),
    ({**START, "finalTargetUrl": "https://example.com/" + "a" * 109}, "field 'finalTargetUrl' must be at most 128"),
    ({**START, "finalTargetUrl": "https://example.com/a b"}, "field 'finalTargetUrl' may only contain"),
    ({**START, "finalTargetUrl": "https://example.com/?a=1&b=2"}, "field 'finalTargetUrl' may only contain"),
    ({**START, "finalTargetUrl": "https://example.com/#top"}, "field 'finalTargetUrl' may only contain"),
    ({**START, "phoneNumber": "12345"}, "field 'phoneNumber' must be a phone number"),
    ({**START, "phoneNumber": "(200) 100-1695"}, "field 'phoneNumber' must be a phone number"),
    ({**START, "phoneNumber": 2001001695}, "field 'phoneNumber' must be a string"),
    ({**START, "dob": "1981/01/17"}, "field 'dob' must be a date as YYYY-MM-DD, YYYY-MM or MM-DD"),
    ({**START, "dob": "17-01-1981"}, "field 'dob' must be a date"),
    ({**START, "dob": "1981-1-17"}, "field 'dob' must be a date"),
    ({**START, "dob": "Jan 17"}, "field 'dob' must be a date"),
    ({**START, "ssn": "84735059"}, "field 'ssn' must be 9 digits (full SSN) or 4 digits (last four)"),
    ({**START, "ssn": "847-35-0596"}, "field 'ssn' must be 9 digits"),
    ({**START, "ssn": 847350596}, "field 'ssn' must be a string"),
    ({**START, "emailAddress": "mpinsonm at dyndns.org"}, "field 'emailAddress' must be an email address"),
    ({**START, "emailAddress": "m<p>@dyndns.org"}, "field 'emailAddress' must be an email address"),
    ({**START, "ipAddress": "localhost"}, "field 'ipAddress' must be an IPv4 or IPv6 address"),
    ({**START, "ipAddress": "10.0.0.1/24"}, "field 'ipAddress' must be an IPv4 or IPv6 address"),
    ({**START, "smsMessage": "x" * 161}, "field 'smsMessage' must be at most 160 characters"),
    ({**START, "smsMessage": 5}, "field 'smsMessage' must be a string"),
    ({**START, "allowOTPRetry": "true"}, "field 'allowOTPRetry' must be a boolean"),
    ([START], "the request body must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_STARTS)
def test_bad_start_bodies_get_8001_naming_the_field_and_rule(emu, body, message):
    assert message in refused(emu.post("/v3/start", body), 400, 8001)


@pytest.mark.parametrize("extra", [
    {"finalTargetUrl": "https://example.com/" + "a" * 108},  # exactly 128
    {"finalTargetUrl": "https://ex-ample.com/a_b.c+d=e/f:g?h"},  # every allowed symbol
    {"smsMessage": "Ihr Code: #### " + "é" * 145},  # 160 characters, non-ASCII allowed
    {"dob": "1981-01"},
    {"dob": "01-17"},
    {"ssn": "0596"},
    {"emailAddress": "m.pinson+test@dyndns.org"},
    {"ipAddress": "192.168.0.10"},
    {"ipAddress": "2001:db8::1"},
    {"allowOTPRetry": True},
    {"phoneNumber": "+12001001695"},
])
def test_valid_start_fields_are_accepted(emu, extra):
    ok(emu.post("/v3/start", {**START, **extra}))


def test_a_mobile_start_needs_no_final_target_url(emu):
    ok(emu.post("/v3/start", {"flowType": "mobile", "phoneNumber": MILO}))


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v3/validate", {}, "field 'correlationId' is required"),
    ("/v3/validate", {"correlationId": 42}, "field 'correlationId' must be a string"),
    ("/v3/challenge", {}, "field 'correlationId' is required"),
    ("/v3/complete", {"individual": MILO_INDIVIDUAL}, "field 'correlationId' is required"),
])
def test_every_step_requires_a_correlation_id(emu, path, body, message):
    assert message in refused(emu.post(path, body), 400, 8001)


@pytest.mark.parametrize(("fields", "message"), [
    ({"dob": "1981/01/17"}, "field 'dob' must be a date"),
    ({"ssn": "12345"}, "field 'ssn' must be 9 digits"),
    ({"ssn": 847350596}, "field 'ssn' must be a string"),
])
def test_bad_challenge_fields_get_8001(emu, fields, message):
    correlation_id = at_challenge(emu)
    assert message in refused(step(emu, "challenge", correlation_id, **fields), 400, 8001)
    assert ok(step(emu, "challenge", correlation_id, dob="1981-01-17"))["success"] is True  # flow untouched


NAMES_OR_SSN = "field 'individual': needs firstName and lastName, or ssn"
BAD_INDIVIDUALS = [
    (None, "field 'individual' is required"),
    ("Milo Pinson", "field 'individual' must be a JSON object"),
    ({}, NAMES_OR_SSN),
    ({"firstName": "Milo"}, NAMES_OR_SSN),
    ({"lastName": "Pinson", "dob": "1981-01-17"}, NAMES_OR_SSN),
    ({"firstName": "Milo", "lastName": "", "dob": "1981-01-17"}, NAMES_OR_SSN),
    ({**MILO_INDIVIDUAL, "firstName": 7}, "field 'individual.firstName' must be a string"),
    ({**MILO_INDIVIDUAL, "dob": "19810117"}, "field 'individual.dob' must be a date"),
    ({**MILO_INDIVIDUAL, "ssn": "84735"}, "field 'individual.ssn' must be 9 digits"),
    ({**MILO_INDIVIDUAL, "addresses": MILO_ADDRESS}, "field 'individual.addresses' must be an array"),
    ({**MILO_INDIVIDUAL, "addresses": ["6377 Birchwood Hill"]}, "field 'individual.addresses[0]' must be a JSON object"),
    ({**MILO_INDIVIDUAL, "addresses": [{**MILO_ADDRESS, "postalCode": "8016"}]},
     "field 'individual.addresses[0].postalCode' must be a 5-digit ZIP code or ZIP+4"),
    ({**MILO_INDIVIDUAL, "addresses": [MILO_ADDRESS, {**MILO_ADDRESS, "postalCode": "80161-20"}]},
     "field 'individual.addresses[1].postalCode' must be a 5-digit ZIP code"),
    ({**MILO_INDIVIDUAL, "addresses": [{**MILO_ADDRESS, "postalCode": 80161}]},
     "field 'individual.addresses[0].postalCode' must be a string"),
    ({**MILO_INDIVIDUAL, "addresses": [{**MILO_ADDRESS, "city": ["Littleton"]}]},
     "field 'individual.addresses[0].city' must be a string"),
    ({**MILO_INDIVIDUAL, "emailAddresses": "mpinsonm@dyndns.org"}, "field 'individual.emailAddresses' must be an array"),
    ({**MILO_INDIVIDUAL, "emailAddresses": ["not an email"]},
     "field 'individual.emailAddresses[0]' must be an email address"),
    ({**MILO_INDIVIDUAL, "emailAddresses": [1]}, "field 'individual.emailAddresses[0]' must be a string"),
]


@pytest.mark.parametrize(("individual", "message"), BAD_INDIVIDUALS)
def test_bad_complete_bodies_get_8001_and_leave_the_flow_at_complete(emu, individual, message):
    correlation_id = at_complete(emu)
    body = {} if individual is None else {"individual": individual}
    assert message in refused(step(emu, "complete", correlation_id, **body), 400, 8001)
    assert ok(step(emu, "complete", correlation_id, individual=MILO_INDIVIDUAL))["success"] is True


@pytest.mark.parametrize("postal_code", ["80161", "80161-2001"])
def test_five_digit_and_zip_plus_four_postal_codes_are_accepted(emu, postal_code):
    correlation_id = at_complete(emu)
    individual = {**MILO_INDIVIDUAL, "addresses": [{**MILO_ADDRESS, "postalCode": postal_code}]}
    assert ok(step(emu, "complete", correlation_id, individual=individual))["success"] is True


# -- the emulator's own outcome numbers -----------------------------------------------------------------

CASEY = {"firstName": "Casey", "lastName": "Client", "dob": "1990-04-12", "ssn": "123456789"}


@pytest.mark.parametrize("phone", ["2025550104", "2025550105"])
def test_a_failed_data_check_passes_the_challenge_and_fails_complete(emu, phone):
    started = start(emu, phone)
    if phone == "2025550104":  # possession by the client; 2025550105 settles it by itself
        pass_otp(emu, started["authToken"])
    correlation_id = started["correlationId"]
    assert ok(step(emu, "validate", correlation_id))["success"] is True
    challenged = ok(step(emu, "challenge", correlation_id, dob="1990-04-12"))
    assert challenged["success"] is True and challenged["individual"]["firstName"] == "Casey"
    assert ok(step(emu, "complete", correlation_id, individual=CASEY)) == {"success": False, "next": DONE}


def test_numbers_without_a_name_check_accept_any_name_at_complete(emu):
    started = start(emu, "2025550101")  # checkName false: "any first/last name works"
    correlation_id = started["correlationId"]
    ok(step(emu, "validate", correlation_id))
    ok(step(emu, "challenge", correlation_id, ssn="6789"))
    individual = {**CASEY, "firstName": "Jordan", "lastName": "Other"}
    assert ok(step(emu, "complete", correlation_id, individual=individual)) == {"success": True, "next": DONE}


def test_backend_only_failed_possession_fails_validate(emu):
    started = start(emu, "2025550102")
    assert ok(step(emu, "validate", started["correlationId"]))["success"] is False
