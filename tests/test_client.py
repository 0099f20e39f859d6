"""emulator.client.EmulatorClient against a running emulator: every method, its errors, the admin token,
and the README's examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from emulator import access, client as client_module, projects
from emulator.access import AccessPolicy
from emulator.client import ChangeEvent, EmulatorClient, EmulatorError
from emulator.http.app import all_routes
from emulator.server import BackgroundServer
from emulator.service import Emulator
from tests.spec_check import SpecChecker
from tests.webhook_receiver import WebhookReceiver

pytest_plugins = ["pytester"]

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
PERSON = {"firstName": "Casey", "lastName": "Client"}
CLIENT_NUMBER = "2025550100"  # client-driven happy path, OTP 1234
BACKEND_NUMBER = "2025550101"  # possession succeeds by itself
ADMIN_TOKEN = "client-admin-token"


@pytest.fixture
def emulator(prove_emulator: EmulatorClient, spec_checker: SpecChecker) -> EmulatorClient:
    """The plugin's client, every reply it receives checked against /openapi.json."""
    prove_emulator.http.event_hooks["response"].append(spec_checker.check)
    return prove_emulator


def verify(emulator: EmulatorClient, phone: str = CLIENT_NUMBER, possession: str = "mobile") -> str:
    """A possession-based verify; its correlationId."""
    body: dict[str, Any] = {**PERSON, "phoneNumber": phone, "possessionType": possession}
    if possession == "desktop":
        body["finalTargetUrl"] = "https://app.example.com/done"
    reply = emulator.call("/v3/verify", body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["success"] == "pending"
    return reply.json()["correlationId"]


def status(emulator: EmulatorClient, correlation_id: str) -> dict[str, Any]:
    reply = emulator.call("/v3/verify-status", {"correlationId": correlation_id})
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused(error: pytest.ExceptionInfo[EmulatorError], status_code: int, code: int | None) -> str:
    assert (error.value.status, error.value.code) == (status_code, code), error.value
    return error.value.message


# -- construction ----------------------------------------------------------------------------------------


def test_the_defaults_come_from_the_environment_else_the_emulators(monkeypatch: pytest.MonkeyPatch):
    for name in ("PROVE_EMULATOR_URL", "PROVE_CLIENT_ID", "PROVE_CLIENT_SECRET", "PROVE_EMULATOR_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with EmulatorClient() as plain:
        assert (plain.base_url, plain.client_id, plain.client_secret, plain.admin_token, plain.timeout) == (
            "http://127.0.0.1:7768", "sandbox-client-id", "sandbox-client-secret", None, 30.0)
        assert str(plain.http.base_url) == "http://127.0.0.1:7768"
        assert access.ADMIN_TOKEN_HEADER not in plain.http.headers
    monkeypatch.setenv("PROVE_EMULATOR_URL", "http://emulator:9000/")
    monkeypatch.setenv("PROVE_CLIENT_ID", "env-id")
    monkeypatch.setenv("PROVE_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("PROVE_EMULATOR_ADMIN_TOKEN", "env-token")
    with EmulatorClient(timeout=3) as from_env:
        assert (from_env.base_url, from_env.client_id, from_env.client_secret, from_env.admin_token) == (
            "http://emulator:9000", "env-id", "env-secret", "env-token")
        assert from_env.http.headers[access.ADMIN_TOKEN_HEADER] == "env-token"
        assert from_env.http.timeout.read == 3
    given = EmulatorClient("http://127.0.0.1:1", "given-id", "given-secret", admin_token="")
    assert (given.base_url, given.client_id, given.client_secret, given.admin_token) == (
        "http://127.0.0.1:1", "given-id", "given-secret", None)  # "" is no token, whatever the environment
    assert access.ADMIN_TOKEN_HEADER not in given.http.headers
    given.close()
    assert given.http.is_closed


def test_the_client_repeats_the_servers_constants_without_importing_them():
    assert (client_module.DEFAULT_CLIENT_ID, client_module.DEFAULT_CLIENT_SECRET) == (
        projects.DEFAULT_CLIENT_ID, projects.DEFAULT_CLIENT_SECRET)
    assert client_module.ADMIN_TOKEN_HEADER == access.ADMIN_TOKEN_HEADER
    code = "import sys, emulator.client; print(sorted(m for m in sys.modules if m.startswith(('emulator.', 'pytest'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['emulator.client']"


def test_the_context_manager_closes_the_client(prove_emulator_server: BackgroundServer):
    with EmulatorClient(prove_emulator_server.base_url,
                        admin_token=prove_emulator_server.access.admin_token or "") as emulator:
        assert emulator.health()["status"] == "ok"
    assert emulator.http.is_closed
    assert repr(emulator) == f"EmulatorClient({prove_emulator_server.base_url!r}, client_id='sandbox-client-id')"


def test_the_fixture_is_the_client(prove_emulator):
    assert type(prove_emulator) is EmulatorClient
    assert prove_emulator.client_id == "sandbox-client-id"


def test_every_control_plane_operation_has_a_method():
    methods = {
        ("GET", "/health"): "health", ("POST", "/reset"): "reset",
        ("GET", "/clock"): "clock", ("POST", "/clock"): "set_clock",
        ("GET", "/sms"): "sms", ("GET", "/flows"): "flows", ("GET", "/flows/{}"): "flow",
        ("POST", "/flows/{}/customer"): "customer", ("POST", "/phones/{}/customer"): "customer_by_phone",
        ("GET", "/requests"): "requests", ("GET", "/scenarios"): "scenarios",
        ("POST", "/scenarios/reload"): "reload_scenarios", ("GET", "/scenarios/schema"): "scenario_schema",
        ("GET", "/projects"): "projects", ("GET", "/projects/{}"): "project", ("PUT", "/projects/{}"): "put_project",
        ("GET", "/faults"): "faults", ("POST", "/faults"): "add_fault", ("DELETE", "/faults"): "clear_faults",
        ("GET", "/projects/{}/webhook"): "webhook", ("PUT", "/projects/{}/webhook"): "put_webhook",
        ("DELETE", "/projects/{}/webhook"): "delete_webhook", ("POST", "/projects/{}/webhook/test"): "test_webhook",
        ("POST", "/identities/{}/events"): "trigger_event", ("GET", "/webhooks/deliveries"): "deliveries",
        ("POST", "/webhooks/deliveries/{}/resend"): "resend_delivery", ("GET", "/events"): "events",
        ("GET", "/snapshot"): "snapshot", ("POST", "/snapshot"): "load_snapshot",
    }
    served = {(operation.method, re.sub(r"\{[^}]+\}", "{}", operation.path.removeprefix("/__emulator")))
              for operation, _ in all_routes() if operation.tag == "Control plane"}
    assert served == set(methods)
    for name in methods.values():
        assert callable(getattr(EmulatorClient, name)) and getattr(EmulatorClient, name).__doc__, name


# -- errors and the admin token --------------------------------------------------------------------------


def test_a_refused_call_raises_emulator_error_with_prove_code_and_message(emulator):
    with pytest.raises(EmulatorError) as error:
        emulator.set_clock(advance=-1)
    assert "field 'advance' must be a number of seconds" in refused(error, 400, 8001)
    assert str(error.value).startswith("HTTP 400, code 8001: field 'advance'")
    with pytest.raises(EmulatorError) as error:
        emulator.set_clock()  # an empty body
    assert "'freeze' (boolean)" in refused(error, 400, 8001)
    with pytest.raises(EmulatorError) as error:
        emulator.flow("no-such-flow")
    assert "no-such-flow" in refused(error, 400, 8008)
    with pytest.raises(EmulatorError) as error:
        emulator.project("no-such-project")
    assert refused(error, 404, 8001) == "no project with clientId 'no-such-project'"
    with pytest.raises(EmulatorError) as error:
        emulator.access_token("sandbox-client-id", "wrong-secret")
    assert "wrong client_secret" in refused(error, 401, 8002)


def test_a_reply_without_the_envelope_has_no_code():
    plain = EmulatorError.of(httpx.Response(502, text="Bad Gateway"))
    assert (plain.status, plain.code, plain.message, str(plain)) == (502, None, "Bad Gateway", "HTTP 502: Bad Gateway")
    other_json = EmulatorError.of(httpx.Response(500, json={"error": "boom"}))
    assert (other_json.status, other_json.code, other_json.message) == (500, None, '{"error":"boom"}')
    envelope = EmulatorError.of(httpx.Response(429, json={"code": 8012, "message": "slow down"}))
    assert (envelope.status, envelope.code, envelope.message) == (429, 8012, "slow down")


def test_a_proxy_answering_text_raises_emulator_error_without_a_code():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from emulator.server import ThreadedServer

    async def gateway(request):
        return PlainTextResponse("upstream is down", status_code=502)

    server = ThreadedServer(Starlette(routes=[Route("/__emulator/health", gateway)])).start()
    try:
        with EmulatorClient(server.base_url, admin_token="") as emulator, pytest.raises(EmulatorError) as error:
            emulator.health()
        assert refused(error, 502, None) == "upstream is down"
    finally:
        server.stop()


@pytest.fixture
def guarded() -> Iterator[BackgroundServer]:
    server = BackgroundServer(Emulator(), access=AccessPolicy(admin_token=ADMIN_TOKEN)).start()
    yield server
    server.stop()


def test_with_an_admin_token_the_client_sends_it_and_without_it_is_refused(guarded: BackgroundServer,
                                                                           monkeypatch: pytest.MonkeyPatch):
    with EmulatorClient(guarded.base_url, admin_token=ADMIN_TOKEN) as allowed:
        allowed.freeze()
        assert allowed.clock()["frozen"] is True
        assert allowed.sms() == []
    monkeypatch.setenv("PROVE_EMULATOR_ADMIN_TOKEN", ADMIN_TOKEN)
    with EmulatorClient(guarded.base_url) as from_env:
        assert from_env.flows() == []
    with EmulatorClient(guarded.base_url, admin_token="") as without, pytest.raises(EmulatorError) as error:
        without.clock()
    assert "X-Emulator-Token" in refused(error, 401, 8002)
    with EmulatorClient(guarded.base_url, admin_token="wrong") as wrong:
        with pytest.raises(EmulatorError) as error:
            wrong.complete(phone_number=CLIENT_NUMBER)
        refused(error, 401, 8002)
        assert wrong.health()["status"] == "ok"  # health needs no token
        assert wrong.access_token()  # nor does Prove's API


# -- Prove's API, health, reset -----------------------------------------------------------------------------


def test_access_token_and_call(emulator):
    token = emulator.access_token()
    assert emulator.access_token("sandbox-client-id", "sandbox-client-secret") != token
    reply = emulator.call("/v3/verify", {**PERSON, "phoneNumber": BACKEND_NUMBER, "possessionType": "none"}, token)
    assert isinstance(reply, httpx.Response) and reply.status_code == 200
    assert emulator.call("/v3/verify", {}).status_code == 400  # replies of Prove's API are returned, not raised
    assert emulator.call("/v3/verify", {}, token="not-a-token").status_code == 401


def test_health(emulator):
    health = emulator.health()
    assert health["status"] == "ok" and health["publicUrl"] == emulator.base_url
    assert health["flows"] == 0 and health["projects"] >= 1 and health["personas"] > 30


def test_reset_forgets_everything_or_one_project(emulator):
    emulator.put_project("team-r", clientSecret="r-secret")
    mine = verify(emulator)
    theirs = emulator.call("/v3/verify", {**PERSON, "phoneNumber": CLIENT_NUMBER, "possessionType": "mobile"},
                           token=emulator.access_token("team-r", "r-secret")).json()["correlationId"]
    assert emulator.reset("team-r") is None
    assert [flow["correlationId"] for flow in emulator.flows()] == [mine]
    with pytest.raises(EmulatorError) as error:
        emulator.reset("no-such-project")
    refused(error, 400, 8001)
    emulator.freeze()
    emulator.reset()
    assert emulator.flows() == [] and emulator.clock()["frozen"] is False
    assert "team-r" not in [project["clientId"] for project in emulator.projects()]
    assert theirs != mine


# -- the clock ----------------------------------------------------------------------------------------------


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_clock_methods(emulator):
    assert emulator.clock()["frozen"] is False
    frozen = emulator.freeze()
    assert frozen["frozen"] is True
    moved = emulator.advance(90)
    assert instant(moved["now"]) - instant(frozen["now"]) == timedelta(seconds=90)
    assert emulator.set_time(datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))))["now"] == \
        "2030-01-02T01:04:05.000Z"
    assert emulator.set_time("2031-05-06T07:08:09Z")["now"] == "2031-05-06T07:08:09.000Z"
    both = emulator.set_clock(set="2032-01-01T00:00:00Z", advance=60)
    assert both == {"now": "2032-01-01T00:01:00.000Z", "frozen": True, "pendingTimers": 0}
    assert emulator.clock(advance=1)["now"] == "2032-01-01T00:01:01.000Z"  # clock(**change) moves it too
    assert emulator.clock(freeze=False)["frozen"] is False
    assert emulator.freeze()["frozen"] is True and emulator.unfreeze()["frozen"] is False
    with pytest.raises(ValueError, match="no time zone"):
        emulator.set_time(datetime(2030, 1, 1))
    with pytest.raises(EmulatorError) as error:
        emulator.set_time("2030-01-01")
    assert "field 'set'" in refused(error, 400, 8001)


