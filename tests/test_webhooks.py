"""Signed webhooks, end to end: a real receiver on loopback, the emulator clock driving retries and
scheduled events, and the suppression rules of CONTRACT.md "Webhooks".

Real-time waits are only for network I/O (`GET /__emulator/webhooks/deliveries?wait=`, the
receiver's `wait_for`), never for emulator lifetimes: the clock is frozen and moved instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest

from emulator.projects import DEFAULT_CLIENT_ID, ProjectsFileError, WebhookSettings, load_projects_file
from emulator.client import EmulatorClient
from emulator.server import BackgroundServer
from emulator.service import Emulator
from emulator.webhooks import EVENT_TYPES, AttemptResult, event_json
from tests.webhook_receiver import ReceivedRequest, WebhookReceiver

PROJECT = DEFAULT_CLIENT_ID
SECRET = "whsec_test-secret-0123456789abcdefghijklmnop"
EVENT_KEYS = {"eventId", "event", "eventType", "eventTimestamp", "identityId", "phoneNumber"}


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


# -- helpers ---------------------------------------------------------------------------------------------


def configure(emu, url: str, project: str = PROJECT, **settings: Any) -> dict[str, Any]:
    reply = emu.http.put(f"/__emulator/projects/{project}/webhook", json={"url": url, **settings})
    assert reply.status_code == 200, reply.text
    return reply.json()


def deliveries(emu, wait: float = 5, **filters: str) -> list[dict[str, Any]]:
    """The delivery log, after waiting (real time) for attempts in flight."""
    reply = emu.http.get("/__emulator/webhooks/deliveries", params={"wait": wait, **filters})
    assert reply.status_code == 200, reply.text
    return reply.json()["deliveries"]


def enrol(emu, phone: str = "2025550101", token: str | None = None, **fields: Any) -> str:
    """Enrol a number through Verified Users (possessionType none); returns its identityId."""
    body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone, "possessionType": "none", **fields}
    reply = emu.post("/v3/verify", body, token=token)
    assert reply.status_code == 200 and reply.json()["success"] == "true", reply.text
    status = emu.post("/v3/verify-status", {"correlationId": reply.json()["correlationId"]}, token=token)
    return status.json()["identityId"]


def trigger(emu, identity_id: str, event_type: str = "DISCONNECT") -> dict[str, Any]:
    reply = emu.http.post(f"/__emulator/identities/{identity_id}/events", json={"eventType": event_type})
    assert reply.status_code == 200, reply.text
    return reply.json()


def claims(request: ReceivedRequest, secret: str) -> dict[str, Any]:
    """Verify the request's X-Prove-Authorization as a receiver should, and return its claims."""
    scheme, _, token = request.headers["x-prove-authorization"].partition(" ")
    assert scheme == "Bearer"
    return jwt.decode(token, secret, algorithms=["HS256"], issuer="Prove Identity",
                      options={"require": ["iss", "sub", "iat", "exp", "jti"]})


def instant(text: str) -> datetime:
    assert text.endswith("Z"), text  # RFC 3339, UTC
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def clock_now(emu) -> datetime:
    return instant(emu.clock()["now"])


# -- signature, headers, body ------------------------------------------------------------------------------


def test_each_delivery_is_signed_with_the_project_secret(emu, receiver):
    emu.put_project("team-hooks", clientSecret="hooks-secret", product="verified-users")
    configure(emu, receiver.url, project="team-hooks", secret=SECRET)
    identity = enrol(emu, token=emu.access_token("team-hooks", "hooks-secret"))
    trigger(emu, identity)

    [request] = receiver.wait_for(1)
    assert request.headers["content-type"] == "application/json"
    token = claims(request, SECRET)
    assert token["iss"] == "Prove Identity"
    assert token["sub"] == "team-hooks"
    assert token["exp"] == token["iat"] + 300
    assert abs(token["iat"] - time.time()) < 10  # real time, so the receiver's own clock accepts it
    uuid.UUID(token["jti"])
    with pytest.raises(jwt.InvalidSignatureError):
        claims(request, "whsec_some-other-secret-0123456789abcdefghij")


