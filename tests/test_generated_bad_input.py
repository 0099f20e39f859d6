"""Generated bad input for every endpoint: never a 5xx, always the right error shape, and nothing a
client sent earlier is lost or corrupted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.http.app import all_routes

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
PROVE_JSON_POSTS = sorted({op.path for op, _ in all_routes() if op.request is not None and "{" not in op.path})
FIELD_NAMES = sorted({
    item.name for op, _ in all_routes() if op.request is not None for item in op.request.fields
} | {"individual", "items", "mobileNumber", "otp", "isMobile", "sourceIp", "code", "message"})


def bodies() -> st.SearchStrategy[Any]:
    """Objects made of the API's own field names (so they get past the first checks), or anything."""
    objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8)
    return st.one_of(objects, objects, json_values)


@pytest.fixture
def witness(emu) -> dict[str, Any]:
    """A flow made before the bad requests, with its state, to check nothing disturbed it."""
    flow = emu.verify("2025550100", "mobile")
    emu.client(flow["authToken"], "mobile/otp/start", {})
    return {"flow": flow, "status": emu.status(flow["correlationId"]), "sms": emu.sms("2025550100")}


def assert_undisturbed(emu, witness: dict[str, Any]) -> None:
    assert emu.status(witness["flow"]["correlationId"]) == witness["status"]
    assert emu.sms("2025550100") == witness["sms"]
    assert emu.client(witness["flow"]["authToken"], "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}


def assert_prove_error(reply) -> None:
    assert reply.status_code < 500, reply.text
    if reply.status_code != 200:
        body = reply.json()
        assert set(body) == {"code", "message"} and body["message"]
        if body["code"] == 8001:
            assert "field '" in body["message"] or "request body" in body["message"] \
                or "Content-Type" in body["message"], body["message"]


@pytest.mark.parametrize("path", PROVE_JSON_POSTS)
def test_prove_api_bodies(emu, witness, path):
    @SETTINGS
    @given(body=bodies())
    def check(body: Any) -> None:
        assert_prove_error(emu.post(path, body))

    check()
    assert_undisturbed(emu, witness)


def test_raw_bytes_and_content_types(emu, witness):
    @SETTINGS
    @given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
           content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=latin-1",
                                         "application/x-www-form-urlencoded"]),
           path=st.sampled_from(PROVE_JSON_POSTS))
    def check(raw: bytes, content_type: str, path: str) -> None:
        headers = {"Authorization": f"Bearer {emu.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        assert_prove_error(emu.http.post(path, content=raw, headers=headers))

    check()
    assert_undisturbed(emu, witness)


def test_bodies_over_4_kb(emu, witness):
    @SETTINGS
    @given(size=st.integers(4097, 20_000), path=st.sampled_from(PROVE_JSON_POSTS))
    def check(size: int, path: str) -> None:
        reply = emu.post(path, {"pad": "x" * size})
        assert reply.status_code == 400 and "4 KB" in reply.json()["message"]

    check()
    assert_undisturbed(emu, witness)


def test_token_forms(emu):
    @SETTINGS
    @given(form=st.dictionaries(st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "x"]),
                                st.text(max_size=30), max_size=4))
    def check(form: dict[str, str]) -> None:
        reply = emu.http.post("/token", data=form)
        assert reply.status_code in (200, 400, 401), reply.text
        if reply.status_code != 200:
            assert reply.json()["code"] == (8002 if reply.status_code == 401 else 8001)

    check()


DEVICE_STEPS = ["mobile/otp/start", "mobile/otp/finish", "mobile/otp/error", "mobile/instantlink/start",
                "mobile/instantlink/error"]


def test_device_channel_bodies_and_tokens(emu, witness):
    other = emu.verify("2025550100", "desktop")

    @SETTINGS
    @given(step=st.sampled_from(DEVICE_STEPS), body=bodies(),
           authorization=st.sampled_from([f"Bearer {other['authToken']}", "", "Bearer x.y.z", "Basic abc",
                                          f"Bearer {other['authToken'][:-4]}AAAA"]))
    def check(step: str, body: Any, authorization: str) -> None:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        reply = emu.http.post(f"/v1/client/{step}", content=json.dumps(body), headers=headers)
        assert reply.status_code == 200, reply.text  # the Web SDK protocol: always 200
        envelope = reply.json()
        assert set(envelope) <= {"next", "data", "error"} and envelope
        if "error" in envelope:
            assert isinstance(envelope["error"]["code"], int) and envelope["error"]["message"]

    check()
    assert_undisturbed(emu, witness)


CONTROL_WRITES = [
    ("POST", "/__emulator/clock"), ("POST", "/__emulator/reset"), ("POST", "/__emulator/faults"),
    ("PUT", "/__emulator/projects/generated"), ("PUT", "/__emulator/projects/sandbox-client-id/webhook"),
]


def test_control_plane_bodies(emu):
    @SETTINGS
    @given(route=st.sampled_from(CONTROL_WRITES), body=bodies())
    def check(route: tuple[str, str], body: Any) -> None:
        method, path = route
        if path.endswith("/reset") and not (isinstance(body, dict) and body.get("project") is not None):
            return  # a valid reset would wipe the state other examples rely on
        if path.endswith("/clock") and isinstance(body, dict) and isinstance(body.get("set"), str):
            return  # a valid jump could expire the witness; the clock's own rules are tested elsewhere
        reply = emu.http.request(method, path, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert reply.status_code < 500, reply.text
        if reply.status_code >= 400:
            assert set(reply.json()) == {"code", "message"}

    check()


def test_control_plane_queries(emu):
    @SETTINGS
    @given(path=st.sampled_from(["/__emulator/sms", "/__emulator/requests", "/__emulator/flows",
                                 "/__emulator/webhooks/deliveries"]),
           params=st.dictionaries(st.sampled_from(["wait", "after", "limit", "project", "phoneNumber", "status"]),
                                  st.text(max_size=8), max_size=3))
    def check(path: str, params: dict[str, str]) -> None:
        if "wait" in params:
            params["wait"] = params["wait"][:1] if params["wait"][:1] in ("0", "-", "x") else "0"
        reply = emu.http.get(path, params=params)
        assert reply.status_code < 500, reply.text

    check()
