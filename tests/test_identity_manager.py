"""Identity Manager over HTTP: enrol, batch, list, get, delete, (de)activate, lookup (reference §4.12, §7.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.prove_calls import ok, project_token, refused

MERLA = "2001004031"
JAIMIE = "2001004035"
STANLY = "2001004036"
BATCH_EXAMPLE = "2001004032"
SHEILAKATHRYN = "2001004011"  # Verified Users short-term user
UNKNOWN = "3035550000"
MISSING_ID = "00000000-0000-0000-0000-000000000000"


def bearer(emu, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or emu.token}"}


def enrol(emu, phone: str = MERLA, token: str | None = None, **fields: Any) -> str:
    reply = ok(emu.post("/v3/identity", {"phoneNumber": phone, **fields}, token=token))
    assert set(reply) == {"identityId", "proveId", "success"} and reply["success"] is True
    assert reply["proveId"] == reply["identityId"]
    return reply["identityId"]


def get(emu, identity_id: str, token: str | None = None) -> httpx.Response:
    return emu.http.get(f"/v3/identity/{identity_id}", headers=bearer(emu, token))


def listing(emu, token: str | None = None, **query: Any) -> dict[str, Any]:
    return ok(emu.http.get("/v3/identity", params=query, headers=bearer(emu, token)))


def listed_ids(emu, **query: Any) -> list[str]:
    return [item["identityId"] for item in listing(emu, **query)["results"]]


def set_active(emu, identity_id: str, active: bool, token: str | None = None, **body: Any) -> httpx.Response:
    action = "activate" if active else "deactivate"
    return emu.post(f"/v3/identity/{identity_id}/{action}", body, token=token)


def lookup(emu, phone: str, token: str | None = None) -> httpx.Response:
    return emu.http.get(f"/v3/identity/{phone}/lookup", headers=bearer(emu, token))


def enrol_many(emu, count: int) -> list[str]:
    """`count` distinct identities, in enrolment order (555 numbers are test users of every product)."""
    return [enrol(emu, f"555000{index:04d}") for index in range(1, count + 1)]


# -- enrol and get ------------------------------------------------------------------------------------------


def test_enrol_then_get_returns_the_record(emu):
    now = emu.freeze()["now"]
    identity_id = enrol(emu, MERLA, clientCustomerId="customer-7", deviceId="device-9")
    record = ok(get(emu, identity_id))
    assert record["identityId"] == identity_id
    assert record["phoneNumber"] == MERLA
    assert record["active"] is True
    assert record["clientCustomerId"] == "customer-7" and record["deviceId"] == "device-9"
    assert record["countryCode"] == "US" and record["lineType"] == "mobile" and record["carrier"]
    # Enrolled on the emulator clock: createdAt (epoch seconds) and creationString are the same instant.
    assert record["creationString"][:19] == now[:19]
    frozen_at = datetime.fromisoformat(now)  # Python 3.11 reads the trailing Z
    assert record["createdAt"] == int(frozen_at.timestamp())


def test_enrolling_a_number_twice_gives_the_same_identity(emu):
    assert enrol(emu, MERLA) == enrol(emu, "+1" + MERLA)


def test_enrolling_an_unknown_number_is_8007(emu):
    refused(emu.post("/v3/identity", {"phoneNumber": UNKNOWN}), 400, 8007)


def test_enrolling_another_products_test_user_is_8009_in_a_narrowed_project(emu):
    token = project_token(emu, "im-only", "identity-manager")
    refused(emu.post("/v3/identity", {"phoneNumber": "2001001695"}, token=token), 403, 8009)


@pytest.mark.parametrize(("body", "message"), [
    ({}, "field 'phoneNumber' is required"),
    ({"phoneNumber": "200100403"}, "field 'phoneNumber' must be a phone number"),
    ({"phoneNumber": MERLA, "clientCustomerId": 5}, "field 'clientCustomerId' must be a string"),
])
def test_bad_enrol_bodies_get_8001(emu, body, message):
    assert message in refused(emu.post("/v3/identity", body), 400, 8001)


def test_a_project_without_identity_manager_or_verified_users_may_not_call_it(emu):
    token = project_token(emu, "unify-only", "unify")
    refused(emu.post("/v3/identity", {"phoneNumber": MERLA}, token=token), 401, 8002)
    refused(emu.http.get("/v3/identity", headers=bearer(emu, token)), 401, 8002)


# -- batch ----------------------------------------------------------------------------------------------------


def test_batch_enrols_each_item_and_reports_errors_per_item(emu):
    reply = ok(emu.post("/v3/identity/batch", {"items": [
        {"phoneNumber": MERLA}, {"phoneNumber": UNKNOWN}, {"phoneNumber": JAIMIE, "clientCustomerId": "c-2"}]}))
    merla, unknown, jaimie = reply["results"]
    assert merla["phoneNumber"] == MERLA and set(merla) == {"identityId", "proveId", "phoneNumber"}
    assert unknown["phoneNumber"] == UNKNOWN and "identityId" not in unknown
    # error is a string, as in Prove's SDK (example "Invalid Phone Number")
    assert isinstance(unknown["error"], str) and UNKNOWN in unknown["error"]
    assert set(unknown) == {"phoneNumber", "error"}
    assert ok(get(emu, jaimie["identityId"]))["clientCustomerId"] == "c-2"
    assert sorted(listed_ids(emu)) == sorted([merla["identityId"], jaimie["identityId"]])


def test_batch_accepts_the_identities_key_of_prove_s_guide(emu):
    reply = ok(emu.post("/v3/identity/batch", {"identities": [{"phoneNumber": MERLA}, {"phoneNumber": BATCH_EXAMPLE}]}))
    assert [result["phoneNumber"] for result in reply["results"]] == [MERLA, BATCH_EXAMPLE]
    assert all(result["identityId"] for result in reply["results"])


def test_batch_of_100_is_accepted_and_101_is_8001(emu):
    items = [{"phoneNumber": f"555100{index:04d}"} for index in range(101)]
    assert len(ok(emu.post("/v3/identity/batch", {"items": items[:100]}))["results"]) == 100
    message = refused(emu.post("/v3/identity/batch", {"items": items}), 400, 8001)
    assert "field 'items' must have at most 100 items" in message
    message = refused(emu.post("/v3/identity/batch", {"identities": items}), 400, 8001)
    assert "field 'identities' must have at most 100 items" in message


@pytest.mark.parametrize(("body", "message"), [
    ({}, "field 'items' (or its alias 'identities') is required"),
    ({"items": {"phoneNumber": MERLA}}, "field 'items' must be an array"),
    ({"items": [{}]}, "field 'items[0].phoneNumber' is required"),
    ({"items": [{"phoneNumber": MERLA}, {"phoneNumber": "12"}]}, "field 'items[1].phoneNumber' must be a phone number"),
])
def test_bad_batch_bodies_get_8001(emu, body, message):
    assert message in refused(emu.post("/v3/identity/batch", body), 400, 8001)


# -- list and paging ------------------------------------------------------------------------------------------


def test_list_pages_with_limit_and_start_key(emu):
    ids = enrol_many(emu, 5)
    first = listing(emu, limit=2)
    assert [item["identityId"] for item in first["results"]] == ids[:2] and first["lastKey"] == ids[1]
    second = listing(emu, limit=2, startKey=first["lastKey"])
    assert [item["identityId"] for item in second["results"]] == ids[2:4] and second["lastKey"] == ids[3]
    last = listing(emu, limit=2, startKey=second["lastKey"])
    assert [item["identityId"] for item in last["results"]] == ids[4:]
    assert "lastKey" not in last


def test_a_page_that_ends_exactly_at_the_last_identity_has_no_last_key(emu):
    ids = enrol_many(emu, 4)
    page = listing(emu, limit=4)
    assert [item["identityId"] for item in page["results"]] == ids and "lastKey" not in page


def test_the_default_limit_is_100(emu):
    items = [{"phoneNumber": f"555200{index:04d}"} for index in range(100)]
    ok(emu.post("/v3/identity/batch", {"items": items}))
    enrol(emu, MERLA)
    first = listing(emu)
    assert len(first["results"]) == 100 and "lastKey" in first
    assert len(listing(emu, startKey=first["lastKey"])["results"]) == 1


def test_an_empty_project_lists_nothing(emu):
    assert listing(emu) == {"results": []}


def test_inactive_identities_are_listed_only_with_show_inactive(emu):
    ids = enrol_many(emu, 3)
    ok(set_active(emu, ids[1], False))
    assert listed_ids(emu) == [ids[0], ids[2]]
    assert listed_ids(emu, showInactive="false") == [ids[0], ids[2]]
    assert listed_ids(emu, showInactive="true") == ids


@pytest.mark.parametrize(("query", "message"), [
    ({"limit": "0"}, "query 'limit' must be a whole number from 1 to 1000"),
    ({"limit": "1001"}, "query 'limit' must be a whole number"),
    ({"limit": "ten"}, "query 'limit' must be a whole number"),
    ({"showInactive": "yes"}, "query 'showInactive' must be true or false"),
    ({"startKey": MISSING_ID}, "query 'startKey' must be a lastKey from an earlier page"),
])
def test_bad_list_queries_get_8001(emu, query, message):
    enrol(emu)
    reply = emu.http.get("/v3/identity", params=query, headers=bearer(emu))
    assert message in refused(reply, 400, 8001)


# -- deactivate, activate, delete -------------------------------------------------------------------------


def test_deactivate_and_activate_switch_active(emu):
    identity_id = enrol(emu)
    assert ok(set_active(emu, identity_id, False, clientRequestId="r-1")) == {"success": True}
    assert ok(get(emu, identity_id))["active"] is False
    assert ok(set_active(emu, identity_id, True)) == {"success": True}
    assert ok(get(emu, identity_id))["active"] is True


def test_deactivate_accepts_an_empty_body(emu):
    identity_id = enrol(emu)
    reply = emu.http.post(f"/v3/identity/{identity_id}/deactivate", headers=bearer(emu))
    assert ok(reply) == {"success": True}
    assert ok(get(emu, identity_id))["active"] is False


def test_delete_removes_the_identity(emu):
    identity_id = enrol(emu)
    other = enrol(emu, JAIMIE)
    assert ok(emu.http.delete(f"/v3/identity/{identity_id}", headers=bearer(emu))) == {"success": True}
    refused(get(emu, identity_id), 404, 8011)
    assert listed_ids(emu, showInactive="true") == [other]
    refused(emu.http.delete(f"/v3/identity/{identity_id}", headers=bearer(emu)), 404, 8011)


def test_a_deleted_number_can_be_enrolled_again_as_a_new_identity(emu):
    identity_id = enrol(emu)
    ok(emu.http.delete(f"/v3/identity/{identity_id}", headers=bearer(emu)))
    assert enrol(emu) != identity_id


# -- lookup --------------------------------------------------------------------------------------------------


def test_lookup_by_phone_number_returns_the_records(emu):
    identity_id = enrol(emu, MERLA, clientCustomerId="c-1")
    enrol(emu, JAIMIE)
    items = ok(lookup(emu, MERLA))["items"]
    assert items == [ok(get(emu, identity_id))]
    assert ok(lookup(emu, "+1" + MERLA))["items"] == items  # the same person with +1


def test_lookup_of_a_number_without_identities_is_empty(emu):
    assert ok(lookup(emu, STANLY)) == {"items": []}


def test_lookup_needs_a_phone_number(emu):
    assert "path 'mobileNumber' must be a phone number" in refused(lookup(emu, "abc"), 400, 8001)


# -- 8011 and isolation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda emu, identity_id, token: get(emu, identity_id, token),
    lambda emu, identity_id, token: emu.http.delete(f"/v3/identity/{identity_id}", headers=bearer(emu, token)),
    lambda emu, identity_id, token: set_active(emu, identity_id, False, token),
    lambda emu, identity_id, token: set_active(emu, identity_id, True, token),
])
def test_unknown_and_other_projects_identities_are_8011(emu, call):
    assert MISSING_ID in refused(call(emu, MISSING_ID, None), 404, 8011)
    identity_id = enrol(emu)
    other = project_token(emu, "im-b", "identity-manager")
    refused(call(emu, identity_id, other), 404, 8011)
    # The other project's attempt changed nothing.
    assert ok(get(emu, identity_id))["active"] is True


def test_other_projects_do_not_see_identities_in_lists_or_lookups(emu):
    enrol(emu, MERLA)
    other = project_token(emu, "im-b", "identity-manager")
    assert listing(emu, token=other) == {"results": []}
    assert ok(lookup(emu, MERLA, token=other)) == {"items": []}
    assert enrol(emu, MERLA, token=other) not in listed_ids(emu)


# -- identities enrolled by Verified Users -----------------------------------------------------------------


def test_a_successful_verified_users_flow_enrols_an_identity_seen_here(emu):
    reply = emu.verify(SHEILAKATHRYN, "none", firstName="Sheilakathryn", lastName="Butrimovich",
                       clientCustomerId="vu-customer")
    identity_id = emu.status(reply["correlationId"])["identityId"]
    record = ok(get(emu, identity_id))
    assert record["phoneNumber"] == SHEILAKATHRYN and record["active"] is True
    assert record["clientCustomerId"] == "vu-customer"
    assert listed_ids(emu) == [identity_id]
    assert ok(lookup(emu, SHEILAKATHRYN))["items"] == [record]
    # Enrolling the number again through Identity Manager finds the same identity.
    assert enrol(emu, SHEILAKATHRYN) == identity_id


def test_a_failed_verified_users_flow_enrols_nothing(emu):
    emu.verify(SHEILAKATHRYN, "none", firstName="Someone", lastName="Else")
    assert listing(emu) == {"results": []}


def test_a_verified_users_project_may_manage_its_identities(emu):
    token = project_token(emu, "vu-only", "verified-users")
    reply = ok(emu.post("/v3/verify", {"firstName": "Sheilakathryn", "lastName": "Butrimovich",
                                       "phoneNumber": SHEILAKATHRYN, "possessionType": "none"}, token=token))
    identity_id = ok(emu.post("/v3/verify-status", {"correlationId": reply["correlationId"]}, token=token))["identityId"]
    assert ok(set_active(emu, identity_id, False, token)) == {"success": True}
    assert listing(emu, token=token) == {"results": []}
    assert listing(emu, token=token, showInactive="true") == {
        "results": [{"identityId": identity_id, "proveId": identity_id}]}
