"""Identity Manager as server SDK 0.14.9 calls it (current-generation §5): one id under two names,
trailing-slash routes, identity attributes with discover/fetch, both batch item shapes and
cross-domain identities across linked domains."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.domains import issuer_id_of, pcid_of
from emulator.projects import DEFAULT_CLIENT_ID
from tests.prove_calls import ok, project_token, refused

MERLA = "2001004031"
JAIMIE = "2001004035"
UNKNOWN = "3035550000"
MISSING_ID = "00000000-0000-0000-0000-000000000000"
PARTNER = "partner-bank"
WALLET = {"attributeType": "myWalletId", "attributeValue": "token123"}


def bearer(emu, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or emu.token}"}


def enrol(emu, phone: str = MERLA, token: str | None = None, path: str = "/v3/identity", **fields: Any) -> str:
    reply = ok(emu.post(path, {"phoneNumber": phone, **fields}, token=token))
    assert set(reply) == {"identityId", "proveId", "success"} and reply["success"] is True
    assert reply["identityId"] == reply["proveId"]
    return reply["proveId"]


def partner(emu, name: str = "Partner Bank") -> str:
    """Another project (domain) with Identity Manager; its access token."""
    emu.put_project(PARTNER, clientSecret="partner-secret", product="identity-manager", name=name)
    return emu.access_token(PARTNER, "partner-secret")


def link_domains(emu, requester: str, receiver: str, receiver_id: str, requester_id: str) -> None:
    """requester asks to link to receiver, receiver confirms (tokens and client ids)."""
    ok(emu.post("/v3/domain/link", {"pcid": pcid_of(receiver_id)}, token=requester))
    ok(emu.post("/v3/domain/confirm-link", {"pcid": pcid_of(requester_id)}, token=receiver))


def cross_domain(emu, identity_id: str, token: str | None = None) -> dict[str, Any]:
    # The SDK sends Content-Type: application/json with an empty body.
    reply = emu.http.post(f"/v3/identity/{identity_id}/cross-domain", content=b"",
                          headers={**bearer(emu, token), "Content-Type": "application/json"})
    body = ok(reply)
    assert body["identites"] == body["identities"] and body["count"] == len(body["identities"])
    return body


def discover(emu, token: str | None = None, **query: str) -> httpx.Response:
    return emu.http.get("/v3/discover", params=query, headers=bearer(emu, token))


def fetch(emu, token: str | None = None, **query: str) -> httpx.Response:
    return emu.http.get("/v3/fetch", params=query, headers=bearer(emu, token))


def batch(emu, body: dict[str, Any], token: str | None = None) -> list[dict[str, Any]]:
    return ok(emu.post("/v3/identity/batch", body, token=token))["results"]


# -- one id, two names ----------------------------------------------------------------------------------


def test_every_reply_names_the_id_as_identity_id_and_prove_id(emu):
    prove_id = enrol(emu, MERLA)
    record = ok(emu.http.get(f"/v3/identity/{prove_id}", headers=bearer(emu)))
    assert record["proveId"] == record["identityId"] == prove_id and record["phoneNumber"] == MERLA
    assert ok(emu.http.get("/v3/identity", headers=bearer(emu)))["results"] == [
        {"identityId": prove_id, "proveId": prove_id}]
    (item,) = ok(emu.http.get(f"/v3/identity/{MERLA}/lookup", headers=bearer(emu)))["items"]
    assert item["proveId"] == item["identityId"] == prove_id
    (result,) = batch(emu, {"items": [{"phoneNumber": MERLA}]})
    assert result == {"identityId": prove_id, "proveId": prove_id, "phoneNumber": MERLA}


def test_the_prove_id_path_serves_get_deactivate_activate_and_delete(emu):
    prove_id = enrol(emu)
    assert ok(emu.http.post(f"/v3/identity/{prove_id}/deactivate", headers=bearer(emu))) == {"success": True}
    assert ok(emu.http.get(f"/v3/identity/{prove_id}", headers=bearer(emu)))["active"] is False
    assert ok(emu.post(f"/v3/identity/{prove_id}/activate", {"clientRequestId": "r-1"})) == {"success": True}
    assert ok(emu.http.delete(f"/v3/identity/{prove_id}", headers=bearer(emu))) == {"success": True}
    refused(emu.http.get(f"/v3/identity/{prove_id}", headers=bearer(emu)), 404, 8011)


def test_the_spec_names_the_path_parameter_prove_id(emu):
    paths = emu.http.get("/openapi.json").json()["paths"]
    assert "/v3/identity/{identityId}" not in paths
    (parameter,) = [p for p in paths["/v3/identity/{proveId}"]["get"]["parameters"] if p["in"] == "path"]
    assert parameter["name"] == "proveId" and "identityId" in parameter["description"]


# -- /v3/identity/ with a trailing slash (TS SDK 0.10.0-0.13.0) ----------------------------------------------


def test_enrol_and_list_are_served_with_a_trailing_slash_too(emu):
    first = enrol(emu, MERLA, path="/v3/identity/")
    assert enrol(emu, MERLA) == first  # the same endpoint: the number is enrolled once
    second = enrol(emu, JAIMIE, path="/v3/identity/", clientCustomerId="c-9")
    slash = ok(emu.http.get("/v3/identity/", params={"limit": 1}, headers=bearer(emu)))
    assert slash == {"results": [{"identityId": first, "proveId": first}], "lastKey": first}
    assert ok(emu.http.get("/v3/identity/", params={"startKey": first}, headers=bearer(emu)))["results"] == [
        {"identityId": second, "proveId": second}]
    assert "field 'phoneNumber' is required" in refused(emu.post("/v3/identity/", {}), 400, 8001)


def test_a_fault_on_v3_identity_also_hits_the_trailing_slash_path(emu):
    ok(emu.http.post("/__emulator/faults", json={"endpoint": "/v3/identity", "status": 503, "times": 2}))
    refused(emu.post("/v3/identity/", {"phoneNumber": MERLA}), 503, 8000)
    refused(emu.post("/v3/identity", {"phoneNumber": MERLA}), 503, 8000)
    enrol(emu, MERLA, path="/v3/identity/")


def test_faults_accept_the_old_identity_id_spelling(emu):
    prove_id = enrol(emu)
    added = ok(emu.http.post("/__emulator/faults", json={"endpoint": "/v3/identity/{identityId}", "status": 500}))
    assert added["endpoint"] == "/v3/identity/{proveId}"
    refused(emu.http.get(f"/v3/identity/{prove_id}", headers=bearer(emu)), 500, 8000)
    assert ok(emu.http.get(f"/v3/identity/{prove_id}", headers=bearer(emu)))["proveId"] == prove_id
    ok(emu.http.post("/__emulator/faults", json={"endpoint": "/v3/identity/{identityId}/deactivate", "status": 429}))
    refused(emu.http.post(f"/v3/identity/{prove_id}/deactivate", headers=bearer(emu)), 429, 8012)
    message = refused(emu.http.post("/__emulator/faults", json={"endpoint": "/v3/identity/{id}", "status": 500}),
                      400, 8001)
    assert "/v3/identity/{proveId}" in message and "also accepted: /v3/identity/{identityId}" in message


# -- enrol with attributes, discover, fetch ------------------------------------------------------------------


def test_enrolled_attributes_are_discovered_then_fetched(emu):
    prove_id = enrol(emu, MERLA, clientHumanId="human-1",
                     identityAttributes=[WALLET, {"attributeType": "loyalty", "attributeValue": "gold"}])
    results = ok(discover(emu, proveId=prove_id, clientRequestId="r-2"))["results"]
    assert len(results) == 2 and all(r["issuerId"] == issuer_id_of(DEFAULT_CLIENT_ID) for r in results)
    assert len({r["attributeId"] for r in results}) == 2
    values = []
    for result in results:
        fetched = ok(fetch(emu, proveId=prove_id, attributeId=result["attributeId"]))
        assert fetched["results"][0]["attributeId"] == result["attributeId"]
        assert fetched["results"][0]["issuerId"] == result["issuerId"]
        values.append(fetched["results"][0]["attributeValue"])
    assert values == ["token123", "gold"]


def test_enrolling_again_adds_only_new_attributes(emu):
    prove_id = enrol(emu, MERLA, identityAttributes=[WALLET])
    assert enrol(emu, MERLA, identityAttributes=[WALLET, {"attributeType": "x", "attributeValue": "y"}]) == prove_id
    assert len(ok(discover(emu, proveId=prove_id))["results"]) == 2


def test_an_attribute_type_is_kept_once_with_its_newest_value(emu):
    prove_id = enrol(emu, MERLA, identityAttributes=[WALLET])
    (first,) = ok(discover(emu, proveId=prove_id))["results"]
    for number in range(30):  # enrolling again and again cannot grow the identity
        enrol(emu, MERLA, identityAttributes=[{"attributeType": "myWalletId", "attributeValue": f"token-{number}"}])
    (again,) = ok(discover(emu, proveId=prove_id))["results"]
    assert again == {**first, "attributeValue": "token-29"}


def test_at_most_twenty_attribute_types_are_kept_the_oldest_go_first(emu):
    prove_id = enrol(emu, MERLA)
    for batch_start in (0, 20):
        enrol(emu, MERLA, identityAttributes=[{"attributeType": f"t{n}", "attributeValue": "v"}
                                              for n in range(batch_start, batch_start + 20)])
    kept = [ok(fetch(emu, proveId=prove_id, attributeId=r["attributeId"]))["results"][0]
            for r in ok(discover(emu, proveId=prove_id))["results"]]
    assert len(kept) == 20


def test_attribute_fields_are_optional_as_in_the_sdk(emu):
    prove_id = enrol(emu, MERLA, identityAttributes=[{"attributeType": "walletId"}, {}])
    (result,) = ok(discover(emu, proveId=prove_id))["results"]
    assert result["attributeValue"] == ""


def test_a_batch_with_both_items_and_identities_is_refused(emu):
    message = refused(emu.post("/v3/identity/batch", {"items": [{"phoneNumber": MERLA}],
                                                      "identities": [{"phoneNumber": JAIMIE}]}), 400, 8001)
    assert message == "field 'items' and its alias 'identities' are both given: send one list"


def test_an_identity_without_attributes_discovers_nothing(emu):
    assert ok(discover(emu, proveId=enrol(emu))) == {"results": []}


def test_discover_and_fetch_of_unknown_ids_are_8011(emu):
    prove_id = enrol(emu, identityAttributes=[WALLET])
    (attribute,) = ok(discover(emu, proveId=prove_id))["results"]
    assert MISSING_ID in refused(discover(emu, proveId=MISSING_ID), 404, 8011)
    assert MISSING_ID in refused(fetch(emu, proveId=MISSING_ID, attributeId=attribute["attributeId"]), 404, 8011)
    message = refused(fetch(emu, proveId=prove_id, attributeId=MISSING_ID), 404, 8011)
    assert f"attribute not found: {MISSING_ID!r}" in message
    # Another project's identity is not the caller's to read.
    other = project_token(emu, "im-b", "identity-manager")
    refused(discover(emu, other, proveId=prove_id), 404, 8011)
    refused(fetch(emu, other, proveId=prove_id, attributeId=attribute["attributeId"]), 404, 8011)


@pytest.mark.parametrize(("path", "query", "message"), [
    ("/v3/discover", {}, "query 'proveId' is required"),
    ("/v3/discover", {"identityId": "x"}, "query 'proveId' is required (the query has: identityId)"),
    ("/v3/discover", {"proveId": ""}, "query 'proveId' must not be empty"),
    ("/v3/fetch", {"attributeId": "a"}, "query 'proveId' is required (the query has: attributeId)"),
    ("/v3/fetch", {"proveId": MISSING_ID}, "query 'attributeId' is required (the query has: proveId)"),
])
def test_discover_and_fetch_name_a_missing_query_parameter(emu, path, query, message):
    assert message in refused(emu.http.get(path, params=query, headers=bearer(emu)), 400, 8001)


@pytest.mark.parametrize(("attributes", "message"), [
    ({"attributeType": "t", "attributeValue": "v" * 1025}, "field 'identityAttributes[0].attributeValue' must be at most"),
    ("t=v", "field 'identityAttributes' must be an array"),
    ({"attributeType": 1, "attributeValue": "v"}, "field 'identityAttributes[0].attributeType' must be a string"),
])
def test_bad_identity_attributes_get_8001(emu, attributes, message):
    body = {"phoneNumber": MERLA, "identityAttributes": [attributes] if isinstance(attributes, dict) else attributes}
    assert message in refused(emu.post("/v3/identity", body), 400, 8001)
    assert ok(emu.http.get("/v3/identity", headers=bearer(emu))) == {"results": []}


def test_discover_needs_identity_manager_or_verified_users(emu):
    token = project_token(emu, "unify-only", "unify")
    refused(discover(emu, token, proveId=MISSING_ID), 401, 8002)
    refused(fetch(emu, token), 401, 8002)
    refused(emu.post(f"/v3/identity/{MISSING_ID}/cross-domain", {}, token=token), 401, 8002)


# -- cross-domain -----------------------------------------------------------------------------------------------


def test_cross_domain_finds_the_same_number_only_in_linked_domains(emu):
    ours = enrol(emu, MERLA)
    theirs_token = partner(emu)
    theirs = enrol(emu, "+1" + MERLA, token=theirs_token)  # the same person, written with +1
    enrol(emu, JAIMIE, token=theirs_token)  # someone else
    assert cross_domain(emu, ours) == {"count": 0, "identities": [], "identites": []}
    ok(emu.post("/v3/domain/link", {"pcid": pcid_of(PARTNER)}))
    assert cross_domain(emu, ours)["count"] == 0  # a pending request shares nothing
    ok(emu.post("/v3/domain/confirm-link", {"pcid": pcid_of(DEFAULT_CLIENT_ID)}, token=theirs_token))
    expected = [{"clientName": "Partner Bank", "identityId": theirs, "pcid": pcid_of(PARTNER)}]
    assert cross_domain(emu, ours) == {"count": 1, "identities": expected, "identites": expected}
    # The link works both ways: the partner sees ours, named by our project's name.
    (mine,) = cross_domain(emu, theirs, theirs_token)["identities"]
    assert mine["identityId"] == ours and mine["pcid"] == pcid_of(DEFAULT_CLIENT_ID)
    assert mine["clientName"] == "Default sandbox project (every product)"
    ok(emu.post("/v3/domain/unlink", {"pcidTo": pcid_of(PARTNER)}))
    assert cross_domain(emu, ours)["count"] == 0
    assert cross_domain(emu, theirs, theirs_token)["count"] == 0


def test_cross_domain_names_a_domain_without_a_name_by_its_client_id(emu):
    ours = enrol(emu, MERLA)
    theirs_token = partner(emu, name="")
    enrol(emu, MERLA, token=theirs_token)
    link_domains(emu, theirs_token, emu.token, DEFAULT_CLIENT_ID, PARTNER)
    assert cross_domain(emu, ours)["identities"][0]["clientName"] == PARTNER


def test_cross_domain_takes_an_optional_client_request_id(emu):
    ours = enrol(emu)
    assert ok(emu.post(f"/v3/identity/{ours}/cross-domain", {"clientRequestId": "r-3"}))["count"] == 0
    assert ok(emu.http.post(f"/v3/identity/{ours}/cross-domain", headers=bearer(emu)))["count"] == 0
    message = refused(emu.post(f"/v3/identity/{ours}/cross-domain", {"clientRequestId": 3}), 400, 8001)
    assert "field 'clientRequestId' must be a string" in message


def test_cross_domain_of_an_unknown_identity_is_8011(emu):
    assert MISSING_ID in refused(emu.post(f"/v3/identity/{MISSING_ID}/cross-domain", {}), 404, 8011)


def test_discover_and_fetch_reach_the_same_person_in_linked_domains(emu):
    ours = enrol(emu, MERLA, identityAttributes=[WALLET])
    theirs_token = partner(emu)
    enrol(emu, MERLA, token=theirs_token, identityAttributes=[{"attributeType": "account", "attributeValue": "ext-992"}])
    assert [r["issuerId"] for r in ok(discover(emu, proveId=ours))["results"]] == [issuer_id_of(DEFAULT_CLIENT_ID)]
    link_domains(emu, emu.token, theirs_token, PARTNER, DEFAULT_CLIENT_ID)
    results = ok(discover(emu, proveId=ours))["results"]
    assert [r["issuerId"] for r in results] == [issuer_id_of(DEFAULT_CLIENT_ID), issuer_id_of(PARTNER)]
    fetched = ok(fetch(emu, proveId=ours, attributeId=results[1]["attributeId"]))
    assert fetched == {"results": [{**results[1], "attributeValue": "ext-992"}]}
    ok(emu.post("/v3/domain/unlink", {"pcidTo": pcid_of(PARTNER)}))
    refused(fetch(emu, proveId=ours, attributeId=results[1]["attributeId"]), 404, 8011)


# -- batch: both item shapes ------------------------------------------------------------------------------------


def test_batch_results_carry_ids_or_an_error_string(emu):
    good, unknown = batch(emu, {"identities": [{"phoneNumber": MERLA, "clientCustomerId": "c-1"},
                                               {"phoneNumber": UNKNOWN}]})
    assert good["identityId"] == good["proveId"] and good["phoneNumber"] == MERLA
    assert ok(emu.http.get(f"/v3/identity/{good['proveId']}", headers=bearer(emu)))["clientCustomerId"] == "c-1"
    assert set(unknown) == {"phoneNumber", "error"} and unknown["phoneNumber"] == UNKNOWN
    assert isinstance(unknown["error"], str) and UNKNOWN in unknown["error"] and "not a test user" in unknown["error"]


def test_batch_items_of_the_cross_domain_shape_enrol_a_linked_domains_identity(emu):
    theirs_token = partner(emu)
    theirs = enrol(emu, MERLA, token=theirs_token)
    stranger_token = project_token(emu, "stranger", "identity-manager")
    strangers = enrol(emu, JAIMIE, token=stranger_token)
    own = enrol(emu, JAIMIE)
    link_domains(emu, emu.token, theirs_token, PARTNER, DEFAULT_CLIENT_ID)
    items = [
        {"clientName": "Partner Bank", "identityId": theirs, "pcid": pcid_of(PARTNER)},
        {"clientName": "Stranger", "identityId": strangers, "pcid": pcid_of("stranger")},
        {"clientName": "Partner Bank", "identityId": MISSING_ID, "pcid": pcid_of(PARTNER)},
        {"clientName": "Nobody", "identityId": theirs, "pcid": "1"},
        {"clientName": "Us", "identityId": own, "pcid": pcid_of(DEFAULT_CLIENT_ID)},
        {"phoneNumber": UNKNOWN},
    ]
    linked, unlinked, missing, nowhere, ours, unknown = batch(emu, {"items": items})
    assert linked["phoneNumber"] == MERLA and linked["proveId"] == linked["identityId"] != theirs
    record = ok(emu.http.get(f"/v3/identity/{linked['proveId']}", headers=bearer(emu)))
    assert record["phoneNumber"] == MERLA
    assert set(unlinked) == {"error"} and f"domain {pcid_of('stranger')} is not linked" in unlinked["error"]
    assert set(missing) == {"error"} and MISSING_ID in missing["error"]
    assert nowhere == {"error": "no domain has pcid '1'"}
    assert ours == {"identityId": own, "proveId": own, "phoneNumber": JAIMIE}
    assert unknown["phoneNumber"] == UNKNOWN and "error" in unknown
    # Nothing was enrolled for the refused items; the partner's identities are untouched.
    ids = {r["proveId"] for r in ok(emu.http.get("/v3/identity", headers=bearer(emu)))["results"]}
    assert ids == {own, linked["proveId"]}
    assert ok(emu.http.get("/v3/identity", headers=bearer(emu, theirs_token)))["results"] == [
        {"identityId": theirs, "proveId": theirs}]


@pytest.mark.parametrize(("item", "message"), [
    ({"clientName": "A", "identityId": MISSING_ID}, "field 'items[0].pcid' is required with identityId"),
    ({"pcid": "1"}, "field 'items[0].identityId' is required with pcid"),
    ({"phoneNumber": MERLA, "identityId": MISSING_ID, "pcid": "1"}, "field 'items[0]' mixes the two item shapes"),
    ({"clientName": "A"}, "field 'items[0].phoneNumber' is required (or identityId and pcid"),
    ({"identityId": 5, "pcid": "1"}, "field 'items[0].identityId' must be a string"),
])
def test_malformed_batch_items_refuse_the_whole_batch(emu, item, message):
    body = {"items": [item, {"phoneNumber": MERLA}]}
    assert message in refused(emu.post("/v3/identity/batch", body), 400, 8001)
    assert ok(emu.http.get("/v3/identity", headers=bearer(emu))) == {"results": []}


def test_a_full_batch_fits_its_body_limit_and_a_huge_one_does_not(emu):
    items = [{"phoneNumber": f"555300{index:04d}", "clientCustomerId": "c" * 100, "deviceId": "d" * 100}
             for index in range(100)]
    results = batch(emu, {"items": items})  # about 25 KB: over Prove's 4 KB of other endpoints
    assert len(results) == 100 and all(r["proveId"] for r in results)
    huge = {"items": items[:1], "pad": "x" * (64 * 1024)}
    assert "the request body is" in refused(emu.post("/v3/identity/batch", huge), 400, 8001)
    assert "the request body is" in refused(emu.post("/v3/identity", {"phoneNumber": MERLA, "pad": "x" * 5000}),
                                            400, 8001)


@pytest.mark.parametrize("limit", ["\u00b2", "\u0661", "\uff11", "1" * 4301])
def test_list_limits_are_ascii_whole_numbers(emu, limit):
    message = refused(emu.http.get("/v3/identity", params={"limit": limit}, headers=bearer(emu)), 400, 8001)
    assert message.startswith("query 'limit' must be a whole number")
