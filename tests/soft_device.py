"""A browser's Prove Key, played in Python: what the Web SDK's device/passive step and its request
signer send (web-sdk-protocol §3.2, §4, §8.1), written from the protocol, not from the SDK's code.

An ECDSA P-256 key (the `cryptography` package), its keyId, and the deviceId the emulator gave it.
The browser tests drive the real SDK; these tests use this to reach the same endpoints directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.prove_calls import auth_claims


class SoftDevice:
    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.key_id = str(uuid.uuid4())
        self.device_id: str | None = None

    @property
    def public_pem(self) -> str:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, message: str | bytes) -> str:
        data = message.encode() if isinstance(message, str) else message
        return base64.b64encode(self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()

    # -- bodies ----------------------------------------------------------------------------------------

    def registration(self, auth_token: str) -> dict[str, Any]:
        """The register body: the public key and the signature of the token's chlg."""
        challenge = auth_claims(auth_token).get("chlg", "")
        return {
            "deviceName": "Python 3 on Linux",
            "deviceCapabilities": ["webauthn"],
            "registrations": [{"publicKey": {"id": self.key_id, "alg": "ES256", "key": self.public_pem, "uvLevel": 0},
                               "signature": self.sign(challenge)}],
            "signals": {},
        }

    def verification(self, auth_token: str, device_id: str | None = None) -> dict[str, Any]:
        """The verify body: the signature of deviceId:chlg."""
        device_id = device_id or self.device_id
        assert device_id, "the device has not registered"
        challenge = auth_claims(auth_token).get("chlg", "")
        return {"deviceId": device_id, "keyId": self.key_id, "signature": self.sign(f"{device_id}:{challenge}"),
                "signals": {}}

    # -- calls ---------------------------------------------------------------------------------------

    def register(self, emu, auth_token: str) -> dict[str, Any]:
        reply = emu.client(auth_token, "device/passive/register", self.registration(auth_token))
        if "data" in reply and "deviceId" in reply["data"]:
            self.device_id = reply["data"]["deviceId"]
        return reply

    def verify(self, emu, auth_token: str) -> dict[str, Any]:
        return emu.client(auth_token, "device/passive/verify", self.verification(auth_token))

    def challenge(self, emu, auth_token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        reply = emu.http.post("/v1/client/challenge", json={"deviceId": self.device_id}, headers=headers)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def signed_headers(self, path: str, body: bytes, challenge: str, *, query: str = "",
                       content_type: str = "application/json") -> dict[str, str]:
        """The four PA-* headers of a signed request (signature version 3)."""
        message = "\n".join(("POST", path, query, content_type, challenge, hashlib.sha256(body).hexdigest()))
        return {"PA-Sig-Version": "3", "PA-Challenge": challenge, "PA-KID": self.key_id,
                "PA-Signature": self.sign(message), "Content-Type": content_type}

    def signed_post(self, emu, step: str, body: dict[str, Any], auth_token: str | None = None,
                    challenge: str | None = None) -> httpx.Response:
        """POST /v1/client/<step> signed as the SDK signs it (a fresh challenge unless one is given)."""
        path = f"/v1/client/{step}"
        raw = json.dumps(body).encode()
        challenge = challenge or self.challenge(emu, auth_token)["challenge"]
        headers = self.signed_headers(path, raw, challenge)
        if auth_token:
            headers["Authorization"] = f"Bearer {auth_token}"
        return emu.http.post(path, content=raw, headers=headers)
