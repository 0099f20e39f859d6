"""Snapshots (GET/POST /__emulator/snapshot): a flow taken mid-way finishes in another emulator; merges
touch only the snapshot's projects; an old, newer or corrupt snapshot is refused and changes nothing."""

from __future__ import annotations

import copy
import json
from typing import Any, Iterator

import pytest

from emulator.service import Emulator
from emulator.state import snapshot as snapshots
from tests.customer_world import HAPPY, OTHER_PROJECT, World, catalogue


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    yield world
    world.close()


@pytest.fixture
def other() -> Iterator[World]:
    world = World(Emulator(catalogue=catalogue()))
    yield world
    world.close()


def take(world: World) -> dict[str, Any]:
    return world.ok("GET", "/__emulator/snapshot")


def load(world: World, document: Any, mode: str = "replace", status: int = 200) -> dict[str, Any]:
    response = world.send("POST", "/__emulator/snapshot", params={"mode": mode}, content=json.dumps(document))
    assert response.status_code == status, response.text
    return response.json()


def started_otp_flow(world: World) -> str:
    correlation_id = world.begin("verify-otp")["correlationId"]
    world.acted(correlation_id, "start")  # the SMS is out: the flow waits for its code
    return correlation_id


def test_a_flow_taken_mid_way_finishes_in_another_emulator(world: World, other: World) -> None:
    correlation_id = started_otp_flow(world)
    sms = world.sms(correlation_id)
    document = take(world)
    reply = load(other, document)
    assert reply["flows"] == 1 and "sandbox-client-id" in reply["projects"]
    assert other.sms(correlation_id) == sms  # the phone's outbox came along
    other._tokens = dict(world._tokens)  # the access token issued by the first still verifies
    assert other.status(correlation_id)["possessionResult"] == "pending"
    other.acted(correlation_id, "enter-code", code=sms[-1]["otp"])
    assert other.result("verify-otp", correlation_id) == "true"
    assert world.status(correlation_id)["possessionResult"] == "pending"  # the original is untouched


def test_a_code_sent_before_the_snapshot_still_expires_on_the_clock(world: World, other: World) -> None:
    correlation_id = started_otp_flow(world)
    load(other, take(world))
    other._tokens = dict(world._tokens)
    other.advance(10 * 60)  # past the code's lifetime, within the flow's
    assert other.flow(correlation_id)["possession"]["status"] == "failed"


def test_a_round_trip_gives_the_same_document(world: World, other: World) -> None:
    started_otp_flow(world)
    world.other_project(webhook={"url": "http://127.0.0.1:9/hook"})
    first = take(world)
    load(other, first)
    second = take(other)
    assert {k: v for k, v in second.items() if k != "takenAt"} == {k: v for k, v in first.items() if k != "takenAt"}
    assert second["projects"][OTHER_PROJECT]["project"]["webhook"]["secret"].startswith("whsec_")


def test_merge_replaces_the_snapshot_s_projects_and_keeps_the_others(world: World, other: World) -> None:
    world.other_project()
    theirs = world.begin("verify-otp", project=OTHER_PROJECT)["correlationId"]
    document = take(world)
    document["projects"] = {OTHER_PROJECT: document["projects"][OTHER_PROJECT]}
    mine = other.begin("verify-otp")["correlationId"]
    reply = load(other, document, mode="merge")
    assert reply["projects"] == [OTHER_PROJECT]
    flows = {flow["correlationId"] for flow in other.ok("GET", "/__emulator/flows")["flows"]}
    assert flows == {mine, theirs}


def _refused(world: World, document: Any, where: str) -> None:
    before = take(world)
    reply = load(world, document, status=400)
    assert reply["code"] == 8001 and where in reply["message"], reply
    after = take(world)
    assert {k: v for k, v in after.items() if k != "takenAt"} == {k: v for k, v in before.items() if k != "takenAt"}


def test_an_older_or_newer_format_is_refused_naming_its_version(world: World) -> None:
    started_otp_flow(world)
    document = take(world)
    for version in (0, snapshots.VERSION + 1):
        _refused(world, {**document, "version": version}, f"version {version}")


@pytest.mark.parametrize("corrupt", [
    lambda d: d["projects"]["sandbox-client-id"]["flows"][0]["possession"].update(status="lost"),
    lambda d: d["projects"]["sandbox-client-id"]["flows"][0].update(expiresAt="soon"),
    lambda d: d["projects"]["sandbox-client-id"]["flows"][0].update(**{"$type": "Flow"}),
    lambda d: d["projects"]["sandbox-client-id"]["flows"][0].update(persona="no-such-digest"),
    lambda d: d["projects"]["sandbox-client-id"]["flows"][0].update(projectId="team-z"),
    lambda d: d["projects"]["sandbox-client-id"]["flows"][0].update(unknownField=1),
    lambda d: d["projects"]["sandbox-client-id"]["project"].update(clientId="another"),
    lambda d: d["tokens"].update(key="not base64!"),
    lambda d: d.update(format="something-else"),
    lambda d: d.pop("clock"),
    # a persona whose sequence step names the persona itself
    lambda d: next(iter(d["personas"].values())).update(
        sequence=[{"flows": 1, "persona": next(iter(d["personas"]))}]),
])
def test_a_corrupt_snapshot_is_refused_and_changes_nothing(world: World, corrupt: Any) -> None:
    started_otp_flow(world)
    document = copy.deepcopy(take(world))
    corrupt(document)
    _refused(world, document, "")


def test_a_body_that_is_no_json_or_no_object_is_refused(world: World) -> None:
    for body in (b"{", b"[]", b"null"):
        response = world.send("POST", "/__emulator/snapshot", content=body)
        assert response.status_code == 400 and response.json()["code"] == 8001
    response = world.send("POST", "/__emulator/snapshot", params={"mode": "sideways"}, content=b"{}")
    assert response.status_code == 400 and "mode" in response.json()["message"]
