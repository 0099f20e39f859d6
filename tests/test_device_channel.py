"""The Web SDK's device channel without a browser: `/v1/client/*`, the status WebSocket, link clicks.

Each test plays the official Web SDK on the wire exactly as web-sdk-protocol §4-§7 records it
(bodies, headers, the WebSocket's text ping), and checks the emulator's replies against §9 and
CONTRACT.md "Possession", then what `/v3/verify-status` reports. Time moves on the emulator clock.

The failure recipes of §9.5, and where they are checked: success (test_otp_happy_path,
test_a_click_pushes_done_to_the_connected_socket); possession failed, soft and hard
(test_client_rejected_*, test_hard_terminal_*, test_link_expiry_for_the_hard_persona_*); timeout
(test_the_otp_expires_*, test_link_expiry_*); retries exhausted (test_wrong_codes_*); invalid phone
(test_a_bad_new_number_*, test_instant_link_bad_number_*); user cancel (test_user_cancel_*,
test_error_reports_*); transport failure (test_the_sdk_start_answers_503_once, refused upgrades).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from emulator.clock import Clock
from emulator.http.device import _StatusSender
from emulator.service import Emulator
from emulator.tokens import TokenIssuer
from tests.conftest import DESKTOP, MOBILE

APP_ORIGIN = "http://127.0.0.1:5173"  # the web page's origin, as the browser sends it
SDK_HEADERS = {  # §3.1: what the SDK puts on every call
    "Accept": "application/json",
    "PA-Version": "ProveAuth/3.6.2 Contract/2.15.1 WEB/1",
    "Origin": APP_ORIGIN,
}
DEVICE_ENDPOINTS = [
    "/v1/client/mobile/otp/start",
    "/v1/client/mobile/otp/finish",
    "/v1/client/mobile/otp/error",
    "/v1/client/mobile/instantlink/start",
    "/v1/client/mobile/instantlink/error",
]
IL_START = {"sourceIp": None, "isMobile": False}  # the desktop SDK's first Instant Link start
IL_RESEND = {"sourceIp": None, "mobileNumber": "", "isMobile": False}

PENDING = {"success": "pending", "possessionResult": "pending", "verifyResult": "pending"}
FAILED = {"success": "false", "possessionResult": "failed", "verifyResult": "not_applicable"}
SUCCEEDED = {"success": "true", "possessionResult": "success", "verifyResult": "success"}


# -- helpers -----------------------------------------------------------------------------------------


def sdk_call(emu, auth_token: str | None, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = dict(SDK_HEADERS)
    if auth_token is not None:
        headers["Authorization"] = f"Bearer {auth_token}"
    return emu.http.post(path, json=body, headers=headers)


def client(emu, flow: dict[str, Any], step: str, body: dict[str, Any]) -> dict[str, Any]:
    """A device-channel call as the SDK makes it; the channel always answers HTTP 200."""
    reply = sdk_call(emu, flow["authToken"], f"/v1/client/{step}", body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)
    return reply.json()


def results(emu, flow: dict[str, Any]) -> dict[str, str]:
    """verify-status without identityId (asserted separately where it matters)."""
    status = emu.status(flow["correlationId"])
    assert ("identityId" in status) == (status["success"] == "true")
    return {key: value for key, value in status.items() if key != "identityId"}


def atob_payload(token: str) -> dict[str, Any]:
    """The claims as the SDK reads them: `atob` (standard base64, no '-' or '_') and JSON.parse."""
    segment = token.split(".")[1]
    assert "-" not in segment and "_" not in segment, f"atob would reject {segment!r}"
    return json.loads(base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True))


def ws_connect(emu, token: str) -> ClientConnection:
    url = emu.base_url.replace("http://", "ws://", 1) + "/v1/client/status?token=" + quote(token, safe="")
    return connect(url, origin=APP_ORIGIN, open_timeout=5, close_timeout=2)


def ws_status(socket: ClientConnection) -> dict[str, Any]:
    message = socket.recv(timeout=5)
    assert isinstance(message, str), "a binary frame reaches the SDK as a Blob it cannot parse (§7.2)"
    return json.loads(message)


def terminal_error(reply: dict[str, Any], soft: bool = True) -> str:
    """Assert the possession-failed form (soft: error + next done; hard: error alone); the message."""
    assert set(reply) == ({"error", "next"} if soft else {"error"}), reply
    assert reply["error"]["code"] == 10001
    if soft:
        assert reply["next"] == "done"
    return reply["error"]["message"]


def refusal(reply: dict[str, Any]) -> str:
    assert set(reply) == {"error"} and reply["error"]["code"] == 10003, reply
    return reply["error"]["message"]


def reprompt(reply: dict[str, Any]) -> str:
    assert set(reply) == {"data"} and set(reply["data"]) == {"code", "message"}, reply
    assert reply["data"]["code"] == 10001
    return reply["data"]["message"]


def sms_count(emu, phone: str) -> int:
    return len(emu.sms(phone))


# -- the authToken ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("possession", "first_step", "method"), [(MOBILE, "mobile/otp", "otp"),
                                                                   (DESKTOP, "mobile/instantlink", "inln")])
def test_auth_token_claims_route_the_sdk_here(emu, possession, first_step, method):
    flow = emu.verify("2025550100", possession)
    claims = atob_payload(flow["authToken"])["auth"]
    assert claims["id"] == emu.flow(flow["correlationId"])["authId"]
    assert claims["endp"] == emu.base_url
    assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", claims["endp"])  # a bare origin (§2.4)
    assert claims["next"] == first_step
    assert claims["subs"] == {"mob": {"auths": {method: {"mnp": True}}}}
    assert isinstance(claims["ans"], str) and claims["ans"]
    other = atob_payload(emu.verify("2025550100", possession)["authToken"])["auth"]
    assert other["ans"] == claims["ans"]  # one namespace per emulator instance
    assert other["id"] != claims["id"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=st.text(alphabet="ab?/:=.-_+", min_size=1, max_size=40),  # what finalTargetUrl may hold
    sms=st.text(alphabet=st.sampled_from(["#", ">", "?", "~", "é", "a", " "]), max_size=60),
)
def test_auth_token_payload_is_plain_base64_whatever_the_request_says(emu, target, sms):
    flow = emu.verify("2025550100", DESKTOP, finalTargetUrl=f"https://app.example.com/{target}", smsMessage=sms)
    assert atob_payload(flow["authToken"])["auth"]["next"] == "mobile/instantlink"


@settings(max_examples=200, deadline=None)
@given(auth_id=st.text(max_size=30), endpoint=st.text(max_size=30))
def test_every_claim_text_encodes_to_plain_base64(auth_id, endpoint):
    issuer = TokenIssuer(Clock())
    token = issuer.issue_auth_token(flow_id="f", auth_id=auth_id, endpoint=endpoint, first_step="mobile/otp",
                                    phone_known=True, expires_at=Clock().now() + 60)
    claims = atob_payload(token)["auth"]
    assert (claims["id"], claims["endp"]) == (auth_id, endpoint)


# -- CORS ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DEVICE_ENDPOINTS)
def test_preflight_names_the_sdk_headers_explicitly(emu, path):
    reply = emu.http.options(path, headers={
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,pa-version",
    })
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)
    assert "POST" in reply.headers["access-control-allow-methods"]
    allowed = {name.strip().lower() for name in reply.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "pa-version"} <= allowed
    assert "*" not in allowed  # the Fetch spec's wildcard does not cover Authorization


def test_a_refused_token_still_gets_cors_headers(emu):
    reply = sdk_call(emu, None, "/v1/client/mobile/otp/start", {})
    assert reply.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)


# -- refused authTokens ------------------------------------------------------------------------------------


def _missing(emu, server) -> str | None:
    return None


def _garbage(emu, server) -> str:
    return "not-a-jwt"


def _forged(emu, server) -> str:
    """A real token whose payload now names another flow: the signature no longer matches."""
    other = emu.flow(emu.verify("2025550100", MOBILE)["correlationId"])["authId"]
    header, payload, signature = emu.verify("2025550100", MOBILE)["authToken"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["auth"]["id"] = other
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(emu, server) -> str:
    flow = emu.verify("2025550100", MOBILE)
    claims = jwt.decode(flow["authToken"], options={"verify_signature": False})
    return jwt.encode(claims, "a guessed key of thirty-two bytes", algorithm="HS256")


def _another_emulator(emu, server) -> str:
    flow = emu.verify("2025550100", MOBILE)
    detail = emu.flow(flow["correlationId"])
    return TokenIssuer(Clock()).issue_auth_token(
        flow_id=flow["correlationId"], auth_id=detail["authId"], endpoint=emu.base_url,
        first_step="mobile/otp", phone_known=True, expires_at=Clock().now() + 600)


def _expired(emu, server) -> str:
    emu.freeze()
    flow = emu.verify("2025550100", MOBILE)
    emu.advance(15 * 60)
    return flow["authToken"]


def _flow_gone(emu, server) -> str:
    flow = emu.verify("2025550100", MOBILE)
    emu.reset()
    return flow["authToken"]


def _another_flows_ids(emu, server) -> str:
    mine = emu.verify("2025550100", MOBILE)
    theirs = emu.verify("2025550100", MOBILE)
    return server.emulator.tokens.issue_auth_token(
        flow_id=mine["correlationId"], auth_id=emu.flow(theirs["correlationId"])["authId"],
        endpoint=emu.base_url, first_step="mobile/otp", phone_known=True, expires_at=Clock().now() + 600)


def _not_the_flows_token(emu, server) -> str:
    flow = emu.verify("2025550100", MOBILE)
    return server.emulator.tokens.issue_auth_token(
        flow_id=flow["correlationId"], auth_id=emu.flow(flow["correlationId"])["authId"],
        endpoint=emu.base_url, first_step="mobile/otp", phone_known=True, expires_at=Clock().now() + 600)


REFUSED_TOKENS = [
    (_missing, "missing"),
    (_garbage, "malformed, forged or from another emulator"),
    (_forged, "malformed, forged or from another emulator"),
    (_unsigned, "malformed, forged or from another emulator"),
    (_another_emulator, "malformed, forged or from another emulator"),
    (_expired, "expired"),
    (_flow_gone, "unknown or has expired"),
    (_another_flows_ids, "unknown or has expired"),
    (_not_the_flows_token, "does not belong to this flow"),
]


@pytest.mark.parametrize(("make_token", "reason"), REFUSED_TOKENS, ids=[f.__name__[1:] for f, _ in REFUSED_TOKENS])
@pytest.mark.parametrize("path", DEVICE_ENDPOINTS)
def test_refused_auth_tokens_get_a_hard_error(emu, prove_emulator_server, make_token, reason, path):
    token = make_token(emu, prove_emulator_server)
    reply = sdk_call(emu, token, path, {})
    assert reply.status_code == 200  # §3.3: a non-2xx would bypass the SDK's error handling
    assert reason in refusal(reply.json())


@pytest.mark.parametrize("make_token", [f for f, _ in REFUSED_TOKENS[1:]], ids=[f.__name__[1:] for f, _ in REFUSED_TOKENS[1:]])
def test_refused_auth_tokens_cannot_open_the_status_socket(emu, prove_emulator_server, make_token):
    token = make_token(emu, prove_emulator_server)
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(emu, token)
    assert refused.value.response.status_code == 403


def test_the_status_socket_needs_a_token(emu):
    with pytest.raises(InvalidStatus) as refused:
        connect(emu.base_url.replace("http://", "ws://", 1) + "/v1/client/status", open_timeout=5)
    assert refused.value.response.status_code == 403


def test_a_flow_without_possession_hands_out_no_token(emu):
    assert "authToken" not in emu.verify("2025550100", "none")


def test_each_method_refuses_the_other_methods_calls(emu):
    otp_flow = emu.verify("2025550100", MOBILE)
    link_flow = emu.verify("2025550100", DESKTOP)
    assert "not instant-link" in refusal(client(emu, otp_flow, "mobile/instantlink/start", IL_START))
    assert "not otp" in refusal(client(emu, link_flow, "mobile/otp/start", {}))
    assert "not otp" in refusal(client(emu, link_flow, "mobile/otp/finish", {"otp": "1234"}))
    assert results(emu, otp_flow) == PENDING and results(emu, link_flow) == PENDING


def test_a_body_that_is_not_an_object_is_refused(emu):
    flow = emu.verify("2025550100", MOBILE)
    reply = emu.http.post("/v1/client/mobile/otp/start", json=["1234"],
                          headers={**SDK_HEADERS, "Authorization": f"Bearer {flow['authToken']}"})
    assert reply.status_code == 200 and "JSON object" in refusal(reply.json())


# -- OTP: the happy path and its wire shapes (§5.1) ------------------------------------------------------------


def test_otp_happy_path(emu):
    flow = emu.verify("2025550100", MOBILE)
    assert client(emu, flow, "mobile/otp/start", {}) == {"next": "mobile/otp"}  # no `data`: §9.2
    sms = emu.latest_sms("2025550100")
    assert (sms["kind"], sms["otp"], sms["correlationId"]) == ("otp", "1234", flow["correlationId"])
    assert "1234" in sms["body"]
    assert results(emu, flow) == PENDING
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED
    assert emu.status(flow["correlationId"])["identityId"]
    # The step may run again (a page reload): the answer stays the same.
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}


def test_the_sms_template_sets_the_code_length(emu):
    flow = emu.verify("2025550100", MOBILE, smsMessage="Your code: ###### (do not share)")
    client(emu, flow, "mobile/otp/start", {})
    sms = emu.latest_sms("2025550100")
    assert sms["body"] == f"Your code: {sms['otp']} (do not share)" and len(sms["otp"]) == 6
    assert client(emu, flow, "mobile/otp/finish", {"otp": sms["otp"]}) == {"next": "done"}


def test_a_code_entered_before_any_was_sent_reprompts(emu):
    flow = emu.verify("2025550100", MOBILE)
    assert "no code has been sent" in reprompt(client(emu, flow, "mobile/otp/finish", {"otp": "1234"}))
    assert results(emu, flow) == PENDING


def test_random_otp_is_read_from_the_outbox(emu):
    flow = emu.verify("2025550109", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    code = emu.latest_otp("2025550109")
    assert re.fullmatch(r"[0-9]{4}", code)
    assert client(emu, flow, "mobile/otp/finish", {"otp": code}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_data_check_failure_after_possession(emu):
    flow = emu.verify("2025550104", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert results(emu, flow) == {"success": "false", "possessionResult": "success", "verifyResult": "failed"}


# -- OTP: wrong codes, allowOTPRetry ----------------------------------------------------------------------------


def test_wrong_codes_with_allow_otp_retry_reprompt_three_times_then_end(emu):
    flow = emu.verify("2025550100", MOBILE, allowOTPRetry=True)
    client(emu, flow, "mobile/otp/start", {})
    messages = [reprompt(client(emu, flow, "mobile/otp/finish", {"otp": "0000"})) for _ in range(3)]
    assert [re.search(r"[0-9]+ attempts? left", m).group() for m in messages] == [
        "3 attempts left", "2 attempts left", "1 attempt left"]
    assert results(emu, flow) == PENDING
    assert "too many incorrect codes" in terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": "0000"}))
    assert results(emu, flow) == FAILED
    # Possession is over: even the right code now gets the terminal reply.
    terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": "1234"}))
    assert results(emu, flow) == FAILED


def test_the_right_code_after_wrong_ones_succeeds_with_allow_otp_retry(emu):
    flow = emu.verify("2025550100", MOBILE, allowOTPRetry=True)
    client(emu, flow, "mobile/otp/start", {})
    for _ in range(3):
        reprompt(client(emu, flow, "mobile/otp/finish", {"otp": "9999"}))
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_without_allow_otp_retry_the_first_wrong_code_ends_possession(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    assert "incorrect" in terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": "0000"}))
    assert results(emu, flow) == FAILED


def test_hard_terminal_persona_ends_without_next(emu):
    flow = emu.verify("2025550108", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": "0000"}), soft=False)
    assert results(emu, flow) == FAILED


def test_hard_terminal_persona_still_succeeds_with_the_right_code(emu):
    flow = emu.verify("2025550108", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_client_rejected_persona_fails_even_with_the_right_code(emu):
    flow = emu.verify("2025550106", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    assert "client-rejected" in terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": "1234"}))
    assert results(emu, flow) == FAILED


# -- OTP: resend, number change, expiry ------------------------------------------------------------------------


def test_a_resend_keeps_the_sandbox_code_and_restarts_the_window(emu):
    # CONTRACT "Possession": a resend sends a new SMS with the persona's code, so 1234 stays right.
    emu.freeze()
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    old = emu.latest_sms("2025550100")
    emu.advance(100)
    for _ in range(3):
        assert client(emu, flow, "mobile/otp/start", {}) == {"next": "mobile/otp"}  # a resend: exactly {}
    new = emu.latest_sms("2025550100")
    assert new["id"] != old["id"] and old["otp"] == new["otp"] == "1234"
    emu.advance(110)  # past the first SMS's 2 minutes, inside the last one's
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_a_random_code_persona_gets_a_fresh_code_per_resend_and_the_old_one_dies(emu):
    flow = emu.verify("2025550109", MOBILE, allowOTPRetry=True)
    client(emu, flow, "mobile/otp/start", {})
    codes = [emu.latest_otp("2025550109")]
    for _ in range(3):
        client(emu, flow, "mobile/otp/start", {})
        codes.append(emu.latest_otp("2025550109"))
    assert len(set(codes)) == 4  # a code once sent never comes back
    for old in codes[:3]:
        reprompt(client(emu, flow, "mobile/otp/finish", {"otp": old}))
    assert client(emu, flow, "mobile/otp/finish", {"otp": codes[-1]}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_a_resent_code_expires_two_minutes_after_the_resend(emu):
    emu.freeze()
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    emu.advance(100)
    client(emu, flow, "mobile/otp/start", {})
    code = emu.latest_otp("2025550100")
    emu.advance(120)
    assert results(emu, flow) == FAILED
    assert "expired" in terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": code}))


def test_the_fourth_resend_ends_possession(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    for _ in range(3):
        assert client(emu, flow, "mobile/otp/start", {}) == {"next": "mobile/otp"}
    assert sms_count(emu, "2025550100") == 4
    assert "resend limit" in terminal_error(client(emu, flow, "mobile/otp/start", {}))
    assert sms_count(emu, "2025550100") == 4
    assert results(emu, flow) == FAILED


def test_phone_number_change_sends_to_the_new_number_and_follows_its_persona(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    assert client(emu, flow, "mobile/otp/start", {"mobileNumber": "2025550106"}) == {"next": "mobile/otp"}
    assert emu.latest_sms("2025550106")["correlationId"] == flow["correlationId"]
    assert emu.flow(flow["correlationId"])["phoneNumber"] == "2025550106"
    # The new number is the client-rejected test user: the right code now fails.
    terminal_error(client(emu, flow, "mobile/otp/finish", {"otp": "1234"}))
    assert results(emu, flow) == FAILED


def test_a_changed_number_gets_its_own_persona_s_code(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    client(emu, flow, "mobile/otp/start", {"mobileNumber": "5551234567"})
    assert emu.latest_otp("5551234567") == "1234"  # the new number's persona: the sandbox code
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_a_change_to_a_random_code_number_gets_a_fresh_code_and_the_old_one_dies(emu):
    flow = emu.verify("2025550100", MOBILE, allowOTPRetry=True)
    client(emu, flow, "mobile/otp/start", {})
    client(emu, flow, "mobile/otp/start", {"mobileNumber": "2025550109"})
    code = emu.latest_otp("2025550109")
    assert code != "1234"  # a code once sent never comes back
    reprompt(client(emu, flow, "mobile/otp/finish", {"otp": "1234"}))
    assert client(emu, flow, "mobile/otp/finish", {"otp": code}) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


@pytest.mark.parametrize(("number", "message"), [
    ("12345", "must be a phone number"),
    ("3035550000", "sandbox user not found"),
    ("", None),  # not a change at all: a resend
])
def test_a_bad_new_number_reprompts_and_keeps_the_old_code(emu, number, message):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    reply = client(emu, flow, "mobile/otp/start", {"mobileNumber": number})
    if message is None:
        assert reply == {"next": "mobile/otp"}
        code = emu.latest_otp("2025550100")
    else:
        assert message in reprompt(reply)
        code = "1234"
    assert client(emu, flow, "mobile/otp/finish", {"otp": code}) == {"next": "done"}


def test_the_fourth_number_change_ends_possession(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    for number in ("5550000001", "5550000002", "5550000003"):
        assert client(emu, flow, "mobile/otp/start", {"mobileNumber": number}) == {"next": "mobile/otp"}
    assert "number change limit" in terminal_error(client(emu, flow, "mobile/otp/start", {"mobileNumber": "5550000004"}))
    assert results(emu, flow) == FAILED


def test_the_otp_expires_two_minutes_after_the_sms(emu):
    emu.freeze()
    first = emu.verify("2025550100", MOBILE)
    client(emu, first, "mobile/otp/start", {})
    emu.advance(60)
    second = emu.verify("2025550100", MOBILE)
    client(emu, second, "mobile/otp/start", {})
    emu.advance(60)  # the first code is 120 s old, the second 60 s
    assert results(emu, first) == FAILED
    assert results(emu, second) == PENDING
    assert "expired" in terminal_error(client(emu, first, "mobile/otp/finish", {"otp": "1234"}))
    assert client(emu, second, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    detail = emu.flow(first["correlationId"])
    assert detail["possession"]["reason"] == "the code expired"
    failed = [e for e in detail["timeline"] if e["event"] == "possession-failed"]
    assert [e["reason"] for e in failed] == ["the code expired"]


def test_expiry_before_the_start_is_no_expiry(emu):
    """The 2 minutes run from the SMS, not from verify."""
    emu.freeze()
    flow = emu.verify("2025550100", MOBILE)
    emu.advance(150)
    client(emu, flow, "mobile/otp/start", {})
    emu.advance(119)
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}


# -- failures the scenarios inject ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("possession", "step", "body"), [(MOBILE, "mobile/otp/start", {}),
                                                           (DESKTOP, "mobile/instantlink/start", IL_START)])
def test_an_undeliverable_sms_ends_possession_at_the_start(emu, possession, step, body):
    flow = emu.verify("2025550107", possession)
    assert "could not be delivered" in terminal_error(client(emu, flow, step, body))
    assert emu.sms("2025550107") == []
    assert results(emu, flow) == FAILED


@pytest.mark.parametrize(("possession", "step", "body", "success"), [
    (MOBILE, "mobile/otp/start", {}, {"next": "mobile/otp"}),
    (DESKTOP, "mobile/instantlink/start", IL_START, {"data": {}}),
])
def test_the_sdk_start_answers_503_once(emu, possession, step, body, success):
    flow = emu.verify("2025550112", possession)
    first = sdk_call(emu, flow["authToken"], f"/v1/client/{step}", body)
    assert first.status_code == 503  # §9.5 transport failure: the SDK rejects without an /error report
    assert first.json()["code"] == 8000
    assert emu.sms("2025550112") == []  # a faulted call changes nothing
    assert client(emu, flow, step, body) == success
    assert results(emu, flow) == PENDING


# -- the /error reports (§3.4) ------------------------------------------------------------------------------------


def test_user_cancel_reported_on_otp_error_ends_possession_softly(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    message = "Failed to obtain OTP for verification: user cancelled otp}"
    assert client(emu, flow, "mobile/otp/error", {"message": message}) == {"next": "done"}
    assert results(emu, flow) == FAILED
    reported = [e for e in emu.flow(flow["correlationId"])["timeline"] if e["event"] == "client-error-reported"]
    assert reported[0]["message"] == message


def test_error_reports_for_the_hard_persona_end_quietly(emu):
    flow = emu.verify("2025550108", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    body = {"message": "Failed to receive secondary authentication with status code 1006. The connection was "
                       "closed unexpectedly without a close frame"}
    assert client(emu, flow, "mobile/instantlink/error", body) == {"next": ""}
    assert results(emu, flow) == FAILED


def test_an_error_report_after_success_changes_nothing(emu):
    """cancel() after the WebSocket said done still posts /error with 1005 (§7.5)."""
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    emu.click(emu.latest_link("2025550100"))
    body = {"code": 10001, "message": "Failed to receive secondary authentication with status code 1005."}
    assert client(emu, flow, "mobile/instantlink/error", body) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_an_error_report_for_the_other_method_leaves_possession_alone(emu):
    flow = emu.verify("2025550100", MOBILE)
    client(emu, flow, "mobile/otp/start", {})
    assert client(emu, flow, "mobile/instantlink/error", {"message": "x"}) == {"next": "done"}
    assert client(emu, flow, "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}


# -- Instant Link: start replies (§6.2) ------------------------------------------------------------------------


def test_desktop_instant_link_start_answers_an_empty_data_object(emu):
    flow = emu.verify("2025550100", DESKTOP)
    assert client(emu, flow, "mobile/instantlink/start", IL_START) == {"data": {}}
    sms = emu.latest_sms("2025550100")
    assert sms["kind"] == "instant-link" and "otp" not in sms
    assert sms["link"].startswith(emu.base_url + "/__emulator/link/") and sms["link"] in sms["body"]
    # The step running again (a WebSocket status, a reload) keeps the link.
    assert client(emu, flow, "mobile/instantlink/start", IL_START) == {"data": {}}
    assert sms_count(emu, "2025550100") == 1


def test_mobile_instant_link_start_ends_the_tab_quietly(emu):
    flow = emu.verify("2025550100", DESKTOP)
    assert client(emu, flow, "mobile/instantlink/start", {"sourceIp": None, "isMobile": True}) == {"next": ""}


@pytest.mark.parametrize("is_mobile", [False, True])
def test_projects_with_a_retry_step_get_an_empty_start_reply(emu, is_mobile):
    emu.put_project("with-retry", clientSecret="s", instantLinkStartReply="empty")
    token = emu.access_token("with-retry", "s")
    reply = emu.post("/v3/verify", {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100",
                                    "possessionType": DESKTOP, "finalTargetUrl": "https://app.example.com/done"},
                     token=token)
    flow = reply.json()
    assert client(emu, flow, "mobile/instantlink/start", {"sourceIp": None, "isMobile": is_mobile}) == {}
    assert client(emu, flow, "mobile/instantlink/start", {**IL_RESEND, "isMobile": is_mobile}) == {}


@pytest.mark.parametrize(("number", "message"), [("12345", "must be a phone number"),
                                                 ("3035550000", "sandbox user not found")])
def test_instant_link_bad_number_reprompts(emu, number, message):
    flow = emu.verify("2025550100", DESKTOP)
    assert message in reprompt(client(emu, flow, "mobile/instantlink/start", {**IL_START, "mobileNumber": number}))
    assert results(emu, flow) == PENDING


# -- Instant Link: the click and the status socket (§7) ----------------------------------------------------------


def test_the_status_socket_answers_text_ping_with_text_pong(emu):
    flow = emu.verify("2025550100", DESKTOP)
    with ws_connect(emu, flow["authToken"]) as socket:
        for _ in range(3):
            socket.send("ping")
            assert socket.recv(timeout=5) == "pong"


def test_the_status_socket_declines_permessage_deflate(emu):
    """Chromium offers it; a status is ~20 bytes and zlib's state ~35 KiB per idle socket (§7.2)."""
    flow = emu.verify("2025550100", DESKTOP)
    with ws_connect(emu, flow["authToken"]) as socket:  # the client offers permessage-deflate
        assert "Sec-WebSocket-Extensions" in socket.request.headers
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        socket.send("ping")
        assert socket.recv(timeout=5) == "pong"


