"""Signed tokens: OAuth access tokens for the server API, authTokens for the Web SDK.

Both are HS256 JWTs signed with this emulator instance's key and timed on the emulator clock, so
another emulator's token, a forged one or an expired one is refused. They are made and checked here
with one HMAC each (keyed once, copied per token), not through PyJWT's generic path (a test checks
them against PyJWT both ways): every call checks a token, and a token issued here or once verified
is remembered (a bounded number of them, a gone flow's forgotten; the expiry is checked on every use).

The authToken payload is read by the Web SDK with `atob`, which rejects the '-' and '_' of
base64url. Escaping '>', '?', '~' and non-ASCII as \\uXXXX in the JSON keeps every base64url
character inside the standard alphabet (web-sdk-protocol §2.1), while staying a standard JWT.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
from typing import Any, NamedTuple

from emulator import strict_json
from emulator.clock import Clock
from emulator.errors import unauthorized

ACCESS_TOKEN_LIFETIME = 3600
VERIFIED_TOKENS_KEPT = 4096  # tokens remembered as verified (a client reuses its access token for an hour)
# The one header the emulator signs, as PyJWT writes it: a token with any other is not one of ours.
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode("ascii")


def _atob_safe(text: str) -> str:
    """ASCII JSON whose base64url has no '-' or '_' (see the module docstring)."""
    return text.replace(">", "\\u003e").replace("?", "\\u003f").replace("~", "\\u007e")


_string = json.encoder.encode_basestring_ascii  # a JSON string as strict_json.dumps writes one


@functools.cache
def _subs_json(method: str, phone_known: bool, user_verification: str) -> str:
    """auth.subs, written once for each of the few kinds there are."""
    subs: dict[str, Any] = {"mob": {"auths": {method: {"mnp": True}}}} if phone_known else {}
    if user_verification:
        subs["dev"] = {"auths": {"pasv": {"uvlvl": user_verification}}}  # `dev` needs its `auths` (§2.2)
    return strict_json.dumps(subs)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(key: bytes, payload: str) -> str:
    """A JWT of these claims (ASCII JSON), signed HS256, byte for byte as PyJWT writes it."""
    return _signed(payload, hmac.new(key, digestmod=hashlib.sha256))


def _signed(payload: str, mac: hmac.HMAC) -> str:
    """sign_hs256 with `mac` keyed already and not yet fed (it is used up)."""
    signing_input = f"{_HEADER}.{_b64(payload.encode('ascii'))}"
    mac.update(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64(mac.digest())}"


class AuthTokenError(Exception):
    """An authToken the device channel must refuse; the message says why. `flow_id`: the flow a good
    token named, when that flow is gone (the journal says why)."""

    def __init__(self, message: str, flow_id: str = "") -> None:
        super().__init__(message)
        self.flow_id = flow_id


class AuthTokenClaims(NamedTuple):
    auth_id: str
    flow_id: str


class _Verified(NamedTuple):
    audience: str
    subject: str  # an access token's client id, an authToken's flow id
    expires: int
    auth_id: str | None  # an authToken's auth.id


class TokenIssuer:
    def __init__(self, clock: Clock, key: bytes | None = None) -> None:
        self.clock = clock
        self.instance = secrets.token_hex(4)
        self._key = key or secrets.token_bytes(32)
        self._issuer = f"prove-emulator/{self.instance}"
        # The Web SDK keys its IndexedDB device registration by `auth.ans`; a per-instance value
        # keeps a registration made against another backend from hijacking this one (protocol §2.4).
        self.namespace = f"prove-emulator-{self.instance}"
        self._known: dict[str, _Verified] = {}  # tokens verified, by their text
        self._mac = hmac.new(self._key, digestmod=hashlib.sha256)  # keyed once; copied for each token

    @property
    def identity(self) -> tuple[str, bytes]:
        """(instance, signing key): what a snapshot keeps, so tokens issued before a restart still verify
        and the Web SDK's device registrations (keyed by the instance) still count."""
        return self.instance, self._key

    def adopt(self, instance: str, key: bytes) -> None:
        self.instance, self._key = instance, key
        self._issuer = f"prove-emulator/{instance}"
        self.namespace = f"prove-emulator-{instance}"
        self._known.clear()
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    # -- OAuth access tokens -----------------------------------------------------------------

    def issue_access_token(self, client_id: str) -> tuple[str, int]:
        now = int(self.clock.now())
        claims = {
            "iss": self._issuer,
            "sub": client_id,
            "aud": "prove-api",
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
            "jti": secrets.token_hex(16),
        }
        token = self._sign(strict_json.dumps(claims))
        self._remember(token, _Verified("prove-api", client_id, claims["exp"], None))
        return token, ACCESS_TOKEN_LIFETIME

    def client_id_of(self, authorization: str | None) -> str:
        """The project a `Bearer` access token belongs to; 401 (8002) for anything else."""
        if not authorization:
            raise unauthorized("not authorized: the Authorization header is missing")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("not authorized: the Authorization header must be 'Bearer <access token>'")
        claims = self._verified(token.strip(), "prove-api")
        if claims is None:
            raise unauthorized("not authorized: the access token is malformed, forged or from another emulator")
        if claims.expires <= self.clock.now():  # the clock moves both ways: checked on every call
            raise unauthorized("not authorized: the access token has expired; get a new one from /token")
        return claims.subject

    # -- authTokens (Web SDK) ----------------------------------------------------------------

    def issue_auth_token(
        self,
        *,
        flow_id: str,
        auth_id: str,
        endpoint: str,
        first_step: str,
        phone_known: bool,
        expires_at: float,
        challenge: str = "",
        user_verification: str = "",
    ) -> str:
        """`first_step` is auth.next. A Prove Key (device/passive) or Mobile Auth (mobile/instant) token
        falls back to OTP, so it names the OTP method; `challenge` is auth.chlg, which the SDK signs
        when it registers or proves its key; `user_verification` ("pref", "req") is uvlvl, which
        makes it start WebAuthn (left out, as the SDK wants it for the silent Prove Key)."""
        method = "otp" if first_step in ("mobile/otp", "device/passive", "mobile/instant") else "inln"
        # The claims as strict_json.dumps writes this dict, in this order (tests hold it to that):
        # {"iss", "sub", "aud", "iat", "exp", "rid", "auth": {"id", "ans", "endp", "next", "subs", "chlg"?}}.
        claims = (f'{{"iss":{_string(self._issuer)},"sub":{_string(flow_id)},"aud":"prove-auth",'
                  f'"iat":{int(self.clock.now())},"exp":{int(expires_at)},"rid":"{secrets.token_hex(16)}",'
                  f'"auth":{{"id":{_string(auth_id)},"ans":{_string(self.namespace)},"endp":{_string(endpoint)},'
                  f'"next":{_string(first_step)},"subs":{_subs_json(method, phone_known, user_verification)}'
                  + (f',"chlg":{_string(challenge)}}}}}' if challenge else "}}"))
        token = self._sign(_atob_safe(claims))
        self._remember(token, _Verified("prove-auth", flow_id, int(expires_at), auth_id))  # as _decode reads it
        return token

    def check_auth_token(self, token: str | None) -> AuthTokenClaims:
        if not token:
            raise AuthTokenError("the authToken is missing")
        claims = self._verified(token, "prove-auth")
        if claims is None or claims.auth_id is None:
            raise AuthTokenError("the authToken is malformed, forged or from another emulator")
        if claims.expires <= self.clock.now():
            raise AuthTokenError("the authToken has expired")
        return AuthTokenClaims(auth_id=claims.auth_id, flow_id=claims.subject)

    def _verified(self, token: str, audience: str) -> _Verified | None:
        """A token's claims, checked once and then remembered (a client sends the same token again
        and again); None for a token this emulator did not sign for `audience`."""
        known = self._known.get(token)
        if known is None:
            claims = self._decode(token, audience)
            if claims is None:
                return None
            auth = claims.get("auth")
            known = _Verified(audience, str(claims["sub"]), claims["exp"],
                              str(auth.get("id")) if isinstance(auth, dict) else None)
            self._remember(token, known)
        return known if known.audience == audience else None

    def forget(self, token: str) -> None:
        """A gone flow's authToken: no longer kept as verified (it still decodes, to a flow that is gone)."""
        self._known.pop(token, None)

    def _remember(self, token: str, verified: _Verified) -> None:
        """A token issued here is known from the start: its first use need not decode it."""
        if len(self._known) >= VERIFIED_TOKENS_KEPT:
            self._known.clear()  # every few thousand tokens: few are in use at once
        self._known[token] = verified

    def _sign(self, payload: str) -> str:
        return _signed(payload, self._mac.copy())

    def _decode(self, token: str, audience: str) -> dict[str, Any] | None:
        """The claims of a token this emulator signed for `audience`; None for anything else."""
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if header != _HEADER or not payload or not signature.isascii():
            return None
        mac = self._mac.copy()
        mac.update(f"{header}.{payload}".encode("ascii", "replace"))
        expected = mac.digest()
        if not hmac.compare_digest(_b64(expected), signature):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error):  # a signed payload is ours, so this is defensive only
            return None
        if not isinstance(claims, dict) or claims.get("aud") != audience or claims.get("iss") != self._issuer:
            return None
        return claims if isinstance(claims.get("exp"), int) and "sub" in claims else None