@pytest.mark.parametrize("event_type", list(EVENT_TYPES))
def test_the_body_is_an_array_of_events_as_documented(emu, receiver, event_type):
    emu.clock(freeze=True, set="2031-05-06T07:08:09Z")  # before any token: tokens live on this clock
    configure(emu, receiver.url, secret=SECRET)
    identity = enrol(emu, clientCustomerId="customer-42")
    delivery = trigger(emu, identity, event_type)

    [request] = receiver.wait_for(1)
    body = request.json()
    assert isinstance(body, list) and len(body) == 1
    [event] = body
    assert set(event) == EVENT_KEYS | {"clientCustomerId"}
    uuid.UUID(event["eventId"])
    assert event["eventType"] == event_type
    assert event["event"] == EVENT_TYPES[event_type]
    assert event["eventTimestamp"] == "2031-05-06T07:08:09.000Z"  # the emulator clock, not the wall
    assert event["clientCustomerId"] == "customer-42"
    assert event["identityId"] == identity
    assert event["phoneNumber"] == "2025550101"
    assert delivery["payload"] == body  # the log shows exactly what was sent


def test_no_client_customer_id_key_when_the_identity_has_none(emu, receiver):
    configure(emu, receiver.url)
    trigger(emu, enrol(emu), "PORT")
    [event] = receiver.wait_for(1)[0].json()
    assert set(event) == EVENT_KEYS


def test_each_attempt_has_its_own_correlation_id(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[0, 60])
    receiver.status = 500
    trigger(emu, enrol(emu))
    deliveries(emu)  # the first attempt has finished: its retry is on the clock
    receiver.status = 200
    emu.advance(60)
    [delivery] = deliveries(emu)
    assert delivery["status"] == "delivered"
    sent = [request.headers["x-correlation-id"] for request in receiver.wait_for(2)]
    assert len(set(sent)) == 2
    assert sent == [attempt["correlationId"] for attempt in delivery["attempts"]]


# -- configuring, "Save and Test" ----------------------------------------------------------------------------


def test_a_secret_is_generated_when_none_is_given(emu, receiver):
    emu.put_project("team-b", clientSecret="secret-b")
    first = configure(emu, receiver.url)
    second = configure(emu, receiver.url, project="team-b")
    assert first["secret"].startswith("whsec_") and len(first["secret"]) > 20
    assert first["secret"] != second["secret"]
    assert first == {"url": receiver.url, "secret": first["secret"], "timeoutSeconds": 5.0,
                     "retrySchedule": [0.0, 60.0, 300.0]}
    assert emu.http.get(f"/__emulator/projects/{PROJECT}/webhook").json() == first


def test_save_and_test_sends_one_sample_event_of_each_type(emu, receiver):
    secret = configure(emu, receiver.url)["secret"]
    reply = emu.http.post(f"/__emulator/projects/{PROJECT}/webhook/test")
    assert reply.status_code == 200, reply.text
    delivery = reply.json()
    assert delivery["test"] is True and delivery["status"] == "delivered"
    [attempt] = delivery["attempts"]
    assert attempt["status"] == 200 and attempt["outcome"] == "success" and "error" not in attempt

    [request] = receiver.requests  # the reply waited for the attempt
    assert claims(request, secret)["sub"] == PROJECT
    body = request.json()
    assert sorted(event["eventType"] for event in body) == sorted(EVENT_TYPES)
    assert all(set(event) == EVENT_KEYS | {"clientCustomerId"} for event in body)
    assert body == delivery["payload"]


def test_save_and_test_reports_a_failing_receiver(emu, receiver):
    configure(emu, receiver.url, retrySchedule=[0, 60])
    receiver.status = 500
    delivery = emu.http.post(f"/__emulator/projects/{PROJECT}/webhook/test").json()
    [attempt] = delivery["attempts"]
    assert (attempt["status"], attempt["outcome"], attempt["error"]) == (500, "failure", "HTTP 500")
    assert delivery["status"] == "scheduled" and "nextAttemptAt" in delivery


def test_save_and_test_answers_without_waiting_for_other_deliveries(emu, receiver):
    emu.put_project("team-slow", clientSecret="slow-secret", product="verified-users")
    with WebhookReceiver() as slow:
        slow.hang = True
        configure(emu, slow.url, project="team-slow", timeoutSeconds=5)
        trigger(emu, enrol(emu, token=emu.access_token("team-slow", "slow-secret")), "PORT")
        slow.wait_for(1)  # that attempt now hangs for up to 5 s
        configure(emu, receiver.url)
        started = time.monotonic()
        reply = emu.http.post(f"/__emulator/projects/{PROJECT}/webhook/test")
        assert time.monotonic() - started < 2
        assert reply.json()["status"] == "delivered"


