"""Prove's rate limit as a project setting: `rateLimit` requests per second, then 429 with Retry-After.

The limit runs on the emulator clock (emulator/ratelimit.py), so these tests freeze it, burst, and
move it instead of sleeping.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from emulator.clock import Clock
from emulator.errors import RateLimited
from emulator.projects import ProjectsFileError, load_projects_file, project_from_json
from emulator.ratelimit import RateLimiter
from tests.prove_calls import ok, refused

LIMITED = "limited"
SECRET = "limited-secret"
VERIFY = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550101", "possessionType": "none"}


def limited_token(emu, rate: float | None, client_id: str = LIMITED) -> str:
    emu.put_project(client_id, clientSecret=SECRET, rateLimit=rate)
    return emu.access_token(client_id, SECRET)


def domain_id(emu, token: str) -> httpx.Response:
    """A cheap call of Prove's API that changes nothing."""
    return emu.http.get("/v3/domain/id", headers={"Authorization": f"Bearer {token}"})


def statuses(emu, token: str, calls: int) -> list[int]:
    return [domain_id(emu, token).status_code for _ in range(calls)]


def assert_rate_limited(reply: httpx.Response, rate: str = "25") -> str:
    message = refused(reply, 429, 8012)
    assert reply.headers["retry-after"] == "1"
    assert "rate limit exceeded" in message and f"rateLimit {rate} " in message and LIMITED in message
    return message


# -- over HTTP --------------------------------------------------------------------------------------


def test_off_by_default(emu):
    emu.freeze()
    assert ok(emu.http.get("/__emulator/projects/sandbox-client-id"))["rateLimit"] is None
    assert set(statuses(emu, emu.token, 60)) == {200}


def test_prove_s_25_per_second_then_429_with_retry_after(emu):
    token = limited_token(emu, 25)
    emu.freeze()
    assert statuses(emu, token, 25) == [200] * 25
    message = assert_rate_limited(domain_id(emu, token))
    assert "the emulator clock is frozen" in message
    assert set(statuses(emu, token, 5)) == {429}

    emu.advance(0.04)  # 1/25 s: one more call (the refused ones took nothing)
    assert statuses(emu, token, 2) == [200, 429]
    emu.advance(1)  # a second later the bucket is full again, and holds no more than 25
    assert statuses(emu, token, 26) == [200] * 25 + [429]
    emu.advance(600)  # however long the pause, never more than 25 at once
    assert statuses(emu, token, 26) == [200] * 25 + [429]


def test_a_refused_call_is_journaled_and_changes_nothing(emu):
    token = limited_token(emu, 1)
    emu.freeze()
    assert statuses(emu, token, 1) == [200]
    flows_before = ok(emu.http.get("/__emulator/flows"))["flows"]
    assert_rate_limited(emu.post("/v3/verify", VERIFY, token=token), "1")
    assert ok(emu.http.get("/__emulator/flows"))["flows"] == flows_before
    last = emu.requests(project=LIMITED)[-1]
    assert (last["path"], last["status"], last["project"]) == ("/v3/verify", 429, LIMITED)
    assert '"code":8012' in last["responseBody"]


@pytest.mark.parametrize("method, path", [
    ("POST", "/v3/verify"), ("POST", "/v3/start"), ("POST", "/v3/unify"), ("GET", "/v3/identity"),
    ("POST", "/v3/identity/batch"), ("POST", "/v1/server/auth/start"), ("POST", "/v1/server/auth/finish"),
])
def test_every_prove_api_call_counts_and_is_refused_before_its_body_is_read(emu, method, path):
    token = limited_token(emu, 1)
    emu.freeze()
    assert statuses(emu, token, 1) == [200]
    # No body at all: a counted call would be 400; over the limit it is 429 first.
    reply = emu.http.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert_rate_limited(reply, "1")