def test_statuses_published_together_are_sent_in_order_and_the_close_last():
    sent: list[str] = []

    class Socket:  # each send yields to the loop, as one waiting for a full write buffer does
        async def send_text(self, text: str) -> None:
            await asyncio.sleep(0)
            sent.append(text)

        async def close(self, code: int) -> None:
            await asyncio.sleep(0)
            sent.append(f"close {code}")

    async def publish_three() -> None:
        emulator = Emulator()
        flow = SimpleNamespace(record=lambda *args, **details: None)
        sender = _StatusSender(Socket(), flow, emulator)  # type: ignore[arg-type]
        for text, close in [("first", False), ("second", True), ("", True)]:
            sender.deliver(text, close)
        while sender.task is not None:
            await asyncio.sleep(0)

    asyncio.run(publish_three())
    assert sent == ["first", "second", "close 1000"]


def test_a_click_pushes_done_to_the_connected_socket(emu):
    flow = emu.verify("2025550100", DESKTOP)
    with ws_connect(emu, flow["authToken"]) as socket:
        assert client(emu, flow, "mobile/instantlink/start", IL_START) == {"data": {}}
        click = emu.click(emu.latest_link("2025550100"))
        assert click.status_code == 302
        assert click.headers["location"] == "https://app.example.com/done"  # desktop: as given
        assert ws_status(socket) == {"next": "done"}
        socket.send("ping")  # the socket stays usable until the SDK closes it
        assert socket.recv(timeout=5) == "pong"
    assert results(emu, flow) == SUCCEEDED