def test_webhook_settings_are_validated(emu, receiver):
    url = f"/__emulator/projects/{PROJECT}/webhook"
    for bad in ({"url": "ftp://example.com"}, {"url": "http://127.0.0.1:99999/hook"}, {"url": "http:///nohost"},
                {"url": receiver.url, "secret": "not-a-whsec"},
                {"url": receiver.url, "timeoutSeconds": 0}, {"url": receiver.url, "retrySchedule": []},
                {"url": receiver.url, "retryAfter": 5}):
        reply = emu.http.put(url, json=bad)
        assert reply.status_code == 400, bad
    assert emu.http.get(url).status_code == 404  # nothing was saved
    assert emu.http.post(url + "/test").status_code == 404
    assert emu.http.put("/__emulator/projects/no-such-project/webhook", json={"url": receiver.url}).status_code == 404


def test_changing_a_webhook_keeps_its_secret_and_its_configured_since(emu, receiver):
    emu.freeze()
    first = configure(emu, "http://127.0.0.1:9/old")
    emu.advance(1)
    enrolled = enrol(emu)  # after the first configuration: it gets events
    emu.advance(1)
    changed = configure(emu, receiver.url, timeoutSeconds=2)
    assert changed["secret"] == first["secret"] and changed["url"] == receiver.url
    assert trigger(emu, enrolled, "PORT")["status"] == "sending"
    assert claims(receiver.wait_for(1)[0], first["secret"])["sub"] == PROJECT


def test_a_webhook_in_a_runtime_project_counts_from_its_creation(emu, receiver):
    emu.freeze()
    emu.put_project("team-late", clientSecret="late", product="verified-users")
    token = emu.access_token("team-late", "late")
    before = enrol(emu, token=token)
    emu.advance(1)
    emu.put_project("team-late", clientSecret="late", product="verified-users", webhook={"url": receiver.url})
    assert trigger(emu, before, "PORT")["reason"].startswith("no retroactive events")


def test_a_webhook_configured_at_runtime_is_dropped_by_reset(emu, receiver):
    configure(emu, receiver.url)
    emu.reset()
    assert emu.http.get(f"/__emulator/projects/{PROJECT}/webhook").status_code == 404


# -- retries ------------------------------------------------------------------------------------------------


def test_a_failing_receiver_is_retried_on_schedule_then_the_delivery_fails(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[0, 60, 300])
    receiver.status = 500
    first = trigger(emu, enrol(emu))
    assert first["status"] == "sending"  # a first attempt with no delay starts at once

    [delivery] = deliveries(emu)
    assert len(delivery["attempts"]) == 1 and delivery["status"] == "scheduled"
    started = instant(delivery["attempts"][0]["at"])
    assert instant(delivery["nextAttemptAt"]) == started + timedelta(seconds=60)
    emu.advance(59)
    assert len(deliveries(emu)[0]["attempts"]) == 1
    emu.advance(1)
    assert len(deliveries(emu)[0]["attempts"]) == 2
    emu.advance(299)
    assert len(deliveries(emu)[0]["attempts"]) == 2
    emu.advance(1)

    [delivery] = deliveries(emu)
    assert delivery["status"] == "failed" and delivery["reason"] == "all 3 attempts failed"
    assert [instant(attempt["at"]) - started for attempt in delivery["attempts"]] == [
        timedelta(0), timedelta(seconds=60), timedelta(seconds=360)]
    for attempt in delivery["attempts"]:
        assert (attempt["status"], attempt["outcome"], attempt["error"]) == (500, "failure", "HTTP 500")
        assert attempt["latencyMs"] >= 0
    assert len(receiver.requests) == 3
    emu.advance(3600)
    assert len(deliveries(emu)[0]["attempts"]) == 3 and len(receiver.requests) == 3


def test_retries_stop_at_the_first_2xx(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[0, 60, 300])
    receiver.status = 503
    trigger(emu, enrol(emu))
    deliveries(emu)
    receiver.status = 204
    emu.advance(60)
    [delivery] = deliveries(emu)
    assert delivery["status"] == "delivered"
    assert [attempt["status"] for attempt in delivery["attempts"]] == [503, 204]
    emu.advance(3600)
    assert len(deliveries(emu)[0]["attempts"]) == 2 and len(receiver.requests) == 2


