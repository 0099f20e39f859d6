"""The state directory (--state-dir): what an emulator acknowledged is there after a restart, kill -9
included, with its timers re-armed; a second emulator on the directory refuses to start; a write that
fails answers 503 and is written whole later; a directory of something else is refused."""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from emulator.service import Emulator
from emulator.state import directory, snapshot
from emulator.state.directory import StateDirectory, StateDirectoryError
from tests.customer_world import OTHER_PROJECT, World, catalogue
from tests.prove_calls import READY


def rows(state_dir: Path) -> dict[str, int]:
    """How many rows of each kind the database holds (opened apart from the emulator's connection)."""
    with sqlite3.connect(state_dir / directory.DATABASE) as db:
        return dict(db.execute("SELECT kind, count(*) FROM rows GROUP BY kind").fetchall())


class Run:
    """An emulator in this process whose app commits to a state directory; `restart` is a new emulator
    (another Emulator object) started from the same directory, as a new process would be."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.closed = False
        self.state_dir = StateDirectory(path)
        self.emulator = Emulator(catalogue=catalogue())
        held = self.state_dir.load()
        if held is not None:
            snapshot.restore(self.emulator, held)
        self.state_dir.attach(self.emulator)
        self.world = World(self.emulator, commit=self.state_dir.commit) if held is None else self._world_as_it_was()

    def _world_as_it_was(self) -> World:
        clock = self.emulator.clock.setting
        world = World(self.emulator, commit=self.state_dir.commit)  # World freezes the clock at its T0: undone
        self.emulator.clock.restore(*clock)
        return world

    def restart(self) -> "Run":
        tokens = dict(self.world._tokens)
        self.close()
        again = Run(self.path)
        again.world._tokens = tokens  # the access tokens issued before still verify
        return again

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.world.close()
            self.state_dir.close()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    first = Run(tmp_path / "state")
    yield first
    first.close()  # when no restart closed it


def document(emulator: Emulator) -> dict[str, Any]:
    whole = snapshot.to_json(snapshot.take(emulator))
    del whole["takenAt"]
    return whole


def started_otp_flow(world: World) -> str:
    correlation_id = world.begin("verify-otp")["correlationId"]
    world.acted(correlation_id, "start")
    return correlation_id


# -- in this process ----------------------------------------------------------------------------


def test_a_restart_holds_what_the_emulator_held(run: Run) -> None:
    correlation_id = started_otp_flow(run.world)
    run.world.other_project(webhook={"url": "http://127.0.0.1:9/hook"})
    run.world.ok("POST", "/__emulator/clock", json={"advance": 30})
    before = document(run.emulator)
    again = run.restart()
    try:
        assert document(again.emulator) == before
        assert again.world.sms(correlation_id) == run.world.sms(correlation_id)
        assert again.world.ok("GET", f"/__emulator/projects/{OTHER_PROJECT}")["webhook"]["url"] == "http://127.0.0.1:9/hook"
    finally:
        again.close()


def test_a_flow_started_before_a_restart_finishes_after_it(run: Run) -> None:
    correlation_id = started_otp_flow(run.world)
    code = run.world.sms(correlation_id)[-1]["otp"]
    again = run.restart()
    try:
        again.world.acted(correlation_id, "enter-code", code=code)
        assert again.world.result("verify-otp", correlation_id) == "true"
    finally:
        again.close()


def test_timers_are_re_armed_on_the_emulator_clock(run: Run) -> None:
    correlation_id = started_otp_flow(run.world)
    again = run.restart()
    try:
        assert again.world.flow(correlation_id)["possession"]["status"] == "sent"
        again.world.advance(10 * 60)  # past the code's lifetime, within the flow's
        assert again.world.flow(correlation_id)["possession"]["status"] == "failed"
        again.world.advance(15 * 60)  # past the flow's: swept, and its row goes too
        assert again.world.send("GET", f"/__emulator/flows/{correlation_id}").status_code == 410  # gone: expired
        assert "flow" not in rows(again.path)
    finally:
        again.close()


def test_each_reply_is_written_before_it_is_sent(run: Run) -> None:
    """What the reply acknowledges is in the database when the reply arrives: read apart, at once."""
    correlation_id = run.world.begin("verify-otp")["correlationId"]
    with sqlite3.connect(run.path / directory.DATABASE) as db:
        (body,) = db.execute("SELECT body FROM rows WHERE kind = 'flow' AND key = ?", (correlation_id,)).fetchone()
    assert json.loads(body)["correlationId"] == correlation_id
    run.world.ok("PUT", "/__emulator/projects/written-at-once", json={"clientSecret": "s"})
    assert rows(run.path)["project"] == 2


def test_a_reset_leaves_only_the_default_project(run: Run) -> None:
    started_otp_flow(run.world)
    run.world.other_project()
    assert rows(run.path) == {"head": 1, "project": 2, "flow": 1, "sms": 1, "persona": 1}
    run.world.ok("POST", "/__emulator/reset")
    assert rows(run.path) == {"head": 1, "project": 1, "persona": 1}


def test_a_snapshot_loaded_over_http_is_written_whole(run: Run, tmp_path: Path) -> None:
    other = World(Emulator(catalogue=catalogue()))
    try:
        correlation_id = started_otp_flow(other)
        run.world.ok("POST", "/__emulator/snapshot", content=json.dumps(other.ok("GET", "/__emulator/snapshot")))
    finally:
        other.close()
    again = run.restart()
    try:
        assert again.world.flow(correlation_id)["possession"]["status"] == "sent"
    finally:
        again.close()


class FailingDatabase:
    """The connection of a full disk: a transaction cannot begin."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("BEGIN"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)


