"""The bound on live flows per project (maxLiveFlows, else --max-live-flows), what an evicted flow
answers, and the store's memory: sweeps, ids of gone flows, the hand-back to the OS.

Functional only: the clock is moved, nothing is timed (memory figures come from bench/flow_memory.py).
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from emulator.clock import Clock
from emulator.flows import store
from emulator.flows.base import FLOW_LIFETIME
from emulator.flows.store import EVICTED, EXPIRED, Gone, GoneIds
from emulator.projects import DEFAULT_CLIENT_ID, Project, ProjectsFileError, load_projects_file, project_from_json
from emulator.service import Emulator
from tests.prove_calls import ok, refused

SMALL = "small"
SECRET = "small-secret"
# Waits for its customer (the SMS code): unfinished until then.
PENDING = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100", "possessionType": "mobile"}
# Answered at once: finished as soon as it starts.
CURRENT = {"verificationType": "verifiedUser", "phoneNumber": "2001004053", "firstName": "Elena",
           "lastName": "Coldman"}


@pytest.fixture
def service() -> Emulator:
    clock = Clock()
    clock.freeze()
    return Emulator(clock=clock, projects=[Project(SMALL, SECRET, max_live_flows=3)])


def pending(service: Emulator, project: str = SMALL, **fields: Any) -> str:
    return service.verified_users.verify(service.projects.get(project), {**PENDING, **fields})["correlationId"]


def finished(service: Emulator, project: str = SMALL) -> str:
    return service.verification.verify(service.projects.get(project), CURRENT)["correlationId"]


def live(service: Emulator, project: str = SMALL) -> list[str]:
    return [flow.correlation_id for flow in service.flows.all(project)]


# -- the bound and its order -------------------------------------------------------------------------


def test_a_project_holds_at_most_its_bound_the_newest_stay(service):
    made = [finished(service) for _ in range(10)]
    assert live(service) == made[-3:]
    assert [service.flows.gone(cid).reason for cid in made[:7]] == [EVICTED] * 7


def test_finished_flows_go_first_then_the_oldest(service):
    a, b, c = pending(service), finished(service), pending(service)
    d = pending(service)
    assert live(service) == [a, c, d] and service.flows.gone(b).reason == EVICTED  # finished: before the older a
    e = pending(service)
    assert live(service) == [c, d, e]  # none finished: the oldest went


def test_a_flow_that_finished_after_it_started_goes_before_older_unfinished_ones(service):
    a, b, c = pending(service), pending(service), pending(service)
    service.customer.act(service.flows.find(b), {"action": "complete"})  # the right code: b succeeded
    assert service.flows.find(b).state == "succeeded"
    d = pending(service)
    assert live(service) == [a, c, d]


def test_another_project_s_flows_are_untouched(service):
    others = [finished(service, DEFAULT_CLIENT_ID) for _ in range(5)]
    for _ in range(6):
        finished(service)
    assert live(service, DEFAULT_CLIENT_ID) == others and len(live(service)) == 3


def test_a_bound_lowered_at_run_time_applies_at_the_next_flow(service):
    for _ in range(3):
        finished(service)
    service.projects.put(Project(SMALL, SECRET, max_live_flows=1))
    newest = finished(service)
    assert live(service) == [newest]


def test_a_project_without_a_bound_takes_the_emulator_s_default():
    clock = Clock()
    clock.freeze()
    service = Emulator(clock=clock, max_live_flows=2)
    assert service.projects.live_flow_limit(DEFAULT_CLIENT_ID) == (2, "the emulator's default, --max-live-flows")
    made = [finished(service, DEFAULT_CLIENT_ID) for _ in range(4)]
    assert live(service, DEFAULT_CLIENT_ID) == made[-2:]
    assert "(the emulator's default, --max-live-flows)" in service.flows.gone(made[0]).explain(made[0])


def test_an_evicted_flow_is_released_as_an_expired_one(service):
    """Its Instant Link stops working, its status socket is told to close, its SMS timer is cancelled."""
    desktop = pending(service, possessionType="desktop", finalTargetUrl="https://app.example.com/done")
    flow = service.flows.find(desktop)
    service.customer.act(flow, {"action": "start"})
    link_id = flow.possession.link_id
    told: list[tuple[str, bool]] = []
    service.channels.subscribe(flow.auth_id, lambda text, close: told.append((text, close)))
    assert service.clock.pending_timers == 2  # the link's lifetime, the store's sweep
    for _ in range(3):
        pending(service)  # the third evicts the oldest, the desktop flow (none has finished)
    assert service.flows.gone(desktop).reason == EVICTED
    assert service.possession.click(link_id) == ("unknown", None, "")
    assert told == [("", True)]
    assert service.clock.pending_timers == 1


def test_an_evicted_flow_is_described_by_its_tombstone(service):
    service.clock.set(1_800_000_000)
    first = finished(service)
    for _ in range(3):
        finished(service)
    gone = service.flows.gone(first)
    assert (gone.project_id, gone.reason, gone.limit, gone.setting) == (SMALL, EVICTED, 3, "maxLiveFlows")
    assert gone.explain(first) == (
        f"flow {first!r} was evicted at 2027-01-15T08:00:00.000Z: project 'small' holds at most 3 live flows "
        "(maxLiveFlows); the finished flows go first, then the oldest")
    assert service.flows.journal_note(SMALL, first) == gone.explain(first)
    assert service.flows.journal_note(DEFAULT_CLIENT_ID, first) == ""  # another project's: nothing said


# -- expiry ------------------------------------------------------------------------------------------


def test_the_store_holds_one_clock_timer_however_many_flows(service):
    for _ in range(50):
        finished(service, DEFAULT_CLIENT_ID)
    assert service.clock.pending_timers == 1
    service.clock.advance(FLOW_LIFETIME)
    assert len(service.flows) == 0 and service.clock.pending_timers == 0


def test_flows_expire_at_their_own_deadlines_after_many_evictions(service):
    """Evictions leave deadlines behind; past a thousand the store rebuilds them, and expiry stays right."""
    made = []
    for _ in range(1500):
        made.append(finished(service))
        service.clock.advance(0.1)
    survivors = live(service)
    assert survivors == made[-3:]
    service.clock.advance(FLOW_LIFETIME - 0.25)  # the first survivor's deadline has passed, not the others'
    assert live(service) == made[-2:]
    service.clock.advance(1)
    assert live(service) == []
    assert [service.flows.gone(cid).reason for cid in (made[0], made[-4], *survivors)] == [EVICTED, EVICTED] + [
        EXPIRED] * 3


def test_a_flow_made_after_the_clock_went_back_expires_on_time(service):
    service.clock.set(1_800_000_000)
    early = finished(service, DEFAULT_CLIENT_ID)
    service.clock.set(1_800_000_000 - 3600)
    late = finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME)
    assert live(service, DEFAULT_CLIENT_ID) == [early] and service.flows.gone(late).reason == EXPIRED


def test_flows_made_after_a_reset_expire(service):
    finished(service, DEFAULT_CLIENT_ID)
    service.reset()  # the clock too: its timers are dropped
    service.clock.freeze()
    made = finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME)
    assert live(service, DEFAULT_CLIENT_ID) == [] and service.flows.gone(made).reason == EXPIRED


def test_reset_forgets_the_project_s_gone_flows_only(service):
    mine, theirs = finished(service), finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME)
    service.reset(SMALL)
    assert service.flows.gone(mine) is None and service.flows.gone(theirs).reason == EXPIRED
    service.reset()
    assert service.flows.gone(theirs) is None


def test_gone_ids_are_a_bounded_ring():
    ids = GoneIds(capacity=3)
    names = [f"{index:08d}-0000-4000-8000-000000000000" for index in range(4)]
    for index, name in enumerate(names):
        ids.add(name, Gone("p", float(index), EXPIRED))
    assert ids.get(names[0]) is None  # the oldest made room
    assert ids.get(names[3]) == Gone("p", 3.0, EXPIRED)
    assert ids.get(names[1][1:] + names[2][0]) is None  # a match across two slots is no id
    ids.add("not-an-id", Gone("p", 5.0, EXPIRED))
    assert ids.get("not-an-id") is None and ids.get(names[1]) is not None
    ids.add(names[0], Gone("q", 6.0, EVICTED, 7, "maxLiveFlows"))
    ids.forget("p")
    assert [ids.get(name) for name in names[1:]] == [None] * 3
    assert ids.get(names[0]) == Gone("q", 6.0, EVICTED, 7, "maxLiveFlows")


# -- memory --------------------------------------------------------------------------------------------


def test_memory_is_handed_back_after_big_sweeps_at_most_once_per_interval(service, monkeypatch):
    released: list[float] = []
    monkeypatch.setattr(store, "RELEASE_AFTER", 4)
    monkeypatch.setattr(store, "release_memory", lambda: released.append(service.clock.now()))
    start = service.clock.now()
    for _ in range(3):
        finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME)
    assert released == []  # 3 swept: too few to be worth a collection
    for _ in range(2):
        finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME)
    assert released == [start + 2 * FLOW_LIFETIME]  # 5 swept in all
    finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME)
    assert released == [start + 2 * FLOW_LIFETIME]  # counted afresh since: 1
    for _ in range(3):
        finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(10)
    for _ in range(4):
        finished(service, DEFAULT_CLIENT_ID)
    service.clock.advance(FLOW_LIFETIME - 10)  # 1 + 3 swept: the last hand-back was long ago
    assert released[1:] == [start + 4 * FLOW_LIFETIME]
    service.clock.advance(10)  # the next four: within the interval, so it waits for its end
    assert released[2:] == []
    service.clock.advance(store.RELEASE_INTERVAL)
    assert released[2:] == [start + 4 * FLOW_LIFETIME + store.RELEASE_INTERVAL]


def test_handing_memory_back_runs_where_there_is_no_malloc_trim_too(monkeypatch):
    store.release_memory()
    monkeypatch.setattr(store, "_malloc_trim", lambda: None)
    store.release_memory()


def test_a_cancelled_timer_lets_go_of_its_callback():
    class Held:
        def __call__(self) -> None:
            pass

    held = Held()
    clock = Clock()
    timer = clock.call_later(60, held)
    gone = weakref.ref(held)
    del held
    timer.cancel()
    gc.collect()
    assert gone() is None


def test_a_live_flow_s_timeline_is_out_of_the_collector_s_reach(service):
    """The collector's pauses under load were walks over every live flow's objects: a timeline event
    of atoms is a plain tuple, which it stops tracking after one look."""
    flow = service.flows.get(SMALL, pending(service))
    gc.collect()
    assert flow.timeline
    assert not any(gc.is_tracked(event) for event in flow.timeline)


def test_settled_verifies_leave_no_cancelled_timers_behind():
    """Each verify settled at once cancels its code's timer; the clock's heap does not keep them all
    until their deadlines (two minutes of load were hundreds of thousands)."""
    clock = Clock()
    clock.freeze()
    service = Emulator(clock=clock, projects=[Project(SMALL, SECRET, max_live_flows=100)])
    project = service.projects.get(SMALL)
    for _ in range(5000):
        service.verified_users.verify(project, {**PENDING, "phoneNumber": "2025550101"})  # auto-success
    assert service.clock.pending_timers == 1  # the store's sweep
    assert len(service.clock._timers) < 2500


# -- the setting -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2500, 1_000_000, None])
def test_max_live_flows_accepts_a_whole_number_or_null(value):
    raw = {"clientId": "a", "clientSecret": "s", "maxLiveFlows": value}
    assert project_from_json(raw, "project").max_live_flows == value


@pytest.mark.parametrize("value", [0, -1, 1_000_001, 2.5, 10.0, True, "10", [10], {"n": 10}])
def test_max_live_flows_refuses_anything_else_naming_the_rule(value):
    with pytest.raises(ProjectsFileError) as refusal:
        project_from_json({"clientId": "a", "clientSecret": "s", "maxLiveFlows": value}, "project")
    assert str(refusal.value) == ("project.maxLiveFlows: must be a whole number of flows from 1 to 1000000, or null "
                                  "(the emulator's --max-live-flows)")


def test_a_projects_file_with_a_bad_bound_names_it(tmp_path: Path):
    path = tmp_path / "projects.yaml"
    path.write_text("projects:\n  - {clientId: a, clientSecret: s, maxLiveFlows: 0}\n")
    with pytest.raises(ProjectsFileError, match=r"projects\[0\]\.maxLiveFlows: must be a whole number"):
        load_projects_file(path)


# -- over HTTP -----------------------------------------------------------------------------------------


def small_project(emu, bound: int = 2) -> str:
    emu.put_project(SMALL, clientSecret=SECRET, maxLiveFlows=bound)
    return emu.access_token(SMALL, SECRET)


def start(emu, token: str) -> dict[str, Any]:
    return ok(emu.post("/v3/verify", PENDING, token=token))


def test_an_evicted_flow_answers_8008_as_an_expired_one_and_the_journal_says_why(emu):
    token = small_project(emu)
    mine = ok(emu.post("/v3/verify", PENDING))  # the default project's: untouched
    evicted, _, _ = (start(emu, token) for _ in range(3))
    refusal = emu.post("/v3/verify-status", {"correlationId": evicted["correlationId"]}, token=token)
    message = refused(refusal, 400, 8008)
    assert ok(emu.post("/v3/verify-status", {"correlationId": mine["correlationId"]}))["success"] == "pending"
    note = emu.requests(project=SMALL, path="/v3/verify-status")[-1]["note"]
    assert note.startswith(f"flow {evicted['correlationId']!r} was evicted at ")
    assert note.endswith(": project 'small' holds at most 2 live flows (maxLiveFlows); the finished flows go first, "
                         "then the oldest")
    emu.advance(FLOW_LIFETIME)  # now one that expired, for comparison
    expired = emu.post("/v3/verify-status", {"correlationId": mine["correlationId"]})
    assert refused(expired, 400, 8008) == message.replace(evicted["correlationId"], mine["correlationId"])
    assert "note" not in emu.requests(path="/v3/verify-status")[-1]


def test_the_control_plane_says_evicted_or_expired(emu):
    token = small_project(emu, bound=1)
    evicted = start(emu, token)["correlationId"]
    start(emu, token)
    message = refused(emu.http.get(f"/__emulator/flows/{evicted}"), 410, 8008)
    assert message.startswith(f"flow {evicted!r} was evicted at ") and "holds at most 1 live flows" in message
    acted = emu.http.post(f"/__emulator/flows/{evicted}/customer", json={"action": "complete"})
    assert refused(acted, 410, 8008) == message + ": start a new one with /v3/verify"
    expired = ok(emu.post("/v3/verify", PENDING))["correlationId"]
    emu.advance(FLOW_LIFETIME)
    assert "(its 15-minute lifetime ended)" in refused(emu.http.get(f"/__emulator/flows/{expired}"), 410, 8008)
    assert refused(emu.http.get("/__emulator/flows/never-made"), 400, 8008)


def test_an_evicted_flow_s_auth_token_is_refused_as_the_device_channel_refuses_an_unknown_flow(emu):
    token = small_project(emu, bound=1)
    evicted = start(emu, token)
    start(emu, token)
    reply = emu.client(evicted["authToken"], "mobile/otp/start")
    assert reply == {"error": {"code": 10003, "message": "authToken refused: the authToken's flow is unknown or has "
                                                         "expired"}}
    entry = emu.requests(path="/v1/client/mobile/otp/start")[-1]  # journaled under the flow, saying why
    assert (entry["project"], entry["correlationId"]) == (SMALL, evicted["correlationId"])
    assert entry["note"].startswith(f"flow {evicted['correlationId']!r} was evicted at ")


def test_the_bound_is_a_project_setting_on_the_control_plane(emu):
    assert ok(emu.http.get(f"/__emulator/projects/{DEFAULT_CLIENT_ID}"))["maxLiveFlows"] is None
    assert emu.put_project(SMALL, clientSecret=SECRET, maxLiveFlows=5)["maxLiveFlows"] == 5
    reply = emu.http.put(f"/__emulator/projects/{SMALL}", json={"clientSecret": SECRET, "maxLiveFlows": 0})
    assert "maxLiveFlows: must be a whole number of flows from 1 to 1000000" in refused(reply, 400, 8001)
    assert ok(emu.http.get(f"/__emulator/projects/{SMALL}"))["maxLiveFlows"] == 5