def test_a_status_published_before_connecting_is_delivered_on_connect(emu):
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    emu.click(emu.latest_link("2025550100"))
    with ws_connect(emu, flow["authToken"]) as socket:
        assert ws_status(socket) == {"next": "done"}


def test_sequential_connections_each_work(emu):
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    for _ in range(2):  # the step re-ran: a new socket each time, nothing pending yet
        with ws_connect(emu, flow["authToken"]) as socket:
            socket.send("ping")
            assert socket.recv(timeout=5) == "pong"
    with ws_connect(emu, flow["authToken"]) as first, ws_connect(emu, flow["authToken"]) as second:
        emu.click(emu.latest_link("2025550100"))
        assert ws_status(first) == ws_status(second) == {"next": "done"}
    with ws_connect(emu, flow["authToken"]) as later:
        assert ws_status(later) == {"next": "done"}


def test_link_expiry_sends_an_error_status_then_closes(emu):
    emu.freeze()
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    link = emu.latest_link("2025550100")
    with ws_connect(emu, flow["authToken"]) as socket:
        emu.advance(179)
        socket.send("ping")
        assert socket.recv(timeout=5) == "pong"
        emu.advance(1)
        assert "expired" in terminal_error(ws_status(socket))
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)
        assert socket.close_code == 1000
    assert results(emu, flow) == FAILED
    assert emu.click(link).status_code == 410
    with ws_connect(emu, flow["authToken"]) as later:  # a socket opened afterwards learns it too
        terminal_error(ws_status(later))