def test_a_change_that_cannot_be_written_is_answered_503_and_written_later(run: Run) -> None:
    real = run.state_dir._db
    run.state_dir._db = FailingDatabase(real)  # type: ignore[assignment]
    reply = run.world.client.post("/v3/verify", json={"phoneNumber": "2025550100", "possessionType": "mobile",
                                                      "firstName": "A", "lastName": "B"},
                                  headers={"Authorization": f"Bearer {run.world.token()}"})
    assert reply.status_code == 503
    body = reply.json()
    assert set(body) == {"code", "message"} and body["code"] == 8000
    assert "could not be written" in body["message"] and "disk is full" in body["message"]
    assert "flow" not in rows(run.path)
    run.state_dir._db = real
    run.world.ok("GET", "/__emulator/health")  # the next reply writes what the failed one could not
    assert rows(run.path)["flow"] == 1


def test_a_second_emulator_on_the_directory_is_refused(run: Run) -> None:
    with pytest.raises(StateDirectoryError, match=f"in use by another emulator \\(pid {os.getpid()}\\)"):
        StateDirectory(run.path)


def test_a_database_of_something_else_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / directory.DATABASE) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', 'someone-else')")
    with pytest.raises(StateDirectoryError, match="is not a prove-emulator state database"):
        StateDirectory(tmp_path)
    StateDirectory(tmp_path / "new").close()  # and the refusal let the lock go: the check ran first


def test_a_damaged_row_is_refused_naming_its_place(run: Run) -> None:
    started_otp_flow(run.world)
    run.close()
    with sqlite3.connect(run.path / directory.DATABASE) as db:
        body = json.loads(db.execute("SELECT body FROM rows WHERE kind = 'flow'").fetchone()[0])
        body["possession"]["status"] = "nonsense"
        db.execute("UPDATE rows SET body = ? WHERE kind = 'flow'", (json.dumps(body),))
    state_dir = StateDirectory(run.path)
    try:
        with pytest.raises(StateDirectoryError, match=r"cannot read: .*flows\[0\]\.possession\.status"):
            state_dir.load()
    finally:
        state_dir.close()


# -- a real process, killed -------------------------------------------------------------------------