# -- the phone ----------------------------------------------------------------------------------------------


def test_the_outbox_filters_and_latest(emulator):
    first = verify(emulator)
    emulator.start(first)
    second = verify(emulator, "5551234567")
    emulator.start(second)
    messages = emulator.sms()
    assert [message["phoneNumber"] for message in messages] == [CLIENT_NUMBER, "5551234567"]
    assert emulator.sms(CLIENT_NUMBER) == messages[:1]
    assert emulator.sms(correlation_id=second) == messages[1:]
    assert emulator.sms(after=messages[0]["id"]) == messages[1:]
    assert emulator.sms(project="sandbox-client-id") == messages and emulator.sms(project="other") == []
    assert emulator.latest_sms() == messages[-1]
    assert emulator.latest_sms(CLIENT_NUMBER)["otp"] == emulator.latest_otp(correlation_id=first) == "1234"
    with pytest.raises(LookupError, match="otp, with no link"):
        emulator.latest_link(CLIENT_NUMBER)
    with pytest.raises(LookupError, match="no SMS for 5550000001 within 0.2 s"):
        emulator.latest_sms("5550000001", wait=0.2)
    with pytest.raises(LookupError):
        emulator.latest_otp(CLIENT_NUMBER, after=messages[-1]["id"], wait=0.1)
    with pytest.raises(EmulatorError) as error:
        emulator.sms(wait=61)
    assert "'wait'" in refused(error, 400, 8001)


