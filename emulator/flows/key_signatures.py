"""The Web SDK's device-key cryptography, checked with the `cryptography` package.

The Web SDK (3.6.2) makes one non-extractable ECDSA P-256 key per browser and namespace with
WebCrypto, sends its public half as an SPKI PEM at registration, and signs with SHA-256, the
signature DER-encoded and then standard base64 (web-sdk-protocol §3.2, §4, §8.1). It signs:

- at `/device/passive/register`: the authToken's challenge (`auth.chlg`);
- at `/device/passive/verify`: `deviceId + ":" + chlg`;
- a signed request (PA-Sig-Version 3): `METHOD \\n path \\n query \\n contentType \\n challenge \\n
  hex(sha256(body))`, the challenge coming from `/v1/client/challenge`.

Verified in Chromium with the real SDK: each of these messages, so built, verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"  # the only one the Web SDK makes
MAX_PEM_CHARS = 1024  # a P-256 SPKI PEM is about 180 characters
MAX_SIGNATURE_CHARS = 200  # a base64 DER P-256 signature is at most 96 characters


class KeyProblem(ValueError):
    """A public key the emulator cannot use; the message says why (it completes "the public key ...")."""


def load_device_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of an SPKI PEM ("-----BEGIN PUBLIC KEY-----"); KeyProblem otherwise."""
    # cryptography is imported where a key is used, not at the top: ~30 ms and ~7 MiB of start-up.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if len(pem) > MAX_PEM_CHARS:
        raise KeyProblem(f"is over {MAX_PEM_CHARS} characters")
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm, TypeError):
        raise KeyProblem("is not a PEM-encoded public key (SubjectPublicKeyInfo)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyProblem("is not an ECDSA P-256 key (ES256)")
    return key


def signature_verifies(pem: str, signature: str, message: bytes) -> bool:
    """Whether `signature` (standard base64 of a DER ECDSA signature) signs `message` with SHA-256
    under the P-256 key `pem`. Anything malformed is simply False."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(signature, str) or not signature or len(signature) > MAX_SIGNATURE_CHARS:
        return False
    try:
        key = load_device_key(pem)
        der = base64.b64decode(signature, validate=True)
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (KeyProblem, InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def signed_request_message(method: str, path: str, query: str, content_type: str, challenge: str,
                           body: bytes) -> bytes:
    """What the SDK's request signer (signature version 3) signs for one request."""
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join((method, path, query, content_type, challenge, body_hash)).encode("utf-8")


@dataclass(slots=True)  # made for every device call: not frozen, whose __init__ costs twice as much
class SignedCall:
    """What a device-channel request carries for its signature (the PA-* headers), HTTP-free."""

    method: str
    path: str
    query: str
    content_type: str
    body: bytes
    sig_version: str | None = None  # PA-Sig-Version
    key_id: str | None = None  # PA-KID
    challenge: str | None = None  # PA-Challenge
    signature: str | None = None  # PA-Signature

    @property
    def signed(self) -> bool:
        return any(value is not None for value in (self.sig_version, self.key_id, self.challenge, self.signature))

    @property
    def complete(self) -> bool:
        return all(value is not None for value in (self.sig_version, self.key_id, self.challenge, self.signature))
