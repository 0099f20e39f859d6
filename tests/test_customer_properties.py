"""Generated requests to the customer routes: never a 5xx, always the documented answer, and a refused
request changes nothing.

The harness is an emulator holding a flow in every state a customer action can meet: OTP and Instant
Link flows waiting for their start or with their SMS sent, flows whose possession succeeded or failed,
one settled by itself, an expired one, another project's, one without possession, a Pre-Fill flow
without a number, and a correlationId that names nothing. Properties:

- junk bodies, wrong types, unknown fields, huge strings, numbers that are not finite doubles: 400
  with {"code": 8001, "message"} naming the field or the body; nothing changes;
- any valid body, on any flow in any state, by correlationId: exactly the status the rules give
  (200, 400, 404, 409, 410); a refusal is the {"code","message"} envelope and changes nothing; an
  acceptance answers {action, correlationId, reply, flow} with the flow as it now is;
- the same by phone number (its newest open flow), and any path segment at all;
- any sequence of actions on one flow: possession only moves forward, every action after the end is
  409, verify-status agrees with the possession, and each accepted action is on the timeline once.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from emulator.flows.customer import REQUEST
from emulator.phone import normalize
from emulator.projects import DEFAULT_CLIENT_ID
from tests.customer_world import (
    ACTIONS,
    HAPPY,
    HARD,
    OTHER_PROJECT,
    RANDOM_OTP,
    REJECTED,
    SECOND,
    SHORT_TERM,
    World,
)
from tests.test_bad_input_properties import (
    corrupt_field,
    json_paths,
    json_values,
    malformed_bodies,
    unbounded_numbers,
    with_raw_number,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FIELDS = tuple(item.name for item in REQUEST.fields)
MAX_LENGTHS = {item.name: item.max_length for item in REQUEST.fields if getattr(item, "max_length", None)}
# A body using every field, so that corrupting any one of them leaves the others valid.
FULL_BODY = {"action": "enter-code", "code": "1234", "phoneNumber": SECOND, "isMobile": False, "message": "m",
             "errorCode": 1, "project": DEFAULT_CLIENT_ID}
NOT_SENT = (None, "")  # an optional field sent as null or "" reads as not sent

# -- generated bodies ---------------------------------------------------------------------------------

valid_bodies = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTIONS)},
    optional={
        "code": st.sampled_from([None, "", "1234", "0000", "123456"]) | st.text("0123456789", max_size=8),
        "phoneNumber": st.sampled_from([None, "", SECOND, REJECTED, RANDOM_OTP, "12345", "3035550000", "+12025550101"]),
        "isMobile": st.none() | st.booleans(),
        "message": st.none() | st.text(max_size=40),
        "errorCode": st.none() | st.integers(0, 2**31 - 1),
        "project": st.sampled_from([None, "", DEFAULT_CLIENT_ID, OTHER_PROJECT, "nobody"]),
    },
)
unknown_keys = st.text(min_size=1, max_size=20).filter(lambda key: key not in FIELDS)


@st.composite
def bad_bodies(draw: st.DrawFn) -> tuple[bytes, tuple[str, ...]]:
    """(raw body, what the refusal must name): everything REQUEST refuses before any flow is looked up."""
    kind = draw(st.sampled_from(["malformed", "field", "unknown field", "huge", "no action", "number"]))
    if kind == "malformed":
        return draw(malformed_bodies), ("request body",)
    if kind == "field":
        field, body = draw(corrupt_field(REQUEST, FULL_BODY))
        return json.dumps(body).encode(), (f"field '{field}'",)
    if kind == "unknown field":
        body = {**draw(valid_bodies), draw(unknown_keys): draw(json_values)}
        return json.dumps(body).encode(), ("unknown field", "not a finite number")  # json_values has inf
    if kind == "huge":
        field = draw(st.sampled_from(sorted(MAX_LENGTHS)))
        size = draw(st.integers(MAX_LENGTHS[field] + 1, 6000))
        body = {**draw(valid_bodies), field: draw(st.sampled_from(["9", "é", "\u2028"])) * size}
        raw = json.dumps(body).encode()
        return raw, ((f"field '{field}'",) if len(raw) <= 4096 else ("request body",))
    if kind == "no action":
        body = draw(valid_bodies)
        body.pop("action")
        if draw(st.booleans()):
            body["action"] = draw(st.sampled_from([None, ""]))
        return json.dumps(body).encode(), ("field 'action'",)
    valid = draw(valid_bodies)
    where = draw(st.sampled_from(json_paths(valid)))
    return with_raw_number(valid, where, draw(unbounded_numbers)), ("not a finite number",)


# -- the harness ---------------------------------------------------------------------------------------

# state -> (project that owns it, method or None, whether its SMS was sent)
STATES = {
    "waiting otp": (DEFAULT_CLIENT_ID, "otp", False),
    "sent otp": (DEFAULT_CLIENT_ID, "otp", True),
    "waiting link": (DEFAULT_CLIENT_ID, "link", False),
    "sent link": (DEFAULT_CLIENT_ID, "link", True),
    "numberless": (DEFAULT_CLIENT_ID, "otp", False),
    "succeeded": (DEFAULT_CLIENT_ID, "otp", True),
    "failed": (DEFAULT_CLIENT_ID, "link", True),
    "settled by itself": (DEFAULT_CLIENT_ID, "otp", True),
    "no possession": (DEFAULT_CLIENT_ID, None, False),
    "foreign": (OTHER_PROJECT, "otp", True),
    "expired": (DEFAULT_CLIENT_ID, "otp", False),
    "unknown": ("", None, False),
}
ENDED = ("succeeded", "failed", "settled by itself")
PHONES = [HAPPY, "+12025550100", SECOND, RANDOM_OTP, SHORT_TERM, "0", "%20"]


class Harness:
    def __init__(self) -> None:
        self.world: World | None = None
        self.dirty = True

    def build(self) -> None:
        if self.world is not None:
            self.world.close()
        world = self.world = World()
        world.other_project()
        ids: dict[str, str] = {}
        ids["expired"] = world.begin("verify-otp")["correlationId"]
        world.advance(15 * 60)
        ids["unknown"] = "00000000-0000-0000-0000-000000000000"
        ids["waiting otp"] = world.begin("verify-otp", allowOTPRetry=True)["correlationId"]
        ids["sent otp"] = world.begin("unify-otp", allowOTPRetry=True)["correlationId"]
        world.acted(ids["sent otp"], "start")
        world.acted(ids["sent otp"], "enter-code", code="0000")
        ids["waiting link"] = world.begin("prefill-link")["correlationId"]
        ids["sent link"] = world.begin("verify-link", RANDOM_OTP)["correlationId"]
        world.acted(ids["sent link"], "start", isMobile=True)
        ids["numberless"] = world.begin("prefill-otp", phone=None)["correlationId"]
        ids["succeeded"] = world.begin("verify-otp", HARD)["correlationId"]
        world.acted(ids["succeeded"], "complete")
        ids["failed"] = world.begin("verify-link", REJECTED)["correlationId"]
        world.acted(ids["failed"], "complete")
        ids["settled by itself"] = world.verify(SHORT_TERM, firstName="Sheilakathryn",
                                                lastName="Butrimovich")["correlationId"]
        ids["no possession"] = world.verify(HAPPY, "none")["correlationId"]
        ids["foreign"] = world.begin("verify-otp", project=OTHER_PROJECT)["correlationId"]
        world.acted(ids["foreign"], "start")
        self.ids = ids
        self.before = self.state()
        self.dirty = False

    @contextlib.contextmanager
    def example(self) -> Iterator[World]:
        """One generated example on an emulator in the harness's state; an accepted action (or a failed
        example) leaves it dirty, so the next example starts afresh."""
        if self.dirty:
            self.build()
        self.dirty = True
        assert self.world is not None
        yield self.world
        if self.state() == self.before:
            self.dirty = False

    def state(self) -> dict[str, Any]:
        emulator = self.world.emulator  # type: ignore[union-attr]
        return {
            "flows": [flow.detail() for flow in emulator.flows.all()],
            "sms": [sms.as_json() for sms in emulator.outbox.messages()],
            "identities": [identity.identity_id for project in (DEFAULT_CLIENT_ID, OTHER_PROJECT)
                           for identity in emulator.identities.in_project(project)],
            "prove keys": [vars(key).copy() for key in emulator.prove_keys.all()],
            "clock": emulator.clock.now(),
        }

    def close(self) -> None:
        if self.world is not None:
            self.world.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    """Shared by the module's tests: an example that changes the state makes the next one rebuild it."""
    harness = Harness()
    yield harness
    harness.close()


def envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["code"], int) and isinstance(body["message"], str) and body["message"], body
    return body


def expected_status(state: str, body: dict[str, Any]) -> int:
    """What the rules (the contract) answer for a valid body on a flow in `state`."""
    owner, method, sent = STATES[state]
    project = body.get("project")
    project = None if project in NOT_SENT else project
    if state == "unknown":
        return 404
    if state == "expired":
        return 410 if project in (None, owner) else 404
    if project not in (None, owner):
        return 404
    action = body["action"]
    if action == "change-number" and body.get("phoneNumber") in NOT_SENT:
        return 400
    if method is None or state in ENDED:
        return 409
    if (action == "enter-code" and method == "link") or (action == "click" and method == "otp"):
        return 400
    if action in ("enter-code", "click", "expire", "resend") and not sent:
        return 409
    if action == "start" and sent:
        return 409
    return 200


def target_path(harness: Harness, target: tuple[str, str]) -> str:
    by, name = target
    if by == "flow":
        return f"/__emulator/flows/{harness.ids[name]}/customer"
    return f"/__emulator/phones/{name}/customer"


targets = st.one_of(st.sampled_from(sorted(STATES)).map(lambda state: ("flow", state)),
                    st.sampled_from(PHONES).map(lambda phone: ("phone", phone)))