def test_token_device_channel_and_control_plane_are_not_counted(emu):
    token = limited_token(emu, 1)
    emu.freeze()
    started = ok(emu.post("/v3/verify", {**VERIFY, "phoneNumber": "2025550100", "possessionType": "mobile"},
                          token=token))  # the one call of this second
    assert_rate_limited(domain_id(emu, token), "1")
    for _ in range(3):
        assert emu.access_token(LIMITED, SECRET)
        ok(emu.http.get("/__emulator/health"))
    assert emu.client(started["authToken"], "mobile/otp/start", {}) == {"next": "mobile/otp"}
    assert emu.client(started["authToken"], "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    assert_rate_limited(emu.post("/v3/verify-status", {"correlationId": started["correlationId"]}, token=token), "1")
    emu.advance(1)
    assert ok(emu.post("/v3/verify-status", {"correlationId": started["correlationId"]}, token=token))["success"] == "true"


def test_each_project_has_its_own_limit(emu):
    first = limited_token(emu, 2)
    second = limited_token(emu, 2, client_id="also-limited")
    emu.freeze()
    assert statuses(emu, first, 3) == [200, 200, 429]
    assert statuses(emu, second, 3) == [200, 200, 429]
    assert set(statuses(emu, emu.token, 10)) == {200}  # the default project has none


def test_changing_or_removing_the_limit_takes_effect_at_once(emu):
    token = limited_token(emu, 1)
    emu.freeze()
    assert statuses(emu, token, 2) == [200, 429]
    emu.put_project(LIMITED, clientSecret=SECRET, rateLimit=3)  # a new limit starts with a full bucket
    assert statuses(emu, token, 4) == [200, 200, 200, 429]
    emu.put_project(LIMITED, clientSecret=SECRET)  # absent: off
    assert set(statuses(emu, token, 10)) == {200}


def test_reset_of_the_project_refills_it(emu):
    token = limited_token(emu, 1)
    emu.freeze()
    assert statuses(emu, token, 2) == [200, 429]
    emu.reset(LIMITED)
    assert statuses(emu, token, 2) == [200, 429]


def test_unfrozen_the_clock_refills_as_it_moves_and_setting_it_back_refills_nothing(emu):
    token = limited_token(emu, 1)
    assert statuses(emu, token, 2) == [200, 429]
    emu.advance(1)  # unfrozen: real time plus the offset
    assert statuses(emu, token, 1) == [200]
    emu.freeze()
    now = emu.clock()["now"]
    emu.advance(30)
    assert statuses(emu, token, 2) == [200, 429]
    emu.clock(set=now)  # 30 s back in time
    assert statuses(emu, token, 1) == [429]
    emu.advance(1)
    assert statuses(emu, token, 2) == [200, 429]


def test_an_injected_429_looks_like_the_rate_limit(emu):
    ok(emu.http.post("/__emulator/faults", json={"endpoint": "/v3/verify", "status": 429}))
    reply = emu.post("/v3/verify", VERIFY)
    refused(reply, 429, 8012)
    assert reply.headers["retry-after"] == "1"


def test_the_spec_documents_429_with_retry_after_on_every_prove_api_operation(emu):
    spec = ok(emu.http.get("/openapi.json"))
    bearer_operations = [(path, operation) for path, item in spec["paths"].items() for operation in item.values()
                         if operation.get("security") == [{"accessToken": []}]]
    assert len(bearer_operations) > 30
    for path, operation in bearer_operations:
        documented = operation["responses"]["429"]
        assert documented["headers"]["Retry-After"]["schema"]["type"] == "integer", path
        assert "8012" in documented["description"]
    assert "429" not in spec["paths"]["/token"]["post"]["responses"]
    project = spec["paths"]["/__emulator/projects/{clientId}"]["get"]["responses"]["200"]["content"]
    assert "rateLimit" in project["application/json"]["schema"]["properties"]


# -- the setting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [25, 1, 2.5, 10000, None])
def test_put_project_accepts_a_rate_limit(emu, value):
    assert emu.put_project(LIMITED, clientSecret=SECRET, rateLimit=value)["rateLimit"] == value


@pytest.mark.parametrize("value", [0, 0.5, -25, 10001, True, "25", [25], {"perSecond": 25}])
def test_put_project_refuses_a_bad_rate_limit_and_stores_nothing(emu, value):
    reply = emu.http.put(f"/__emulator/projects/{LIMITED}", json={"clientSecret": SECRET, "rateLimit": value})
    message = refused(reply, 400, 8001)
    assert "rateLimit" in message and "from 1 to 10000" in message
    assert emu.http.get(f"/__emulator/projects/{LIMITED}").status_code == 404


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_put_project_refuses_a_rate_limit_that_is_not_finite(emu, number):
    body = '{"clientSecret": "%s", "rateLimit": %s}' % (SECRET, number)
    reply = emu.http.put(f"/__emulator/projects/{LIMITED}", content=body, headers={"Content-Type": "application/json"})
    refused(reply, 400, 8001)
    assert emu.http.get(f"/__emulator/projects/{LIMITED}").status_code == 404


def test_not_finite_numbers_are_refused_by_the_rule_itself():
    for number in (float("inf"), float("nan")):
        with pytest.raises(ProjectsFileError, match=r"^p\.rateLimit: must be a number"):
            project_from_json({"clientId": "a", "clientSecret": "b", "rateLimit": number}, "p")


def test_the_projects_file_takes_rate_limit(tmp_path: Path):
    good = tmp_path / "projects.yaml"
    good.write_text("projects:\n  - {clientId: ci, clientSecret: s, rateLimit: 25}\n  - {clientId: other, clientSecret: s}\n")
    assert [p.rate_limit for p in load_projects_file(good)] == [25, None]
    bad = tmp_path / "bad.yaml"
    bad.write_text("projects:\n  - {clientId: ci, clientSecret: s, rateLimit: .inf}\n")
    with pytest.raises(ProjectsFileError, match=r"projects\[0\]\.rateLimit: must be a number of requests per second"):
        load_projects_file(bad)


# -- the limiter on its own ---------------------------------------------------------------------------


def test_the_limiter_keeps_a_bounded_number_of_buckets():
    clock = Clock()
    clock.freeze()
    limiter = RateLimiter(clock, max_buckets=3)
    for index in range(10):
        limiter.admit(f"p{index}", 1)
    assert len(limiter) == 3
    with pytest.raises(RateLimited):
        limiter.admit("p9", 1)
    limiter.admit("p0", 1)  # forgotten, so it starts full again
    limiter.admit("p9", None)  # the limit was removed: its bucket goes
    assert len(limiter) == 2


def test_the_limiter_refills_in_proportion_to_the_time_that_passed():
    clock = Clock()
    clock.freeze()
    limiter = RateLimiter(clock)
    for _ in range(10):
        limiter.admit("p", 10)
    with pytest.raises(RateLimited) as refused_call:
        limiter.admit("p", 10)
    assert (refused_call.value.status, refused_call.value.retry_after) == (429, 1)
    clock.advance(0.35)  # 3.5 calls' worth
    for _ in range(3):
        limiter.admit("p", 10)
    with pytest.raises(RateLimited):
        limiter.admit("p", 10)