def test_link_expiry_for_the_hard_persona_sends_an_error_without_next(emu):
    emu.freeze()
    flow = emu.verify("2025550108", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    with ws_connect(emu, flow["authToken"]) as socket:
        emu.advance(180)
        terminal_error(ws_status(socket), soft=False)
    assert results(emu, flow) == FAILED


def test_client_rejected_click_sends_the_soft_failure(emu):
    flow = emu.verify("2025550106", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    with ws_connect(emu, flow["authToken"]) as socket:
        click = emu.click(emu.latest_link("2025550106"))
        assert click.status_code == 302
        assert "client-rejected" in terminal_error(ws_status(socket))
    assert results(emu, flow) == FAILED


def test_links_are_single_use(emu):
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    link = emu.latest_link("2025550100")
    assert emu.click(link).status_code == 302
    assert emu.click(link).status_code == 410
    assert emu.click(emu.base_url + "/__emulator/link/no-such-link").status_code == 404


@pytest.mark.parametrize(("phone", "asc", "expected"), [("2025550100", "true", SUCCEEDED),
                                                         ("2025550106", "true", FAILED)])
def test_same_device_click_lands_with_auth_id_and_asc(emu, phone, asc, expected):
    """Mobile Instant Link: the landing page calls finishInstantLink(location.href) (§6.4)."""
    flow = emu.verify(phone, DESKTOP, finalTargetUrl="https://app.example.com/done?step=2")
    assert client(emu, flow, "mobile/instantlink/start", {"sourceIp": None, "isMobile": True}) == {"next": ""}
    click = emu.click(emu.latest_link(phone))
    auth_id = emu.flow(flow["correlationId"])["authId"]
    assert click.status_code == 302
    assert click.headers["location"] == f"https://app.example.com/done?step=2&authId={auth_id}&asc={asc}"
    assert results(emu, flow) == expected


# -- Instant Link: resend and number change (§6.3) ------------------------------------------------------------


def test_instant_link_resend_replaces_the_link_and_restarts_the_window(emu):
    emu.freeze()
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    old = emu.latest_link("2025550100")
    emu.advance(100)
    assert client(emu, flow, "mobile/instantlink/start", IL_RESEND) == {"data": {}}
    new = emu.latest_link("2025550100")
    assert new != old
    assert emu.click(old).status_code == 410  # replaced by the resend
    emu.advance(150)  # 250 s after the first link, 150 s after the new one
    with ws_connect(emu, flow["authToken"]) as socket:
        assert emu.click(new).status_code == 302
        assert ws_status(socket) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED


def test_the_fourth_instant_link_resend_ends_possession(emu):
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    for _ in range(3):
        assert client(emu, flow, "mobile/instantlink/start", IL_RESEND) == {"data": {}}
    with ws_connect(emu, flow["authToken"]) as socket:
        assert "resend limit" in terminal_error(client(emu, flow, "mobile/instantlink/start", IL_RESEND))
        terminal_error(ws_status(socket))
    assert results(emu, flow) == FAILED


def test_instant_link_number_change_sends_a_new_link_to_the_new_number(emu):
    flow = emu.verify("2025550100", DESKTOP)
    client(emu, flow, "mobile/instantlink/start", IL_START)
    old = emu.latest_link("2025550100")
    assert client(emu, flow, "mobile/instantlink/start", {**IL_START, "mobileNumber": "5551234567"}) == {"data": {}}
    new = emu.latest_link("5551234567")
    assert emu.flow(flow["correlationId"])["phoneNumber"] == "5551234567"
    assert emu.click(old).status_code == 410
    with ws_connect(emu, flow["authToken"]) as socket:
        assert emu.click(new).status_code == 302
        assert ws_status(socket) == {"next": "done"}
    assert results(emu, flow) == SUCCEEDED