# -- bad bodies --------------------------------------------------------------------------------------


@SETTINGS
@given(target=targets, bad=bad_bodies())
def test_bad_bodies_are_400_name_the_problem_and_change_nothing(harness, target, bad):
    raw, named = bad
    with harness.example() as world:
        response = world.send("POST", target_path(harness, target), content=raw,
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        body = envelope(response)
        assert body["code"] == 8001 and any(name in body["message"] for name in named), (body, named)
        assert harness.state() == harness.before


@SETTINGS
@given(target=targets, content_type=st.sampled_from(["", "text/plain", "application/x-www-form-urlencoded"]))
def test_the_content_type_is_not_what_decides(harness, target, content_type):
    """The control plane reads JSON whatever the Content-Type says (curl -d sends form encoding)."""
    with harness.example() as world:
        response = world.send("POST", target_path(harness, target), content=b'{"action": "dance"}',
                              headers={"Content-Type": content_type} if content_type else {})
        assert response.status_code == 400 and "field 'action'" in envelope(response)["message"]


# -- every action on every state ------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", sorted(STATES))
@settings(SETTINGS, max_examples=5)
@given(data=st.data())
def test_every_action_on_every_flow_state_answers_as_the_rules_say(harness, state, action, data):
    body = {**data.draw(valid_bodies, label="body"), "action": action}
    with harness.example() as world:
        correlation_id = harness.ids[state]
        response = world.send("POST", f"/__emulator/flows/{correlation_id}/customer", json=body)
        expected = expected_status(state, body)
        event(f"{state}: {expected}")
        assert response.status_code == expected, (state, body, response.text)
        if expected != 200:
            code = envelope(response)["code"]
            assert code == {400: 8001, 404: 8008, 409: 8003, 410: 8008}[expected], response.text
            assert harness.state() == harness.before, "a refused action changed the emulator"
            return
        reply = response.json()
        assert set(reply) == {"action", "correlationId", "reply", "flow"}
        assert (reply["action"], reply["correlationId"]) == (body["action"], correlation_id)
        assert reply["flow"] == world.flow(correlation_id)
        assert [e["action"] for e in reply["flow"]["timeline"] if e["event"] == "customer-action"][-1] == body["action"]
        if "outcome" in reply["reply"]:
            assert set(reply["reply"]) == {"outcome", "redirect"}
        else:
            assert set(reply["reply"]) <= {"next", "data", "error"}
        # Only this flow moved.
        others = [flow for flow in harness.before["flows"] if flow["correlationId"] != correlation_id]
        assert [flow for flow in harness.state()["flows"] if flow["correlationId"] != correlation_id] == others


@SETTINGS
@given(phone=st.sampled_from(PHONES), body=valid_bodies)
def test_every_action_by_phone_number_answers_in_the_envelope(harness, phone, body):
    with harness.example() as world:
        response = world.send("POST", f"/__emulator/phones/{phone}/customer", json=body)
        event(f"status {response.status_code}")
        assert response.status_code in (200, 400, 404, 409), response.text
        if response.status_code != 200:
            envelope(response)
            assert harness.state() == harness.before
            return
        reply = response.json()
        flow = world.flow(reply["correlationId"])
        assert reply["flow"] == flow
        # The flow acted on was open before, and the number's newest such flow.
        before = {f["correlationId"]: f for f in harness.before["flows"]}[reply["correlationId"]]
        assert before["possession"]["status"] in ("waiting", "sent")
        wanted = normalize(phone)
        open_ones = [f["correlationId"] for f in harness.before["flows"]
                     if wanted and normalize(f["phoneNumber"]) == wanted
                     and f.get("possession", {}).get("status") in ("waiting", "sent")
                     and f["project"] == (body.get("project") or f["project"])]
        assert open_ones and open_ones[-1] == reply["correlationId"], (open_ones, reply["correlationId"])


@SETTINGS
@given(segment=st.text(min_size=1, max_size=60).filter(lambda text: "/" not in text and text.strip(".")),
       by=st.sampled_from(["flows", "phones"]), body=valid_bodies)
def test_any_path_segment_answers_in_the_envelope(harness, segment, by, body):
    with harness.example() as world:
        response = world.send("POST", f"/__emulator/{by}/{quote(segment, safe='')}/customer", json=body)
        assert response.status_code in (200, 400, 404, 409), response.text
        if response.status_code != 200:
            envelope(response)
            assert harness.state() == harness.before


# -- sequences on one flow ---------------------------------------------------------------------------------

ORDER = {"waiting": 0, "sent": 1, "succeeded": 2, "failed": 2}
sequence_bodies = valid_bodies.map(lambda body: {k: v for k, v in body.items() if k != "project"})


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["verify-otp", "verify-link"]), phone=st.sampled_from([HAPPY, REJECTED, HARD, RANDOM_OTP]),
       retry=st.booleans(), bodies=st.lists(sequence_bodies, min_size=1, max_size=10))
