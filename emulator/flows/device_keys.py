"""The Prove Key steps of the device channel: what the Web SDK's `device/passive` step calls.

HTTP-free, like the possession machine: each call returns a `ClientReply` (web-sdk-protocol §3.3).
A flow whose authToken starts at `device/passive` has a `KeyStep`: the challenge its token carries
(`auth.chlg`) and the key its device registered or proved. What the SDK does (§8.1, verified in
Chromium with the SDK 3.6.2):

- A browser without a key for the token's namespace registers one (`/device/passive/register`:
  its ES256 public key, the signature of `chlg`). The reply's `data.deviceId` is required; its
  `next` is `mobile/otp`, and a successful OTP binds the key to the number.
- A browser with a key proves it (`/device/passive/verify`: deviceId, keyId, the signature of
  `deviceId:chlg`). A key bound to the flow's number is possession: `next: "done"`, no SMS.
- A key the emulator does not recognise (unknown, revoked, replaced, unbound, a signature that
  does not verify, or the persona rejects it) is answered with code 10006 and `next:
  "device/passive"`: the SDK deletes its registration, registers a new key and goes on to OTP (a
  `next`, never a dead end), and the next visit proves the new key.
- A key bound to another number fails possession (Prove: "rebind after a previous success=false")
  unless the flow has `rebind`: then possession runs again (`next: "mobile/otp"`) and success
  binds the device's key to the new number.
- Once registered, the SDK signs some calls (the `/error` reports, `/device/unregister`) with a
  single-use challenge from `/v1/client/challenge`. A signature that does not verify, a reused or
  expired challenge, or another key's signature is refused; unsigned reports are accepted as before.
- `uvlvl` (`pref`/`req`, a persona option) makes the SDK start WebAuthn (`/device/fido2/start`),
  which is not emulated: a clear error without `next`, and possession fails.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from emulator.clock import Clock
from emulator.flows.base import Flow
from emulator.flows.key_signatures import (
    ALGORITHM,
    KeyProblem,
    SignedCall,
    load_device_key,
    signature_verifies,
    signed_request_message,
)
from emulator.flows.possession import ClientReply, PossessionService, refused
from emulator.flows.prove_keys import CHALLENGE_TTL, ProveKey, ProveKeys
from emulator.phone import normalize
from emulator.scenarios.model import ProveKeyMode

FIRST_STEP = "device/passive"
NO_DEVICE_FOUND = 10006  # the SDK deletes its device registration when it reads this code (§3.3)
AUTHENTICATION_FAILED = 10001


@dataclass(slots=True)
class KeyStep:
    """A flow's Prove Key step."""

    challenge: str  # the authToken's auth.chlg: what register signs, and verify after "deviceId:"
    user_verification: str = ""  # the authToken's uvlvl: "" (absent), "pref" or "req"
    rebind: bool = False  # possession again even for a good key; success binds the device's key
    key: ProveKey | None = None  # the key this flow's device registered or proved
    state: str = "waiting"  # waiting, registered, verified, re-register, refused, failed

    @staticmethod
    def new(user_verification: str = "", rebind: bool = False) -> "KeyStep":
        return KeyStep(challenge=secrets.token_hex(16), user_verification=user_verification, rebind=rebind)