def test_sms_waits_for_a_message_beyond_the_clients_timeout(prove_emulator_server: BackgroundServer):
    with EmulatorClient(prove_emulator_server.base_url, admin_token=prove_emulator_server.access.admin_token or "",
                        timeout=1) as emulator:
        emulator.reset()
        correlation_id = verify(emulator)
        started = time.monotonic()
        assert emulator.sms(CLIENT_NUMBER, wait=1.5) == []  # the wait is added to the timeout
        assert time.monotonic() - started >= 1.4
        timer = threading.Timer(1.2, lambda: EmulatorClient(
            emulator.base_url, admin_token=emulator.admin_token or "").start(correlation_id))
        timer.start()
        try:
            assert emulator.latest_otp(CLIENT_NUMBER, wait=10) == "1234"
        finally:
            timer.join()


def test_click_opens_the_instant_link(emulator):
    correlation_id = verify(emulator, possession="desktop")
    emulator.start(correlation_id)
    link = emulator.latest_link(CLIENT_NUMBER)
    with pytest.raises(LookupError, match="instant-link, with no otp"):
        emulator.latest_otp(CLIENT_NUMBER)
    click = emulator.click(link)
    assert click.status_code == 302 and click.headers["location"].startswith("https://app.example.com/done")
    assert emulator.click(link).status_code == 410  # used
    assert status(emulator, correlation_id)["possessionResult"] == "success"


