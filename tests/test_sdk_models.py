"""Every generation of Prove's server SDK parses the replies: each reply is checked against what each
TypeScript SDK version requires of it (tests/sdk_models.py), not only against our own /openapi.json.

The newest SDKs are not on npm, so their models are facts written down, and these tests hold the
emulator to them over HTTP.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests import sdk_models
from tests.prove_calls import auth_claims, ok, pass_otp, project_token

CASEY = {"firstName": "Casey", "lastName": "Client"}


def parses(models: dict[str, dict[str, Any]], body: Any) -> None:
    for version, schema in models.items():
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(body))
        assert not errors, f"SDK {version} would not parse {body}: {errors[0].message} at {list(errors[0].path)}"


@pytest.mark.parametrize("body", [
    {"phoneNumber": "2001004053", "verificationType": "verifiedUser", "firstName": "Elena", "lastName": "Coldman"},
    {"phoneNumber": "2001004053", "verificationType": "verifiedUser", "firstName": "Elena", "lastName": "Other"},
    {"phoneNumber": "2001004051", "verificationType": "humanAssurance"},
    {"phoneNumber": "2001001695", "verificationType": "prefill", "clientCustomerId": "c-1"},
    {"phoneNumber": "2005550123", "verificationType": "prefillForBiz"},
    {"phoneNumber": "2025550120", "verificationType": "identityResolution", **CASEY},
    {"phoneNumber": "2025550124", "verificationType": "verifiedUser", **CASEY},
    {"phoneNumber": "2025550122", "verificationType": "accountOpening", "clientRequestId": "r", **CASEY},
])
def test_every_sdk_parses_current_verify_replies(emu, body):
    parses(sdk_models.VERIFY, ok(emu.post("/v3/verify", body)))


def test_every_sdk_parses_batch_results_good_and_refused(emu):
    items = [{"phoneNumber": "2025550101", **CASEY}, {"phoneNumber": "2025550122", **CASEY},
             {"phoneNumber": "12", **CASEY}, 7, {"phoneNumber": "3035550199", **CASEY, "clientCustomerId": "c"}]
    reply = ok(emu.post("/v3/verify/batch", {"items": items}))
    assert len(reply["results"]) == len(items)
    parses(sdk_models.VERIFY_BATCH, reply)


def test_every_sdk_parses_identity_manager_replies(emu):
    enrolled = ok(emu.post("/v3/identity", {"phoneNumber": "2001004031", "identityAttributes": [
        {"attributeType": "walletId", "attributeValue": "w-1"}]}))
    parses(sdk_models.ENROL, enrolled)
    prove_id = enrolled["proveId"]
    headers = {"Authorization": f"Bearer {emu.token}"}
    parses(sdk_models.IDENTITY_RECORD, ok(emu.http.get(f"/v3/identity/{prove_id}", headers=headers)))
    parses(sdk_models.BATCH_ENROL, ok(emu.post("/v3/identity/batch", {"items": [
        {"phoneNumber": "2001004035"}, {"phoneNumber": "3035550199"}]})))
    discovered = ok(emu.http.get("/v3/discover", params={"proveId": prove_id}, headers=headers))
    assert len(discovered["results"]) == 1
    parses(sdk_models.DISCOVER, discovered)
    fetched = ok(emu.http.get("/v3/fetch", params={"proveId": prove_id,
                                                   "attributeId": discovered["results"][0]["attributeId"]},
                              headers=headers))
    parses(sdk_models.FETCH, fetched)
    parses(sdk_models.CROSS_DOMAIN, ok(emu.post(f"/v3/identity/{prove_id}/cross-domain", {})))


def test_every_sdk_parses_domain_replies(emu):
    other = project_token(emu, "other-domain", "identity-manager")
    headers = {"Authorization": f"Bearer {emu.token}"}
    mine = ok(emu.http.get("/v3/domain/id", headers=headers))
    parses(sdk_models.DOMAIN_ID, mine)
    theirs = ok(emu.http.get("/v3/domain/id", headers={"Authorization": f"Bearer {other}"}))
    parses(sdk_models.SUCCESS, ok(emu.post("/v3/domain/link", {"pcid": theirs["pcid"]})))
    parses(sdk_models.SUCCESS, ok(emu.post("/v3/domain/confirm-link", {"pcid": mine["pcid"]}, token=other)))
    parses(sdk_models.SUCCESS, ok(emu.post("/v3/domain/unlink", {"pcidTo": theirs["pcid"]})))


def test_every_sdk_parses_unify_and_revoke_replies(emu):
    started = ok(emu.post("/v3/unify", {"possessionType": "mobile", "phoneNumber": "2001004014",
                                        "clientRequestId": "r-1", "clientHumanId": "h-1", "checkReputation": True}))
    pass_otp(emu, started["authToken"])
    status = ok(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}))
    parses(sdk_models.UNIFY_STATUS, status)
    parses(sdk_models.SUCCESS, ok(emu.post("/v3/device/revoke", {"clientRequestId": "r", "deviceId": status["deviceId"]})))


def test_every_sdk_parses_prove_auth_replies(emu):
    body = {"requestId": "r-1", "subjects": {"mobile": {"claim": {"mobileNumber": "2001004014"},
                                                        "authenticators": {"otp": {"messageText": "#### code"}}}}}
    started = ok(emu.post("/v1/server/auth/start", body))
    parses(sdk_models.AUTH_START, started)
    parses(sdk_models.AUTH_FINISH, ok(emu.post("/v1/server/auth/finish", {"authId": started["authId"]})))  # pending
    assert auth_claims(started["authToken"])["next"] == "mobile/otp"
    pass_otp(emu, started["authToken"])
    parses(sdk_models.AUTH_CONTINUE, ok(emu.post("/v1/server/auth/continue", {
        "authId": started["authId"], "requestId": "r-1", "subjects": {"mobile": {"claim": {"mobileNumber": "2001004014"}}}})))
    finished = ok(emu.post("/v1/server/auth/finish", {"authId": started["authId"]}))
    assert finished["subjects"]["device"]["success"]["claim"]["deviceId"]
    parses(sdk_models.AUTH_FINISH, finished)