class DeviceKeys:
    def __init__(self, clock: Clock, keys: ProveKeys, possession: PossessionService) -> None:
        self.clock = clock
        self.keys = keys
        self.possession = possession

    # -- device/passive ------------------------------------------------------------------------------

    def _open_step(self, flow: Flow) -> KeyStep | ClientReply:
        """The flow's Prove Key step while a key may still be registered or proved; else the reply."""
        step = flow.key_step
        if step is None or flow.possession is None:
            return refused("this flow's authToken has no Prove Key step (device/passive)")
        if flow.possession.final:
            return self.possession.final_reply(flow)
        if step.key is not None:
            return refused("this flow's device already registered or proved a Prove Key")
        return step

    def register(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        step = self._open_step(flow)
        if isinstance(step, ClientReply):
            return step
        now = self.clock.now()
        if flow.persona.prove_key is ProveKeyMode.UNREGISTERED:
            step.state = "refused"
            flow.record(now, "prove-key-refused", reason="scenario: proveKey unregistered")
            return ClientReply(error={"code": AUTHENTICATION_FAILED,
                                      "message": "the device could not register a Prove Key (scenario: proveKey "
                                                 "unregistered); continue with OTP"}, next="mobile/otp")
        registration = body["registrations"][0]
        public = registration["publicKey"]
        if public["alg"] != ALGORITHM:
            return refused(f"field 'registrations.0.publicKey.alg' must be {ALGORITHM} (got {public['alg']!r})")
        try:
            load_device_key(public["key"])
        except KeyProblem as problem:
            return refused(f"field 'registrations.0.publicKey.key' {problem}")
        if not signature_verifies(public["key"], registration["signature"], step.challenge.encode()):
            return refused("field 'registrations.0.signature' does not verify: it must sign this flow's "
                           "challenge (the authToken's auth.chlg) with the registered key")
        key = self.keys.register(flow.project_id, key_id=public["id"], public_key=public["key"],
                                 device_name=body.get("deviceName", ""), at=now)
        step.key, step.state = key, "registered"
        flow.record(now, "prove-key-registered", deviceId=key.device_id, deviceName=key.device_name)
        return ClientReply(data={"deviceId": key.device_id}, next="mobile/otp")

    def verify(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        step = self._open_step(flow)
        if isinstance(step, ClientReply):
            return step
        now = self.clock.now()
        device_id = body["deviceId"]
        key = self.keys.by_device(flow.project_id, device_id)
        problem = self._unrecognised(flow, step, key, body)
        if problem is not None:
            step.state = "re-register"
            flow.record(now, "prove-key-not-recognised", deviceId=device_id, reason=problem)
            return ClientReply(error={"code": NO_DEVICE_FOUND, "message": f"{problem}: register a new key"},
                               next=FIRST_STEP)
        assert key is not None
        step.key = key
        flow.record(now, "prove-key-verified", deviceId=key.device_id, rebind=step.rebind or None)
        if step.rebind:
            step.state = "verified"
            return ClientReply(next="mobile/otp")  # possession again; success binds this key to the number
        if normalize(key.phone_number) != normalize(flow.phone_number):
            step.state = "failed"
            self.possession.settle(flow, success=False, reason=(
                f"the device's Prove Key is bound to another number than {flow.phone_number}: unify again with "
                "rebind true to bind it to this number"))
            return self.possession.final_reply(flow)
        step.state = "verified"
        self.possession.settle(flow, success=True, reason="")
        return self.possession.final_reply(flow)

    @staticmethod
    def _unrecognised(flow: Flow, step: KeyStep, key: ProveKey | None, body: dict[str, Any]) -> str | None:
        """Why the key the device presents proves nothing (None: it is a good key)."""
        if key is None or not key.on_device:
            return f"no Prove Key of this project has deviceId {body['deviceId']!r}"
        message = f"{body['deviceId']}:{step.challenge}".encode()
        if key.key_id != body["keyId"] or not signature_verifies(key.public_key, body["signature"], message):
            return "the signature does not verify with the device's registered key over this flow's challenge"
        if key.revoked:
            return "the device's Prove Key was revoked"
        if not key.phone_number:
            return "the device's Prove Key was registered but no possession check ever bound it"
        if flow.persona.prove_key is ProveKeyMode.REJECTED:
            return "the device's Prove Key was rejected (scenario: proveKey rejected)"
        return None

    def webauthn_start(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        """/device/fido2/start: only a token with uvlvl leads here, and WebAuthn is not emulated."""
        step = flow.key_step
        if step is None or flow.possession is None or not step.user_verification:
            return refused("this flow's authToken asks for no WebAuthn (its uvlvl is absent)")
        reason = (f"WebAuthn (uvlvl {step.user_verification!r}) is not emulated: the persona's "
                  "unify.userVerification asks for it; without it the SDK uses the silent Prove Key")
        if not flow.possession.final:
            step.state = "failed"
            self.possession.settle(flow, success=False, reason=reason)
        return ClientReply(error={"code": AUTHENTICATION_FAILED, "message": reason})

    def step_error(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        """/device/passive/error: the Prove Key step failed in the browser; OTP goes on (only `next` is read)."""
        message = body.get("message") if isinstance(body.get("message"), str) else "no message"
        flow.record(self.clock.now(), "client-error-reported", step=FIRST_STEP, code=body.get("code"), message=message)
        if flow.key_step is None or flow.possession is None:
            return refused("this flow's authToken has no Prove Key step (device/passive)")
        if flow.possession.final:
            final = self.possession.final_reply(flow)
            return ClientReply(next=final.next if final.next is not None else "")
        flow.key_step.state = "refused"
        return ClientReply(next="mobile/otp")

    # -- signed requests -----------------------------------------------------------------------------

    def challenge(self, body: dict[str, Any]) -> dict[str, Any]:
        """/v1/client/challenge: top-level challenge and ttl (not a ClientReply, §3.2)."""
        key = self.keys.find_device(body["deviceId"])
        if key is None or not key.on_device:
            return ClientReply(error={"code": NO_DEVICE_FOUND, "message": (
                f"no device has deviceId {body['deviceId']!r}: its registration is gone (the SDK deletes "
                "its copy on this code)")}).as_json()
        issued = self.keys.issue_challenge(key, self.clock.now())
        return {"challenge": issued.value, "ttl": CHALLENGE_TTL}

    def signer(self, call: SignedCall) -> tuple[ProveKey | None, str | None]:
        """(the signing device's key, None) for a good signature; (None, None) for an unsigned call;
        (None, why) for a signature the emulator refuses."""
        if not call.signed:
            return None, None
        if not call.complete:
            return None, "a signed request carries all of PA-Sig-Version, PA-KID, PA-Challenge and PA-Signature"
        if call.sig_version != "3":
            return None, f"PA-Sig-Version must be 3 (got {call.sig_version!r})"
        challenge = self.keys.take_challenge(call.challenge, self.clock.now())
        if challenge is None:
            return None, ("PA-Challenge is not a challenge of /v1/client/challenge, or it was used already or has "
                          f"expired (each is single-use and lives {CHALLENGE_TTL} s)")
        key = self.keys.find_device(challenge.device_id)
        if key is None or key.key_id != call.key_id:
            return None, "PA-KID is not the key of the device the challenge was issued to"
        message = signed_request_message(call.method, call.path, call.query, call.content_type, call.challenge,
                                         call.body)
        if not signature_verifies(key.public_key, call.signature, message):
            return None, "PA-Signature does not verify with the device's key"
        return key, None

    def unregister(self, body: dict[str, Any], call: SignedCall) -> ClientReply:
        """/device/unregister (the SDK's unregisterDevice(): no authToken, signed by the key itself)."""
        key, problem = self.signer(call)
        if problem is not None:
            return refused(f"signature refused: {problem}")
        if key is None:
            return refused("/v1/client/device/unregister must be signed by the device's key (PA-Signature)")
        if key.device_id != body["deviceId"]:
            return refused("field 'deviceId' is not the device whose key signed the request")
        self.keys.remove(key)
        return ClientReply()

    def forget(self, flow: Flow) -> None:
        """The flow expired: a key its device registered and no possession check bound is dropped."""
        step = flow.key_step
        if step is not None and step.key is not None and not step.key.phone_number:
            self.keys.remove(step.key)