def test_a_receiver_that_hangs_past_the_timeout_fails_the_attempt(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, timeoutSeconds=0.5, retrySchedule=[0, 60])
    receiver.hang = True
    trigger(emu, enrol(emu))
    [delivery] = deliveries(emu)
    [attempt] = delivery["attempts"]
    assert attempt["error"] == "timed out after 0.5 s" and "status" not in attempt
    assert attempt["outcome"] == "failure"
    assert 450 <= attempt["latencyMs"] < 3000
    assert delivery["status"] == "scheduled"

    receiver.hang = False
    emu.advance(60)
    [delivery] = deliveries(emu)
    assert delivery["status"] == "delivered"
    assert [attempt["outcome"] for attempt in delivery["attempts"]] == ["failure", "success"]


def test_a_receiver_that_is_down_is_retried_until_it_is_back(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[0, 60, 300])
    receiver.close()
    trigger(emu, enrol(emu))
    [delivery] = deliveries(emu)
    [attempt] = delivery["attempts"]
    assert "status" not in attempt and attempt["error"].startswith("ConnectError")
    with WebhookReceiver(port=receiver.port) as back:
        emu.advance(60)
        [delivery] = deliveries(emu)
        assert delivery["status"] == "delivered"
        assert [attempt["outcome"] for attempt in delivery["attempts"]] == ["failure", "success"]
        assert len(back.requests) == 1


def test_a_receiver_that_stays_down_fails_the_delivery(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[0, 60])
    receiver.close()
    trigger(emu, enrol(emu))
    assert deliveries(emu)[0]["status"] == "scheduled"  # the first attempt has failed
    emu.advance(60)
    [delivery] = deliveries(emu)
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 2
    assert all(attempt["error"].startswith("ConnectError") for attempt in delivery["attempts"])


def test_removing_the_webhook_stops_pending_retries(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[0, 60])
    receiver.status = 500
    trigger(emu, enrol(emu))
    assert deliveries(emu)[0]["status"] == "scheduled"
    assert emu.http.delete(f"/__emulator/projects/{PROJECT}/webhook").json() == {"ok": True}
    emu.advance(60)
    [delivery] = deliveries(emu)
    assert delivery["status"] == "failed" and delivery["reason"] == "the webhook was removed before delivery"
    assert len(receiver.requests) == 1


# -- scheduled events and suppression ----------------------------------------------------------------------


def test_the_scheduled_disconnect_follows_the_emulator_clock(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url, secret=SECRET)
    enrolled_at = clock_now(emu)
    identity = enrol(emu, "2025550113")
    emu.advance(599)
    assert deliveries(emu, identityId=identity) == [] and receiver.requests == []

    emu.advance(1)
    [request] = receiver.wait_for(1, timeout=2)  # sent right after the clock moved
    assert claims(request, SECRET)["sub"] == PROJECT
    [event] = request.json()
    assert event["eventType"] == "DISCONNECT" and event["identityId"] == identity
    assert instant(event["eventTimestamp"]) == enrolled_at + timedelta(seconds=600)
    [delivery] = deliveries(emu, identityId=identity)
    assert delivery["status"] == "delivered"


def test_a_deactivated_identity_gets_nothing(emu, receiver):
    emu.freeze()
    configure(emu, receiver.url)
    identity = enrol(emu, "2025550113")
    reply = emu.post(f"/v3/identity/{identity}/deactivate", {})
    assert reply.status_code == 200 and reply.json() == {"success": True}

    manual = trigger(emu, identity, "PORT")
    assert manual["status"] == "suppressed" and manual["reason"] == "the identity is deactivated"
    emu.advance(600)  # the persona's scheduled DISCONNECT falls due too
    logged = deliveries(emu, identityId=identity)
    assert [(d["eventTypes"], d["status"]) for d in logged] == [(["PORT"], "suppressed"), (["DISCONNECT"], "suppressed")]
    assert all(d["attempts"] == [] for d in logged)
    assert receiver.requests == []

    assert emu.post(f"/v3/identity/{identity}/activate", {}).status_code == 200
    assert trigger(emu, identity, "PORT")["status"] == "sending"  # monitored again
    receiver.wait_for(1)


