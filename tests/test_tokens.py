"""The emulator signs and checks its own HS256 JWTs directly; PyJWT, the reference, must agree both ways."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.clock import Clock
from emulator.errors import ProveError
from emulator.projects import DEFAULT_PROJECT
from emulator.service import Emulator
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


@settings(max_examples=200, deadline=None)
@given(flow_id=st.text(max_size=12), auth_id=st.text(max_size=12), endpoint=st.text(max_size=24),
       first_step=st.sampled_from(["mobile/otp", "mobile/inln", "device/passive", "mobile/instant", "a\"b\\c"]),
       phone_known=st.booleans(), challenge=st.text(max_size=12), user_verification=st.sampled_from(["", "pref", "req"]),
       expires_at=st.floats(min_value=0, max_value=253402300799))
def test_an_auth_token_payload_is_its_claims_as_compact_json_written_for_atob(
        flow_id, auth_id, endpoint, first_step, phone_known, challenge, user_verification, expires_at):
    tokens = issuer()
    token = tokens.issue_auth_token(flow_id=flow_id, auth_id=auth_id, endpoint=endpoint, first_step=first_step,
                                    phone_known=phone_known, expires_at=expires_at, challenge=challenge,
                                    user_verification=user_verification)
    payload = token.split(".")[1]
    assert "-" not in payload and "_" not in payload  # the SDK reads it with atob
    written = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("ascii")
    claims = json.loads(written)
    method = "otp" if first_step in ("mobile/otp", "device/passive", "mobile/instant") else "inln"
    subs: dict = {"mob": {"auths": {method: {"mnp": True}}}} if phone_known else {}
    if user_verification:
        subs["dev"] = {"auths": {"pasv": {"uvlvl": user_verification}}}
    expected = {"iss": f"prove-emulator/{tokens.instance}", "sub": flow_id, "aud": "prove-auth",
                "iat": int(tokens.clock.now()), "exp": int(expires_at), "rid": claims["rid"],
                "auth": {"id": auth_id, "ans": tokens.namespace, "endp": endpoint, "next": first_step, "subs": subs,
                         **({"chlg": challenge} if challenge else {})}}
    reference = json.dumps(expected, separators=(",", ":"))  # ensure_ascii, as PyJWT writes claims
    assert written == reference.replace(">", "\\u003e").replace("?", "\\u003f").replace("~", "\\u007e")
    assert len(claims["rid"]) == 32 and pyjwt_claims(token, "prove-auth", tokens) == expected


def test_a_token_is_known_on_issue_as_decoding_it_would_know_it():
    tokens = issuer()
    reader = issuer()  # the same key and instance, nothing remembered: it decodes
    reader.adopt(tokens.instance, KEY)
    access, _ = tokens.issue_access_token("team-a")
    auth = tokens.issue_auth_token(flow_id="flow-1", auth_id="auth-1", endpoint="https://x", first_step="mobile/otp",
                                   phone_known=True, expires_at=tokens.clock.now() + 60.7)
    for token, audience in ((access, "prove-api"), (auth, "prove-auth")):
        assert token in tokens._known and token not in reader._known
        assert tokens._verified(token, audience) == reader._verified(token, audience) is not None
    assert tokens.check_auth_token(auth) == reader.check_auth_token(auth) == ("auth-1", "flow-1")


def test_a_gone_flows_auth_token_is_forgotten_though_still_ours():
    emulator = Emulator()
    reply = emulator.verified_users.verify(emulator.projects.get(DEFAULT_PROJECT.client_id), {
        "firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100", "possessionType": "mobile"})
    token = reply["authToken"]
    assert token in emulator.tokens._known
    emulator.reset()  # the flow goes, as when it expires or is evicted
    assert token not in emulator.tokens._known
    assert emulator.tokens.check_auth_token(token).flow_id == reply["correlationId"]  # decoded: its flow is gone