# -- flows and the customer -----------------------------------------------------------------------------------


def test_flows_and_flow(emulator):
    correlation_id = verify(emulator)
    [summary] = emulator.flows()
    assert summary["correlationId"] == correlation_id and "timeline" not in summary
    assert emulator.flows(project="sandbox-client-id") == [summary] and emulator.flows(project="other") == []
    flow = emulator.flow(correlation_id)
    assert flow["possession"]["status"] == "waiting" and [e["event"] for e in flow["timeline"]] == ["verify"]


def test_complete_by_flow_and_by_phone(emulator):
    correlation_id = verify(emulator)
    done = emulator.complete(correlation_id)
    assert done["action"] == "complete" and done["correlationId"] == correlation_id
    assert done["reply"] == {"next": "done"} and done["flow"]["state"] == "succeeded"
    assert status(emulator, correlation_id)["success"] == "true"
    with pytest.raises(EmulatorError) as error:
        emulator.complete(correlation_id)
    assert "has ended" in refused(error, 409, 8003)

    desktop = verify(emulator, possession="desktop")
    by_phone = emulator.complete(phone_number=CLIENT_NUMBER, is_mobile=True)
    assert by_phone["correlationId"] == desktop and by_phone["reply"]["outcome"] == "succeeded"
    assert "authId=" in by_phone["reply"]["redirect"]  # isMobile: the same-device landing
    with pytest.raises(EmulatorError) as error:
        emulator.complete(phone_number=CLIENT_NUMBER)
    assert "no open flow" in refused(error, 404, 8008)