def test_no_retroactive_events_for_identities_enrolled_before_the_webhook(emu, receiver):
    emu.freeze()
    before = enrol(emu, "2025550113")
    emu.advance(1)
    configure(emu, receiver.url)
    manual = trigger(emu, before, "PORT")
    assert manual["status"] == "suppressed" and "retroactive" in manual["reason"]
    emu.advance(600)  # its scheduled DISCONNECT: suppressed as well
    assert [d["status"] for d in deliveries(emu, identityId=before)] == ["suppressed", "suppressed"]

    after = enrol(emu, "2025550101")
    assert trigger(emu, after, "PORT")["status"] == "sending"
    assert [request.json()[0]["identityId"] for request in receiver.wait_for(1)] == [after]


def test_no_events_without_a_webhook(emu):
    delivery = trigger(emu, enrol(emu), "PORT")
    assert delivery["status"] == "suppressed"
    assert delivery["reason"] == "the project has no webhook configured"


def test_one_event_ends_monitoring_until_the_number_is_enrolled_again(emu, receiver):
    configure(emu, receiver.url)
    first = enrol(emu)
    assert trigger(emu, first, "PORT")["status"] == "sending"
    again = trigger(emu, first, "LINE_TYPE_CHANGE")
    assert again["status"] == "suppressed" and "ended monitoring" in again["reason"]

    second = enrol(emu)  # a new verification of the number
    assert second != first
    assert trigger(emu, second, "LINE_TYPE_CHANGE")["status"] == "sending"
    received = receiver.wait_for(2)
    assert [(r.json()[0]["identityId"], r.json()[0]["eventType"]) for r in received] == [
        (first, "PORT"), (second, "LINE_TYPE_CHANGE")]


def test_triggering_checks_its_input(emu):
    identity = enrol(emu)
    bad_type = emu.http.post(f"/__emulator/identities/{identity}/events", json={"eventType": "SIM_SWAP"})
    assert bad_type.status_code == 400
    unknown = emu.http.post(f"/__emulator/identities/{uuid.uuid4()}/events", json={"eventType": "PORT"})
    assert unknown.status_code == 404
    bad_wait = emu.http.get("/__emulator/webhooks/deliveries", params={"wait": 999})
    assert bad_wait.status_code == 400


# -- the delivery log ------------------------------------------------------------------------------------------


def test_deliveries_filter_by_project_identity_and_status(emu, receiver):
    emu.put_project("team-b", clientSecret="secret-b", product="verified-users")
    configure(emu, receiver.url)
    configure(emu, receiver.url, project="team-b")
    delivered = enrol(emu, "2025550101")
    deactivated = enrol(emu, "2025550113")
    emu.post(f"/v3/identity/{deactivated}/deactivate", {})
    other = enrol(emu, "2025550101", token=emu.access_token("team-b", "secret-b"))
    for identity in (delivered, deactivated, other):
        trigger(emu, identity, "PORT")
    receiver.wait_for(2)

    def ids(**filters: str) -> list[str]:
        return [d["identityId"] for d in deliveries(emu, **filters)]

    assert ids() == [delivered, deactivated, other]
    assert ids(project=PROJECT) == [delivered, deactivated]
    assert ids(project="team-b") == [other]
    assert ids(identityId=deactivated) == [deactivated]
    assert ids(status="suppressed") == [deactivated]
    assert ids(status="delivered") == [delivered, other]
    assert ids(status="delivered", project="team-b") == [other]
    assert ids(project="no-such-project") == []
    assert emu.http.get("/__emulator/webhooks/deliveries", params={"status": "lost"}).status_code == 400


def test_many_events_to_a_slow_receiver_are_delivered_concurrently_without_slowing_the_api(emu, receiver):
    receiver.hold = True  # no attempt is answered until release()
    emu.freeze()
    configure(emu, receiver.url, retrySchedule=[5, 60])
    batch = emu.post("/v3/identity/batch", {"items": [{"phoneNumber": f"555010{n:04d}"} for n in range(50)]})
    identities = [result["identityId"] for result in batch.json()["results"]]
    assert len(identities) == 50
    assert {trigger(emu, identity, "PORT")["status"] for identity in identities} == {"scheduled"}
    correlation_id = emu.verify("2025550101", "none")["correlationId"]  # for the API calls below

    emu.advance(5)  # every first attempt falls due at once
    receiver.wait_for(50)  # all 50 are open together: none waited for another's answer
    for _ in range(5):  # the API answers while every receiver answer is still outstanding
        assert emu.status(correlation_id)["verifyResult"] == "success"
    assert {d["status"] for d in deliveries(emu, wait=0)} == {"sending"}

    receiver.release()
    assert [d["status"] for d in deliveries(emu)] == ["delivered"] * 50
    assert len(receiver.requests) == 50


