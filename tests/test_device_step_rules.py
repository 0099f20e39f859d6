"""The rules of the Prove Key and Mobile Auth steps, without HTTP: the key store and its challenges,
the signature checks, and the products driven straight through the service (emulator.service).

tests/test_device_steps_channel.py covers the same endpoints over HTTP, and
tests/browser/test_web_sdk_steps.py with the real Web SDK.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from emulator.clock import Clock
from emulator.flows.base import Flow
from emulator.flows.key_signatures import (
    KeyProblem,
    SignedCall,
    load_device_key,
    signature_verifies,
    signed_request_message,
)
from emulator.flows.prove_keys import CHALLENGE_TTL, ProveKeys
from emulator.projects import DEFAULT_CLIENT_ID
from emulator.scenarios.loader import ScenarioError, default_pack_dir, load_catalogue
from emulator.service import Emulator
from tests.soft_device import SoftDevice

T0 = 1_900_000_000.0
LORANT, LANEY, INGE = "2001004014", "2001004015", "2001004016"


# -- signatures -----------------------------------------------------------------------------------------


def test_only_p256_public_keys_in_pem_are_used():
    device = SoftDevice()
    assert isinstance(load_device_key(device.public_pem), ec.EllipticCurvePublicKey)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    for pem, problem in [
        ("", "not a PEM"), ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a PEM"),
        ("é" * 10, "not a PEM"), ("x" * 2000, "over 1024"),
        (p384.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
         "P-256"),
        (rsa_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
         "P-256"),
    ]:
        with pytest.raises(KeyProblem, match=problem):
            load_device_key(pem)


def test_a_signature_verifies_only_over_its_own_message_and_key():
    device, other = SoftDevice(), SoftDevice()
    signature = device.sign("device-1:challenge")
    assert signature_verifies(device.public_pem, signature, b"device-1:challenge")
    assert not signature_verifies(device.public_pem, signature, b"device-1:challengE")
    assert not signature_verifies(other.public_pem, signature, b"device-1:challenge")
    for junk in ("", "!!!", "AAAA", base64.b64encode(b"\x30\x02\x02\x00").decode(), "A" * 500, None, 42):
        assert not signature_verifies(device.public_pem, junk, b"device-1:challenge")  # type: ignore[arg-type]
    assert not signature_verifies("not a key", signature, b"device-1:challenge")


def test_the_signed_request_message_is_the_sdks_six_lines():
    body = b'{"message":"x"}'
    message = signed_request_message("POST", "/v1/client/mobile/otp/error", "", "application/json", "c-1", body)
    assert message.split(b"\n") == [b"POST", b"/v1/client/mobile/otp/error", b"", b"application/json", b"c-1",
                                    hashlib.sha256(body).hexdigest().encode()]
    device = SoftDevice()
    headers = device.signed_headers("/v1/client/mobile/otp/error", body, "c-1")
    assert signature_verifies(device.public_pem, headers["PA-Signature"], message)


def test_a_call_is_signed_when_any_pa_header_is_there_and_complete_when_all_are():
    plain = SignedCall("POST", "/p", "", "application/json", b"{}")
    assert not plain.signed and not plain.complete
    partial = SignedCall("POST", "/p", "", "application/json", b"{}", sig_version="3")
    assert partial.signed and not partial.complete
    full = SignedCall("POST", "/p", "", "application/json", b"{}", "3", "k", "c", "s")
    assert full.signed and full.complete


# -- the key store ----------------------------------------------------------------------------------------


def store(**limits: int) -> ProveKeys:
    return ProveKeys(**limits)


def test_a_registered_key_is_bound_by_possession_and_replaces_the_numbers_earlier_key():
    keys = store()
    first = keys.register("p", key_id="k1", public_key="pem1", device_name="A", at=T0)
    assert first.phone_number == "" and keys.current("p", LORANT) is None and first.on_device
    keys.bind("p", "+1" + LORANT, T0, first)
    assert keys.current("p", LORANT) is first  # numbers are normalized
    second = keys.register("p", key_id="k2", public_key="pem2", device_name="B", at=T0 + 1)
    keys.bind("p", LORANT, T0 + 1, second)
    assert keys.current("p", LORANT) is second
    assert keys.by_device("p", first.device_id) is None and keys.find_device(first.device_id) is None  # forgotten
    server_key = keys.bind("p", LORANT, T0 + 2)  # a key no device holds (unify-bind)
    assert not server_key.on_device and keys.all("p") == [server_key]


def test_rebinding_a_key_to_another_number_takes_it_away_from_the_first():
    keys = store()
    key = keys.register("p", key_id="k", public_key="pem", device_name="", at=T0)
    keys.bind("p", LORANT, T0, key)
    keys.bind("p", LANEY, T0, key)
    assert keys.current("p", LANEY) is key and keys.current("p", LORANT) is None
    assert key.phone_number == LANEY


def test_revoked_keys_stay_known_but_are_no_current_key_and_removed_ones_are_gone():
    keys = store()
    key = keys.bind("p", LORANT, T0, keys.register("p", key_id="k", public_key="pem", device_name="", at=T0))
    assert keys.revoke("p", key.device_id) is key and keys.revoke("p", key.device_id) is key
    assert keys.current("p", LORANT) is None and keys.by_device("p", key.device_id) is key
    assert keys.revoke("other", key.device_id) is None  # another project's
    keys.remove(key)
    assert keys.by_device("p", key.device_id) is None and keys.all() == []


def test_keys_are_bounded_per_project_least_recently_used_first():
    keys = store(max_keys_per_project=3)
    made = [keys.register("p", key_id=f"k{i}", public_key="pem", device_name="", at=T0) for i in range(3)]
    keys.bind("p", LORANT, T0, made[0])  # used: now the most recent
    keys.register("other", key_id="x", public_key="pem", device_name="", at=T0)
    newest = keys.register("p", key_id="k3", public_key="pem", device_name="", at=T0)
    assert [key.key_id for key in keys.all("p")] == ["k2", "k0", "k3"]  # k1 went
    assert keys.find_device(made[1].device_id) is None
    for index in range(3):
        keys.register("p", key_id=f"more{index}", public_key="pem", device_name="", at=T0)
    assert len(keys.all("p")) == 3 and keys.current("p", LORANT) is None  # the bound one went too
    assert keys.find_device(newest.device_id) is None and len(keys.all("other")) == 1


def test_challenges_are_single_use_expire_on_the_clock_and_are_bounded_per_project():
    keys = store(max_challenges_per_project=2)
    key = keys.register("p", key_id="k", public_key="pem", device_name="", at=T0)
    first = keys.issue_challenge(key, T0)
    assert first.expires_at == T0 + CHALLENGE_TTL == T0 + 60
    assert keys.take_challenge(first.value, T0 + 59) == first
    assert keys.take_challenge(first.value, T0 + 59) is None  # used up
    late = keys.issue_challenge(key, T0)
    assert keys.take_challenge(late.value, T0 + 60) is None  # expired (and used up)
    values = [keys.issue_challenge(key, T0).value for _ in range(5)]
    assert keys.outstanding_challenges("p") == 2
    assert keys.take_challenge(values[0], T0) is None and keys.take_challenge(values[-1], T0) is not None
    keys.issue_challenge(key, T0)
    keys.issue_challenge(key, T0 + 61)  # issuing sweeps the expired ones
    assert keys.outstanding_challenges("p") == 1


def test_a_project_reset_forgets_its_keys_and_challenges_only():
    keys = store()
    mine = keys.bind("p", LORANT, T0, keys.register("p", key_id="k", public_key="pem", device_name="", at=T0))
    theirs = keys.bind("q", LORANT, T0, keys.register("q", key_id="k", public_key="pem", device_name="", at=T0))
    mine_challenge, their_challenge = keys.issue_challenge(mine, T0), keys.issue_challenge(theirs, T0)
    keys.reset("p")
    assert keys.all() == [theirs] and keys.current("p", LORANT) is None and keys.current("q", LORANT) is theirs
    assert keys.take_challenge(mine_challenge.value, T0) is None
    assert keys.take_challenge(their_challenge.value, T0) is not None
    keys.reset()
    assert keys.all() == [] and keys.outstanding_challenges("q") == 0


# -- the products, through the service ---------------------------------------------------------------------


class Service:
    """An emulator on a frozen clock, driven as the route handlers drive it."""

    def __init__(self, scenario_dirs: tuple[Path, ...] = (), public_origin: str = "http://127.0.0.1:7768") -> None:
        clock = Clock()
        clock.move(freeze=True, instant=T0)
        self.emulator = Emulator(clock=clock, public_origin=public_origin, scenario_dirs=scenario_dirs)
        self.project = self.emulator.projects.get(DEFAULT_CLIENT_ID)

    def unify(self, phone: str = LORANT, **fields: Any) -> tuple[Flow, dict[str, Any]]:
        reply = self.emulator.unify.unify(self.project, {"possessionType": "mobile", "phoneNumber": phone, **fields})
        return self.emulator.flows.get(DEFAULT_CLIENT_ID, reply["correlationId"]), reply

    def status(self, flow: Flow) -> dict[str, Any]:
        return self.emulator.unify.status(self.project, {"correlationId": flow.correlation_id})

    def register(self, device: SoftDevice, flow: Flow) -> dict[str, Any]:
        reply = self.emulator.device_keys.register(flow, device.registration(flow.auth_token)).as_json()
        device.device_id = reply.get("data", {}).get("deviceId", device.device_id)
        return reply

    def verify(self, device: SoftDevice, flow: Flow) -> dict[str, Any]:
        return self.emulator.device_keys.verify(flow, device.verification(flow.auth_token)).as_json()

    def otp(self, flow: Flow, code: str = "1234") -> dict[str, Any]:
        assert self.emulator.possession.otp_start(flow, {}).as_json() == {"next": "mobile/otp"}
        return self.emulator.possession.otp_finish(flow, {"otp": code}).as_json()

    def bound(self, phone: str = LORANT, device: SoftDevice | None = None) -> SoftDevice:
        device = device or SoftDevice()
        flow, _ = self.unify(phone)
        self.register(device, flow)
        assert self.otp(flow) == {"next": "done"}
        return device

    def signed(self, device: SoftDevice, path: str, body: bytes, challenge: str) -> SignedCall:
        headers = device.signed_headers(path, body, challenge)
        return SignedCall("POST", path, "", "application/json", body, headers["PA-Sig-Version"], headers["PA-KID"],
                          headers["PA-Challenge"], headers["PA-Signature"])


@pytest.fixture
def service() -> Service:
    return Service()


def test_the_key_step_of_a_mobile_unify_binds_the_devices_key_on_otp_success(service):
    flow, reply = service.unify()
    assert flow.key_step is not None and flow.key_step.state == "waiting" and flow.mobile_auth is None
    device = SoftDevice()
    assert service.register(device, flow)["next"] == "mobile/otp"
    assert flow.key_step.state == "registered" and service.status(flow)["success"] == "pending"
    service.otp(flow)
    assert service.status(flow)["deviceId"] == device.device_id
    assert service.emulator.prove_keys.current(DEFAULT_CLIENT_ID, LORANT).device_id == device.device_id


def test_a_good_key_for_the_number_settles_possession_and_another_numbers_fails_it(service):
    device = service.bound(LORANT)
    again, _ = service.unify(LORANT)
    assert service.verify(device, again) == {"next": "done"}
    assert again.possession.status.value == "succeeded" and again.possession.sends == 0
    other, _ = service.unify(LANEY)
    reply = service.verify(device, other)
    assert reply["next"] == "done" and reply["error"]["code"] == 10001 and "rebind" in reply["error"]["message"]
    assert service.status(other)["success"] == "false"


def test_a_hard_terminal_persona_gets_the_key_mismatch_without_next(tmp_path):
    (tmp_path / "hard.yaml").write_text(textwrap.dedent(f"""
        personas:
          - phoneNumber: "{LANEY}"
            terminalReply: hard
            unify: {{mobileAuth: failed}}
          - phoneNumber: "2025550199"
            terminalReply: hard
    """))
    service = Service(scenario_dirs=(tmp_path,))
    device = service.bound(LORANT)
    flow, _ = service.unify("2025550199")
    assert set(service.verify(device, flow)) == {"error"}  # authenticate() rejects
    mobile_auth, reply = service.unify(LANEY)
    start = service.emulator.mobile_auth.start(mobile_auth, {"implementation": "fetch"}).as_json()
    vfp = httpx.URL(start["data"]["redirectUrl"]).params["testVfp"]
    assert set(service.emulator.mobile_auth.finish(mobile_auth, {"vfp": vfp}).as_json()) == {"error"}
    assert service.status(mobile_auth)["success"] == "false"


def test_signed_calls_need_a_fresh_challenge_of_the_signing_device(service):
    device = service.bound()
    keys = service.emulator.device_keys
    challenge = keys.challenge({"deviceId": device.device_id})["challenge"]
    call = service.signed(device, "/v1/client/mobile/otp/error", b'{"message":"x"}', challenge)
    key, problem = keys.signer(call)
    assert problem is None and key.device_id == device.device_id
    replayed, why = keys.signer(call)
    assert replayed is None and "used already" in why
    late = keys.challenge({"deviceId": device.device_id})["challenge"]
    service.emulator.clock.advance(CHALLENGE_TTL)
    assert "expired" in keys.signer(service.signed(device, "/p", b"{}", late))[1]
    assert keys.signer(SignedCall("POST", "/p", "", "application/json", b"{}")) == (None, None)  # unsigned


def test_a_revoked_key_is_not_recognised_and_the_device_registers_again(service):
    device = service.bound()
    service.emulator.unify.revoke(service.project, {"clientRequestId": "r", "deviceId": device.device_id})
    flow, _ = service.unify()
    reply = service.verify(device, flow)
    assert reply["next"] == "device/passive" and reply["error"]["code"] == 10006
    assert flow.key_step.state == "re-register" and flow.key_step.key is None
    fresh = SoftDevice()
    assert service.register(fresh, flow)["next"] == "mobile/otp"
    service.otp(flow)
    assert service.status(flow)["deviceId"] == fresh.device_id


def test_an_unbound_key_is_dropped_when_its_flow_expires_and_a_bound_one_is_kept(service):
    bound = service.bound(LANEY)
    flow, _ = service.unify()
    service.register(SoftDevice(), flow)  # the customer never enters the code
    assert len(service.emulator.prove_keys.all()) == 2
    service.emulator.clock.advance(15 * 60)
    assert [key.device_id for key in service.emulator.prove_keys.all()] == [bound.device_id]


def test_webauthn_start_fails_possession_for_the_persona_that_asks_for_it(service):
    flow, reply = service.unify("2025550135")
    assert flow.key_step.user_verification == "req"
    answer = service.emulator.device_keys.webauthn_start(flow, {"signals": {}}).as_json()
    assert set(answer) == {"error"} and flow.possession.status.value == "failed"
    assert service.status(flow)["success"] == "false"


def test_the_registered_persona_is_settled_without_any_step(service):
    flow, reply = service.unify("2025550134")
    assert flow.key_step is None and flow.possession is None and service.status(flow)["deviceId"]


def test_automatic_personas_keep_starting_at_the_otp(service):
    flow, reply = service.unify("2001004018")  # short-term
    assert flow.key_step is None and flow.mobile_auth is None


# -- Mobile Auth ------------------------------------------------------------------------------------------


def test_over_https_the_redirect_url_is_fetched_and_the_pixel_counts_only_once_loaded():
    service = Service(public_origin="https://emulator.example")
    mobile_auth = service.emulator.mobile_auth
    flow, _ = service.unify(INGE)
    url = httpx.URL(mobile_auth.start(flow, {"implementation": "fetch"}).as_json()["data"]["redirectUrl"])
    assert str(url).startswith("https://emulator.example/v1/client/mobile/instant/auth/") and not url.params
    outcome, vfp = mobile_auth.carrier(url.path.rsplit("/", 1)[1])
    assert outcome == "ok" and mobile_auth.finish(flow, {"vfp": vfp}).as_json() == {"next": "done"}
    assert mobile_auth.carrier(url.path.rsplit("/", 1)[1]) == ("ended", "")

    pixel_flow, _ = service.unify(INGE)
    url = httpx.URL(mobile_auth.start(pixel_flow, {"implementation": "pixel"}).as_json()["data"]["redirectUrl"])
    assert mobile_auth.finish(pixel_flow, {"vfp": ""}).as_json()["error"]["code"] == 10003  # not loaded yet
    mobile_auth.carrier(url.path.rsplit("/", 1)[1])
    assert mobile_auth.finish(pixel_flow, {"vfp": ""}).as_json() == {"next": "done"}


def test_mobile_auth_sessions_end_with_their_flow(service):
    mobile_auth = service.emulator.mobile_auth
    for _ in range(3):
        flow, _ = service.unify(INGE)
        mobile_auth.start(flow, {})
        mobile_auth.start(flow, {})  # a restart replaces the session
    assert len(mobile_auth.sessions) == 3
    service.emulator.clock.advance(15 * 60)
    assert mobile_auth.sessions == {}


def test_the_fallback_keeps_possession_open_for_the_otp(service):
    flow, _ = service.unify("2025550130")
    start = service.emulator.mobile_auth.start(flow, {}).as_json()
    vfp = httpx.URL(start["data"]["redirectUrl"]).params["testVfp"]
    reply = service.emulator.mobile_auth.finish(flow, {"vfp": vfp}).as_json()
    assert reply["next"] == "mobile/otp" and flow.mobile_auth.state == "fallback" and not flow.possession.final
    assert service.otp(flow) == {"next": "done"}
    assert service.status(flow)["success"] == "true"
    assert service.emulator.mobile_auth.finish(flow, {"vfp": vfp}).as_json() == {"next": "done"}  # final reply


def test_mobile_auth_enabled_steers_the_first_step(service):
    assert service.unify(INGE, clientRequestId="r", mobileAuthEnabled=False)[0].key_step is not None
    switched_on, _ = service.unify(LORANT, clientRequestId="r", mobileAuthEnabled=True)
    assert switched_on.mobile_auth is not None and switched_on.mobile_auth.mode.value == "otp-fallback"


# -- scenario options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "where"), [
    ("proveKey: maybe", "personas[0].unify.proveKey"),
    ("mobileAuth: sometimes", "personas[0].unify.mobileAuth"),
    ("userVerification: discouraged", "personas[0].unify.userVerification"),
    ("mobileAuth: [success]", "personas[0].unify.mobileAuth"),
    ("webAuthn: required", "personas[0].unify"),
])
def test_the_new_unify_options_are_schema_checked(tmp_path, option, where):
    (tmp_path / "bad.yaml").write_text(f'personas:\n  - phoneNumber: "2025550199"\n    unify: {{{option}}}\n')
    with pytest.raises(ScenarioError) as caught:
        load_catalogue([tmp_path])
    assert f"bad.yaml: {where}:" in str(caught.value)


def test_the_default_pack_gives_each_option_a_number():
    catalogue = load_catalogue([default_pack_dir()])
    found = {number: catalogue.find(number, ("default",)) for number in (
        "2025550130", "2025550131", "2025550132", "2025550133", "2025550134", "2025550135")}
    assert [(p.mobile_auth and p.mobile_auth.value, p.prove_key.value, p.user_verification)
            for p in found.values()] == [
        ("otp-fallback", "device", ""), ("failed", "device", ""), (None, "rejected", ""), (None, "unregistered", ""),
        (None, "registered", ""), (None, "device", "req")]
    mobile_auth_users = {p.phone_number for p in catalogue.personas() if p.mobile_auth is not None and p.source == "prove"}
    assert mobile_auth_users == {"2001004016", "2001004017", "2001004041",  # reference §7.5's Mobile Auth users
                                 "2001004027", "2001004028", "2001004043"}  # (normalized: +20 numbers lose the +)


def test_a_sequence_step_may_change_the_unify_options(tmp_path):
    (tmp_path / "seq.yaml").write_text(textwrap.dedent("""
        personas:
          - phoneNumber: "2025550199"
            unify: {mobileAuth: success}
            sequence:
              - {unify: {mobileAuth: otp-fallback}}
    """))
    persona = load_catalogue([tmp_path]).find("2025550199", ("default",))
    assert persona.for_flow(1).mobile_auth.value == "otp-fallback" and persona.for_flow(2).mobile_auth.value == "success"