def test_start_then_enter_code_wrong_and_right(emulator):
    wrong_flow = verify(emulator)
    with pytest.raises(EmulatorError) as error:
        emulator.enter_code(wrong_flow)  # nothing sent yet
    refused(error, 409, 8003)
    started = emulator.start(wrong_flow)
    assert started["action"] == "start" and started["flow"]["possession"]["status"] == "sent"
    wrong = emulator.enter_code(wrong_flow, "0000")  # no OTP retry in this flow: possession fails
    assert wrong["flow"]["possession"]["wrongEntries"] == 1 and wrong["flow"]["possession"]["status"] == "failed"
    assert status(emulator, wrong_flow)["possessionResult"] == "failed"

    right_flow = verify(emulator)
    emulator.start(phone_number=CLIENT_NUMBER)
    right = emulator.enter_code(phone_number=CLIENT_NUMBER)  # the right code by default
    assert right["correlationId"] == right_flow and right["flow"]["possession"]["status"] == "succeeded"
    events = [event["event"] for event in emulator.flow(right_flow)["timeline"]]
    assert events.count("customer-action") == 2 and "otp-entered" in events


def test_click_link_and_its_method_rule(emulator):
    otp_flow = verify(emulator)
    emulator.start(otp_flow)
    with pytest.raises(EmulatorError) as error:
        emulator.click_link(otp_flow)
    assert "instant-link" in refused(error, 400, 8001)
    link_flow = verify(emulator, "5551234567", possession="desktop")
    emulator.start(phone_number="5551234567")
    clicked = emulator.click_link(link_flow)
    assert clicked["action"] == "click" and clicked["reply"]["outcome"] == "succeeded"
    assert status(emulator, link_flow)["possessionResult"] == "success"


def test_expire_resend_change_number_and_report_error(emulator):
    correlation_id = verify(emulator)
    emulator.start(correlation_id)
    resent = emulator.resend(correlation_id)
    assert resent["action"] == "resend" and resent["flow"]["possession"]["resends"] == 1
    assert len(emulator.sms(correlation_id=correlation_id)) == 2
    changed = emulator.change_number(correlation_id, new_number="5551234567")
    assert changed["flow"]["phoneNumber"] == "5551234567" and changed["flow"]["possession"]["numberChanges"] == 1
    assert emulator.latest_sms("5551234567")["correlationId"] == correlation_id
    expired = emulator.expire(phone_number="5551234567")
    assert expired["action"] == "expire"

    reported = verify(emulator, "5551234568")
    emulator.start(reported)
    error_reply = emulator.report_error(reported, message="the customer gave up", error_code=1234)
    assert error_reply["action"] == "error"
    [report] = [event for event in emulator.flow(reported)["timeline"] if event["event"] == "customer-action"][-1:]
    assert report["action"] == "error"