# -- the projects file ---------------------------------------------------------------------------------------


PROJECTS_FILE = """\
projects:
  - clientId: hooks-client
    clientSecret: hooks-secret
    product: verified-users
    webhook:
      url: {url}
      secret: whsec_from-the-projects-file-0123456789abcdef
      timeoutSeconds: 2
      retrySchedule: [0, 30]
"""


def test_the_projects_file_webhook_key_configures_delivery(tmp_path, receiver):
    path = tmp_path / "projects.yaml"
    path.write_text(PROJECTS_FILE.format(url=receiver.url))
    [project] = load_projects_file(path)
    assert project.webhook == WebhookSettings(url=receiver.url, secret="whsec_from-the-projects-file-0123456789abcdef",
                                              timeout_seconds=2.0, retry_schedule=(0.0, 30.0))
    server = BackgroundServer(Emulator(projects=[project])).start()
    handle = EmulatorClient(server.base_url, "hooks-client", "hooks-secret", admin_token="")
    try:
        handle.reset()  # a declared webhook survives a reset
        webhook = handle.http.get("/__emulator/projects/hooks-client/webhook").json()
        assert webhook == {"url": receiver.url, "secret": "whsec_from-the-projects-file-0123456789abcdef", "timeoutSeconds": 2.0,
                           "retrySchedule": [0.0, 30.0]}
        reply = handle.call("/v3/verify", {"firstName": "Casey", "lastName": "Client",
                                           "phoneNumber": "2025550101", "possessionType": "none"})
        identity = handle.call("/v3/verify-status", {"correlationId": reply.json()["correlationId"]}).json()["identityId"]
        handle.http.post(f"/__emulator/identities/{identity}/events", json={"eventType": "PORT"}).raise_for_status()
        [request] = receiver.wait_for(1)
        assert claims(request, "whsec_from-the-projects-file-0123456789abcdef")["sub"] == "hooks-client"
        assert request.json()[0]["identityId"] == identity
    finally:
        handle.close()
        server.stop()


def test_the_projects_file_generates_a_secret_and_rejects_bad_webhooks(tmp_path):
    path = tmp_path / "projects.yaml"
    path.write_text("projects:\n  - {clientId: a, clientSecret: b, webhook: {url: 'http://127.0.0.1:9/hook'}}\n")
    [project] = load_projects_file(path)
    assert project.webhook is not None and project.webhook.secret.startswith("whsec_")
    assert project.webhook.retry_schedule == (0.0, 60.0, 300.0) and project.webhook.timeout_seconds == 5.0
    for webhook, complaint in (("{url: 'http://x', secret: plain}", "webhook.secret"),
                               ("{url: 'example.com/hook'}", "webhook.url"),
                               ("{url: 'http://x', retrySchedule: [0, -1]}", "webhook.retrySchedule"),
                               ("{url: 'http://x', timeout: 5}", "unknown key(s): timeout")):
        path.write_text(f"projects:\n  - {{clientId: a, clientSecret: b, webhook: {webhook}}}\n")
        with pytest.raises(ProjectsFileError, match=r"projects\[0\]\.webhook") as error:
            load_projects_file(path)
        assert complaint in str(error.value)


# -- the dispatcher alone, with a fake sender (no network) --------------------------------------------------


class FakeSender:
    """Answers attempts from a script; an asyncio.Event in the script holds that attempt until set
    (then it fails), an exception is raised."""

    def __init__(self, *script: AttemptResult | asyncio.Event | Exception) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, bytes, dict[str, str], float]] = []

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> AttemptResult:
        self.calls.append((url, body, headers, timeout))
        step = self.script.pop(0) if self.script else AttemptResult(200)
        if isinstance(step, asyncio.Event):
            await step.wait()
            return AttemptResult(500)
        if isinstance(step, Exception):
            raise step
        return step


def dispatcher_setup(sender: FakeSender, schedule: tuple[float, ...] = (0.0, 60.0, 300.0)):
    emulator = Emulator()
    emulator.clock.freeze()
    emulator.webhooks.sender = sender
    emulator.projects.with_webhook(PROJECT, WebhookSettings(
        url="http://receiver.invalid/hook", secret=SECRET, timeout_seconds=3.0, retry_schedule=schedule,
        configured_at=emulator.clock.now()))
    persona = emulator.catalogue.find("2025550101", ("default",))
    assert persona is not None
    identity = emulator.identities.enrol(PROJECT, "2025550101", persona, emulator.clock.now(),
                                         client_customer_id="customer-7")
    return emulator, identity


