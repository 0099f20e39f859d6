"""The control plane under /__emulator: health, reset, clock, outbox, flows, journal, scenarios,
projects and faults."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.conftest import MOBILE


def test_health(emu):
    health = emu.http.get("/__emulator/health").json()
    assert health["status"] == "ok" and health["personas"] > 40 and health["projects"] >= 1


def test_clock_freeze_set_advance(emu):
    frozen = emu.clock(freeze=True)
    assert frozen["frozen"] is True
    moved = emu.clock(set="2030-01-01T00:00:00Z")
    assert moved["now"] == "2030-01-01T00:00:00.000Z"
    assert emu.advance(90)["now"] == "2030-01-01T00:01:30.000Z"
    assert emu.unfreeze()["frozen"] is False


@pytest.mark.parametrize(("body", "text"), [
    ({"advance": -1}, "field 'advance' must be a number of seconds"),
    ({"advance": "soon"}, "field 'advance' must be a number of seconds"),
    ({"freeze": "yes"}, "field 'freeze' must be a boolean"),
    ({"set": "tomorrow"}, "field 'set' must be an RFC 3339 timestamp"),
    ({"speed": 2}, "unknown: speed"),
    ({}, "the body takes"),
])
def test_clock_bad_bodies(emu, body, text):
    reply = emu.http.post("/__emulator/clock", json=body)
    assert reply.status_code == 400 and text in reply.json()["message"]


def test_advancing_fires_expiries_before_replying(emu):
    emu.freeze()
    flow = emu.verify("2025550103", MOBILE)
    emu.advance(121)
    detail = emu.flow(flow["correlationId"])
    assert detail["possession"]["status"] == "failed"
    assert [e["event"] for e in detail["timeline"]][-1] == "possession-failed"


def test_sms_outbox_filters(emu):
    first = emu.verify("2025550101", MOBILE)
    emu.verify("2001004011", MOBILE, firstName="Sheilakathryn", lastName="Butrimovich")
    assert [m["phoneNumber"] for m in emu.sms("2025550101")] == ["2025550101"]
    assert len(emu.sms(correlation_id=first["correlationId"])) == 1
    everything = emu.sms()
    assert len(everything) == 2
    assert emu.sms(after=everything[0]["id"])[0]["phoneNumber"] == "2001004011"


def test_sms_wait_returns_as_soon_as_a_message_arrives(emu, prove_emulator_server):
    token = emu.token

    def send_later() -> None:
        time.sleep(0.3)  # real time on purpose: the long-poll is what is being tested
        with httpx.Client(base_url=prove_emulator_server.base_url) as client:
            client.post("/v3/verify", json={"firstName": "A", "lastName": "B", "phoneNumber": "2025550101",
                                            "possessionType": "mobile"}, headers={"Authorization": f"Bearer {token}"})

    sender = threading.Thread(target=send_later)
    sender.start()
    started = time.monotonic()
    messages = emu.sms("2025550101", wait=10)
    sender.join()
    assert messages and messages[0]["otp"] == "1234"
    assert time.monotonic() - started < 5


def test_sms_wait_times_out_empty(emu):
    started = time.monotonic()
    assert emu.sms("2025550199", wait=0.3) == []
    assert time.monotonic() - started >= 0.25


def test_sms_bad_query(emu):
    reply = emu.http.get("/__emulator/sms", params={"wait": "forever"})
    assert reply.status_code == 400 and "'wait'" in reply.json()["message"]


def test_flows_listing_and_detail(emu):
    flow = emu.verify("2025550100", MOBILE)
    listed = emu.http.get("/__emulator/flows").json()["flows"]
    assert [f["correlationId"] for f in listed] == [flow["correlationId"]]
    assert emu.flow(flow["correlationId"])["timeline"][0]["event"] == "verify"
    assert emu.http.get("/__emulator/flows/nope").json()["code"] == 8008


def test_reset_one_project_keeps_the_others(emu):
    emu.put_project("team-b", clientSecret="b")
    mine = emu.verify("2025550101", MOBILE)
    theirs = emu.post("/v3/verify", {"firstName": "A", "lastName": "B", "phoneNumber": "2025550101",
                                     "possessionType": "none"}, token=emu.access_token("team-b", "b")).json()
    emu.reset("team-b")
    flows = {f["correlationId"] for f in emu.http.get("/__emulator/flows").json()["flows"]}
    assert mine["correlationId"] in flows and theirs["correlationId"] not in flows
    assert emu.http.post("/__emulator/reset", json={"project": "nobody"}).status_code == 400


def test_reset_everything_restores_projects_and_clock(emu):
    emu.put_project("team-b", clientSecret="b")
    emu.freeze()
    emu.reset()
    assert emu.http.get("/__emulator/projects/team-b").status_code == 404
    assert emu.clock()["frozen"] is False


def test_scenarios_listing_and_schema(emu):
    listed = emu.http.get("/__emulator/scenarios").json()
    assert any(p.get("phoneNumber") == "2001001695" and p["name"] == "Milo Pinson" for p in listed["personas"])
    schema = emu.http.get("/__emulator/scenarios/schema").json()
    assert schema["title"] == "prove-emulator scenario file"


def test_scenarios_reload_keeps_the_catalogue_on_errors(emu, prove_emulator_server, tmp_path):
    emulator = prove_emulator_server.emulator
    emulator.scenario_dirs.append(tmp_path)
    try:
        (tmp_path / "mine.yaml").write_text('personas: [{id: reloaded, phoneNumber: "3035550100"}]')
        assert emu.http.post("/__emulator/scenarios/reload").status_code == 200
        assert emulator.catalogue.find("3035550100", ("default",)).key == "reloaded"
        (tmp_path / "mine.yaml").write_text('personas: [{phoneNumber: "3035550100", possession: maybe}]')
        reply = emu.http.post("/__emulator/scenarios/reload")
        assert reply.status_code == 400 and "personas[0].possession" in reply.json()["message"]
        assert emulator.catalogue.find("3035550100", ("default",)).key == "reloaded"
    finally:
        emulator.scenario_dirs.remove(tmp_path)
        emulator.reload_scenarios()


def test_projects_put_get_and_validation(emu):
    created = emu.put_project("team-c", clientSecret="c", product="unify", unknownNumbers="default-persona")
    assert created["products"] == ["unify"]
    assert "clientSecret" not in created
    assert emu.http.get("/__emulator/projects/team-c").json()["unknownNumbers"] == "default-persona"
    bad = emu.http.put("/__emulator/projects/team-d", json={"clientSecret": "d", "product": "everything"})
    assert bad.status_code == 400 and "'everything' is not one of" in bad.json()["message"]
    assert emu.http.put("/__emulator/projects/team-d", json={"product": "unify"}).status_code == 400


def test_runtime_faults(emu):
    added = emu.http.post("/__emulator/faults", json={"endpoint": "/token", "status": 503, "times": 2})
    assert added.status_code == 200
    assert emu.http.get("/__emulator/faults").json()["faults"][0]["endpoint"] == "/token"
    form = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
    assert [emu.http.post("/token", data=form).status_code for _ in range(3)] == [503, 503, 200]
    assert emu.http.get("/__emulator/faults").json()["faults"] == []


def test_runtime_latency_fault(emu):
    emu.http.post("/__emulator/faults", json={"endpoint": "/v3/verify-status", "latencyMs": 300})
    started = time.monotonic()
    reply = emu.post("/v3/verify-status", {"correlationId": "x"})
    assert reply.status_code == 400 and time.monotonic() - started >= 0.3


@pytest.mark.parametrize(("body", "text"), [
    ({"endpoint": "/nowhere", "status": 500}, "field 'endpoint' must be one of"),
    ({"endpoint": "/token"}, "needs 'status' or 'latencyMs'"),
    ({"endpoint": "/token", "status": 200}, "HTTP status from 400 to 599"),
    ({"endpoint": "/token", "status": 500, "project": "nobody"}, "field 'project' must be the clientId"),
])
def test_bad_faults(emu, body, text):
    reply = emu.http.post("/__emulator/faults", json=body)
    assert reply.status_code == 400 and text in reply.json()["message"]


def test_journal_is_bounded(prove_emulator_server):
    from emulator.journal import JOURNAL_CAPACITY, Journal

    journal = Journal()
    for _ in range(JOURNAL_CAPACITY + 50):
        journal.record(at=0.0, method="POST", path="/v3/verify", status=200, duration_ms=1.0, project_id="p",
                       correlation_id="", request_body="x" * 10_000, response_body="")
    entries = journal.entries(limit=10_000)
    assert len(entries) == JOURNAL_CAPACITY and len(entries[0].request_body) < 2200