def test_customer_the_generic_action_and_its_arguments(emulator):
    correlation_id = verify(emulator)
    assert emulator.customer(correlation_id, "start")["flow"]["possession"]["status"] == "sent"
    assert emulator.customer_by_phone(CLIENT_NUMBER, "enter-code", code="1234")["flow"]["state"] == "succeeded"
    with pytest.raises(TypeError):
        emulator.customer(correlation_id, "start", phone_number=CLIENT_NUMBER)
    with pytest.raises(TypeError):
        emulator.customer(None, "start")
    with pytest.raises(EmulatorError) as error:
        emulator.customer(correlation_id, "dance")  # type: ignore[arg-type]
    assert "action" in refused(error, 400, 8001)
    other = verify(emulator)
    with pytest.raises(EmulatorError) as error:
        emulator.complete(other, project="another-project")
    refused(error, 404, 8008)
    with pytest.raises(EmulatorError) as error:
        emulator.customer(other, "change-number")
    assert "phoneNumber" in refused(error, 400, 8001)
    assert emulator.complete(other, project="sandbox-client-id")["flow"]["state"] == "succeeded"


def test_an_expired_flow_is_gone(emulator):
    correlation_id = verify(emulator)
    emulator.freeze()
    emulator.advance(15 * 60 + 1)
    with pytest.raises(EmulatorError) as error:
        emulator.complete(correlation_id)
    assert "expired" in refused(error, 410, 8008)


# -- journal, scenarios, projects ---------------------------------------------------------------------------


def test_requests(emulator):
    verify(emulator)
    emulator.call("/v3/verify", {})
    journal = emulator.requests()
    assert [entry["path"] for entry in journal if entry["path"] != "/token"] == ["/v3/verify", "/v3/verify"]
    assert [entry["status"] for entry in emulator.requests(path="/v3/verify")] == [200, 400]
    assert emulator.requests(path="/v3/verify", limit=1)[0]["status"] == 400
    assert emulator.requests(project="other") == []
    with pytest.raises(EmulatorError) as error:
        emulator.requests(limit=501)
    refused(error, 400, 8001)


def test_scenarios_and_their_schema(emulator):
    scenarios = emulator.scenarios()
    assert any(persona.get("phoneNumber") == CLIENT_NUMBER for persona in scenarios["personas"])
    reloaded = emulator.reload_scenarios()
    assert reloaded == {"files": scenarios["files"], "personas": len(scenarios["personas"])}
    assert emulator.scenario_schema()["type"] == "object"


def test_reload_scenarios_reports_problems(tmp_path: Path):
    (tmp_path / "mine.yaml").write_text('personas:\n  - {phoneNumber: "3035550100", possession: client}\n')
    server = BackgroundServer(Emulator(scenario_dirs=[tmp_path])).start()
    try:
        with EmulatorClient(server.base_url, admin_token="") as emulator:
            assert emulator.reload_scenarios()["personas"] == len(emulator.scenarios()["personas"])
            (tmp_path / "mine.yaml").write_text("personas:\n  - {possession: sometimes}\n")
            with pytest.raises(EmulatorError) as error:
                emulator.reload_scenarios()
            assert "nothing was reloaded" in refused(error, 400, 8001)
    finally:
        server.stop()


def test_projects(emulator):
    created = emulator.put_project("team-p", clientSecret="p-secret", product="verified-users", rateLimit=5)
    assert created["clientId"] == "team-p" and created["products"] == ["verified-users"] and created["rateLimit"] == 5
    assert emulator.project("team-p") == created
    assert [project["clientId"] for project in emulator.projects()] == ["sandbox-client-id", "team-p"]
    assert emulator.access_token("team-p", "p-secret")
    with pytest.raises(EmulatorError) as error:
        emulator.put_project("team-q", product="verified-users")
    assert "clientSecret" in refused(error, 400, 8001)