def test_dispatcher_retries_on_the_clock_with_fresh_signed_headers():
    sender = FakeSender(AttemptResult(500), AttemptResult(None, "timed out after 3 s"), AttemptResult(202))
    emulator, identity = dispatcher_setup(sender)

    async def scenario() -> None:
        delivery = emulator.webhooks.emit(identity, "MOVED_OUT_OF_COVERAGE")
        emulator.clock.fire_due()
        await emulator.webhooks.settle(1)
        assert [a.status for a in delivery.attempts] == [500] and delivery.status == "scheduled"
        emulator.clock.advance(59.9)
        await emulator.webhooks.settle(1)
        assert len(sender.calls) == 1
        emulator.clock.advance(0.1)
        await emulator.webhooks.settle(1)
        assert delivery.attempts[1].error == "timed out after 3 s"
        emulator.clock.advance(300)
        await emulator.webhooks.settle(1)
        assert delivery.status == "delivered" and [a.status for a in delivery.attempts] == [500, None, 202]

    asyncio.run(scenario())
    assert len(sender.calls) == 3
    bodies = {body for _, body, _, _ in sender.calls}
    assert len(bodies) == 1  # every attempt resends the same events
    assert {timeout for _, _, _, timeout in sender.calls} == {3.0}
    tokens = [headers["X-Prove-Authorization"] for _, _, headers, _ in sender.calls]
    assert len(set(tokens)) == 3  # a token per attempt (fresh jti)
    for _, _, headers, _ in sender.calls:
        decoded = jwt.decode(headers["X-Prove-Authorization"].removeprefix("Bearer "), SECRET,
                             algorithms=["HS256"], issuer="Prove Identity")
        assert decoded["sub"] == PROJECT


def test_a_reset_during_an_attempt_stops_its_retries():
    gate = asyncio.Event()
    sender = FakeSender(gate)
    emulator, identity = dispatcher_setup(sender)

    async def scenario() -> None:
        emulator.webhooks.emit(identity, "PORT")
        emulator.clock.fire_due()
        await asyncio.sleep(0)  # the attempt is now waiting on the receiver
        emulator.reset()
        emulator.projects.with_webhook(PROJECT, WebhookSettings(url="http://next-test.invalid/hook", secret=SECRET))
        gate.set()  # the old attempt fails (HTTP 500) after the reset
        await emulator.webhooks.settle(1)
        emulator.clock.advance(3600)
        await emulator.webhooks.settle(1)

    asyncio.run(scenario())
    assert [url for url, *_ in sender.calls] == ["http://receiver.invalid/hook"]  # nothing went to the next test
    assert emulator.webhooks.deliveries() == []


def test_concurrent_waits_for_attempts_all_return_when_they_finish():
    gate = asyncio.Event()
    emulator, identity = dispatcher_setup(FakeSender(gate), schedule=(0.0,))

    async def scenario() -> float:
        emulator.webhooks.emit(identity, "PORT")
        emulator.clock.fire_due()
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, gate.set)
        started = loop.time()
        await asyncio.gather(emulator.webhooks.settle(5), emulator.webhooks.settle(5))
        return loop.time() - started

    assert asyncio.run(scenario()) < 1


def test_a_sender_that_raises_still_ends_the_delivery():
    emulator, identity = dispatcher_setup(FakeSender(OverflowError("port must be 0-65535")), schedule=(0.0,))

    async def scenario() -> None:
        emulator.webhooks.emit(identity, "PORT")
        emulator.clock.fire_due()
        await emulator.webhooks.settle(1)

    asyncio.run(scenario())
    [delivery] = emulator.webhooks.deliveries()
    assert delivery.status == "failed"
    assert [attempt.error for attempt in delivery.attempts] == ["OverflowError: port must be 0-65535"]


def test_event_json_keeps_the_documented_fields():
    emulator, identity = dispatcher_setup(FakeSender())
    event = event_json(identity, "PORT", 0.0, {"identityId": "forged", "newCarrier": "Example Mobile"})
    assert event["identityId"] == identity.identity_id  # details never override documented fields
    assert event["newCarrier"] == "Example Mobile"
    assert event["eventTimestamp"] == "1970-01-01T00:00:00.000Z"
    assert event["clientCustomerId"] == "customer-7"