def test_any_sequence_of_actions_keeps_the_possession_rules(kind, phone, retry, bodies):
    world = World()
    try:
        flow = world.begin(kind, phone, allowOTPRetry=retry)
        correlation_id = flow["correlationId"]
        accepted = 0
        for body in bodies:
            before, sms_before = world.flow(correlation_id), world.sms()
            response = world.send("POST", f"/__emulator/flows/{correlation_id}/customer", json=body)
            event(f"{body['action']}: {response.status_code}")
            assert response.status_code in (200, 400, 409), response.text
            after = world.flow(correlation_id)
            if before["possession"]["status"] in ("succeeded", "failed"):
                needs_number = body["action"] == "change-number" and body.get("phoneNumber") in NOT_SENT
                assert response.status_code == (400 if needs_number else 409), response.text
            if response.status_code != 200:
                envelope(response)
                assert after == before and world.sms() == sms_before
                continue
            accepted += 1
            assert ORDER[after["possession"]["status"]] >= ORDER[before["possession"]["status"]]
            assert response.json()["flow"] == after
        timeline = world.flow(correlation_id)["timeline"]
        assert sum(event["event"] == "customer-action" for event in timeline) == accepted
        status = world.status(correlation_id)
        possession = world.flow(correlation_id)["possession"]["status"]
        if possession in ("waiting", "sent"):
            assert status["success"] == "pending"
        elif possession == "failed":
            assert status["success"] == "false" and status["possessionResult"] == "failed"
        else:
            assert status["possessionResult"] == "success"
        if status["success"] == "true":
            assert any(event["event"] == "identity-enrolled" for event in timeline)
    finally:
        world.close()
