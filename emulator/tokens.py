"""Signed tokens: OAuth access tokens for the server API, authTokens for the Web SDK.

Both are HS256 JWTs signed with this emulator instance's key and timed on the emulator clock, so
another emulator's token, a forged one or an expired one is refused.

The authToken payload is read by the Web SDK with `atob`, which rejects the '-' and '_' of
base64url. Escaping '>', '?', '~' and non-ASCII as \\uXXXX in the JSON keeps every base64url
character inside the standard alphabet (web-sdk-protocol §2.1), while staying a standard JWT.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from emulator.clock import Clock
from emulator.errors import unauthorized

ACCESS_TOKEN_LIFETIME = 3600


class _AtobSafeEncoder(json.JSONEncoder):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = True
        super().__init__(**kwargs)

    def encode(self, o: Any) -> str:
        text = super().encode(o)
        return text.replace(">", "\\u003e").replace("?", "\\u003f").replace("~", "\\u007e")


class AuthTokenError(Exception):
    """An authToken the device channel must refuse; the message says why."""


@dataclass(frozen=True)
class AuthTokenClaims:
    auth_id: str
    flow_id: str


class TokenIssuer:
    def __init__(self, clock: Clock, key: bytes | None = None) -> None:
        self.clock = clock
        self.instance = secrets.token_hex(4)
        self._key = key or secrets.token_bytes(32)
        self._issuer = f"prove-emulator/{self.instance}"
        # The Web SDK keys its IndexedDB device registration by `auth.ans`; a per-instance value
        # keeps a registration made against another backend from hijacking this one (protocol §2.4).
        self.namespace = f"prove-emulator-{self.instance}"

    # -- OAuth access tokens -----------------------------------------------------------------

    def issue_access_token(self, client_id: str) -> tuple[str, int]:
        now = int(self.clock.now())
        claims = {
            "iss": self._issuer,
            "sub": client_id,
            "aud": "prove-api",
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), ACCESS_TOKEN_LIFETIME

    def client_id_of(self, authorization: str | None) -> str:
        """The project a `Bearer` access token belongs to; 401 (8002) for anything else."""
        if not authorization:
            raise unauthorized("not authorized: the Authorization header is missing")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("not authorized: the Authorization header must be 'Bearer <access token>'")
        claims = self._decode(token.strip(), audience="prove-api")
        if claims is None:
            raise unauthorized("not authorized: the access token is malformed, forged or from another emulator")
        if claims["exp"] <= self.clock.now():
            raise unauthorized("not authorized: the access token has expired; get a new one from /token")
        return str(claims["sub"])

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
        subs: dict[str, Any] = {"mob": {"auths": {method: {"mnp": True}}}} if phone_known else {}
        if user_verification:
            subs["dev"] = {"auths": {"pasv": {"uvlvl": user_verification}}}  # `dev` needs its `auths` (§2.2)
        claims = {
            "iss": self._issuer,
            "sub": flow_id,
            "aud": "prove-auth",
            "iat": int(self.clock.now()),
            "exp": int(expires_at),
            "rid": uuid.uuid4().hex,
            "auth": {
                "id": auth_id,
                "ans": self.namespace,
                "endp": endpoint,
                "next": first_step,
                "subs": subs,
            },
        }
        if challenge:
            claims["auth"]["chlg"] = challenge
        return jwt.encode(claims, self._key, algorithm="HS256", json_encoder=_AtobSafeEncoder)

    def check_auth_token(self, token: str | None) -> AuthTokenClaims:
        if not token:
            raise AuthTokenError("the authToken is missing")
        claims = self._decode(token, audience="prove-auth")
        if claims is None or not isinstance(claims.get("auth"), dict):
            raise AuthTokenError("the authToken is malformed, forged or from another emulator")
        if claims["exp"] <= self.clock.now():
            raise AuthTokenError("the authToken has expired")
        return AuthTokenClaims(auth_id=str(claims["auth"].get("id")), flow_id=str(claims["sub"]))

    def _decode(self, token: str, audience: str) -> dict[str, Any] | None:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=audience,
                issuer=self._issuer,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "require": ["exp", "sub", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        return claims if isinstance(claims.get("exp"), int) else None