def test_snapshot_and_load_snapshot(emulator):
    emulator.put_project("team-s", clientSecret="s-secret")
    document = emulator.snapshot()
    emulator.reset()
    assert "team-s" not in [project["clientId"] for project in emulator.projects()]
    assert emulator.load_snapshot(document)["mode"] == "replace"
    assert emulator.project("team-s")["clientId"] == "team-s"
    with pytest.raises(EmulatorError) as error:
        emulator.load_snapshot({**document, "version": 99})
    assert "version 99" in refused(error, 400, 8001)


# -- faults ---------------------------------------------------------------------------------------------------


def test_faults(emulator):
    fault = emulator.add_fault("/v3/verify", status=503, times=2)
    assert fault == {"endpoint": "/v3/verify", "status": 503, "latencyMs": 0, "times": 2, "used": 0} or \
        (fault["status"], fault["times"], fault["used"]) == (503, 2, 0)
    slow = emulator.add_fault("/v3/verify-status", latency_ms=50, project="sandbox-client-id")
    assert slow["latencyMs"] == 50 and slow["project"] == "sandbox-client-id"
    assert len(emulator.faults()) == 2
    body = {**PERSON, "phoneNumber": BACKEND_NUMBER, "possessionType": "none"}
    assert emulator.call("/v3/verify", body).status_code == 503
    assert [f["used"] for f in emulator.faults() if f["endpoint"] == "/v3/verify"] == [1]
    assert emulator.clear_faults() is None and emulator.faults() == []
    assert emulator.call("/v3/verify", body).status_code == 200
    with pytest.raises(EmulatorError) as error:
        emulator.add_fault("/v3/verify")  # neither status nor latency
    assert "'status' or 'latencyMs'" in refused(error, 400, 8001)
    with pytest.raises(EmulatorError) as error:
        emulator.add_fault("/nowhere", status=500)
    assert "field 'endpoint'" in refused(error, 400, 8001)


# -- webhooks -------------------------------------------------------------------------------------------------


def test_webhooks_deliveries_and_events(emulator):
    with WebhookReceiver() as receiver:
        with pytest.raises(EmulatorError) as error:
            emulator.webhook("sandbox-client-id")
        assert "no webhook" in refused(error, 404, 8001)
        configured = emulator.put_webhook("sandbox-client-id", receiver.url, timeout_seconds=2,
                                          retry_schedule=[0, 30])
        assert configured["url"] == receiver.url and configured["secret"].startswith("whsec_")
        assert configured["timeoutSeconds"] == 2 and configured["retrySchedule"] == [0, 30]
        assert emulator.webhook("sandbox-client-id") == configured
        secret = emulator.put_webhook("sandbox-client-id", receiver.url,
                                      secret="whsec_from-the-client-0123456789abcdef")
        assert secret["secret"] == "whsec_from-the-client-0123456789abcdef"

        sample = emulator.test_webhook("sandbox-client-id")
        assert sample["test"] is True and sample["status"] == "delivered"

        correlation_id = emulator.call("/v3/verify", {**PERSON, "phoneNumber": BACKEND_NUMBER,
                                                      "possessionType": "none"}).json()["correlationId"]
        identity_id = status(emulator, correlation_id)["identityId"]
        delivery = emulator.trigger_event(identity_id, "PORT", details={"note": "from the client"})
        assert delivery["identityId"] == identity_id and delivery["eventTypes"] == ["PORT"]
        [event] = delivery["payload"]
        assert event["note"] == "from the client"
        second = emulator.trigger_event(identity_id, "DISCONNECT")  # the first event ended monitoring
        assert second["status"] == "suppressed" and "ended monitoring" in second["reason"]
        deliveries = emulator.deliveries(wait=5)
        assert [d["status"] for d in deliveries] == ["delivered", "delivered", "suppressed"]
        assert [d["id"] for d in emulator.deliveries(identity_id=identity_id)] == [delivery["id"], second["id"]]
        assert len(emulator.deliveries(project="sandbox-client-id", status="delivered")) == 2
        assert emulator.deliveries(status="failed") == [] and emulator.deliveries(project="other") == []
        assert len(receiver.wait_for(2)) == 2
        again = emulator.resend_delivery(delivery["id"])
        assert again["resentFrom"] == delivery["id"] and again["payload"] == delivery["payload"]
        assert len(receiver.wait_for(3)) == 3
        with pytest.raises(EmulatorError) as error:
            emulator.resend_delivery("no-such-delivery")
        assert "no-such-delivery" in refused(error, 404, 8001)

        with pytest.raises(EmulatorError) as error:
            emulator.trigger_event(identity_id, "EARTHQUAKE")  # type: ignore[arg-type]
        assert "eventType" in refused(error, 400, 8001)
        with pytest.raises(EmulatorError) as error:
            emulator.trigger_event("no-such-identity", "PORT")
        refused(error, 404, 8011)
        with pytest.raises(EmulatorError) as error:
            emulator.deliveries(status="lost")  # type: ignore[arg-type]
        refused(error, 400, 8001)
        with pytest.raises(EmulatorError) as error:
            emulator.put_webhook("sandbox-client-id", "not a url")
        refused(error, 400, 8001)

        assert emulator.delete_webhook("sandbox-client-id") is None
        with pytest.raises(EmulatorError) as error:
            emulator.test_webhook("sandbox-client-id")
        refused(error, 404, 8001)
        with pytest.raises(EmulatorError) as error:
            emulator.delete_webhook("sandbox-client-id")
        refused(error, 404, 8001)