class Process:
    def __init__(self, state_dir: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0", "--state-dir", str(state_dir), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self._ready()
        self.http = httpx.Client(base_url=self.url, timeout=10, trust_env=False)

    def _ready(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:  # not select(): a test run may hold fds past 1024
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(0.2):
                    line = self.process.stdout.readline()
                    found = READY.search(line)
                    if found:
                        return found.group(1)
                    if not line:
                        break
        self.process.kill()
        raise AssertionError(f"not ready: {self.process.stderr.read() if self.process.stderr else ''}")

    def token(self) -> str:
        return self.http.post("/token", data={"grant_type": "client_credentials", "client_id": "sandbox-client-id",
                                              "client_secret": "sandbox-client-secret"}).json()["access_token"]

    def kill(self) -> None:
        self.http.close()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(10)


class Burst(threading.Thread):
    """Writes as fast as replies come: a project, then a flow, and again; keeps what was acknowledged."""

    def __init__(self, url: str, token: str, round_number: int) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.round = url, token, round_number
        self.projects: list[str] = []
        self.flows: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5, trust_env=False) as http:
            for number in range(100_000):
                try:
                    name = f"r{self.round}-p{number}"
                    if http.put(f"/__emulator/projects/{name}", json={"clientSecret": "s"}).status_code == 200:
                        self.projects.append(name)
                    reply = http.post("/v3/verify", json={"phoneNumber": "2025550100", "possessionType": "mobile",
                                                          "firstName": "A", "lastName": "B"},
                                      headers={"Authorization": f"Bearer {self.token}"})
                    if reply.status_code == 200:
                        self.flows.append(reply.json()["correlationId"])
                except httpx.HTTPError:
                    return


def test_kill_9_during_a_burst_of_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    acknowledged_projects: list[str] = []
    acknowledged_flows: list[str] = []
    randomness = random.Random(13)
    for round_number in range(8):  # eight kill points, each a restart from the last one's directory
        emulator = Process(state_dir)
        try:
            projects = {p["clientId"] for p in emulator.http.get("/__emulator/projects").json()["projects"]}
            flows = {f["correlationId"] for f in emulator.http.get("/__emulator/flows").json()["flows"]}
            assert set(acknowledged_projects) <= projects, f"round {round_number}: projects lost"
            assert set(acknowledged_flows) <= flows, f"round {round_number}: flows lost"
            burst = Burst(emulator.url, emulator.token(), round_number)
            burst.start()
            time.sleep(randomness.uniform(0.05, 0.6))
        finally:
            emulator.kill()
        burst.join(10)
        assert burst.projects and burst.flows, "the burst wrote nothing before the kill"
        acknowledged_projects += burst.projects
        acknowledged_flows += burst.flows
        with sqlite3.connect(state_dir / directory.DATABASE) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    last = Process(state_dir)
    try:
        projects = {p["clientId"] for p in last.http.get("/__emulator/projects").json()["projects"]}
        assert set(acknowledged_projects) <= projects
        flows = {f["correlationId"] for f in last.http.get("/__emulator/flows").json()["flows"]}
        assert set(acknowledged_flows) <= flows
    finally:
        assert last.stop() == 0


def test_a_second_emulator_process_on_the_directory_refuses_to_start(tmp_path: Path) -> None:
    first = Process(tmp_path / "state")
    try:
        second = subprocess.run([sys.executable, "-m", "emulator", "--port", "0", "--state-dir", str(tmp_path / "state")],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert second.stderr == (f"prove-emulator: error: state directory {tmp_path / 'state'} is in use by another "
                                 f"emulator (pid {first.process.pid}); stop it, or give this one another --state-dir\n")
        assert first.http.get("/__emulator/health").status_code == 200  # the first is untouched
    finally:
        assert first.stop() == 0
    Process(tmp_path / "state").stop()  # once the first stopped, the directory is free


def test_the_environment_names_the_directory_too(tmp_path: Path) -> None:
    emulator = subprocess.Popen([sys.executable, "-m", "emulator", "--port", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PROVE_EMULATOR_STATE_DIR": str(tmp_path / "from-env")})
    try:
        assert emulator.stdout is not None and READY.search(emulator.stdout.readline())
        assert (tmp_path / "from-env" / directory.DATABASE).exists()
    finally:
        emulator.terminate()
        emulator.wait(10)


def projects_file(path: Path, *names: str) -> Path:
    path.write_text(json.dumps({"projects": [{"clientId": name, "clientSecret": f"{name}-secret"} for name in names]}))
    return path


def project_ids(emulator: Process) -> set[str]:
    return {p["clientId"] for p in emulator.http.get("/__emulator/projects").json()["projects"]}


def test_the_directory_wins_over_start_up_files_and_a_declared_project_it_lacks_is_added(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = Process(state_dir, "--projects", str(projects_file(tmp_path / "p1.json", "declared-1")))
    try:
        assert first.http.put("/__emulator/projects/made-at-run-time", json={"clientSecret": "s"}).status_code == 200
        assert first.http.put("/__emulator/projects/declared-1", json={"clientSecret": "changed"}).status_code == 200
    finally:
        assert first.stop() == 0
    second = Process(state_dir, "--projects", str(projects_file(tmp_path / "p2.json", "declared-1", "declared-2")))
    try:
        assert project_ids(second) == {"sandbox-client-id", "declared-1", "declared-2", "made-at-run-time"}
        assert second.http.post("/token", data={"grant_type": "client_credentials", "client_id": "declared-1",
                                                "client_secret": "changed"}).status_code == 200
        snapshot_document = second.http.get("/__emulator/snapshot").json()
    finally:
        assert second.stop() == 0
    snapshot_document["projects"] = {"sandbox-client-id": snapshot_document["projects"]["sandbox-client-id"]}
    (tmp_path / "only-default.json").write_text(json.dumps(snapshot_document))
    third = Process(state_dir, "--import", str(tmp_path / "only-default.json"))  # replaces what it held
    try:
        assert project_ids(third) == {"sandbox-client-id"}
    finally:
        assert third.stop() == 0
    assert rows(state_dir)["project"] == 1


def test_a_directory_holding_unreadable_state_stops_start_up(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    Process(state_dir).stop()
    with sqlite3.connect(state_dir / directory.DATABASE) as db:
        db.execute("UPDATE rows SET body = '{\"clock\": 1}' WHERE kind = 'head'")
    result = subprocess.run([sys.executable, "-m", "emulator", "--port", "0", "--state-dir", str(state_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"prove-emulator: error: state directory {state_dir} holds state this emulator "
                                    "cannot read: ")
    assert "Traceback" not in result.stderr


def test_what_a_timer_changes_between_requests_is_written_soon(run: Run) -> None:
    correlation_id = started_otp_flow(run.world)
    run.emulator.clock.advance(10 * 60)  # not a request: the code's timer fires, no reply follows
    deadline = time.monotonic() + 5
    while True:
        with sqlite3.connect(run.path / directory.DATABASE) as db:
            (body,) = db.execute("SELECT body FROM rows WHERE kind = 'flow' AND key = ?", (correlation_id,)).fetchone()
        if json.loads(body)["possession"]["status"] == "failed":
            break
        assert time.monotonic() < deadline, "the expired code was not written within 5 s"
        time.sleep(0.05)


# -- what a second reading found ----------------------------------------------------------------------


def flow_order(world: World) -> list[str]:
    return [flow["correlationId"] for flow in world.ok("GET", "/__emulator/flows")["flows"]]


def test_flows_keep_their_start_order_when_a_snapshot_brings_back_one_that_had_gone(run: Run) -> None:
    first = run.world.begin("verify-otp")["correlationId"]
    run.world.advance(300)
    second = run.world.begin("verify-otp")["correlationId"]
    document = run.world.ok("GET", "/__emulator/snapshot")
    run.world.advance(660)  # the first expires (its row goes), the second does not
    assert flow_order(run.world) == [second]
    run.world.ok("POST", "/__emulator/snapshot", content=json.dumps(document))
    assert flow_order(run.world) == [first, second]
    again = run.restart()
    try:
        assert flow_order(again.world) == [first, second]
    finally:
        again.close()


def test_a_commit_that_fails_before_sqlite_loses_no_flow_it_was_to_write(run: Run) -> None:
    good = run.world.begin("verify-otp")["correlationId"]
    bad = run.world.begin("verify-otp")["correlationId"]
    run.emulator.flows.find(good).client_customer_id = "changed"
    broken = run.emulator.flows.find(bad)
    broken.client_customer_id = object()  # type: ignore[assignment]  # what no encoder writes
    with pytest.raises(Exception):
        run.state_dir.commit()
    broken.client_customer_id = "mended"
    run.state_dir.commit()
    with sqlite3.connect(run.path / directory.DATABASE) as db:
        (body,) = db.execute("SELECT body FROM rows WHERE kind = 'flow' AND key = ?", (good,)).fetchone()
    assert json.loads(body)["clientCustomerId"] == "changed"


class FailingOnce(FailingDatabase):
    def __init__(self, real: sqlite3.Connection) -> None:
        super().__init__(real)
        self.failed = False

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("BEGIN") and not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database is locked")
        return self.real.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self.real.executemany(sql, *args)

    def close(self) -> None:
        self.real.close()


def test_a_first_write_that_failed_is_made_whole_by_the_next(run: Run, tmp_path: Path) -> None:
    started_otp_flow(run.world)
    run.close()
    state_dir = StateDirectory(run.path)
    emulator = Emulator(catalogue=catalogue())  # what --import of an empty state gives
    state_dir._db = FailingOnce(state_dir._db)  # type: ignore[assignment]
    with pytest.raises(directory.StateWriteError):
        state_dir.attach(emulator)
    state_dir.close()  # the closing commit writes the whole state, in place of the old rows
    assert rows(run.path) == {"head": 1, "project": 1}


def test_an_event_due_but_not_yet_fired_at_a_write_is_not_lost_by_a_kill(run: Run) -> None:
    """The clock passes a scripted webhook event between two ticks; a write then, and a kill before the
    timer runs: the restart runs it (the instant written is before the due timer, not now)."""
    run.world.prove("/v3/verify", {"phoneNumber": "2025550113", "possessionType": "mobile",
                                   "firstName": "A", "lastName": "B"})  # enrolled: an event 600 s later
    assert run.emulator.identities.in_project("sandbox-client-id")
    frozen_at, offset = run.emulator.clock.setting
    assert frozen_at is not None
    run.emulator.clock.restore(frozen_at + 601, offset)  # past the event; no tick has fired it
    run.state_dir.commit()
    run.state_dir._emulator = None  # killed: nothing more is written
    run.close()
    state_dir = StateDirectory(run.path)
    emulator = Emulator(catalogue=catalogue())
    try:
        held = state_dir.load()
        assert held is not None
        snapshot.restore(emulator, held)
        emulator.clock.fire_due()
        assert len(emulator.webhooks.deliveries()) == 1
    finally:
        state_dir.close()


def test_a_damaged_database_stops_start_up_without_a_traceback(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    Process(state_dir).stop()
    database = state_dir / directory.DATABASE
    data = bytearray(database.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's b-tree
    database.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, "-m", "emulator", "--port", "0", "--state-dir", str(state_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"prove-emulator: error: state directory {state_dir}")
    assert "Traceback" not in result.stderr


def test_a_change_after_a_latency_fault_s_wait_is_written_with_its_reply(tmp_path: Path) -> None:
    """A device call finds its flow, then sleeps a latency fault; another reply's write runs meanwhile.
    What the call then changes (the second Instant Link start: only whether the device is a phone) is
    in its own reply's write."""
    from emulator.http.app import create_app
    from emulator.server import ThreadedServer

    state_dir = StateDirectory(tmp_path / "state")
    emulator = Emulator(catalogue=catalogue())
    state_dir.attach(emulator)
    server = ThreadedServer(create_app(emulator, commit=state_dir.commit), on_shutdown=emulator.shut_down).start()
    emulator.public_origin = server.base_url
    try:
        with httpx.Client(base_url=server.base_url, timeout=10, trust_env=False) as http:
            token = http.post("/token", data={"grant_type": "client_credentials", "client_id": "sandbox-client-id",
                                              "client_secret": "sandbox-client-secret"}).json()["access_token"]
            started = http.post("/v3/verify", headers={"Authorization": f"Bearer {token}"},
                                json={"phoneNumber": "2025550100", "possessionType": "desktop", "firstName": "A",
                                      "lastName": "B", "finalTargetUrl": "https://app.example.com/done"}).json()
            device = {"Authorization": f"Bearer {started['authToken']}"}
            path = "/v1/client/mobile/instantlink/start"
            assert http.post(path, json={"sourceIp": None, "isMobile": False}, headers=device).status_code == 200
            assert http.post("/__emulator/faults", json={"endpoint": path, "latencyMs": 800}).status_code == 200
            reply: list[httpx.Response] = []
            call = threading.Thread(target=lambda: reply.append(
                http.post(path, json={"sourceIp": None, "isMobile": True}, headers=device)))
            call.start()
            time.sleep(0.3)  # the call sleeps its latency: another reply, and its write
            assert http.get("/__emulator/health").status_code == 200
            call.join(10)
            assert reply and reply[0].status_code == 200, reply
        flow = emulator.flows.as_it_is(started["correlationId"])
        assert flow is not None and flow.possession is not None and flow.possession.device_is_mobile
        with sqlite3.connect(tmp_path / "state" / directory.DATABASE) as db:
            (body,) = db.execute("SELECT body FROM rows WHERE kind = 'flow'").fetchone()
        assert json.loads(body)["possession"]["deviceIsMobile"] is True
    finally:
        server.stop()
        state_dir.close()


def test_a_flow_s_prove_key_after_a_restart_is_the_store_s_as_it_was_changed_last(run: Run) -> None:
    correlation_id = run.world.begin("unify-otp")["correlationId"]
    run.world.acted(correlation_id, "complete")
    device_id = run.world.prove("/v3/unify-status", {"correlationId": correlation_id}).json()["deviceId"]
    revoked = run.world.prove("/v3/device/revoke", {"clientRequestId": "r", "deviceId": device_id})
    assert revoked.status_code == 200, revoked.text  # changes the key, not the flow: its row holds the key as bound
    again = run.restart()
    try:
        flow = again.emulator.flows.as_it_is(correlation_id)
        key = again.emulator.prove_keys.find_device(device_id)
        assert key is not None and key.revoked
        assert flow is not None and flow.key is key  # type: ignore[attr-defined]
    finally:
        again.close()
