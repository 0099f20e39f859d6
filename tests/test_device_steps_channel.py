"""The device channel's Prove Key and Mobile Auth endpoints over HTTP, as the Web SDK calls them
(web-sdk-protocol §3.2, §4, §8.1, §8.3), and everything it never sends: bad bodies, forged or
replayed signatures, another flow's token. Every reply is HTTP 200 in the `{next, data, error}`
envelope (checked against /openapi.json by the `emu` fixture); a refusal accepts nothing.

The browser tests (tests/browser/test_web_sdk_steps.py) run the same steps with the real SDK.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.prove_calls import auth_claims, ok, pass_mobile_auth, pass_otp, project_token
from tests.soft_device import SoftDevice

LORANT = "2001004014"
LANEY = "2001004015"
INGE = "2001004016"  # Mobile Auth: success
MOBILE_AUTH_FALLBACK = "2025550130"
MOBILE_AUTH_FAILS = "2025550131"
KEY_REJECTED = "2025550132"
KEY_UNREGISTERED = "2025550133"
KEY_REGISTERED = "2025550134"
WEBAUTHN = "2025550135"
IL_TARGET = "https://www.example.com/unified"


def unify(emu, phone: str = LORANT, possession: str = "mobile", token: str | None = None, **fields: Any) -> dict:
    body: dict[str, Any] = {"possessionType": possession, "phoneNumber": phone, **fields}
    if possession == "desktop":
        body["finalTargetUrl"] = IL_TARGET
    return ok(emu.post("/v3/unify", body, token=token))


def status(emu, started: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    return ok(emu.post("/v3/unify-status", {"correlationId": started["correlationId"]}, token=token))


def assert_refused(reply: dict[str, Any], *words: str) -> None:
    """A hard refusal: an error without next (authenticate() rejects), naming `words`."""
    assert set(reply) == {"error"}, reply
    assert reply["error"]["code"] == 10003 and all(word in reply["error"]["message"] for word in words), reply


def assert_not_recognised(reply: dict[str, Any], *words: str) -> None:
    """10006 with next device/passive: the SDK deletes its key, registers a new one, then OTP."""
    assert reply["next"] == "device/passive" and reply["error"]["code"] == 10006, reply
    assert all(word in reply["error"]["message"] for word in words), reply


def registered(emu, phone: str = LORANT, device: SoftDevice | None = None) -> tuple[SoftDevice, dict[str, Any]]:
    """A device whose key is bound to `phone` (register, then OTP); the device and unify-status."""
    device = device or SoftDevice()
    started = unify(emu, phone)
    assert device.register(emu, started["authToken"]) == {"data": {"deviceId": device.device_id},
                                                          "next": "mobile/otp"}
    pass_otp(emu, started["authToken"])
    result = status(emu, started)
    assert result["deviceId"] == device.device_id
    return device, result


def keys(emu) -> list[dict[str, Any]]:
    """The Prove Keys the emulator holds, read from its service (this test runs in its process)."""
    return [key.as_json() for key in emu.server.emulator.prove_keys.all()]


@pytest.fixture
def emu(emu, prove_emulator_server):
    emu.server = prove_emulator_server
    return emu


# -- /device/passive/register ---------------------------------------------------------------------------


def test_register_answers_a_device_id_and_next_mobile_otp(emu):
    started = unify(emu)
    device = SoftDevice()
    reply = device.register(emu, started["authToken"])
    assert reply == {"data": {"deviceId": device.device_id}, "next": "mobile/otp"}
    assert keys(emu) == [{"deviceId": device.device_id, "phoneNumber": "", "onDevice": True, "revoked": False,
                          "deviceName": "Python 3 on Linux"}]  # bound only once possession succeeds
    assert status(emu, started) == {"success": "pending", "phoneNumber": LORANT}
    assert emu.sms(correlation_id=started["correlationId"]) == []  # the SMS waits for the OTP step


def _other_curve_pem() -> str:
    return ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _rsa_pem() -> str:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _with_registration(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    registration = body["registrations"][0]
    public = {**registration["publicKey"], **changes.pop("publicKey", {})}
    return {**body, "registrations": [{**registration, "publicKey": public, **changes}]}


@pytest.mark.parametrize(("change", "words"), [
    (lambda body, device, other: _with_registration(body, publicKey={"alg": "RS256"}), ("ES256",)),
    (lambda body, device, other: _with_registration(body, publicKey={"key": "not a key"}), ("not a PEM",)),
    (lambda body, device, other: _with_registration(body, publicKey={"key": _other_curve_pem()}), ("P-256",)),
    (lambda body, device, other: _with_registration(body, publicKey={"key": _rsa_pem()}), ("P-256",)),
    # forged: signed by another key than the one registered
    (lambda body, device, other: _with_registration(body, signature=other.sign(body["chlg"])), ("does not verify",)),
    # replayed: another flow's registration (its signature is over that flow's challenge)
    (lambda body, device, other: other.registration(body["other_token"]), ("does not verify",)),
    (lambda body, device, other: _with_registration(body, signature="AAAA"), ("does not verify",)),
    (lambda body, device, other: _with_registration(body, signature="not base64!"), ("does not verify",)),
])
def test_register_refuses_bad_keys_and_forged_or_replayed_signatures(emu, change, words):
    started, other_flow = unify(emu), unify(emu, LANEY)
    device, other = SoftDevice(), SoftDevice()
    body = {**device.registration(started["authToken"]), "chlg": auth_claims(started["authToken"])["chlg"],
            "other_token": other_flow["authToken"]}
    bad = change(body, device, other)
    bad = {key: value for key, value in bad.items() if key not in ("chlg", "other_token")}
    assert_refused(emu.client(started["authToken"], "device/passive/register", bad), *words)
    assert keys(emu) == []
    # Nothing was accepted: the device can still register with its good key.
    assert device.register(emu, started["authToken"])["next"] == "mobile/otp"


@pytest.mark.parametrize("body", [
    {},
    {"registrations": []},
    {"registrations": [{"publicKey": {"id": "k", "alg": "ES256"}, "signature": "x"}]},
    {"registrations": "one"},
    {"registrations": [{"publicKey": {"id": "", "alg": "ES256", "key": "k"}, "signature": "x"}]},
    {"deviceName": 7, "registrations": [{"publicKey": {"id": "k", "alg": "ES256", "key": "k"}, "signature": "x"}]},
])
def test_register_refuses_bodies_that_break_its_schema(emu, body):
    started = unify(emu)
    assert_refused(emu.client(started["authToken"], "device/passive/register", body), "field '")
    assert keys(emu) == []


def test_a_flow_registers_one_key_only(emu):
    started = unify(emu)
    SoftDevice().register(emu, started["authToken"])
    assert_refused(SoftDevice().register(emu, started["authToken"]), "already registered")
    assert len(keys(emu)) == 1


@pytest.mark.parametrize("other", ["verify", "desktop", "mobile-auth", "short-term"])
def test_another_flows_token_cannot_register_or_verify(emu, other):
    if other == "verify":
        token = emu.verify("2025550100", "mobile")["authToken"]  # Verified Users: no Prove Key step
    elif other == "desktop":
        token = unify(emu, LORANT, "desktop")["authToken"]
    elif other == "mobile-auth":
        token = unify(emu, INGE)["authToken"]
    else:
        token = unify(emu, "2001004018")["authToken"]  # short-term: possession settled, no key step
    device, _ = registered(emu, LANEY)
    assert_refused(device.register(emu, token), "no Prove Key step")
    assert_refused(device.verify(emu, token), "no Prove Key step")
    assert len(keys(emu)) == 1


def test_a_refused_token_is_refused(emu):
    started = unify(emu)
    body = SoftDevice().registration(started["authToken"])
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {started['authToken'][:-2]}xx"}):
        reply = emu.http.post("/v1/client/device/passive/register", json=body, headers=headers)
        assert reply.status_code == 200
        assert_refused(reply.json(), "authToken refused")
    assert keys(emu) == []


def test_the_unregistered_persona_cannot_keep_a_key_and_runs_otp(emu):
    started = unify(emu, KEY_UNREGISTERED)
    reply = SoftDevice().register(emu, started["authToken"])
    assert reply["next"] == "mobile/otp" and reply["error"]["code"] == 10001 and "data" not in reply
    pass_otp(emu, started["authToken"])
    result = status(emu, started)
    assert result["success"] == "true" and set(result) == {"success", "phoneNumber", "proveId"}  # no deviceId
    assert keys(emu) == []


# -- /device/passive/verify -----------------------------------------------------------------------------


def test_verify_with_a_bound_key_is_possession_without_an_sms(emu):
    device, first = registered(emu)
    again = unify(emu)
    assert device.verify(emu, again["authToken"]) == {"next": "done"}
    assert status(emu, again) == first
    assert emu.sms(correlation_id=again["correlationId"]) == []
    timeline = [event["event"] for event in emu.flow(again["correlationId"])["timeline"]]
    assert timeline.index("prove-key-verified") < timeline.index("possession-succeeded")
    assert "sms-sent" not in timeline


@pytest.mark.parametrize(("forge", "words"), [
    (lambda device, token, other: {**device.verification(token), "signature": other.sign("x")}, ("signature",)),
    (lambda device, token, other: {**device.verification(token), "keyId": other.key_id}, ("signature",)),
    (lambda device, token, other: other.verification(token, device.device_id), ("signature",)),  # another key
    (lambda device, token, other: {**device.verification(token), "signature": "####"}, ("signature",)),
    (lambda device, token, other: {**device.verification(token), "deviceId": "8a1d2c6e-1111-4b08-83ba-75d08780aebd"},
     ("no Prove Key",)),
])
def test_verify_with_a_forged_signature_or_an_unknown_key_proves_nothing(emu, forge, words):
    device, _ = registered(emu)
    again = unify(emu)
    assert_not_recognised(emu.client(again["authToken"], "device/passive/verify",
                                     forge(device, again["authToken"], SoftDevice())), *words)
    assert status(emu, again) == {"success": "pending", "phoneNumber": LORANT}  # nothing accepted


def test_a_verify_replayed_from_an_earlier_flow_proves_nothing(emu):
    device, _ = registered(emu)
    earlier = unify(emu)
    recorded = device.verification(earlier["authToken"])  # signed over the earlier flow's challenge
    assert emu.client(earlier["authToken"], "device/passive/verify", recorded) == {"next": "done"}
    later = unify(emu)
    assert_not_recognised(emu.client(later["authToken"], "device/passive/verify", recorded), "signature")
    assert status(emu, later)["success"] == "pending"


def test_a_flow_verifies_one_key_only(emu):
    device, _ = registered(emu)
    again = unify(emu, rebind=True)
    assert device.verify(emu, again["authToken"]) == {"next": "mobile/otp"}
    assert_refused(device.verify(emu, again["authToken"]), "already")


def test_a_key_registered_but_never_bound_proves_nothing(emu):
    started = unify(emu)
    device = SoftDevice()
    device.register(emu, started["authToken"])
    emu.client(started["authToken"], "mobile/otp/start", {})
    emu.client(started["authToken"], "mobile/otp/finish", {"otp": "0000"})  # possession fails: nothing bound
    again = unify(emu)
    assert_not_recognised(device.verify(emu, again["authToken"]), "ever bound")


def test_the_rejected_persona_replaces_the_key_on_every_visit(emu):
    device, first = registered(emu, KEY_REJECTED)
    again = unify(emu, KEY_REJECTED)
    assert_not_recognised(device.verify(emu, again["authToken"]), "rejected")
    fresh = SoftDevice()
    assert fresh.register(emu, again["authToken"])["next"] == "mobile/otp"  # after the SDK deleted its key
    pass_otp(emu, again["authToken"])
    assert status(emu, again)["deviceId"] == fresh.device_id != first["deviceId"]


@pytest.mark.parametrize("body", [{}, {"deviceId": "d"}, {"deviceId": 1, "keyId": "k", "signature": "s"},
                                  {"deviceId": "", "keyId": "k", "signature": "s"}])
def test_verify_refuses_bodies_that_break_its_schema(emu, body):
    started = unify(emu)
    assert_refused(emu.client(started["authToken"], "device/passive/verify", body), "field '")
    assert status(emu, started)["success"] == "pending"


# -- /device/fido2/start (WebAuthn: only a persona asking for it) ----------------------------------------


def test_a_persona_asking_for_webauthn_gets_uvlvl_and_a_clear_error(emu):
    started = unify(emu, WEBAUTHN)
    assert auth_claims(started["authToken"])["subs"] == {
        "mob": {"auths": {"otp": {"mnp": True}}}, "dev": {"auths": {"pasv": {"uvlvl": "req"}}}}
    reply = emu.client(started["authToken"], "device/fido2/start", {"signals": {}, "deviceId": None})
    assert set(reply) == {"error"} and "WebAuthn" in reply["error"]["message"]  # no next: authenticate() rejects
    assert status(emu, started) == {"success": "false", "phoneNumber": WEBAUTHN}


def test_webauthn_start_is_refused_without_uvlvl(emu):
    assert "uvlvl" not in json.dumps(auth_claims(unify(emu)["authToken"]))
    started = unify(emu)
    assert_refused(emu.client(started["authToken"], "device/fido2/start", {"signals": {}}), "no WebAuthn")
    assert status(emu, started)["success"] == "pending"


# -- /device/passive/error --------------------------------------------------------------------------------


def test_a_prove_key_step_failure_continues_with_otp(emu):
    started = unify(emu)
    reply = emu.client(started["authToken"], "device/passive/error", {"message": "crypto.subtle is unavailable"})
    assert reply == {"next": "mobile/otp"}
    pass_otp(emu, started["authToken"])
    assert status(emu, started)["success"] == "true"


# -- /v1/client/challenge and signed requests -------------------------------------------------------------


def test_the_challenge_is_top_level_and_lives_sixty_seconds(emu):
    device, _ = registered(emu)
    again = unify(emu)
    for token in (again["authToken"], None):  # unregisterDevice() asks without an authToken
        reply = device.challenge(emu, token)
        assert set(reply) == {"challenge", "ttl"} and reply["ttl"] == 60 and reply["challenge"]


def test_a_challenge_for_an_unknown_device_is_10006(emu):
    device = SoftDevice()
    device.device_id = "8a1d2c6e-1111-4b08-83ba-75d08780aebd"
    reply = device.challenge(emu)
    assert set(reply) == {"error"} and reply["error"]["code"] == 10006


@pytest.mark.parametrize("body", [{}, {"deviceId": 5}, {"deviceId": ""}, {"deviceId": "x" * 129}])
def test_the_challenge_refuses_bad_bodies(emu, body):
    reply = emu.http.post("/v1/client/challenge", json=body)
    assert reply.status_code == 200
    assert_refused(reply.json(), "field '")


def test_the_challenge_refuses_a_bad_token(emu):
    device, _ = registered(emu)
    reply = emu.http.post("/v1/client/challenge", json={"deviceId": device.device_id},
                          headers={"Authorization": "Bearer forged"})
    assert_refused(reply.json(), "authToken refused")


SIGNED_REPORTS = [("mobile/otp/error", LORANT, {"next": "done"}),
                  ("device/passive/error", LORANT, {"next": "mobile/otp"}),
                  ("mobile/instant/error", INGE, {"next": "mobile/otp"})]


@pytest.mark.parametrize(("step", "phone", "expected"), SIGNED_REPORTS)
def test_signed_reports_after_registration_are_accepted(emu, step, phone, expected):
    device, _ = registered(emu, LANEY)
    started = unify(emu, phone)
    reply = device.signed_post(emu, step, {"code": 10002, "message": "the user left"}, started["authToken"])
    assert reply.status_code == 200 and reply.json() == expected
    timeline = emu.flow(started["correlationId"])["timeline"]
    assert {"event": "signed-by-device", "path": f"/v1/client/{step}", "deviceId": device.device_id}.items() <= \
        next(event for event in timeline if event["event"] == "signed-by-device").items()


def _signed(device: SoftDevice, emu, step: str, body: dict[str, Any], token: str, **override: str) -> httpx.Response:
    path = f"/v1/client/{step}"
    raw = json.dumps(body).encode()
    headers = device.signed_headers(path, raw, device.challenge(emu, token)["challenge"])
    headers.update(override)
    return emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("step", "phone", "expected"), SIGNED_REPORTS)
@pytest.mark.parametrize("forgery", ["other key", "tampered body", "kid", "version", "partial", "unknown challenge",
                                     "replayed", "expired"])
def test_forged_or_replayed_signatures_are_refused(emu, step, phone, expected, forgery):
    device, _ = registered(emu, LANEY)
    started = unify(emu, phone)
    token = started["authToken"]
    body = {"message": "the user left"}
    path = f"/v1/client/{step}"
    raw = json.dumps(body).encode()
    if forgery == "other key":  # a challenge of the device's, signed by another key
        headers = SoftDevice().signed_headers(path, raw, device.challenge(emu, token)["challenge"])
        headers["PA-KID"] = device.key_id
        reply = emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {token}"})
    elif forgery == "tampered body":
        headers = device.signed_headers(path, raw, device.challenge(emu, token)["challenge"])
        reply = emu.http.post(path, content=json.dumps({"message": "something else"}).encode(),
                              headers={**headers, "Authorization": f"Bearer {token}"})
    elif forgery == "kid":
        reply = _signed(device, emu, step, body, token, **{"PA-KID": SoftDevice().key_id})
    elif forgery == "version":
        reply = _signed(device, emu, step, body, token, **{"PA-Sig-Version": "2"})
    elif forgery == "partial":
        headers = device.signed_headers(path, raw, device.challenge(emu, token)["challenge"])
        del headers["PA-Signature"]
        reply = emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {token}"})
    elif forgery == "unknown challenge":
        headers = device.signed_headers(path, raw, "made-up-challenge")
        reply = emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {token}"})
    elif forgery == "replayed":
        headers = device.signed_headers(path, raw, device.challenge(emu, token)["challenge"])
        first = emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {token}"})
        assert first.json() == expected
        again = unify(emu, phone)  # the same signed request, sent again in a new flow
        reply = emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {again['authToken']}"})
        started, token = again, again["authToken"]
    else:  # expired: the challenge lives 60 s on the emulator clock
        emu.freeze()
        headers = device.signed_headers(path, raw, device.challenge(emu, token)["challenge"])
        emu.advance(60)
        reply = emu.http.post(path, content=raw, headers={**headers, "Authorization": f"Bearer {token}"})
    assert reply.status_code == 200
    assert_refused(reply.json(), "signature refused")
    flow = emu.flow(started["correlationId"])
    assert all(event["event"] != "client-error-reported" for event in flow["timeline"])  # nothing was reported
    assert flow["possession"]["status"] == "waiting"


def test_an_unsigned_report_is_accepted_as_before(emu):
    started = unify(emu)
    assert emu.client(started["authToken"], "mobile/otp/error", {"message": "cancelled"}) == {"next": "done"}
    assert status(emu, started)["success"] == "false"


# -- /device/unregister -----------------------------------------------------------------------------------


def test_unregister_signed_by_the_key_forgets_it(emu):
    device, first = registered(emu)
    reply = device.signed_post(emu, "device/unregister", {"deviceId": device.device_id})  # no authToken
    assert reply.status_code == 200 and reply.json() == {}
    assert keys(emu) == []
    assert emu.post("/v3/device/revoke", {"clientRequestId": "r", "deviceId": first["deviceId"]}).status_code == 404
    assert_not_recognised(device.verify(emu, unify(emu)["authToken"]), "no Prove Key")


@pytest.mark.parametrize("forgery", ["unsigned", "other device's id", "other key", "replayed"])
def test_unregister_refuses_what_its_key_did_not_sign(emu, forgery):
    device, _ = registered(emu)
    other, _ = registered(emu, LANEY)
    if forgery == "unsigned":
        reply = emu.http.post("/v1/client/device/unregister", json={"deviceId": device.device_id})
    elif forgery == "other device's id":  # the other device signs, naming this one's key
        reply = other.signed_post(emu, "device/unregister", {"deviceId": device.device_id})
    elif forgery == "other key":
        raw = json.dumps({"deviceId": device.device_id}).encode()
        headers = other.signed_headers("/v1/client/device/unregister", raw, device.challenge(emu)["challenge"])
        reply = emu.http.post("/v1/client/device/unregister", content=raw, headers={**headers,
                                                                                    "PA-KID": device.key_id})
    else:
        challenge = device.challenge(emu)["challenge"]
        first = device.signed_post(emu, "device/unregister", {"deviceId": device.device_id}, challenge=challenge)
        assert first.json() == {}
        device, _ = registered(emu, LORANT, device)  # registered again, then the old request sent again
        reply = device.signed_post(emu, "device/unregister", {"deviceId": device.device_id}, challenge=challenge)
    assert reply.status_code == 200
    assert_refused(reply.json())
    assert device.device_id in [key["deviceId"] for key in keys(emu)]


# -- Mobile Auth ------------------------------------------------------------------------------------------


def test_mobile_auth_users_start_at_mobile_instant_and_succeed_without_an_sms(emu):
    started = unify(emu, INGE)
    assert auth_claims(started["authToken"])["next"] == "mobile/instant"
    assert auth_claims(started["authToken"])["subs"] == {"mob": {"auths": {"otp": {"mnp": True}}}}  # OTP fallback
    assert pass_mobile_auth(emu, started["authToken"]) == {"next": "done"}
    result = status(emu, started)
    assert result["success"] == "true" and result["deviceId"] and result["phoneNumber"] == INGE
    assert emu.sms(correlation_id=started["correlationId"]) == []


def test_the_redirect_url_is_the_emulators_and_serves_the_vfp(emu):
    started = unify(emu, INGE)
    reply = emu.client(started["authToken"], "mobile/instant/start", {"cellularIp": None, "implementation": "fetch"})
    url = httpx.URL(reply["data"]["redirectUrl"])
    assert str(url).startswith(emu.base_url + "/v1/client/mobile/instant/auth/")
    vfp = url.params["testVfp"]  # over http the library uses its test hook instead of a request
    fetched = emu.http.get(url.copy_with(params={"r": "f", "sdkVersion": "3.2.5"}))
    assert fetched.status_code == 200 and fetched.json() == {"vfp": vfp}
    pixel = httpx.get(str(url.copy_with(params={"sdkVersion": "3.2.5"})))  # the pixel implementation
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert emu.client(started["authToken"], "mobile/instant/finish", {"vfp": vfp}) == {"next": "done"}
    assert emu.http.get(url.copy_with(params={"r": "f"})).status_code == 410  # the session has ended
    assert emu.http.get(emu.base_url + "/v1/client/mobile/instant/auth/nope").status_code == 404


def test_mobile_auth_failure_falls_back_to_otp(emu):
    started = unify(emu, MOBILE_AUTH_FALLBACK)
    reply = pass_mobile_auth(emu, started["authToken"])
    assert reply["next"] == "mobile/otp" and reply["error"]["code"] == 10001
    assert status(emu, started)["success"] == "pending"
    pass_otp(emu, started["authToken"])
    assert status(emu, started)["success"] == "true"


def test_mobile_auth_failure_without_fallback_ends_possession(emu):
    started = unify(emu, MOBILE_AUTH_FAILS)
    reply = pass_mobile_auth(emu, started["authToken"])
    assert reply["next"] == "done" and reply["error"]["code"] == 10001  # soft: AuthFinishStep runs
    assert status(emu, started) == {"success": "false", "phoneNumber": MOBILE_AUTH_FAILS}
    assert emu.client(started["authToken"], "mobile/otp/start", {}).get("error")  # no OTP after it


def test_mobile_auth_refuses_a_wrong_or_replayed_vfp(emu):
    started = unify(emu, INGE)
    url = httpx.URL(emu.client(started["authToken"], "mobile/instant/start", {"implementation": "fetch"})
                    ["data"]["redirectUrl"])
    for forged in ("", "0" * 32, url.params["testVfp"][:-1]):
        assert_refused(emu.client(started["authToken"], "mobile/instant/finish", {"vfp": forged}), "vfp")
    assert status(emu, started)["success"] == "pending"
    assert emu.client(started["authToken"], "mobile/instant/finish", {"vfp": url.params["testVfp"]}) == {"next": "done"}
    # Replayed in another flow of the same number: that flow's session has another vfp.
    again = unify(emu, INGE)
    emu.client(again["authToken"], "mobile/instant/start", {"implementation": "fetch"})
    assert_refused(emu.client(again["authToken"], "mobile/instant/finish", {"vfp": url.params["testVfp"]}), "vfp")
    assert status(emu, again)["success"] == "pending"


def test_mobile_auth_finish_before_start_is_refused(emu):
    started = unify(emu, INGE)
    assert_refused(emu.client(started["authToken"], "mobile/instant/finish", {"vfp": "x"}), "start first")


def test_a_restarted_mobile_auth_voids_the_earlier_session(emu):
    started = unify(emu, INGE)
    first = httpx.URL(emu.client(started["authToken"], "mobile/instant/start", {})["data"]["redirectUrl"])
    emu.client(started["authToken"], "mobile/instant/start", {})
    assert_refused(emu.client(started["authToken"], "mobile/instant/finish", {"vfp": first.params["testVfp"]}))
    assert emu.http.get(first.copy_with(params={"r": "f"})).status_code == 404


@pytest.mark.parametrize("other", ["verify", "prove-key", "desktop"])
def test_another_flows_token_cannot_run_mobile_auth(emu, other):
    token = {"verify": lambda: emu.verify("2025550100", "mobile")["authToken"],
             "prove-key": lambda: unify(emu)["authToken"],
             "desktop": lambda: unify(emu, INGE, "desktop")["authToken"]}[other]()
    assert_refused(emu.client(token, "mobile/instant/start", {"implementation": "fetch"}), "no Mobile Auth step")
    assert_refused(emu.client(token, "mobile/instant/finish", {"vfp": "x"}), "no Mobile Auth step")
    assert_refused(emu.client(token, "mobile/instant/error", {"message": "x"}), "no Mobile Auth step")


@pytest.mark.parametrize(("step", "body"), [
    ("mobile/instant/start", {"implementation": "carrier-pigeon"}),
    ("mobile/instant/start", {"cellularIp": 10}),
    ("mobile/instant/finish", {}),
    ("mobile/instant/finish", {"vfp": 1}),
    ("mobile/instant/finish", {"vfp": "x" * 257}),
    ("mobile/instant/error", {"message": ["x"]}),
])
def test_mobile_auth_refuses_bodies_that_break_its_schema(emu, step, body):
    started = unify(emu, INGE)
    assert_refused(emu.client(started["authToken"], step, body), "field '")
    assert status(emu, started)["success"] == "pending"


@pytest.mark.parametrize(("phone", "expected_next", "result"), [
    (INGE, "mobile/otp", "pending"),  # a failure in the browser: OTP goes on
    (MOBILE_AUTH_FAILS, "done", "false"),  # no fallback: possession fails
])
def test_a_mobile_auth_failure_in_the_browser_is_reported_to_its_error_endpoint(emu, phone, expected_next, result):
    started = unify(emu, phone)
    emu.client(started["authToken"], "mobile/instant/start", {"implementation": "fetch"})
    reply = emu.client(started["authToken"], "mobile/instant/error",
                       {"code": 10002, "message": "Web SDK cannot make http request"})
    assert reply == {"next": expected_next}
    assert status(emu, started)["success"] == result


def test_mobile_auth_enabled_false_skips_it(emu):
    started = unify(emu, INGE, clientRequestId="r-1", mobileAuthEnabled=False)
    assert auth_claims(started["authToken"])["next"] == "device/passive"


# -- backend-only: proveKey registered -------------------------------------------------------------------


def test_the_registered_persona_is_recognised_at_once(emu):
    started = unify(emu, KEY_REGISTERED)
    assert auth_claims(started["authToken"])["next"] == "done"  # the SDK calls AuthFinishStep without traffic
    first = status(emu, started)
    assert first["success"] == "true" and first["deviceId"]
    assert status(emu, unify(emu, KEY_REGISTERED)) == first
    assert emu.sms(KEY_REGISTERED) == []
    rebind = unify(emu, KEY_REGISTERED, rebind=True)
    assert auth_claims(rebind["authToken"])["next"] == "device/passive"  # rebind asks for possession


def test_prove_keys_and_challenges_belong_to_a_project(emu):
    device, _ = registered(emu)
    other_token = project_token(emu, "unify-b", "unify")
    other = unify(emu, LORANT, token=other_token)
    assert_not_recognised(device.verify(emu, other["authToken"]), "no Prove Key of this project")
    assert status(emu, other, token=other_token)["success"] == "pending"


def test_the_signature_of_the_register_body_covers_the_challenge_bytes(emu):
    """The SDK signs chlg as UTF-8 text (TextEncoder); a signature of anything else is refused."""
    started = unify(emu)
    device = SoftDevice()
    body = device.registration(started["authToken"])
    chlg = auth_claims(started["authToken"])["chlg"]
    body["registrations"][0]["signature"] = device.sign(base64.b64encode(chlg.encode()).decode())
    assert_refused(emu.client(started["authToken"], "device/passive/register", body), "does not verify")
    body["registrations"][0]["signature"] = device.sign(chlg)
    assert emu.client(started["authToken"], "device/passive/register", body)["next"] == "mobile/otp"


@pytest.mark.parametrize(("step", "phone", "body"), [
    ("device/passive/register", LORANT, None), ("mobile/instant/start", INGE, {"implementation": "fetch"})])
def test_faults_apply_to_the_steps_before_possession(emu, step, phone, body):
    emu.add_fault(f"/v1/client/{step}", status=503, times=1)
    started = unify(emu, phone)
    body = body if body is not None else SoftDevice().registration(started["authToken"])
    headers = {"Authorization": f"Bearer {started['authToken']}"}
    assert emu.http.post(f"/v1/client/{step}", json=body, headers=headers).status_code == 503  # the SDK rejects
    assert emu.http.post(f"/v1/client/{step}", json=body, headers=headers).json().get("data")  # once only


@pytest.mark.parametrize(("step", "body"), [
    ("mobile/instant/finish", '{"vfp": "\\ud800"}'),
    ("device/passive/verify", '{"deviceId": "\\ud800", "keyId": "\\udfff", "signature": "\\ud800"}'),
    ("device/passive/register", '{"deviceName": "\\ud800", "registrations": [{"publicKey": {"id": "\\ud800", '
                                '"alg": "ES256", "key": "\\ud800"}, "signature": "\\ud800"}]}'),
    ("challenge", '{"deviceId": "\\ud800"}'),
])
def test_lone_surrogates_are_refused_in_the_envelope(emu, step, body):
    """JSON may carry "\\ud800" (no valid UTF-8): refused like any bad value, never a 500."""
    started = unify(emu, INGE if step.startswith("mobile/instant") else LORANT)
    if step.startswith("mobile/instant"):
        emu.client(started["authToken"], "mobile/instant/start", {})
    reply = emu.http.post(f"/v1/client/{step}", content=body.encode(),
                          headers={"Authorization": f"Bearer {started['authToken']}", "Content-Type": "application/json"})
    assert reply.status_code == 200 and "error" in reply.json() and "data" not in reply.json(), reply.text