# -- the change stream ----------------------------------------------------------------------------------------


def test_events_streams_what_changed(prove_emulator, prove_emulator_server: BackgroundServer):
    emulator = prove_emulator  # not spec-checked: the checker reads a reply whole, and a stream never ends
    feed = prove_emulator_server.emulator.changes
    events = emulator.events()
    ready = next(events)
    assert ready["event"] == "ready" and set(ready["data"]["versions"]) >= {"sms", "flows", "clock"}
    clock_version = ready["data"]["versions"]["clock"]
    emulator.freeze()
    assert next(events) == {"event": "clock", "data": {"topic": "clock", "version": clock_version + 1}}
    emulator.start(verify(emulator))
    seen: list[ChangeEvent] = []

    def read() -> None:  # on a thread: a stream that never says so would block the test forever
        for event in events:
            seen.append(event)
            if {"sms", "flows"} <= {event["event"] for event in seen}:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert {"sms", "flows"} <= {event["event"] for event in seen}, seen
    assert all(event["data"]["topic"] == event["event"] for event in seen)
    assert feed.subscribers == 1
    events.close()  # ends the stream: the emulator drops its subscription
    deadline = time.monotonic() + 5
    while feed.subscribers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert feed.subscribers == 0


def test_events_of_a_guarded_emulator_need_the_token(guarded: BackgroundServer):
    with EmulatorClient(guarded.base_url, admin_token="") as without, pytest.raises(EmulatorError) as error:
        next(without.events())
    refused(error, 401, 8002)
    with EmulatorClient(guarded.base_url, admin_token=ADMIN_TOKEN) as allowed:
        assert next(allowed.events())["event"] == "ready"


# -- the README's examples, as written --------------------------------------------------------------------------


def readme_python_blocks() -> list[str]:
    section = README.split("## In your own tests: the pytest plugin\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readmes_pytest_example_passes_as_written(pytester: pytest.Pytester):
    example = readme_python_blocks()[0]
    assert "def test_" in example and "verify-status" in example
    pytester.makepyfile(test_readme_example=example)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=example.count("\ndef test_") + example.startswith("def test_"))


def test_the_readmes_script_example_runs_against_a_running_emulator(serve_cli):
    script = readme_python_blocks()[1]
    assert script.startswith("from emulator.client import EmulatorClient")
    base_url, _ = serve_cli("--port", "0")
    with EmulatorClient(base_url, admin_token="") as emulator:
        correlation_id = verify(emulator)  # the app in the browser started a flow
        env = {**os.environ, "PROVE_EMULATOR_URL": base_url}
        env.pop("PROVE_EMULATOR_ADMIN_TOKEN", None)
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30)
        assert run.returncode == 0, run.stderr
        assert run.stdout == "succeeded otp\n"
        assert status(emulator, correlation_id)["success"] == "true"
