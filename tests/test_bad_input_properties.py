"""Generated bad input on every endpoint: never a 5xx, always the documented refusal, nothing disturbed.

Each test starts a fresh emulator (frozen clock) holding live flows: an OTP flow with its code sent
and one wrong entry made, an Instant Link flow with its link sent, and a finished flow. Then it
sends generated bad requests: arbitrary JSON, wrong types per field, huge and unicode strings,
nested junk, non-JSON bytes, wrong content types, bodies over 4 KB, bad tokens, numbers that are not
finite doubles (NaN, Infinity, 1e400, integers beyond a double) anywhere in a body, and clock moves
outside its range. Properties:

- no reply is a 5xx, every reply matches /openapi.json, no request hangs;
- Prove's API refuses with 400 `{"code": 8001, "message": ...}` naming the field or the body
  (401 8002 for credentials and tokens);
- the Web SDK's device channel answers HTTP 200 with an `error` object (web-sdk-protocol §3.3);
- the emulator's state (flows, SMS, projects, faults, clock) is exactly what it was, and the live
  flows can still be finished afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.clock import LATEST, parse_rfc3339, rfc3339
from emulator.domains import pcid_of
from emulator.flows import domains, identity_manager, prove_auth, unify, verification
from emulator.flows.verified_users import VERIFY_REQUEST, VERIFY_STATUS_REQUEST
from emulator.http.app import all_routes
from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from emulator.rules import Flag, Int, Obj, Text
from emulator.service import Emulator
from tests.flow_drivers import T0, catalogue, new_test_client, spec_checker

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DEFAULT_RECURSION_LIMIT = 1000  # Python's
REQUEST_TIMEOUT = 10.0  # seconds of real time; nothing here should take more than milliseconds
MAX_BODY_BYTES = 4096
FINAL_TARGET_URL = "https://app.example.com/done"
VALID_VERIFY = {
    "firstName": "Casey",
    "lastName": "Client",
    "phoneNumber": "2025550100",
    "possessionType": "desktop",
    "finalTargetUrl": FINAL_TARGET_URL,
    "emailAddress": "casey@example.com",
    "smsMessage": "Your code is ####",
    "allowOTPRetry": True,
    "clientCustomerId": "customer-1",
    "clientRequestId": "request-1",
}

VALID_CURRENT_VERIFY = {
    "phoneNumber": "2001004049",
    "verificationType": "accountOpening",  # the type that requires the most fields
    "firstName": "Bettina",
    "lastName": "Halbert",
    "clientRequestId": "request-1",
    "emailAddress": "bettina@example.com",
    "ipAddress": "192.168.1.1",
    "userAgent": "Mozilla/5.0",
    "clientCustomerId": "customer-1",
    "clientHumanId": "human-1",
}
VALID_BATCH_ITEM = {
    "phoneNumber": "2025550101",
    "firstName": "Casey",
    "lastName": "Client",
    "verificationType": "verifiedUser",
    "emailAddress": "casey@example.com",
    "ipAddress": "10.0.0.1",
    "userAgent": "Mozilla/5.0",
    "clientCustomerId": "customer-1",
    "clientHumanId": "human-1",
}
TEAM_B_PCID = pcid_of("team-b")  # a second project of the harness
# Every other JSON endpoint of Prove's API whose fields the property tests corrupt: (path, rules, a valid body).
FIELD_CASES = [
    ("/v3/verify", verification.VERIFY_REQUEST, VALID_CURRENT_VERIFY),
    ("/v3/verify/batch", verification.BATCH_REQUEST, {"clientRequestId": "batch-1", "items": [VALID_BATCH_ITEM]}),
    ("/v3/identity", identity_manager.ENROL_REQUEST, {
        "phoneNumber": "2001004031", "clientCustomerId": "customer-1", "clientHumanId": "human-1",
        "deviceId": "device-1", "clientRequestId": "request-1",
        "identityAttributes": [{"attributeType": "myWalletId", "attributeValue": "token123"}]}),
    ("/v3/identity/batch", identity_manager.BATCH_REQUEST, {
        "clientRequestId": "request-1", "items": [{"phoneNumber": "2001004031", "clientCustomerId": "customer-1"}]}),
    ("/v3/identity/{identityId}/cross-domain", identity_manager.CLIENT_REQUEST_ONLY, {"clientRequestId": "request-1"}),
    ("/v3/identity/{proveId}/deactivate", identity_manager.CLIENT_REQUEST_ONLY, {"clientRequestId": "request-1"}),
    ("/v3/unify", unify.UNIFY_REQUEST, {
        "possessionType": "mobile", "phoneNumber": "2025550100", "clientRequestId": "request-1",
        "clientHumanId": "human-1", "deviceId": "8a1d2c6e-1111-4b08-83ba-75d08780aebd", "checkReputation": True,
        "ipAddress": "198.51.100.10", "mobileAuthEnabled": False, "emailAddress": "casey@example.com",
        "allowOTPRetry": True}),
    ("/v3/device/revoke", unify.REVOKE_REQUEST, {"clientRequestId": "request-1", "deviceId": "device-1"}),
    ("/v1/server/auth/start", prove_auth.START_REQUEST, {"requestId": "request-1", "subjects": {"mobile": {
        "claim": {"mobileNumber": "2025550100"},
        "authenticators": {"otp": {"messageText": "#### is your code", "allowOtpRetry": True}}}}}),
    ("/v1/server/auth/continue", prove_auth.CONTINUE_REQUEST, {
        "authId": "auth-1", "requestId": "request-1", "subjects": {"mobile": {"claim": {"mobileNumber": "2025550100"}}}}),
    ("/v1/server/auth/finish", prove_auth.FINISH_REQUEST, {"authId": "auth-1"}),
    ("/v3/domain/link", domains.LINK_REQUEST, {"pcid": TEAM_B_PCID, "scopes": ["identity"]}),
    ("/v3/domain/confirm-link", domains.CONFIRM_REQUEST, {"pcid": TEAM_B_PCID}),
    ("/v3/domain/unlink", domains.UNLINK_REQUEST, {"pcidTo": TEAM_B_PCID, "pcidFrom": pcid_of(DEFAULT_CLIENT_ID)}),
]

# -- generated values --------------------------------------------------------------------------------


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# Nesting deeper than Python's recursion limit, yet under 4 KB.
deeply_nested = st.integers(min_value=1100, max_value=2000).map(lambda depth: b"[" * depth + b"]" * depth)
# Bytes that are not JSON (or are JSON of an odd kind).
junk_bytes = st.one_of(
    st.binary(min_size=1, max_size=200),
    st.text(min_size=1, max_size=100).map(str.encode),
    st.sampled_from([b"{", b"{'a': 1}", b"\xff\xfe{}", b"nul", b'{"a":}', b"\x00", b"[1,]", b"\"\\ud800\""]),
)
def oversized(limit: int) -> st.SearchStrategy[bytes]:
    """A JSON object over `limit` bytes: refused before it is read whole."""
    return st.integers(min_value=limit + 1, max_value=limit + 5 * MAX_BODY_BYTES).map(
        lambda size: json.dumps({"pad": "x" * size}).encode()
    )


oversized_bodies = oversized(MAX_BODY_BYTES)


def malformed(limit: int = MAX_BODY_BYTES) -> st.SearchStrategy[bytes]:
    """Anything but a JSON object: other JSON values, non-JSON bytes, deep nesting, over the body limit."""
    return st.one_of(
        json_values.filter(lambda value: not isinstance(value, dict)).map(encoded),
        junk_bytes.filter(lambda raw: bool(raw.strip()) and not is_json_object(raw)),
        deeply_nested,
        oversized(limit),
    )


malformed_bodies = malformed()
wrong_content_types = st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
     "application/jsonx", "", "application/json-patch+json"]
)
# JSON strings that look like numbers: a number field must not take them.
numeric_text = st.integers(min_value=0, max_value=1000).map(str)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)

_JSON_TYPES = {
    # "" is left out like null: Prove's API reads an empty optional field as not sent.
    "string": st.text(min_size=1, max_size=20) | st.integers().map(str),  # "5" is a string, not a number
    "integer": st.integers(),
    "number": st.floats(allow_nan=False, allow_infinity=False),
    "boolean": st.booleans(),
    "array": st.lists(st.integers(), max_size=3),
    "object": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
}


def wrong_type(*allowed: str) -> st.SearchStrategy[Any]:
    """A JSON value of none of the allowed JSON Schema types (null is left out: it reads as "not sent")."""
    if "number" in allowed:
        allowed = (*allowed, "integer")
    others = [strategy for name, strategy in _JSON_TYPES.items() if name not in allowed]
    if "integer" in allowed and "number" not in allowed:  # 2.0 is an integer to JSON Schema; 2.5 is not
        others.remove(_JSON_TYPES["number"])
        others.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
    return st.one_of(others)


# -- the emulator under test ------------------------------------------------------------------------


class Harness:
    """A fresh emulator with live flows, and a client whose replies are checked against the spec."""

    def __init__(self) -> None:
        self._build()
        self.dirty = False

    @contextlib.contextmanager
    def example(self) -> Iterator[None]:
        """One generated example: it must leave the state as it found it. After an example that
        failed (and so may have changed the state), the next one starts on a fresh emulator, so a
        failure never leaks into the examples hypothesis tries while shrinking it."""
        if self.dirty:
            self._build()
        self.dirty = True
        yield
        self.assert_unchanged()
        self.dirty = False

    def _build(self) -> None:
        self.emulator = Emulator(catalogue=catalogue())
        self.client = new_test_client(self.emulator)
        self.checker = spec_checker()
        self.expect(200, "POST", "/__emulator/clock", json={"freeze": True, "set": rfc3339(T0)})
        self.access_token = self.expect(200, "POST", "/token", data={
            "grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET,
        })["access_token"]
        # An OTP flow mid-way: code sent, one wrong entry made (allowOTPRetry lets it continue).
        self.otp_flow = self.verify({**VALID_VERIFY, "possessionType": "mobile"})
        assert self.device(self.otp_flow["authToken"], "mobile/otp/start", {}) == {"next": "mobile/otp"}
        assert "data" in self.device(self.otp_flow["authToken"], "mobile/otp/finish", {"otp": "0000"})
        # An Instant Link flow with its link sent, and a flow already finished.
        self.link_flow = self.verify(VALID_VERIFY)
        assert self.device(self.link_flow["authToken"], "mobile/instantlink/start",
                           {"sourceIp": None, "isMobile": False}) == {"data": {}}
        self.done_flow = self.verify({**VALID_VERIFY, "phoneNumber": "2025550101", "possessionType": "none"})
        self.identity_id = self.expect(200, "POST", "/v3/verify-status", headers=self.bearer(),
                                       json={"correlationId": self.done_flow["correlationId"]})["identityId"]
        # A Prove Key bound by customer-supplied possession (so revoke has a key to disturb).
        unified = self.expect(200, "POST", "/v3/unify", json={"possessionType": "none", "phoneNumber": "2001004014"},
                              headers=self.bearer())
        for step in ("/v3/unify-status", "/v3/unify-bind"):
            self.expect(200, "POST", step, json={"correlationId": unified["correlationId"], "phoneNumber": "2001004014"},
                        headers=self.bearer())
        assert self.emulator.prove_keys.all(), "the harness needs a bound Prove Key"
        # Unify flows at the device channel's steps before possession: the Prove Key and Mobile Auth.
        self.key_flow = self.expect(200, "POST", "/v3/unify", headers=self.bearer(),
                                    json={"possessionType": "mobile", "phoneNumber": "2001004015"})
        self.mobile_auth_flow = self.expect(200, "POST", "/v3/unify", headers=self.bearer(),
                                            json={"possessionType": "mobile", "phoneNumber": "2001004016"})
        # A second domain, with a link request pending from this one.
        self.expect(200, "PUT", "/__emulator/projects/team-b", json={"clientSecret": "secret-b"})
        self.expect(200, "POST", "/v3/domain/link", json={"pcid": TEAM_B_PCID}, headers=self.bearer())
        self.before = self.state()

    # -- sending ------------------------------------------------------------------------------------

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, which must neither hang nor answer 5xx, and must match /openapi.json."""
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["response"] = self.client.request(method, path, follow_redirects=False, **kwargs)
            except Exception as error:  # noqa: BLE001 - re-raised in the test's thread
                outcome["error"] = error

        # Hypothesis raises the recursion limit while it runs a test; a served emulator has
        # Python's default, so deeply nested bodies are sent under that.
        raised_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
        try:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            worker.join(REQUEST_TIMEOUT)
        finally:
            sys.setrecursionlimit(raised_limit)
        assert not worker.is_alive(), f"{method} {path} did not answer within {REQUEST_TIMEOUT} s"
        if "error" in outcome:
            raise outcome["error"]
        response: httpx.Response = outcome["response"]
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text}"
        self.checker.check(response)
        return response

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        response = self.send(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def verify(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.expect(200, "POST", "/v3/verify", json=body, headers=self.bearer())

    def device(self, auth_token: str, step: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {auth_token}"}
        return self.expect(200, "POST", f"/v1/client/{step}", json=body, headers=headers)

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    # -- checking -----------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a bad request could disturb, as the control plane shows it (timelines too).

        Read from the service rather than over HTTP: it runs after every example, and the same
        reads over HTTP are checked once per test, in `assert_flows_still_finish`."""
        emulator = self.emulator
        return {
            "flows": [flow.detail() for flow in emulator.flows.all()],
            "identities": [{**identity.as_json(), "attributes": [vars(a) for a in identity.attributes]}
                           for identity in emulator.identities.in_project(DEFAULT_CLIENT_ID)],
            "sms": [sms.as_json() for sms in emulator.outbox.messages()],
            "projects": [project.as_json() for project in emulator.projects.all()],
            "faults": [fault.as_json() for fault in emulator.faults.runtime],
            "domains": [emulator.domains.linked(project) for project in emulator.projects.all()],
            "prove keys": [vars(key).copy() for key in emulator.prove_keys.all()],
            "clock": (emulator.clock.now(), emulator.clock.frozen),
        }

    def assert_unchanged(self) -> None:
        assert self.state() == self.before, "a refused request changed the emulator's state"

    def assert_flows_still_finish(self) -> None:
        """Nothing a client sent before the bad requests was lost: the flows finish as they should."""
        for path in ("/__emulator/flows", "/__emulator/sms", "/__emulator/projects", "/__emulator/faults",
                     "/__emulator/clock", "/__emulator/requests"):
            self.expect(200, "GET", path)
        code = self.expect(200, "GET", "/__emulator/sms", params={"correlationId": self.otp_flow["correlationId"]})
        otp = code["messages"][-1]["otp"]
        assert self.device(self.otp_flow["authToken"], "mobile/otp/finish", {"otp": otp}) == {"next": "done"}
        link = self.expect(200, "GET", "/__emulator/sms", params={"correlationId": self.link_flow["correlationId"]})
        click = self.send("GET", httpx.URL(link["messages"][-1]["link"]).path)
        assert click.status_code == 302 and click.headers["location"] == FINAL_TARGET_URL
        for flow in (self.otp_flow, self.link_flow, self.done_flow):
            status = self.expect(200, "POST", "/v3/verify-status", json={"correlationId": flow["correlationId"]},
                                 headers=self.bearer())
            assert status["success"] == "true", (flow, status)


@pytest.fixture
def harness() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    if not harness.dirty:
        harness.assert_flows_still_finish()


def assert_8001(response: httpx.Response, *names: str) -> None:
    """400 with code 8001 and a message naming one of `names` (a field, the body, a header)."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 8001, body
    assert any(name in body["message"] for name in names), f"{body['message']!r} names none of {names}"


def assert_refused_in_envelope(response: httpx.Response) -> None:
    """The Web SDK's way: HTTP 200 and an `error` object (without `next`, authenticate() rejects)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "error" in body and "next" not in body and "data" not in body, body
    assert isinstance(body["error"]["code"], int) and body["error"]["message"], body


# -- Prove's API: /token -----------------------------------------------------------------------------

TOKEN_FIELDS = ("grant_type", "client_id", "client_secret")
token_forms = st.dictionaries(st.sampled_from(TOKEN_FIELDS) | st.text(max_size=10), st.text(max_size=40), max_size=4)


@st.composite
def bad_token_requests(draw: st.DrawFn) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    kind = draw(st.sampled_from(["form", "bytes", "content-type", "oversized", "basic"]))
    form = draw(token_forms)
    if form.get("client_secret") == DEFAULT_CLIENT_SECRET:  # the one good secret: not bad input
        form["client_secret"] += "x"
    content = urlencode(form).encode()
    if kind == "bytes":
        content = draw(junk_bytes)
    elif kind == "content-type":
        headers["Content-Type"] = draw(wrong_content_types.filter(lambda value: "urlencoded" not in value))
    elif kind == "oversized":
        content = b"grant_type=client_credentials&pad=" + b"x" * draw(st.integers(MAX_BODY_BYTES, 3 * MAX_BODY_BYTES))
    elif kind == "basic":
        headers["Authorization"] = "Basic " + draw(header_text)
    return {"content": content, "headers": headers}


@SETTINGS
@given(request=bad_token_requests())
def test_token_refuses_bad_forms(harness: Harness, request: dict[str, Any]) -> None:
    with harness.example():
        response = harness.send("POST", "/token", **request)
        if response.status_code == 401:
            assert response.json()["code"] == 8002
        else:
            assert_8001(response, "field '", "body", "Content-Type", "Authorization")


# -- Prove's API: /v3/verify and /v3/verify-status ------------------------------------------------


def corrupt_field(spec: Obj, valid: dict[str, Any]) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A valid body with exactly one field made invalid for its declared rule: (field, body)."""

    def bad_values(item: Text | Flag | Int) -> st.SearchStrategy[Any]:
        if isinstance(item, Flag):
            return wrong_type("boolean")
        if isinstance(item, Int):
            out_of_range = [st.integers(max_value=item.minimum - 1)] if item.minimum is not None else []
            if item.maximum is not None:
                out_of_range.append(st.integers(min_value=item.maximum + 1))
            return st.one_of(wrong_type("integer"), numeric_text, *out_of_range)
        options = [wrong_type("string")]
        if item.required or item.required_when:
            options.append(st.sampled_from([None, ""]))
        if item.enum:
            known = {value.casefold() for value in item.enum} if item.ignore_case else set(item.enum)
            options.append(st.text(max_size=20).filter(
                lambda text: text and (text.casefold() if item.ignore_case else text) not in known))
        if item.max_length is not None:
            options.append(st.integers(item.max_length + 1, item.max_length + 300).map(lambda n: "a" * n))
        if item.pattern is not None:
            options.append(st.text(min_size=1, max_size=40).filter(lambda text: not item.pattern.matches(text)))
        return st.one_of(options)

    leaves = _leaves(spec, valid)
    return st.sampled_from(leaves).flatmap(
        lambda leaf: bad_values(leaf[1]).map(lambda value: (".".join(leaf[0]), _with(valid, leaf[0], value)))
    )


def _leaves(spec: Obj, valid: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every scalar field of `spec`, nested objects included where `valid` has them: (path, rule)."""
    found: list[tuple[tuple[str, ...], Any]] = []
    for item in spec.fields:
        if isinstance(item, (Text, Flag, Int)):
            found.append(((*path, item.name), item))
        elif isinstance(item, Obj) and isinstance(valid.get(item.name), dict):
            found.extend(_leaves(item, valid[item.name], (*path, item.name)))
    return found


def _with(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """`body` with the value at `path` replaced (a copy: the valid body is shared)."""
    head, *rest = path
    return {**body, head: _with(body[head], tuple(rest), value) if rest else value}


def whole_body_junk(spec: Obj) -> st.SearchStrategy[tuple[bytes, str]]:
    """(raw body, content type): junk JSON, non-JSON bytes, deep nesting, oversized, wrong content type."""
    required = {item.name for item in spec.fields if getattr(item, "required", False)}
    junk_values = json_values.filter(lambda value: not (isinstance(value, dict) and required <= value.keys()))
    return st.one_of(
        junk_values.map(lambda value: (encoded(value), "application/json")),
        junk_bytes.filter(lambda raw: not is_json_object(raw)).map(lambda raw: (raw, "application/json")),
        deeply_nested.map(lambda raw: (raw, "application/json")),
        oversized_bodies.map(lambda raw: (raw, "application/json")),
        wrong_content_types.map(lambda content_type: (encoded({"correlationId": "x"}), content_type)),
    )


def body_names(spec: Obj) -> tuple[str, ...]:
    return ("request body", "Content-Type", *(f"field '{item.name}'" for item in spec.fields))


@SETTINGS
@given(case=corrupt_field(VERIFY_REQUEST, VALID_VERIFY))
def test_verify_names_the_bad_field(harness: Harness, case: tuple[str, dict[str, Any]]) -> None:
    with harness.example():
        field, body = case
        assert_8001(harness.send("POST", "/v3/verify", json=body, headers=harness.bearer()), f"field '{field}'")


@SETTINGS
@given(case=corrupt_field(VERIFY_STATUS_REQUEST, {"correlationId": "any", "clientRequestId": "request-1"}))
def test_verify_status_names_the_bad_field(harness: Harness, case: tuple[str, dict[str, Any]]) -> None:
    with harness.example():
        field, body = case
        assert_8001(harness.send("POST", "/v3/verify-status", json=body, headers=harness.bearer()), f"field '{field}'")


@SETTINGS
@given(path=st.sampled_from(["/v3/verify", "/v3/verify-status"]), data=st.data())
def test_verify_endpoints_refuse_junk_bodies(harness: Harness, path: str, data: st.DataObject) -> None:
    with harness.example():
        spec = VERIFY_REQUEST if path == "/v3/verify" else VERIFY_STATUS_REQUEST
        raw, content_type = data.draw(whole_body_junk(spec), label="body")
        response = harness.send("POST", path, content=raw, headers={**harness.bearer(), "Content-Type": content_type})
        assert_8001(response, *body_names(spec))


@SETTINGS
@given(case=st.sampled_from(FIELD_CASES).flatmap(
    lambda case: corrupt_field(case[1], case[2]).map(lambda corrupted: (case[0], *corrupted))))
def test_every_prove_api_body_names_the_bad_field(harness: Harness, case: tuple[str, str, dict[str, Any]]) -> None:
    with harness.example():
        path, field, body = case
        assert_8001(harness.send("POST", concrete(path), json=body, headers=harness.bearer()), f"field '{field}'")


@SETTINGS
@given(items=st.one_of(wrong_type("array"), st.integers(verification.MAX_BATCH + 1, verification.MAX_BATCH + 50).map(
    lambda n: [VALID_BATCH_ITEM] * n)))
def test_verify_batch_refuses_a_bad_item_list_whole(harness: Harness, items: Any) -> None:
    with harness.example():
        response = harness.send("POST", "/v3/verify/batch", json={"items": items}, headers=harness.bearer())
        assert_8001(response, "field 'items'")


@SETTINGS
@given(case=corrupt_field(verification.BATCH_ITEM, VALID_BATCH_ITEM), position=st.integers(0, 2),
       junk=st.one_of(st.none(), json_values.filter(lambda value: not isinstance(value, dict))))
def test_verify_batch_answers_a_bad_item_in_its_result_and_verifies_the_others(
    harness: Harness, case: tuple[str, dict[str, Any]], position: int, junk: Any
) -> None:
    """One bad item (a bad field, or not an object at all) never fails the batch or what came before."""
    field, bad = case
    if harness.dirty:
        harness._build()
    harness.dirty = True  # a batch changes the state (a flow, enrolments): the next example starts afresh
    items = [VALID_BATCH_ITEM] * 3
    items[position] = bad if junk is None else junk
    results = harness.expect(200, "POST", "/v3/verify/batch", json={"items": items}, headers=harness.bearer())["results"]
    for index, result in enumerate(results):
        if index != position:
            assert result["success"] == "true" and "error" not in result, result
            continue
        assert result["success"] == "false" and result["assuranceLevel"] == "AL-1", result
        named = f"field 'items[{index}].{field}'" if junk is None else f"field 'items[{index}]' must be a JSON object"
        assert result["error"].startswith(named), result
    after = {flow["correlationId"]: flow for flow in harness.state()["flows"]}
    for flow in harness.before["flows"]:
        assert after[flow["correlationId"]] == flow, "a batch changed a flow that was there before it"


def test_verify_status_of_an_unknown_flow_is_8008(harness: Harness) -> None:
    for correlation_id in ("", "x" * 128, "00000000-0000-0000-0000-000000000000", "é" * 50):
        response = harness.send("POST", "/v3/verify-status", json={"correlationId": correlation_id},
                                headers=harness.bearer())
        if correlation_id:
            assert response.status_code == 400 and response.json()["code"] == 8008, response.text
        else:
            assert_8001(response, "field 'correlationId'")


def concrete(path: str) -> str:
    """A path template with made-up ids (unknown ones: only the body or query is under test)."""
    for name in ("{identityId}", "{proveId}"):
        path = path.replace(name, "00000000-0000-0000-0000-000000000000")
    return path


def _body_limits() -> dict[str, int]:
    return {operation.path: operation.max_body_bytes for operation, _ in all_routes() if operation.method == "POST"}


def _prove_api_posts() -> list[str]:
    """Every POST of Prove's server API that takes a JSON body, from the emulator's own spec."""
    spec = spec_checker().spec
    return sorted(
        path
        for path, operations in spec["paths"].items()
        if path.startswith(("/v3/", "/v1/server/"))
        and "application/json" in operations.get("post", {}).get("requestBody", {}).get("content", {})
    )


@SETTINGS
@given(template=st.sampled_from(_prove_api_posts()), data=st.data())
def test_every_prove_api_post_refuses_malformed_bodies(harness: Harness, template: str, data: st.DataObject) -> None:
    with harness.example():
        path = concrete(template)
        raw = data.draw(malformed(_body_limits()[template]), label="body")
        headers = {**harness.bearer(), "Content-Type": "application/json"}
        response = harness.send("POST", path, content=raw, headers=headers)
        assert_8001(response, "request body")


@SETTINGS
@given(authorization=st.one_of(
    header_text,
    header_text.map(lambda token: f"Bearer {token}"),
    st.sampled_from(["Bearer", "Bearer ", "Basic c2FuZGJveDpzZWNyZXQ=", "bearer x.y.z"]),
    st.just("auth-token"),  # the Web SDK's authToken is not an access token
))
def test_prove_api_refuses_bad_access_tokens(harness: Harness, authorization: str) -> None:
    with harness.example():
        if authorization == "auth-token":
            authorization = f"Bearer {harness.otp_flow['authToken']}"
        response = harness.send("POST", "/v3/verify", json=VALID_VERIFY, headers={"Authorization": authorization})
        assert response.status_code == 401 and response.json()["code"] == 8002, response.text


# -- the Web SDK's device channel ---------------------------------------------------------------------

DEVICE_STEPS = ("mobile/otp/start", "mobile/otp/finish", "mobile/otp/error",
                "mobile/instantlink/start", "mobile/instantlink/error",
                # the steps before possession (issue 11): the Prove Key, signed requests, Mobile Auth
                "device/passive/register", "device/passive/verify", "device/passive/error", "device/fido2/start",
                "challenge", "device/unregister", "mobile/instant/start", "mobile/instant/finish",
                "mobile/instant/error")


def _token_for(harness: Harness, step: str) -> str:
    if step.startswith(("device/", "challenge")):
        return harness.key_flow["authToken"]
    if step.startswith("mobile/instant/"):
        return harness.mobile_auth_flow["authToken"]
    return (harness.otp_flow if "/otp/" in step else harness.link_flow)["authToken"]


@SETTINGS
@given(step=st.sampled_from(DEVICE_STEPS), raw=malformed_bodies)
def test_device_channel_refuses_malformed_bodies_in_its_envelope(harness: Harness, step: str, raw: bytes) -> None:
    with harness.example():
        headers = {"Authorization": f"Bearer {_token_for(harness, step)}", "Content-Type": "application/json"}
        assert_refused_in_envelope(harness.send("POST", f"/v1/client/{step}", content=raw, headers=headers))


def _documented_body_properties(step: str) -> dict[str, Any]:
    operation = spec_checker().spec["paths"][f"/v1/client/{step}"]["post"]
    return operation["requestBody"]["content"]["application/json"]["schema"]["properties"]


@st.composite
def schema_breaking_bodies(draw: st.DrawFn, step: str) -> dict[str, Any]:
    """A JSON object with at least one documented field of the wrong type."""
    properties = _documented_body_properties(step)
    names = draw(st.lists(st.sampled_from(sorted(properties)), min_size=1, unique=True))
    body = {}
    for name in names:
        declared = properties[name]["type"]
        body[name] = draw(wrong_type(*(declared if isinstance(declared, list) else [declared])))
    return body


@pytest.mark.parametrize("step", DEVICE_STEPS)
@SETTINGS
@given(data=st.data())
def test_device_channel_refuses_bodies_that_break_its_documented_schema(
    harness: Harness, step: str, data: st.DataObject
) -> None:
    """The SDK never sends these; a body that breaks /openapi.json is refused and changes nothing."""
    with harness.example():
        body = data.draw(schema_breaking_bodies(step), label="body")
        headers = {"Authorization": f"Bearer {_token_for(harness, step)}"}
        assert_refused_in_envelope(harness.send("POST", f"/v1/client/{step}", json=body, headers=headers))


@SETTINGS
@given(step=st.sampled_from(DEVICE_STEPS), authorization=st.one_of(
    st.none(),
    header_text,
    header_text.map(lambda token: f"Bearer {token}"),
    st.sampled_from(["access-token", "other-emulator", "flipped-signature", "Basic x"]),
))
def test_device_channel_refuses_bad_auth_tokens_in_its_envelope(
    harness: Harness, step: str, authorization: str | None
) -> None:
    with harness.example():
        token = _token_for(harness, step)
        replacements = {
            "access-token": f"Bearer {harness.access_token}",  # an access token is not an authToken
            "other-emulator": "Bearer " + _other_emulators_auth_token(),
            "flipped-signature": f"Bearer {token[:-2]}{'A' if token[-2] != 'A' else 'B'}{token[-1]}",
        }
        authorization = replacements.get(authorization or "", authorization)
        headers = {"Authorization": authorization} if authorization is not None else {}
        body = {"otp": "1234"} if step.endswith("finish") else {}
        assert_refused_in_envelope(harness.send("POST", f"/v1/client/{step}", json=body, headers=headers))


@functools.cache
def _other_emulators_auth_token() -> str:
    """A well-formed authToken signed by another emulator instance (another key)."""
    return Harness().otp_flow["authToken"]


# -- the control plane -------------------------------------------------------------------------------


@st.composite
def bad_clock_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """Each key valid or not, at least one invalid (or an unknown key): nothing may be applied."""
    valid = {
        "freeze": st.booleans(),
        "set": st.integers(T0 - 10**6, T0 + 10**6).map(rfc3339),
        "advance": st.integers(0, 10_000),
    }
    invalid = {
        "freeze": wrong_type("boolean"),
        "set": st.one_of(wrong_type("string"), st.text(max_size=30).filter(_not_a_timestamp)),
        "advance": st.one_of(numeric_text, wrong_type("number"), st.integers(max_value=-1),
                             st.integers(min_value=10**9),
                             st.sampled_from([float("inf"), float("-inf"), float("nan"), -0.5])),
    }
    body: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(valid)), unique=True)):
        body[key] = draw(st.one_of(valid[key], invalid[key]))
    if not any(_clock_value_is_bad(key, value) for key, value in body.items()):
        key = draw(st.sampled_from(["freeze", "set", "advance", "unknown"]))
        body[key] = draw(invalid.get(key, json_values))
    return body


def _not_a_timestamp(text: str) -> bool:
    try:
        parse_rfc3339(text)
    except (ValueError, TypeError, OverflowError):
        return True
    return False


def _clock_value_is_bad(key: str, value: Any) -> bool:
    if key == "freeze":
        return not isinstance(value, bool)
    if key == "set":
        return not isinstance(value, str) or _not_a_timestamp(value)
    return isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10**8


@SETTINGS
@given(body=bad_clock_bodies())
def test_clock_refuses_bad_moves_and_applies_none_of_them(harness: Harness, body: dict[str, Any]) -> None:
    with harness.example():
        response = harness.send("POST", "/__emulator/clock", content=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json"})
        assert_8001(response, "freeze", "set", "advance", "unknown", "body")


PROJECT_KEYS = {
    "clientSecret": ("string",),
    "name": ("string",),
    "product": ("string",),
    "products": ("array",),
    "unknownNumbers": ("string",),
    "scenarioSets": ("array",),
    "instantLinkStartReply": ("string",),
    "webhook": ("object",),
    "consentCountries": ("array",),
    "rateLimit": ("number",),
}


@st.composite
def bad_project_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"clientSecret": "s3cret"}
    broken = draw(st.sampled_from(sorted(PROJECT_KEYS) + ["unknown key", "no secret", "bad values"]))
    if broken == "unknown key":
        unknown = st.text(min_size=1, max_size=20).filter(lambda key: key not in PROJECT_KEYS and key != "clientId")
        body[draw(unknown)] = 1
    elif broken == "no secret":
        del body["clientSecret"]
    elif broken == "bad values":
        body.update(draw(st.sampled_from([
            {"products": []}, {"products": ["no-such-product"]}, {"product": "x", "products": ["unify"]},
            {"unknownNumbers": "maybe"}, {"scenarioSets": [1]}, {"instantLinkStartReply": "json"},
            {"webhook": {"url": "ftp://x"}}, {"consentCountries": ["ca"]}, {"consentCountries": ["Canada"]},
            {"clientSecret": ""}, {"clientId": "another-id"},
            {"rateLimit": 0}, {"rateLimit": 0.5}, {"rateLimit": -25}, {"rateLimit": 10001},
        ])))
    else:
        body[broken] = draw(wrong_type(*PROJECT_KEYS[broken]))
    return body


@SETTINGS
@given(client_id=st.sampled_from([DEFAULT_CLIENT_ID, "new-project", "team-é"]), body=bad_project_bodies())
def test_put_project_refuses_bad_bodies_and_stores_nothing(
    harness: Harness, client_id: str, body: dict[str, Any]
) -> None:
    with harness.example():
        response = harness.send("PUT", f"/__emulator/projects/{quote(client_id)}", json=body)
        assert_8001(response, *(set(body) | {"clientSecret", "clientId", "project"}))


def _documented_fault_endpoints() -> list[str]:
    schema = spec_checker().spec["paths"]["/__emulator/faults"]["post"]["requestBody"]["content"]["application/json"]
    return schema["schema"]["properties"]["endpoint"]["enum"]


@st.composite
def bad_fault_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"endpoint": draw(st.sampled_from(_documented_fault_endpoints())), "status": 503}
    broken = draw(st.sampled_from(["endpoint", "status", "latencyMs", "times", "project", "nothing to do", "unknown"]))
    if broken == "endpoint":
        body["endpoint"] = draw(st.one_of(wrong_type("string"), st.text(max_size=30)).filter(
            lambda value: value not in _documented_fault_endpoints()))
    elif broken == "status":
        body["status"] = draw(st.one_of(numeric_text, wrong_type("integer"), st.integers(max_value=399),
                                        st.integers(min_value=600)))
    elif broken == "latencyMs":
        body["latencyMs"] = draw(st.one_of(numeric_text, wrong_type("integer"), st.integers(max_value=-1),
                                           st.integers(min_value=60001)))
    elif broken == "times":
        body["times"] = draw(st.one_of(numeric_text, wrong_type("integer"), st.integers(max_value=0)))
    elif broken == "project":
        body["project"] = draw(st.one_of(wrong_type("string"), st.text(max_size=20).filter(
            lambda text: text not in (DEFAULT_CLIENT_ID,))))
    elif broken == "nothing to do":
        del body["status"]
    else:
        body["unknown"] = draw(json_values)
    return body


@SETTINGS
@given(body=bad_fault_bodies())
def test_faults_refuse_bad_bodies_and_inject_nothing(harness: Harness, body: dict[str, Any]) -> None:
    with harness.example():
        response = harness.send("POST", "/__emulator/faults", json=body)
        assert response.status_code in (400, 404), response.text  # 404: no such project
        assert_8001_envelope(response)


def assert_8001_envelope(response: httpx.Response) -> None:
    body = response.json()
    assert body["code"] == 8001 and body["message"], body


@SETTINGS
@given(body=st.one_of(
    malformed_bodies,
    st.one_of(wrong_type("string"), st.text(max_size=20).filter(lambda t: t not in (DEFAULT_CLIENT_ID, "")))
    .map(lambda project: encoded({"project": project})),
))
def test_reset_refuses_bad_bodies_and_forgets_nothing(harness: Harness, body: bytes) -> None:
    with harness.example():
        response = harness.send("POST", "/__emulator/reset", content=body, headers={"Content-Type": "application/json"})
        assert_8001(response, "body", "field 'project'")


def control_path(harness: Harness, template: str) -> str:
    """A control-plane path with real ids (a live flow, its number), so that only the body is wrong."""
    return (template.replace("{clientId}", DEFAULT_CLIENT_ID).replace("{identityId}", harness.identity_id)
            .replace("{correlationId}", harness.otp_flow["correlationId"]).replace("{phoneNumber}", "2025550100"))


def _json_bodied_control_writes() -> list[tuple[str, str]]:
    """Every control-plane POST/PUT that takes a JSON body, from the spec: (method, path template)."""
    spec = spec_checker().spec
    found = []
    for path, operations in spec["paths"].items():
        for method in ("post", "put"):
            content = operations.get(method, {}).get("requestBody", {}).get("content", {})
            if path.startswith("/__emulator/") and "application/json" in content:
                found.append((method.upper(), path))
    return sorted(found)


@SETTINGS
@given(write=st.sampled_from(_json_bodied_control_writes()), body=malformed_bodies)
def test_every_control_plane_write_refuses_malformed_bodies(
    harness: Harness, write: tuple[str, str], body: bytes
) -> None:
    with harness.example():
        method, template = write  # ids in the path are real, so that only the body is wrong
        path = control_path(harness, template)
        response = harness.send(method, path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert_8001_envelope(response)


def _not_a_short_wait(text: str) -> bool:
    """Query values for `wait` that would not make the request wait (a real wait is documented)."""
    try:
        return not 0 < float(text) <= 60
    except (ValueError, OverflowError):
        return True


def _query_endpoints() -> list[tuple[str, tuple[str, ...]]]:
    """Every GET that takes query parameters, from the spec (path parameters made concrete)."""
    spec = spec_checker().spec
    found = []
    for path, operations in spec["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        names = tuple(p["name"] for p in parameters if p["in"] == "query")
        if names and path != "/v1/client/status":  # the WebSocket's token is covered by the device tests
            found.append((concrete(path.replace("{mobileNumber}", "2025550100").replace("{clientId}", DEFAULT_CLIENT_ID)),
                          names))
    return sorted(found)


@SETTINGS
@given(endpoint=st.sampled_from(_query_endpoints()), data=st.data())
def test_query_strings_never_break_a_read(harness: Harness, endpoint: tuple[str, tuple[str, ...]],
                                          data: st.DataObject) -> None:
    with harness.example():
        path, names = endpoint
        params = data.draw(st.dictionaries(
            st.sampled_from(names),
            st.one_of(st.text(max_size=40), st.integers().map(str),
                      st.sampled_from(["nan", "inf", "-1", "1e400", "0x10"])),
            min_size=1,
        ), label="params")
        params = {name: value for name, value in params.items() if name != "wait" or _not_a_short_wait(value)}
        headers = harness.bearer() if path.startswith("/v3/") else {}
        response = harness.send("GET", path, params=params, headers=headers)
        if response.status_code == 400 and response.json()["code"] == 8001:
            assert any(name in response.json()["message"] for name in params), response.text


@SETTINGS
@given(segment=st.text(min_size=1, max_size=60).filter(lambda text: "/" not in text and text.strip(".")))
def test_path_parameters_never_break_a_read(harness: Harness, segment: str) -> None:
    with harness.example():
        quoted = quote(segment, safe="")
        for path in (f"/__emulator/flows/{quoted}", f"/__emulator/projects/{quoted}", f"/__emulator/link/{quoted}"):
            response = harness.send("GET", path)
            assert response.status_code in (400, 404, 410), response.text


# -- numbers that are not finite doubles ------------------------------------------------------------------

# Raw number texts Python's json would read (as nan or inf) or that overflow a double.
unbounded_numbers = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1E+309", "2" + "0" * 308]),
    st.tuples(st.sampled_from(["", "-"]), st.integers(1, 9), st.integers(309, 10**6)).map(
        lambda parts: f"{parts[0]}{parts[1]}e{parts[2]}"),
    st.integers(310, 1000).map(lambda digits: "9" * digits),
)
PLACEHOLDER = "<unbounded number>"


def with_raw_number(body: Any, path: tuple[str | int, ...], number: str) -> bytes:
    """`body` as JSON with the value at `path` replaced by the raw `number` text."""
    def put(value: Any, rest: tuple[str | int, ...]) -> Any:
        if not rest:
            return PLACEHOLDER
        head, *tail = rest
        if isinstance(head, int):
            items = value if isinstance(value, list) else [{}] * (head + 1)
            return [put(item, tuple(tail)) if index == head else item for index, item in enumerate(items)]
        return {**value, head: put(value.get(head, {}), tuple(tail))}
    return json.dumps(put(body, path)).replace(json.dumps(PLACEHOLDER), number).encode()


def json_paths(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every place in a JSON value a number could be: its leaves, plus a new key in each object."""
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        found.append((*path, "unknownKey"))
        for key, child in value.items():
            found.extend(json_paths(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(json_paths(child, (*path, index)))
    else:
        found.append(path)
    return found


def dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def assert_names_the_number(message: str, path: tuple[str | int, ...]) -> None:
    assert message.startswith(f"field '{dotted(path)}' in the request body is not a finite number"), message


NUMBER_CASES = [("/v3/verify", VALID_VERIFY), ("/v3/verify-status", {"correlationId": "any"}),
                *((path, valid) for path, _, valid in FIELD_CASES)]


@SETTINGS
@given(case=st.sampled_from(NUMBER_CASES).flatmap(
    lambda case: st.sampled_from(json_paths(case[1])).map(lambda path: (*case, path))), number=unbounded_numbers)
def test_every_prove_api_body_refuses_numbers_that_are_not_finite(
    harness: Harness, case: tuple[str, dict[str, Any], tuple[str | int, ...]], number: str
) -> None:
    with harness.example():
        path, valid, where = case
        response = harness.send("POST", concrete(path), content=with_raw_number(valid, where, number),
                                headers={**harness.bearer(), "Content-Type": "application/json"})
        assert_8001(response, "not a finite number")
        assert_names_the_number(response.json()["message"], where)


@SETTINGS
@given(step=st.sampled_from(DEVICE_STEPS), data=st.data(), number=unbounded_numbers)
def test_device_channel_refuses_numbers_that_are_not_finite_in_its_envelope(
    harness: Harness, step: str, data: st.DataObject, number: str
) -> None:
    with harness.example():
        names = sorted(_documented_body_properties(step)) + ["unknownKey"]
        where = data.draw(st.sampled_from(names).map(lambda name: (name,)) | st.just(("nested", "list", 0)),
                          label="where")
        headers = {"Authorization": f"Bearer {_token_for(harness, step)}", "Content-Type": "application/json"}
        response = harness.send("POST", f"/v1/client/{step}", content=with_raw_number({}, where, number), headers=headers)
        assert_refused_in_envelope(response)
        assert_names_the_number(response.json()["error"]["message"], where)


# A valid body of each control-plane write, so that only the number is wrong.
CONTROL_BODIES = {
    "/__emulator/clock": {"freeze": True, "advance": 1},
    "/__emulator/reset": {"project": DEFAULT_CLIENT_ID},
    "/__emulator/faults": {"endpoint": "/v3/verify", "status": 503, "latencyMs": 10, "times": 1},
    "/__emulator/projects/{clientId}": {"clientSecret": "s3cret", "name": "n", "webhook": {"url": "http://127.0.0.1:9/h"}},
    "/__emulator/projects/{clientId}/webhook": {"url": "http://127.0.0.1:9/h", "timeoutSeconds": 2,
                                                "retrySchedule": [0, 60]},
    "/__emulator/identities/{identityId}/events": {"eventType": "DISCONNECT", "details": {"reason": "x", "n": 1}},
    "/__emulator/flows/{correlationId}/customer": {"action": "error", "errorCode": 10001, "message": "m",
                                                   "isMobile": False},
    "/__emulator/phones/{phoneNumber}/customer": {"action": "enter-code", "code": "0000", "project": DEFAULT_CLIENT_ID},
    "/__emulator/snapshot": {"format": "prove-emulator-snapshot", "version": 1, "takenAt": "2030-01-01T00:00:00Z",
                             "clock": {"frozenAt": 1.5, "offset": 0}, "tokens": {"instance": "abcd1234", "key": "AAAA"},
                             "projects": {}, "faults": [], "personas": {}},
}


@SETTINGS
@given(write=st.sampled_from(_json_bodied_control_writes()), data=st.data(), number=unbounded_numbers)
def test_every_control_plane_write_refuses_numbers_that_are_not_finite(
    harness: Harness, write: tuple[str, str], data: st.DataObject, number: str
) -> None:
    with harness.example():
        method, template = write
        valid = CONTROL_BODIES.get(template, {})
        where = data.draw(st.sampled_from(json_paths(valid) or [("unknownKey",)]), label="where")
        path = control_path(harness, template)
        response = harness.send(method, path, content=with_raw_number(valid, where, number),
                                headers={"Content-Type": "application/json"})
        assert_8001(response, "not a finite number")
        assert_names_the_number(response.json()["message"], where)
        harness.expect(200, "GET", "/__emulator/webhooks/deliveries")


def test_every_control_plane_write_has_a_valid_body_for_the_number_test() -> None:
    assert {template for _, template in _json_bodied_control_writes()} <= set(CONTROL_BODIES)


@SETTINGS
@given(body=st.one_of(
    # an instant outside 1970-01-01 .. 9000-01-01, valid RFC 3339 all the same
    st.integers(1, 1969).map(lambda year: {"set": f"{year:04d}-06-01T00:00:00Z"}),
    st.integers(1, 10**5).map(lambda seconds: {"set": rfc3339(LATEST + seconds)}),
    st.sampled_from([{"set": "9999-12-31T23:59:59Z"}, {"set": "0189-12-10T12:27:57Z"},
                     {"set": "1969-12-31T23:59:59.999Z"}, {"set": "8999-12-31T23:00:01-01:00"}]),
    # a valid instant, then an advance past the last one
    st.tuples(st.integers(0, 10**6), st.integers(1, 10**6), st.booleans()).map(
        lambda parts: {"set": rfc3339(LATEST - parts[0]), "advance": parts[0] + parts[1], "freeze": parts[2]}),
))
def test_clock_refuses_moves_outside_its_range_and_applies_none_of_them(harness: Harness, body: dict[str, Any]) -> None:
    with harness.example():
        response = harness.send("POST", "/__emulator/clock", json=body)
        assert_8001(response, "field 'set' must be an instant from 1970", "field 'advance' would move the clock past")
        harness.expect(200, "GET", "/__emulator/clock")
        harness.expect(200, "GET", "/__emulator/health")


# -- text that JSON allows but UTF-8 cannot carry -------------------------------------------------------

lone_surrogates = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)


def raw_json(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped, so lone surrogates travel as \\udXXX escapes."""
    return json.dumps(value, ensure_ascii=True).encode()


@SETTINGS
@given(text=lone_surrogates, where=st.sampled_from(["verify", "otp error", "instant link error", "project", "fault",
                                                    "customer error"]))
def test_unpaired_surrogates_never_poison_later_replies(text: str, where: str) -> None:
    """JSON may carry "\\ud800"; whatever the emulator does with it, no later reply may break."""
    harness = Harness()  # these requests may be accepted: each example gets its own emulator
    json_headers = {"Content-Type": "application/json"}
    if where == "verify":
        body = {**VALID_VERIFY, "firstName": text, "clientCustomerId": text}
        harness.send("POST", "/v3/verify", content=raw_json(body), headers={**harness.bearer(), **json_headers})
    elif where == "project":
        harness.send("PUT", "/__emulator/projects/surrogates", content=raw_json({"clientSecret": "s", "name": text}),
                     headers=json_headers)
    elif where == "fault":
        harness.send("POST", "/__emulator/faults", content=raw_json({"endpoint": text, "status": 500}),
                     headers=json_headers)
    elif where == "customer error":
        harness.send("POST", f"/__emulator/flows/{harness.otp_flow['correlationId']}/customer",
                     content=raw_json({"action": "error", "message": text}), headers=json_headers)
    else:
        flow = harness.otp_flow if where == "otp error" else harness.link_flow
        step = "mobile/otp/error" if where == "otp error" else "mobile/instantlink/error"
        harness.send("POST", f"/v1/client/{step}", content=raw_json({"message": text}),
                     headers={"Authorization": f"Bearer {flow['authToken']}", **json_headers})
    for path in ("/__emulator/flows", "/__emulator/projects", "/__emulator/requests", "/__emulator/sms"):
        harness.send("GET", path)
    for flow in (harness.otp_flow, harness.link_flow):
        harness.send("GET", f"/__emulator/flows/{flow['correlationId']}")
