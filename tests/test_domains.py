"""Domain linking over HTTP: /v3/domain/id, link, confirm-link, linked, unlink (current-generation §7.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from emulator.domains import issuer_id_of, pcid_of
from emulator.projects import DEFAULT_CLIENT_ID
from tests.prove_calls import ok, refused

A, B, C = "domain-a", "domain-b", "domain-c"
NO_LINKS = {"linkedFrom": [], "linkedTo": [], "requestsFrom": [], "requestsTo": []}


def epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp())


def domain_token(emu, client_id: str, name: str = "") -> str:
    """A new project (a domain) and its access token."""
    secret = f"{client_id}-secret"
    emu.put_project(client_id, clientSecret=secret, product="identity-manager", name=name)
    return emu.access_token(client_id, secret)


def with_pcids(body: dict[str, Any]) -> dict[str, Any]:
    """The body with placeholders replaced: "B"/"C" by those domains' pcids, "OWN" by A's (the caller's)."""
    pcids = {"B": pcid_of(B), "C": pcid_of(C), "OWN": pcid_of(A)}
    return {key: pcids.get(value, value) if isinstance(value, str) else value for key, value in body.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def link(emu, token: str, pcid: str, **body: Any) -> httpx.Response:
    return emu.post("/v3/domain/link", {"pcid": pcid, **body}, token=token)


def confirm(emu, token: str, pcid: str) -> httpx.Response:
    return emu.post("/v3/domain/confirm-link", {"pcid": pcid}, token=token)


def unlink(emu, token: str, **body: Any) -> httpx.Response:
    return emu.post("/v3/domain/unlink", body, token=token)


def linked(emu, token: str) -> dict[str, Any]:
    return ok(emu.http.get("/v3/domain/linked", headers=bearer(token)))


@pytest.fixture
def domains(emu) -> dict[str, str]:
    """Three named domains: client id -> access token."""
    return {client_id: domain_token(emu, client_id, f"Company {client_id[-1].upper()}") for client_id in (A, B, C)}


# -- GET /v3/domain/id ------------------------------------------------------------------------------------


def test_domain_id_names_the_callers_domain(emu, domains):
    reply = ok(emu.http.get("/v3/domain/id", headers=bearer(domains[A])))
    assert reply == {"pcid": pcid_of(A), "name": "Company A", "issuerId": issuer_id_of(A)}
    assert reply["pcid"].isdigit() and reply["pcid"] != pcid_of(B)
    # SDK 0.13.0 asked with POST (and sometimes a raw body); the answer is the same.
    assert ok(emu.http.post("/v3/domain/id", headers=bearer(domains[A]))) == reply
    posted = emu.http.post("/v3/domain/id", content=b"anything", headers={**bearer(domains[A]),
                                                                          "Content-Type": "text/plain"})
    assert ok(posted) == reply


def test_a_domain_without_a_name_is_named_by_its_client_id(emu):
    token = domain_token(emu, "nameless")
    assert ok(emu.http.get("/v3/domain/id", headers=bearer(token)))["name"] == "nameless"
    default = ok(emu.http.get("/v3/domain/id", headers=bearer(emu.token)))
    assert default["pcid"] == pcid_of(DEFAULT_CLIENT_ID)


def test_domain_endpoints_need_an_access_token(emu):
    refused(emu.http.get("/v3/domain/id"), 401, 8002)
    refused(emu.http.post("/v3/domain/link", json={"pcid": pcid_of(A)}), 401, 8002)


# -- link, confirm, linked -----------------------------------------------------------------------------


def test_link_then_confirm_moves_a_request_to_a_link_on_both_sides(emu, domains):
    requested = emu.freeze()["now"]
    assert ok(link(emu, domains[A], pcid_of(B), scopes=["identity", "attributes"])) == {"success": True}
    a_side, b_side = linked(emu, domains[A]), linked(emu, domains[B])
    assert a_side["requestsTo"] == [{"pcid": pcid_of(B), "name": "Company B", "scopes": ["identity", "attributes"],
                                     "requestedAt": epoch(requested), "requestedString": requested}]
    assert a_side["linkedTo"] == a_side["linkedFrom"] == a_side["requestsFrom"] == []
    assert b_side["requestsFrom"][0]["pcid"] == pcid_of(A) and b_side["requestsFrom"][0]["name"] == "Company A"
    assert b_side["requestsFrom"][0]["requestedString"] == requested
    assert b_side["linkedTo"] == b_side["linkedFrom"] == b_side["requestsTo"] == []

    accepted = emu.advance(90)["now"]
    assert ok(confirm(emu, domains[B], pcid_of(A))) == {"success": True}
    a_side, b_side = linked(emu, domains[A]), linked(emu, domains[B])
    assert a_side["requestsTo"] == [] and b_side["requestsFrom"] == []
    (to_b,) = a_side["linkedTo"]
    assert to_b["pcid"] == pcid_of(B) and to_b["scopes"] == ["identity", "attributes"]
    assert to_b["acceptedString"] == accepted and to_b["acceptedAt"] == epoch(accepted) == epoch(requested) + 90
    (from_a,) = b_side["linkedFrom"]
    assert from_a["pcid"] == pcid_of(A) and from_a["name"] == "Company A" and from_a["acceptedString"] == accepted
    assert a_side["linkedFrom"] == b_side["linkedTo"] == []
    # A domain that took no part sees nothing.
    assert linked(emu, domains[C]) == NO_LINKS


def test_requested_at_is_epoch_seconds_of_the_emulator_clock(emu):
    emu.clock(freeze=True, set="2030-01-02T03:04:05.000Z")
    domains = {client_id: domain_token(emu, client_id) for client_id in (A, B)}  # tokens of the new time
    ok(link(emu, domains[A], pcid_of(B)))
    (request,) = linked(emu, domains[A])["requestsTo"]
    assert request["requestedAt"] == 1893553445 and request["requestedString"] == "2030-01-02T03:04:05.000Z"
    assert request["scopes"] == []


def test_asking_again_is_a_no_op_success(emu, domains):
    emu.freeze()
    ok(link(emu, domains[A], pcid_of(B), scopes=["first"]))
    emu.advance(60)
    assert ok(link(emu, domains[A], pcid_of(B), scopes=["second"])) == {"success": True}
    (request,) = linked(emu, domains[A])["requestsTo"]
    assert request["scopes"] == ["first"]
    ok(confirm(emu, domains[B], pcid_of(A)))
    assert ok(link(emu, domains[A], pcid_of(B))) == {"success": True}
    assert len(linked(emu, domains[A])["linkedTo"]) == 1 and linked(emu, domains[A])["requestsTo"] == []
    # Confirming an already confirmed link is a no-op too.
    accepted = linked(emu, domains[B])["linkedFrom"][0]["acceptedString"]
    emu.advance(60)
    assert ok(confirm(emu, domains[B], pcid_of(A))) == {"success": True}
    assert linked(emu, domains[B])["linkedFrom"][0]["acceptedString"] == accepted


def test_each_direction_is_its_own_request(emu, domains):
    ok(link(emu, domains[A], pcid_of(B)))
    ok(link(emu, domains[B], pcid_of(A)))
    a_side = linked(emu, domains[A])
    assert [r["pcid"] for r in a_side["requestsTo"]] == [pcid_of(B)]
    assert [r["pcid"] for r in a_side["requestsFrom"]] == [pcid_of(B)]


@pytest.mark.parametrize(("body", "message"), [
    ({}, "field 'pcid' is required"),
    ({"pcid": ""}, "field 'pcid' must not be empty"),
    ({"pcid": 123}, "field 'pcid' must be a string"),
    ({"pcid": "999999999999"}, "field 'pcid': no domain has pcid '999999999999'"),
    ({"pcid": "OWN"}, "field 'pcid' is this domain's own pcid"),
    ({"pcid": "B", "scopes": "identity"}, "field 'scopes' must be an array"),
    ({"pcid": "B", "scopes": [1]}, "field 'scopes[0]' must be a string"),
])
def test_bad_link_requests_get_8001(emu, domains, body, message):
    body = with_pcids(body)
    assert message in refused(emu.post("/v3/domain/link", body, token=domains[A]), 400, 8001)
    assert linked(emu, domains[A]) == NO_LINKS


def test_confirm_needs_a_pending_request_from_that_domain(emu, domains):
    message = refused(confirm(emu, domains[B], pcid_of(A)), 400, 8001)
    assert f"field 'pcid': domain {pcid_of(A)} has no pending link request to this domain" in message
    ok(link(emu, domains[A], pcid_of(B)))
    # The requester cannot confirm its own request, nor can a third domain.
    assert "has no pending link request" in refused(confirm(emu, domains[A], pcid_of(B)), 400, 8001)
    assert "has no pending link request" in refused(confirm(emu, domains[C], pcid_of(A)), 400, 8001)
    assert "no domain has pcid" in refused(confirm(emu, domains[B], "1"), 400, 8001)
    assert "own pcid" in refused(confirm(emu, domains[B], pcid_of(B)), 400, 8001)
    assert "field 'pcid' is required" in refused(emu.post("/v3/domain/confirm-link", {}, token=domains[B]), 400, 8001)
    assert linked(emu, domains[B])["requestsFrom"][0]["pcid"] == pcid_of(A)


# -- unlink ------------------------------------------------------------------------------------------------


def test_the_requester_withdraws_a_pending_request_with_pcid_to(emu, domains):
    ok(link(emu, domains[A], pcid_of(B)))
    assert ok(unlink(emu, domains[A], pcidTo=pcid_of(B))) == {"success": True}
    assert linked(emu, domains[A]) == NO_LINKS and linked(emu, domains[B]) == NO_LINKS


def test_the_receiver_declines_a_pending_request_with_pcid_from(emu, domains):
    ok(link(emu, domains[A], pcid_of(B)))
    assert ok(unlink(emu, domains[B], pcidFrom=pcid_of(A))) == {"success": True}
    assert linked(emu, domains[A]) == NO_LINKS and linked(emu, domains[B]) == NO_LINKS
    assert "has no pending link request" in refused(confirm(emu, domains[B], pcid_of(A)), 400, 8001)


@pytest.mark.parametrize("who", ["requester", "receiver", "requester naming both", "receiver naming both"])
def test_either_side_removes_a_confirmed_link(emu, domains, who):
    ok(link(emu, domains[A], pcid_of(B)))
    ok(confirm(emu, domains[B], pcid_of(A)))
    ok(link(emu, domains[A], pcid_of(C)))  # another request of A's, which stays
    body = {
        "requester": (A, {"pcidTo": pcid_of(B)}),
        "receiver": (B, {"pcidFrom": pcid_of(A)}),
        "requester naming both": (A, {"pcidFrom": pcid_of(A), "pcidTo": pcid_of(B)}),
        "receiver naming both": (B, {"pcidFrom": pcid_of(A), "pcidTo": pcid_of(B)}),
    }[who]
    assert ok(unlink(emu, domains[body[0]], **body[1])) == {"success": True}
    assert linked(emu, domains[B]) == NO_LINKS
    a_side = linked(emu, domains[A])
    assert a_side["linkedTo"] == a_side["linkedFrom"] == a_side["requestsFrom"] == []
    assert [r["pcid"] for r in a_side["requestsTo"]] == [pcid_of(C)]


def test_unlink_removes_only_the_named_direction(emu, domains):
    ok(link(emu, domains[A], pcid_of(B)))
    ok(link(emu, domains[B], pcid_of(A)))
    ok(unlink(emu, domains[A], pcidTo=pcid_of(B)))
    a_side = linked(emu, domains[A])
    assert a_side["requestsTo"] == [] and [r["pcid"] for r in a_side["requestsFrom"]] == [pcid_of(B)]


@pytest.mark.parametrize(("body", "message"), [
    ({}, "field 'pcidTo' (or 'pcidFrom') is required"),
    ({"pcidTo": ""}, "field 'pcidTo' (or 'pcidFrom') is required"),
    ({"pcidTo": 7}, "field 'pcidTo' must be a string"),
    ({"pcidTo": "B"}, "field 'pcidTo': there is no link or pending request to domain"),
    ({"pcidFrom": "B"}, "field 'pcidFrom': there is no link or pending request from domain"),
    ({"pcidFrom": "42"}, "field 'pcidFrom': no domain has pcid '42'"),
    ({"pcidTo": "OWN"}, "field 'pcidTo' is this domain's own pcid"),
    ({"pcidFrom": "B", "pcidTo": "C"}, "field 'pcidFrom' (or field 'pcidTo') must be this domain's own pcid"),
])
def test_bad_unlink_requests_get_8001(emu, domains, body, message):
    ok(link(emu, domains[A], pcid_of(C)))  # something that must survive the refusals
    assert message in refused(unlink(emu, domains[A], **with_pcids(body)), 400, 8001)
    assert [r["pcid"] for r in linked(emu, domains[A])["requestsTo"]] == [pcid_of(C)]


# -- reset -------------------------------------------------------------------------------------------------


def test_resetting_a_project_drops_its_links_on_both_sides(emu, domains):
    ok(link(emu, domains[A], pcid_of(B)))
    ok(confirm(emu, domains[B], pcid_of(A)))
    ok(link(emu, domains[C], pcid_of(A)))
    ok(link(emu, domains[B], pcid_of(C)))
    emu.reset(A)
    assert linked(emu, domains[A]) == NO_LINKS
    b_side = linked(emu, domains[B])
    assert b_side["linkedFrom"] == [] and [r["pcid"] for r in b_side["requestsTo"]] == [pcid_of(C)]
    assert [r["pcid"] for r in linked(emu, domains[C])["requestsFrom"]] == [pcid_of(B)]
    assert linked(emu, domains[C])["requestsTo"] == []

