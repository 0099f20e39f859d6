"""The emulator signs and checks its own HS256 JWTs directly; PyJWT, the reference, must agree both ways."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from emulator.clock import Clock
from emulator.errors import ProveError
from emulator.tokens import ACCESS_TOKEN_LIFETIME, AuthTokenError, TokenIssuer

KEY = b"k" * 32


def issuer(clock: Clock | None = None) -> TokenIssuer:
    return TokenIssuer(clock or Clock(), key=KEY)


def pyjwt_claims(token: str, audience: str, tokens: TokenIssuer) -> dict:
    return jwt.decode(token, KEY, algorithms=["HS256"], audience=audience, issuer=f"prove-emulator/{tokens.instance}",
                      options={"verify_exp": False, "verify_iat": False})


def test_an_access_token_is_a_jwt_pyjwt_verifies():
    tokens = issuer()
    token, lifetime = tokens.issue_access_token("team-a")
    claims = pyjwt_claims(token, "prove-api", tokens)
    assert claims["sub"] == "team-a" and claims["exp"] - claims["iat"] == lifetime == ACCESS_TOKEN_LIFETIME
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_an_auth_token_is_a_jwt_pyjwt_verifies():
    tokens = issuer()
    token = tokens.issue_auth_token(flow_id="flow-1", auth_id="auth-1", endpoint="https://x/é?~>", first_step="mobile/otp",
                                    phone_known=True, expires_at=tokens.clock.now() + 60)
    claims = pyjwt_claims(token, "prove-auth", tokens)
    assert (claims["sub"], claims["auth"]["id"], claims["auth"]["endp"]) == ("flow-1", "auth-1", "https://x/é?~>")


def test_a_token_pyjwt_signs_with_the_key_is_accepted():
    tokens = issuer()
    now = int(tokens.clock.now())
    base = {"iss": f"prove-emulator/{tokens.instance}", "iat": now, "exp": now + 60}
    access = jwt.encode({**base, "sub": "team-a", "aud": "prove-api"}, KEY, algorithm="HS256")
    assert tokens.client_id_of(f"Bearer {access}") == "team-a"
    auth = jwt.encode({**base, "sub": "flow-1", "aud": "prove-auth", "auth": {"id": "auth-1"}}, KEY, algorithm="HS256")
    assert tokens.check_auth_token(auth).flow_id == "flow-1"


def _tampered(token: str) -> list[str]:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "team-b"}).encode()).rstrip(b"=").decode()
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return [
        f"{header}.{forged}.{signature}",  # another payload under the old signature
        f"{none_header}.{payload}.",  # alg none
        f"{header}.{payload}.{signature[:-2]}",  # a cut signature
        f"{header}.{payload}",  # no signature
        f"{header}.{payload}.{signature}é",  # not ASCII
        "not-a-token",
        f"{header}..{signature}",
    ]


def test_tampered_tokens_are_refused_by_both():
    tokens = issuer()
    token, _ = tokens.issue_access_token("team-a")
    for bad in _tampered(token):
        with pytest.raises(jwt.PyJWTError):
            pyjwt_claims(bad, "prove-api", tokens)
        with pytest.raises(ProveError) as refused:
            tokens.client_id_of(f"Bearer {bad}")
        assert refused.value.status == 401 and "malformed, forged" in refused.value.message


def test_another_key_or_audience_is_refused():
    tokens = issuer()
    other = TokenIssuer(tokens.clock, key=b"o" * 32)
    token, _ = other.issue_access_token("team-a")
    with pytest.raises(ProveError):
        tokens.client_id_of(f"Bearer {token}")
    auth = tokens.issue_auth_token(flow_id="f", auth_id="a", endpoint="", first_step="mobile/otp", phone_known=False,
                                   expires_at=tokens.clock.now() + 60)
    with pytest.raises(ProveError):  # an authToken is no access token
        tokens.client_id_of(f"Bearer {auth}")
    access, _ = tokens.issue_access_token("team-a")
    with pytest.raises(AuthTokenError):  # nor the other way round
        tokens.check_auth_token(access)


def test_a_remembered_access_token_still_expires_on_the_clock():
    clock = Clock()
    clock.freeze()
    issued_at = clock.now()
    tokens = issuer(clock)
    token, lifetime = tokens.issue_access_token("team-a")
    assert tokens.client_id_of(f"Bearer {token}") == "team-a"  # verified, now remembered
    clock.advance(lifetime)
    with pytest.raises(ProveError) as refused:
        tokens.client_id_of(f"Bearer {token}")
    assert "expired" in refused.value.message
    clock.set(issued_at)  # set back: the token is good again, as a fresh check would say
    assert tokens.client_id_of(f"Bearer {token}") == "team-a"
