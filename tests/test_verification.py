"""The current generation's /v3/verify (verificationType) and /v3/verify/batch over HTTP.

Every reply is checked against /openapi.json by the `emu` fixture, so these tests also hold the
emulator to the shapes it publishes (current-generation.md §3, §4).
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from emulator.flows.verification import MAX_BATCH
from tests.prove_calls import ok, project_token, refused

ELENA = {"phoneNumber": "2001004053", "firstName": "Elena", "lastName": "Coldman"}
BETTINA = {"phoneNumber": "2001004049", "firstName": "Bettina", "lastName": "Halbert"}
EWEN = "2001004051"
HILARY = "2001004052"
JORDAN = "2005550123"
MILO = "2001001695"  # Pre-Fill's short-term user
KURT = {"phoneNumber": "2001004012", "firstName": "Kurt", "lastName": "Mathen"}  # meant to fail
CASEY = {"firstName": "Casey", "lastName": "Client"}


def verify(emu, kind: str, token: str | None = None, **fields: Any) -> httpx.Response:
    return emu.post("/v3/verify", {"verificationType": kind, **fields}, token=token)


def identity_record(emu, prove_id: str) -> dict[str, Any]:
    return ok(emu.http.get(f"/v3/identity/{prove_id}", headers={"Authorization": f"Bearer {emu.token}"}))


# -- each verification type with its test users --------------------------------------------------------


def test_verified_user_elena_succeeds_with_prove_example_shape_and_is_enrolled(emu):
    reply = ok(verify(emu, "verifiedUser", **ELENA, clientRequestId="request-1", clientCustomerId="customer-9",
                      clientHumanId="human-3", emailAddress="ecoldman1h@storify.com"))
    assert reply["success"] == "true" and reply["phoneNumber"] == "2001004053"
    assert reply["identity"] == {"firstName": "Elena", "lastName": "Coldman", "clientCustomerId": "customer-9",
                                 "assuranceLevel": "AL2", "reasons": ["[AL2a]"]}
    assert (reply["clientRequestId"], reply["clientCustomerId"], reply["clientHumanId"]) == (
        "request-1", "customer-9", "human-3")
    assert reply["isEnrolled"] is True
    assert reply["evaluation"] == {"authentication": {"result": "pass"}, "risk": {"result": "pass"}}
    record = identity_record(emu, reply["proveId"])  # the proveId is the enrolled identity's id
    assert record["phoneNumber"] == "2001004053" and record["clientCustomerId"] == "customer-9"
    flow = emu.flow(reply["correlationId"])
    assert flow["state"] == "succeeded" and flow["verificationType"] == "verifiedUser"
    assert [event["event"] for event in flow["timeline"]] == ["verify", "verification", "identity-enrolled"]


def test_verified_user_with_another_name_fails_on_identification(emu):
    reply = ok(verify(emu, "verifiedUser", **{**ELENA, "lastName": "Someone"}))
    assert reply["success"] == "false" and reply["isEnrolled"] is False and "proveId" not in reply
    # No identity data on a failure: the names are the request's, as SDK 0.13.2 requires them.
    assert reply["identity"] == {"firstName": "Elena", "lastName": "Someone", "clientCustomerId": "",
                                 "assuranceLevel": "AL-1", "reasons": ["[AL-1a] (Poor quality identity)"]}
    assert reply["evaluation"]["identification"] == {"result": "fail", "failureReasons": {"9014": "name mismatch"}}
    assert emu.flow(reply["correlationId"])["state"] == "failed"


def test_a_user_whose_data_check_fails_fails_verified_user_and_identity_resolution(emu):
    for kind in ("verifiedUser", "identityResolution"):
        reply = ok(verify(emu, kind, **KURT))
        assert reply["success"] == "false", kind
        assert reply["evaluation"]["identification"]["failureReasons"] == {"9003": "identity not found"}


def test_account_opening_bettina_succeeds_and_requires_client_request_id(emu):
    message = refused(verify(emu, "accountOpening", **BETTINA), 400, 8001)
    assert message == "field 'clientRequestId' is required when verificationType is accountOpening"
    reply = ok(verify(emu, "accountOpening", **BETTINA, clientRequestId="r-1"))
    assert reply["success"] == "true" and reply["identity"]["assuranceLevel"] == "AL2"
    assert reply["identity"]["firstName"] == "Bettina" and reply["evaluation"]["identification"] == {"result": "pass"}


def test_names_are_required_for_verified_user_and_account_opening_only(emu):
    message = refused(verify(emu, "verifiedUser", phoneNumber="2001004053"), 400, 8001)
    assert message == "field 'firstName' is required when verificationType is verifiedUser or accountOpening"
    assert ok(verify(emu, "humanAssurance", phoneNumber=EWEN))["success"] == "true"


def test_human_assurance_ewen_succeeds_and_hilary_fails_on_authentication(emu):
    ewen = ok(verify(emu, "humanAssurance", phoneNumber=EWEN))
    assert ewen["success"] == "true" and ewen["identity"] == {
        "firstName": "", "lastName": "", "clientCustomerId": "", "assuranceLevel": "AL2", "reasons": ["[AL2a]"]}
    hilary = ok(verify(emu, "humanAssurance", phoneNumber=HILARY))
    assert hilary["success"] == "false" and hilary["identity"]["assuranceLevel"] == "AL-1"
    authentication = hilary["evaluation"]["authentication"]
    assert authentication["result"] == "fail" and "9171" in authentication["failureReasons"]


def test_bot_is_the_older_sdks_name_for_human_assurance(emu):
    reply = ok(verify(emu, "bot", phoneNumber=EWEN))
    assert reply["success"] == "true"
    assert emu.flow(reply["correlationId"])["verificationType"] == "humanAssurance"


def test_test_users_are_tied_to_their_verification_type(emu):
    message = refused(verify(emu, "humanAssurance", phoneNumber=ELENA["phoneNumber"]), 403, 8009)
    assert "2001004053" in message and "humanAssurance" in message
    refused(verify(emu, "verifiedUser", phoneNumber=EWEN, **CASEY), 403, 8009)


def test_prefill_returns_the_identity_data_with_zip_codes(emu):
    reply = ok(verify(emu, "prefill", phoneNumber=MILO))
    identity = reply["identity"]
    assert identity["firstName"] == "Milo" and identity["dateOfBirth"] == "1981-01-17"
    assert identity["nationalId"] == "847-35-0596" and identity["emails"] == ["mpinsonm@dyndns.org"]
    assert identity["addresses"] == [{"address": "6377 Birchwood Hill", "city": "Littleton", "region": "CO",
                                      "zipCode": "80161-2001"}]
    assert reply["evaluation"]["identification"] == {"result": "pass"}


def test_prefill_for_business_jordan_lee_returns_the_business(emu):
    reply = ok(verify(emu, "prefillForBiz", phoneNumber=JORDAN, clientRequestId="request-123"))
    assert reply["success"] == "true" and reply["identity"]["firstName"] == "Jordan"
    assert reply["identity"]["dateOfBirth"] == "1985-07-19" and reply["identity"]["nationalId"] == "111-22-6789"
    (business,) = reply["businesses"]
    assert business["businessName"] == "Lee Logistics LLC" and business["businessAddress"]["zipCode"] == "80202"
    assert "businesses" not in ok(verify(emu, "prefill", phoneNumber="2025550125"))  # prefillForBiz only


def test_prefill_needs_a_pre_fill_project(emu):
    token = project_token(emu, "vu-only", "verified-users")
    refused(verify(emu, "prefill", token=token, phoneNumber=MILO), 401, 8002)
    assert ok(verify(emu, "verifiedUser", token=token, **ELENA))["success"] == "true"


def test_unknown_numbers_are_8007_and_unknown_types_8001(emu):
    refused(verify(emu, "verifiedUser", phoneNumber="3035550199", **CASEY), 400, 8007)
    message = refused(verify(emu, "faceScan", phoneNumber=EWEN), 400, 8001)
    assert message.startswith("field 'verificationType' must be one of (in any case): verifiedUser, accountOpening")


def test_verification_types_match_in_any_case_as_sdk_0_13_2_documents_them(emu):
    reply = ok(verify(emu, "VerifiedUser", **ELENA))
    assert reply["success"] == "true"
    assert emu.flow(reply["correlationId"])["verificationType"] == "verifiedUser"
    assert ok(verify(emu, "HUMANASSURANCE", phoneNumber=EWEN))["success"] == "true"


# -- the ready-made outcome numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["verifiedUser", "humanAssurance", "prefill", "identityResolution"])
def test_al3_number_returns_every_field_for_every_type(emu, kind):
    reply = ok(verify(emu, kind, phoneNumber="2025550120", **CASEY))
    identity = reply["identity"]
    assert identity["assuranceLevel"] == "AL3" and identity["reasons"] == ["AL3a"]
    assert {"firstName", "dateOfBirth", "nationalId", "emails", "addresses", "minAge", "maxAge"} <= set(identity)
    assert identity["minAge"] == identity["maxAge"] >= 18  # the age from the persona's dob, on the emulator clock


def test_outcome_numbers(emu):
    reasons = ok(verify(emu, "verifiedUser", phoneNumber="2025550121", **CASEY))
    assert reasons["success"] == "true" and reasons["identity"]["assuranceLevel"] == "AL1"
    assert len(reasons["identity"]["reasons"]) == 2
    false = ok(verify(emu, "verifiedUser", phoneNumber="2025550122", **CASEY))
    assert false["success"] == "false" and false["isEnrolled"] is False
    not_enrolled = ok(verify(emu, "verifiedUser", phoneNumber="2025550123", **CASEY))
    assert not_enrolled["success"] == "true" and not_enrolled["isEnrolled"] is False and "proveId" not in not_enrolled
    others = ok(verify(emu, "verifiedUser", phoneNumber="2025550124", **CASEY))
    assert others["additionalIdentities"] == [{"firstName": "Robin", "lastName": "Client", "assuranceLevel": "AL1",
                                               "reasons": ["[AL1a]"]}]
    swap = ok(verify(emu, "verifiedUser", phoneNumber="2025550126", **CASEY))
    assert swap["success"] == "false" and swap["evaluation"]["authentication"]["failureReasons"] == {
        "9135": "SIM swap in the last 24 hours"}
    human = ok(verify(emu, "humanAssurance", phoneNumber="2025550127"))
    assert (human["identity"]["minAge"], human["identity"]["maxAge"]) == (25, 34)
    refused(verify(emu, "verifiedUser", phoneNumber="2025550127", **CASEY), 403, 8009)


# -- shared with the possession-based generation -------------------------------------------------------


def test_both_generations_share_one_identity_per_number(emu):
    current = ok(verify(emu, "verifiedUser", phoneNumber="2025550101", **CASEY))
    old = emu.verify("2025550101", possession="none")
    assert old["success"] == "true"
    assert emu.status(old["correlationId"])["identityId"] == current["proveId"]


def test_verify_status_does_not_know_current_generation_flows(emu):
    reply = ok(verify(emu, "verifiedUser", **ELENA))
    refused(emu.post("/v3/verify-status", {"correlationId": reply["correlationId"]}), 400, 8008)


@pytest.mark.parametrize("body, names", [
    ({"phoneNumber": "2001004053", "firstName": "Elena", "lastName": "Coldman"}, "is required"),
    ({**ELENA, "verificationType": "verifiedUser", "possessionType": "none"}, "are both given"),
])
def test_verify_needs_exactly_one_generation_field(emu, body, names):
    message = refused(emu.post("/v3/verify", body), 400, 8001)
    assert "field 'verificationType'" in message and "field 'possessionType'" in message and names in message


def test_prove_id_in_the_request_must_be_the_numbers_identity(emu):
    prove_id = ok(verify(emu, "verifiedUser", **ELENA))["proveId"]
    again = ok(verify(emu, "verifiedUser", **ELENA, proveId=prove_id))
    assert again["proveId"] == prove_id
    other = ok(verify(emu, "humanAssurance", phoneNumber=EWEN))["proveId"]
    flows = ok(emu.http.get("/__emulator/flows"))
    assert "another phone number" in refused(verify(emu, "verifiedUser", **ELENA, proveId=other), 400, 8001)
    assert "field 'proveId'" in refused(verify(emu, "verifiedUser", **ELENA, proveId="nope"), 400, 8001)
    assert ok(emu.http.get("/__emulator/flows")) == flows  # a refused verify leaves no flow behind


def test_identity_attributes_are_kept_with_the_enrolled_identity(emu, prove_emulator_server):
    reply = ok(verify(emu, "verifiedUser", **ELENA,
                      identityAttributes=[{"attributeType": "walletId", "attributeValue": "wallet123"}]))
    identity = prove_emulator_server.emulator.identities.get(emu.client_id, reply["proveId"])
    assert [(a.attribute_type, a.attribute_value) for a in identity.attributes] == [("walletId", "wallet123")]
    message = refused(verify(emu, "verifiedUser", **ELENA, identityAttributes=[{"attributeType": 7}]), 400, 8001)
    assert message == "field 'identityAttributes[0].attributeType' must be a string"


def test_the_phone_alias_is_stable_per_project_and_number(emu):
    first = ok(verify(emu, "humanAssurance", phoneNumber=EWEN))["provePhoneAlias"]
    assert ok(verify(emu, "humanAssurance", phoneNumber="+1" + EWEN))["provePhoneAlias"] == first
    token = project_token(emu, "alias-project", "verified-users")
    assert ok(verify(emu, "humanAssurance", token=token, phoneNumber=EWEN))["provePhoneAlias"] != first


# -- /v3/verify/batch ------------------------------------------------------------------------------------


def test_batch_answers_each_item_and_one_bad_item_does_not_fail_the_batch(emu):
    items = [
        {**ELENA, "verificationType": "verifiedUser", "clientCustomerId": "c-1"},
        {"phoneNumber": "2025550122", **CASEY},  # no verificationType: verifiedUser
        {"phoneNumber": "12", **CASEY},
        "not an object",
        {"phoneNumber": "3035550199", **CASEY},
        {"phoneNumber": EWEN, "firstName": "Ewen", "lastName": "Brimilcome", "verificationType": "humanAssurance"},
    ]
    reply = ok(emu.post("/v3/verify/batch", {"clientRequestId": "batch-1", "items": items}))
    assert reply["clientRequestId"] == "batch-1"
    results = reply["results"]
    assert [r["success"] for r in results] == ["true", "false", "false", "false", "false", "true"]
    assert results[0]["clientCustomerId"] == "c-1" and results[0]["assuranceLevel"] == "AL2"
    assert results[0]["proveId"] == identity_record(emu, results[0]["proveId"])["proveId"]
    assert "error" not in results[1] and results[1]["assuranceLevel"] == "AL-1"
    assert results[2]["error"].startswith("field 'items[2].phoneNumber' must be a phone number")
    assert results[3]["error"] == "field 'items[3]' must be a JSON object" and results[3]["phoneNumber"] == ""
    assert results[4]["error"].startswith("sandbox user not found")
    assert all(set(r) >= {"success", "phoneNumber", "assuranceLevel", "clientCustomerId"} for r in results)
    flow = emu.flow(reply["correlationId"])
    assert flow["verificationType"] == "batch" and len(flow["results"]) == 6


def test_batch_limits(emu):
    message = refused(emu.post("/v3/verify/batch", {"items": [{"phoneNumber": "2025550101", **CASEY}] * (MAX_BATCH + 1)}),
                      400, 8001)
    assert message == f"field 'items' must have at most {MAX_BATCH} items"
    assert refused(emu.post("/v3/verify/batch", {"clientRequestId": "x"}), 400, 8001) == "field 'items' is required"
    full = ok(emu.post("/v3/verify/batch", {"items": [{"phoneNumber": "2025550101", **CASEY}] * MAX_BATCH}))
    assert len(full["results"]) == MAX_BATCH and {r["success"] for r in full["results"]} == {"true"}


# -- /openapi.json ---------------------------------------------------------------------------------------


def test_openapi_documents_both_generations_of_verify_as_one_of(emu):
    operation = emu.http.get("/openapi.json").json()["paths"]["/v3/verify"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["x-discriminating-fields"] == ["verificationType", "possessionType"]
    assert [shape["title"] for shape in schema["oneOf"]] == ["current generation", "possession-based generation"]
    validator = jsonschema.Draft202012Validator(schema)
    current = {**ELENA, "verificationType": "verifiedUser"}
    possession = {**ELENA, "possessionType": "none"}
    assert validator.is_valid(current) and validator.is_valid(possession)
    assert not validator.is_valid({**current, "possessionType": "none"})
    assert not validator.is_valid(ELENA)
    replies = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert [reply["title"] for reply in replies] == ["current generation", "possession-based generation"]
