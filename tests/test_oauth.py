"""POST /token and the bearer check on every /v3 call."""

from __future__ import annotations

import base64

import jwt
import pytest

FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
STATUS = {"correlationId": "00000000-0000-0000-0000-000000000000"}


def test_form_credentials_get_a_bearer_token(emu):
    reply = emu.http.post("/token", data=FORM)
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert emu.post("/v3/verify-status", STATUS, token=body["access_token"]).json()["code"] == 8008


def test_http_basic_credentials_are_accepted(emu):
    basic = base64.b64encode(b"sandbox-client-id:sandbox-client-secret").decode()
    reply = emu.http.post("/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
    assert reply.status_code == 200


@pytest.mark.parametrize(("form", "status", "code", "text"), [
    ({**FORM, "client_secret": "wrong"}, 401, 8002, "unknown client_id or wrong client_secret"),
    ({**FORM, "client_id": "nobody"}, 401, 8002, "unknown client_id"),
    ({k: v for k, v in FORM.items() if k != "grant_type"}, 400, 8001, "field 'grant_type' is required"),
    ({**FORM, "grant_type": "password"}, 400, 8001, "field 'grant_type' must be client_credentials"),
    ({k: v for k, v in FORM.items() if k != "client_secret"}, 400, 8001, "field 'client_secret' is required"),
])
def test_bad_token_requests(emu, form, status, code, text):
    reply = emu.http.post("/token", data=form)
    assert reply.status_code == status
    assert reply.json()["code"] == code and text in reply.json()["message"]


def test_token_needs_a_form_body(emu):
    reply = emu.http.post("/token", json=FORM)
    assert reply.status_code == 400 and "application/x-www-form-urlencoded" in reply.json()["message"]


def test_bad_basic_header(emu):
    reply = emu.http.post("/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": "Basic !!!"})
    assert reply.status_code == 400 and "HTTP Basic" in reply.json()["message"]


@pytest.mark.parametrize(("headers", "text"), [
    ({}, "the Authorization header is missing"),
    ({"Authorization": "Token abc"}, "must be 'Bearer <access token>'"),
    ({"Authorization": "Bearer not-a-jwt"}, "malformed, forged or from another emulator"),
])
def test_missing_or_malformed_bearer_is_401(emu, headers, text):
    reply = emu.http.post("/v3/verify-status", json=STATUS, headers=headers)
    assert reply.status_code == 401
    assert reply.json()["code"] == 8002 and text in reply.json()["message"]


def test_forged_token_is_401(emu):
    claims = jwt.decode(emu.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-emulator-key-but-long-enough-for-hs256", algorithm="HS256")
    assert emu.post("/v3/verify-status", STATUS, token=forged).status_code == 401


def test_another_emulators_token_is_401(emu):
    from emulator.clock import Clock
    from emulator.tokens import TokenIssuer

    other, _ = TokenIssuer(Clock()).issue_access_token("sandbox-client-id")
    assert emu.post("/v3/verify-status", STATUS, token=other).status_code == 401


def test_token_expires_on_the_emulator_clock(emu):
    emu.freeze()
    token = emu.access_token()
    emu.advance(3599)
    assert emu.post("/v3/verify-status", STATUS, token=token).status_code == 400  # 8008: still authorised
    emu.advance(1)
    reply = emu.post("/v3/verify-status", STATUS, token=token)
    assert reply.status_code == 401 and "expired" in reply.json()["message"]


def test_a_token_belongs_to_one_project(emu):
    emu.put_project("team-b", clientSecret="secret-b")
    token_b = emu.access_token("team-b", "secret-b")
    assert jwt.decode(token_b, options={"verify_signature": False})["sub"] == "team-b"


def test_the_sdk_0_13_0_field_names_are_accepted(emu):
    """TypeScript SDK 0.13.0's direct v3TokenRequest() sent ClientID, ClientSecret and GrantType."""
    reply = emu.http.post("/token", data={"GrantType": "client_credentials", "ClientID": FORM["client_id"],
                                        "ClientSecret": FORM["client_secret"]})
    assert reply.status_code == 200 and reply.json()["token_type"] == "Bearer"
    wrong = emu.http.post("/token", data={"GrantType": "client_credentials", "ClientID": FORM["client_id"],
                                        "ClientSecret": "wrong"})
    assert wrong.status_code == 401
